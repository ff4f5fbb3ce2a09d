//! Roost's own operations, beside AWS IoT's, under `/roost/`: the CA cascade revocation and
//! the provisioning dry run. Signed and encoded like every other route.

use axum::Json;
use axum::extract::{Path, State};
use roost_template::{CertificateSource, OverrideAction, Plan};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::ApiState;
use crate::error::{ApiError, ApiResult};
use crate::input::Body;

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
