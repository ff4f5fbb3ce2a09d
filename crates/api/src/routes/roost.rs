//! Roost's own operations, beside AWS IoT's, under `/roost/`: the CA cascade revocation, the
//! provisioning dry run and the list of live connections. Signed and encoded like every other
//! route.

use axum::Json;
use axum::extract::{Path, State};
use roost_registry::PageRequest;
use std::collections::BTreeMap;

use roost_template::{
    CertificatePlan, CertificateSource, OverrideAction, Plan, PolicyPlan, ThingPlan,
};
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, ApiResult};
use crate::input::{Body, QueryParams};
use crate::{ApiState, ConnectionSummary};

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RevokeAllResponse {
    ca_certificate_id: String,
    revoked_count: usize,
}

/// `POST /roost/cacertificates/{caCertificateId}/revoke-all`: revokes every certificate the CA
/// signed and cuts their live connections (the compromised-CA case).
pub(super) async fn revoke_all(
    State(state): State<ApiState>,
    Path(ca_id): Path<String>,
) -> ApiResult<Json<RevokeAllResponse>> {
    let revoked_count = state.registry().revoke_certificates_of_ca(&ca_id).await?;
    Ok(Json(RevokeAllResponse {
        ca_certificate_id: ca_id,
        revoked_count,
    }))
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

/// A dry run's answer: the template's parameters and what provisioning would do with them;
/// `registeredStatus` is `null` for a certificate not yet registered.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct DryRunResponse {
    ca_certificate_id: String,
    parameters: BTreeMap<String, String>,
    plan: PlanOutput,
    registered_status: Option<&'static str>,
}

/// A [`Plan`]; a resource the template does not make is `null`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct PlanOutput {
    thing: Option<ThingPlanOutput>,
    certificate: Option<CertificatePlanOutput>,
    policies: Vec<PolicyPlanOutput>,
    device_configuration: BTreeMap<String, String>,
}

impl From<Plan> for PlanOutput {
    fn from(plan: Plan) -> Self {
        Self {
            thing: plan.thing.map(ThingPlanOutput::from),
            certificate: plan.certificate.map(CertificatePlanOutput::from),
            policies: plan
                .policies
                .into_iter()
                .map(PolicyPlanOutput::from)
                .collect(),
            device_configuration: plan.device_configuration,
        }
    }
}

/// A [`ThingPlan`]; absent properties are `null`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ThingPlanOutput {
    logical_id: String,
    thing_name: String,
    attributes: Option<BTreeMap<String, String>>,
    thing_type_name: Option<String>,
    thing_groups: Vec<String>,
    billing_group: Option<String>,
    override_settings: OverrideSettings,
}

/// A thing's `OverrideSettings`, spelt as in templates; `null` where the template says nothing.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct OverrideSettings {
    attribute_payload: Option<&'static str>,
    thing_type_name: Option<&'static str>,
    thing_groups: Option<&'static str>,
}

impl From<ThingPlan> for ThingPlanOutput {
    fn from(thing: ThingPlan) -> Self {
        let overrides = thing.overrides;
        Self {
            logical_id: thing.logical_id,
            thing_name: thing.name,
            attributes: thing.attributes,
            thing_type_name: thing.thing_type,
            thing_groups: thing.thing_groups,
            billing_group: thing.billing_group,
            override_settings: OverrideSettings {
                attribute_payload: overrides.attribute_payload.map(OverrideAction::as_str),
                thing_type_name: overrides.thing_type_name.map(OverrideAction::as_str),
                thing_groups: overrides.thing_groups.map(OverrideAction::as_str),
            },
        }
    }
}

/// A [`CertificatePlan`].
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct CertificatePlanOutput {
    logical_id: String,
    source: CertificateSourceOutput,
    status: &'static str,
}

/// Which certificate, as a one-member object: the id, or `true` for a CSR or PEM (not echoed).
#[derive(Debug, Serialize)]
enum CertificateSourceOutput {
    #[serde(rename = "certificateId")]
    Id(String),
    #[serde(rename = "certificateSigningRequest")]
    Csr(bool),
    #[serde(rename = "certificatePem")]
    Pem(bool),
}

impl From<CertificatePlan> for CertificatePlanOutput {
    fn from(certificate: CertificatePlan) -> Self {
        Self {
            logical_id: certificate.logical_id,
            source: match certificate.source {
                CertificateSource::Id(id) => CertificateSourceOutput::Id(id),
                CertificateSource::Csr(_) => CertificateSourceOutput::Csr(true),
                CertificateSource::Pem { .. } => CertificateSourceOutput::Pem(true),
            },
            status: certificate.status.as_str(),
        }
    }
}

/// A [`PolicyPlan`]; `policyDocument` is `null` when the template names an existing policy.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct PolicyPlanOutput {
    logical_id: String,
    policy_name: String,
    policy_document: Option<String>,
}

impl From<PolicyPlan> for PolicyPlanOutput {
    fn from(policy: PolicyPlan) -> Self {
        Self {
            logical_id: policy.logical_id,
            policy_name: policy.name,
            policy_document: policy.document,
        }
    }
}

/// `POST /roost/provisioning/dry-run`: what just-in-time provisioning would do for a
/// certificate, changing nothing.
pub(super) async fn dry_run(
    State(state): State<ApiState>,
    Body(body): Body<DryRunBody>,
) -> ApiResult<Json<DryRunResponse>> {
    let pem = body
        .certificate_pem
        .ok_or_else(|| ApiError::invalid("certificatePem is required"))?;
    let run = state
        .provisioning()
        .dry_run(&pem, body.ca_certificate_id.as_deref())
        .await?;
    Ok(Json(DryRunResponse {
        ca_certificate_id: run.ca_id,
        parameters: run.parameters,
        plan: run.plan.into(),
        registered_status: run.registered_status.map(|s| s.as_str()),
    }))
}
