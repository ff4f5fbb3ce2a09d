//! The route table: each AWS IoT operation on its model route (method + URI template).
//!
//! Routing matches the raw path, so percent-encoded labels (`%3A`, `%2F` in ARNs) stay within
//! their segment; axum's `Path` decodes them afterwards.

mod certificates;
mod claims;
mod data;
mod groups;
mod misc;
mod policies;
mod principals;
mod provisioning;
mod roost;
mod rules;
mod things;

use axum::Router;
use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::Serialize;
use tracing::Instrument;

use crate::ApiState;
use crate::auth::{require_data_signature, require_signature};
use crate::error::{ApiError, ErrorKind};

/// The answer of an operation whose output shape has no members (UpdateThing, DeletePolicy…):
/// `{}`.
#[derive(Debug, Serialize)]
struct Empty {}

/// The control plane's routes, authenticated, plus `/health`, `/metrics` and a topic rule
/// destination's `enableUrl` (unauthenticated).
pub fn router(state: ApiState) -> Router {
    use certificates as c;
    use groups as g;
    use misc as m;
    use policies as p;
    use principals as pr;
    use provisioning as pv;
    use rules as r;
    use things as t;

    let api = Router::new()
        .route(
            "/registrationcode",
            get(c::get_registration_code).delete(c::delete_registration_code),
        )
        .route("/cacertificate", post(c::register_ca_certificate))
        .route(
            "/cacertificate/{caCertificateId}",
            get(c::describe_ca_certificate)
                .put(c::update_ca_certificate)
                .delete(c::delete_ca_certificate),
        )
        .route("/cacertificates", get(c::list_ca_certificates))
        .route(
            "/certificates-by-ca/{caCertificateId}",
            get(c::list_certificates_by_ca),
        )
        .route("/certificate/register", post(c::register_certificate))
        .route(
            "/certificate/register-no-ca",
            post(c::register_certificate_without_ca),
        )
        .route(
            "/keys-and-certificate",
            post(c::create_keys_and_certificate),
        )
        .route(
            "/certificates",
            get(c::list_certificates).post(c::create_certificate_from_csr),
        )
        .route(
            "/certificates/{certificateId}",
            get(c::describe_certificate)
                .put(c::update_certificate)
                .delete(c::delete_certificate),
        )
        .route("/things", get(t::list_things).post(pv::register_thing))
        .route(
            "/things/{thingName}",
            get(t::describe_thing)
                .post(t::create_thing)
                .patch(t::update_thing)
                .delete(t::delete_thing),
        )
        .route(
            "/things/{thingName}/principals",
            get(pr::list_thing_principals)
                .put(pr::attach_thing_principal)
                .delete(pr::detach_thing_principal),
        )
        .route(
            "/things/{thingName}/principals-v2",
            get(pr::list_thing_principals_v2),
        )
        .route(
            "/things/{thingName}/thing-groups",
            get(g::list_thing_groups_for_thing),
        )
        .route("/principals/things", get(pr::list_principal_things))
        .route("/principals/things-v2", get(pr::list_principal_things_v2))
        .route("/thing-types", get(t::list_thing_types))
        .route(
            "/thing-types/{thingTypeName}",
            get(t::describe_thing_type)
                .post(t::create_thing_type)
                .delete(t::delete_thing_type),
        )
        .route(
            "/thing-types/{thingTypeName}/deprecate",
            post(t::deprecate_thing_type),
        )
        .route("/thing-groups", get(g::list_thing_groups))
        .route(
            "/thing-groups/addThingToThingGroup",
            put(g::add_thing_to_thing_group),
        )
        .route(
            "/thing-groups/removeThingFromThingGroup",
            put(g::remove_thing_from_thing_group),
        )
        .route(
            "/thing-groups/{thingGroupName}",
            get(g::describe_thing_group)
                .post(g::create_thing_group)
                .patch(g::update_thing_group)
                .delete(g::delete_thing_group),
        )
        .route(
            "/thing-groups/{thingGroupName}/things",
            get(g::list_things_in_thing_group),
        )
        .route("/billing-groups", get(g::list_billing_groups))
        .route(
            "/billing-groups/addThingToBillingGroup",
            put(g::add_thing_to_billing_group),
        )
        .route(
            "/billing-groups/removeThingFromBillingGroup",
            put(g::remove_thing_from_billing_group),
        )
        .route(
            "/billing-groups/{billingGroupName}",
            get(g::describe_billing_group)
                .post(g::create_billing_group)
                .patch(g::update_billing_group)
                .delete(g::delete_billing_group),
        )
        .route(
            "/billing-groups/{billingGroupName}/things",
            get(g::list_things_in_billing_group),
        )
        .route("/policies", get(p::list_policies))
        .route(
            "/policies/{policyName}",
            get(p::get_policy)
                .post(p::create_policy)
                .delete(p::delete_policy),
        )
        .route(
            "/policies/{policyName}/version",
            get(p::list_policy_versions).post(p::create_policy_version),
        )
        .route(
            "/policies/{policyName}/version/{policyVersionId}",
            get(p::get_policy_version)
                .patch(p::set_default_policy_version)
                .delete(p::delete_policy_version),
        )
        .route(
            "/target-policies/{policyName}",
            put(p::attach_policy).post(p::detach_policy),
        )
        .route(
            "/attached-policies/{target}",
            post(p::list_attached_policies),
        )
        .route(
            "/policy-targets/{policyName}",
            post(p::list_targets_for_policy),
        )
        .route(
            "/principal-policies/{policyName}",
            put(p::attach_principal_policy).delete(p::detach_principal_policy),
        )
        .route("/principal-policies", get(p::list_principal_policies))
        .route("/policy-principals", get(p::list_policy_principals))
        .route(
            "/provisioning-templates",
            get(pv::list_provisioning_templates).post(pv::create_provisioning_template),
        )
        .route(
            "/provisioning-templates/{templateName}",
            get(pv::describe_provisioning_template)
                .patch(pv::update_provisioning_template)
                .delete(pv::delete_provisioning_template),
        )
        .route(
            "/provisioning-templates/{templateName}/versions",
            get(pv::list_provisioning_template_versions)
                .post(pv::create_provisioning_template_version),
        )
        .route(
            "/provisioning-templates/{templateName}/versions/{versionId}",
            get(pv::describe_provisioning_template_version)
                .delete(pv::delete_provisioning_template_version),
        )
        .route(
            "/provisioning-templates/{templateName}/provisioning-claim",
            post(claims::create_provisioning_claim),
        )
        .route(
            "/thing-registration-tasks",
            get(pv::list_thing_registration_tasks).post(pv::start_thing_registration_task),
        )
        .route(
            "/thing-registration-tasks/{taskId}",
            get(pv::describe_thing_registration_task),
        )
        .route(
            "/thing-registration-tasks/{taskId}/cancel",
            put(pv::stop_thing_registration_task),
        )
        .route(
            "/thing-registration-tasks/{taskId}/reports",
            get(pv::list_thing_registration_task_reports),
        )
        .route("/rules", get(r::list_topic_rules))
        .route(
            "/rules/{ruleName}",
            get(r::get_topic_rule)
                .post(r::create_topic_rule)
                .patch(r::replace_topic_rule)
                .delete(r::delete_topic_rule),
        )
        .route("/rules/{ruleName}/enable", post(r::enable_topic_rule))
        .route("/rules/{ruleName}/disable", post(r::disable_topic_rule))
        .route(
            "/destinations",
            get(r::list_topic_rule_destinations)
                .post(r::create_topic_rule_destination)
                .patch(r::update_topic_rule_destination),
        )
        .route(
            "/destinations/{*arn}",
            get(r::get_topic_rule_destination).delete(r::delete_topic_rule_destination),
        )
        .route("/endpoint", get(m::describe_endpoint))
        .route(
            "/tags",
            get(m::list_tags_for_resource).post(m::tag_resource),
        )
        .route("/untag", post(m::untag_resource))
        .route(
            "/roost/cacertificates/{caCertificateId}/revoke-all",
            post(roost::revoke_all),
        )
        .route("/roost/provisioning/dry-run", post(roost::dry_run))
        .route("/roost/connections", get(roost::list_connections))
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(unknown_operation)
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            require_signature,
        ));

    // The iot-data operations, signed for their own service name.
    let data = Router::new()
        .merge(device_routes())
        .route(
            "/api/things/shadow/ListNamedShadowsForThing/{thingName}",
            get(data::list_named_shadows_for_thing),
        )
        .route("/retainedMessage", get(data::list_retained_messages))
        .route("/retainedMessage/{*topic}", get(data::get_retained_message))
        .route(
            "/connections/{clientId}",
            get(data::get_connection).delete(data::delete_connection),
        )
        .route(
            "/connections/{clientId}/subscriptions",
            get(data::list_subscriptions),
        )
        .route(
            "/connections/{clientId}/messages",
            post(data::send_direct_message),
        )
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            require_data_signature,
        ));

    Router::new()
        .route("/health", get(m::health))
        .route("/metrics", get(m::metrics))
        // AWS's enableUrl is opened with a plain GET: the token is the credential.
        .route(
            "/confirmdestination/{*confirmationToken}",
            get(rules::confirm_topic_rule_destination),
        )
        .merge(data)
        .merge(api)
        .fallback(unknown_operation)
        .layer(middleware::from_fn(request_context))
        .with_state(state)
}

