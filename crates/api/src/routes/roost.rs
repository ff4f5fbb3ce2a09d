//! Roost's own operations, beside AWS IoT's, under `/roost/`: the CA cascade revocation, the
//! provisioning dry run and the list of live connections. Signed and encoded like every other
//! route.

use axum::Json;
use axum::extract::{Path, State};
use roost_registry::PageRequest;
use roost_template::{CertificateSource, OverrideAction, Plan};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};
use crate::input::{Body, QueryParams};
use crate::{ApiState, ConnectionSummary};

/// `POST /roost/cacertificates/{caCertificateId}/revoke-all`: revokes every certificate the CA
/// signed and cuts their live connections (the compromised-CA case).
pub(super) async fn revoke_all(
    State(state): State<ApiState>,
    Path(ca_id): Path<String>,
) -> ApiResult<Json<Value>> {
    let revoked = state.registry().revoke_certificates_of_ca(&ca_id).await?;
    Ok(Json(
        json!({ "caCertificateId": ca_id, "revokedCount": revoked }),
    ))
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ConnectionList {
    connections: Vec<LiveConnection>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct LiveConnection {
    client_id: String,
    principal: Option<String>,
    thing_name: Option<String>,
    /// Epoch milliseconds.
    connected_since: Option<i64>,
    protocol: Option<&'static str>,
    transport: Option<&'static str>,
    source_ip: Option<String>,
    source_port: Option<u16>,
    clean_session: bool,
    keep_alive_duration: Option<u64>,
    subscriptions: Vec<Subscription>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Subscription {
    topic_filter: String,
    qos: u8,
}

impl From<ConnectionSummary> for LiveConnection {
    fn from(summary: ConnectionSummary) -> Self {
        Self {
            client_id: summary.client_id,
            principal: summary.principal,
            thing_name: summary.thing_name,
            connected_since: summary.connected_since_ms,
            protocol: summary.protocol,
            transport: summary.transport,
            source_ip: summary.source_ip,
            source_port: summary.source_port,
            clean_session: summary.clean_session,
            keep_alive_duration: summary.keep_alive_secs,
            subscriptions: summary
                .subscriptions
                .into_iter()
                .map(|(topic_filter, qos)| Subscription { topic_filter, qos })
                .collect(),
        }
    }
}

/// `GET /roost/connections?maxResults&nextToken`: the live connections by client id, for the
/// console (iot-data's connection operations need a client id; none lists them).
pub(super) async fn list_connections(
    State(state): State<ApiState>,
    query: QueryParams,
) -> ApiResult<Json<ConnectionList>> {
    let page = PageRequest::from_api(
        query.text("nextToken"),
        query.integer("maxResults")?,
        "maxResults",
        100,
        true,
    )?;
    let (connections, more) = super::data::data_plane(&state)?
        .connections(page.after.as_deref(), page.limit as usize)
        .await;
    let next_token = more
        .then(|| connections.last().map(|last| hex::encode(&last.client_id)))
        .flatten();
    Ok(Json(ConnectionList {
        connections: connections.into_iter().map(LiveConnection::from).collect(),
        next_token,
    }))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct DryRunBody {
    certificate_pem: Option<String>,
    ca_certificate_id: Option<String>,
}

fn override_text(action: Option<OverrideAction>) -> Value {
    action.map_or(Value::Null, |a| a.as_str().into())
}

fn plan_json(plan: &Plan) -> Value {
    let thing = plan.thing.as_ref().map(|t| {
        json!({
            "logicalId": t.logical_id,
            "thingName": t.name,
            "attributes": t.attributes,
            "thingTypeName": t.thing_type,
            "thingGroups": t.thing_groups,
            "billingGroup": t.billing_group,
            "overrideSettings": {
                "AttributePayload": override_text(t.overrides.attribute_payload),
                "ThingTypeName": override_text(t.overrides.thing_type_name),
                "ThingGroups": override_text(t.overrides.thing_groups),
            },
        })
    });
    let certificate = plan.certificate.as_ref().map(|c| {
        let source = match &c.source {
            CertificateSource::Id(id) => json!({ "certificateId": id }),
            CertificateSource::Csr(_) => json!({ "certificateSigningRequest": true }),
            CertificateSource::Pem { .. } => json!({ "certificatePem": true }),
        };
        json!({ "logicalId": c.logical_id, "source": source, "status": c.status.as_str() })
    });
    let policies: Vec<Value> = plan
        .policies
        .iter()
        .map(|p| json!({ "logicalId": p.logical_id, "policyName": p.name, "policyDocument": p.document }))
        .collect();
    json!({
        "thing": thing,
        "certificate": certificate,
        "policies": policies,
        "deviceConfiguration": plan.device_configuration,
    })
}

/// `POST /roost/provisioning/dry-run`: what just-in-time provisioning would do for a
/// certificate, changing nothing.
pub(super) async fn dry_run(
    State(state): State<ApiState>,
    Body(body): Body<DryRunBody>,
) -> ApiResult<Json<Value>> {
    let pem = body
        .certificate_pem
        .ok_or_else(|| ApiError::invalid("certificatePem is required"))?;
    let run = state
        .registry()
        .dry_run_provisioning(&pem, body.ca_certificate_id.as_deref())
        .await?;
    Ok(Json(json!({
        "caCertificateId": run.ca_id,
        "parameters": run.parameters,
        "plan": plan_json(&run.plan),
        "registeredStatus": run.registered_status.map(|s| s.as_str()),
    })))
}
