//! Trusted-user provisioning: CreateProvisioningClaim issues a claim certificate that lives five
//! minutes and may only use its template's fleet-provisioning topics.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::extract::{Path, State};
use roost_pki::{KeyKind, Validity};
use roost_registry::TemplateType;
use serde::Serialize;

use super::certificates::KeyPair;
use crate::ApiState;
use crate::error::{ApiError, ApiResult};
use crate::input::seconds;

/// A claim certificate's lifetime (AWS: five minutes).
const CLAIM_LIFETIME: Duration = Duration::from_secs(300);

/// `CreateProvisioningClaimResponse`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CreateProvisioningClaimResponse {
    certificate_id: String,
    certificate_pem: String,
    key_pair: KeyPair,
    expiration: f64,
}

pub(super) async fn create_provisioning_claim(
    State(state): State<ApiState>,
    Path(name): Path<String>,
) -> ApiResult<Json<CreateProvisioningClaimResponse>> {
    let template = state.registry().provisioning_template(&name).await?;
    if template.template_type != TemplateType::FleetProvisioning {
        return Err(ApiError::invalid(format!(
            "Provisioning claims are for fleet provisioning templates; {name} is a JITP template"
        )));
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    let expires = now + CLAIM_LIFETIME;
    let validity = Validity::new(now.as_secs() as i64 - 60, expires.as_secs() as i64)
        .map_err(ApiError::internal)?;
    let issuer = state.clone();
    let issued = tokio::task::spawn_blocking(move || {
        issuer.device_issuer().issue_with_new_key(
            KeyKind::Rsa2048,
            "AWS IoT Provisioning Claim",
            validity,
        )
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::internal)?;
    let claim = state
        .registry()
        .create_provisioning_claim(&name, &issued.certificate_pem, expires.as_millis() as i64)
        .await?;
    Ok(Json(CreateProvisioningClaimResponse {
        certificate_id: claim.certificate_id,
        certificate_pem: issued.certificate_pem,
        key_pair: KeyPair {
            public_key: issued.public_key_pem,
            private_key: issued.private_key_pem,
        },
        expiration: seconds(claim.expires_ms),
    }))
}