/// The iot-data operations a device may call with its certificate: its shadows and Publish.
fn device_routes() -> Router<ApiState> {
    Router::new()
        .route(
            "/things/{thingName}/shadow",
            get(data::get_thing_shadow)
                .post(data::update_thing_shadow)
                .delete(data::delete_thing_shadow),
        )
        .route("/topics/{*topic}", post(data::publish))
}

/// The device-facing HTTPS routes (AWS IoT's port 8443): the shadow and Publish operations
/// with no SigV4, for the binary to serve behind mutual TLS and the device's IoT policy
/// ([`crate::device_request`] says which action a request needs).
pub fn device_router(state: ApiState) -> Router {
    device_routes()
        .fallback(unknown_operation)
        .layer(middleware::from_fn(request_context))
        .with_state(state)
}

async fn unknown_operation(request: Request) -> Response {
    ApiError::new(
        ErrorKind::UnknownOperation,
        format!(
            "No operation matches {} {}",
            request.method(),
            request.uri().path()
        ),
    )
    .into_response()
}

async fn method_not_allowed(request: Request) -> Response {
    ApiError::new(
        ErrorKind::MethodNotAllowed,
        format!(
            "{} is not an operation on {}",
            request.method(),
            request.uri().path()
        ),
    )
    .into_response()
}

/// One span per request, a request id on every response, and a request counter.
pub async fn request_context(request: Request, next: Next) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let span = tracing::info_span!(
        "api",
        method = %request.method(),
        path = %request.uri().path(),
        request_id = %request_id,
    );
    async move {
        let mut response = next.run(request).await;
        let status = response.status();
        metrics::counter!("roost_api_requests_total", "status" => status.as_u16().to_string())
            .increment(1);
        if status == axum::http::StatusCode::GATEWAY_TIMEOUT {
            // SendDirectMessage's device did not acknowledge in time: its doing, not ours.
            tracing::info!(%status, "the device did not confirm the message in time");
        } else if status.is_server_error() {
            tracing::warn!(%status, "request failed");
        } else {
            tracing::debug!(%status, "request done");
        }
        if let Ok(value) = HeaderValue::from_str(&request_id) {
            response.headers_mut().insert("x-amzn-RequestId", value);
        }
        response
    }
    .instrument(span)
    .await
}
