//! Registration code, CA certificates and device certificates.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::extract::State;
use roost_pki::{KeyKind, Validity};
use roost_registry::model::{
    AutoRegistrationStatus, CaCertificate, CaStatus, Certificate, CertificateMode,
    CertificateStatus, CertificateSummary, RegistrationConfig, Tag,
};
use roost_registry::validation::Constraint;
use roost_registry::{
    CaCertificateUpdate, CertificateSource, DEFAULT_PAGE_SIZE, NewCaCertificate, NewCertificate,
    PageRequest,
};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::ApiState;
use crate::error::{ApiError, ApiResult};
use crate::input::{Body, Path, QueryParams, seconds};

/// Not-after of certificates Roost issues for CreateKeysAndCertificate and
/// CreateCertificateFromCsr: 2049-12-31T23:59:59Z, as AWS issues them.
const ISSUED_NOT_AFTER: i64 = 2_524_607_999;
/// Subject CN of CreateKeysAndCertificate certificates, as on AWS.
const ISSUED_COMMON_NAME: &str = "AWS IoT Certificate";
/// Longest CSR accepted (model).
const MAX_CSR_CHARS: usize = 4096;
/// Longest certificate PEM accepted (model).
const MAX_PEM_CHARS: usize = 65_536;

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs() as i64
}

fn check_pem_size(field: &str, pem: &str) -> ApiResult<()> {
    if pem.is_empty() || pem.chars().count() > MAX_PEM_CHARS {
        return Err(ApiError::constraint_without_value(
            field,
            Constraint::LengthBetween(1, MAX_PEM_CHARS),
        ));
    }
    Ok(())
}

fn page_from(query: &QueryParams) -> ApiResult<PageRequest> {
    Ok(PageRequest::from_api(
        query.text("marker"),
        query.integer("pageSize")?,
        "pageSize",
        DEFAULT_PAGE_SIZE,
        query.boolean("isAscendingOrder")?.unwrap_or(false),
    )?)
}

fn validity(notes: &roost_registry::model::Validity) -> Value {
    json!({
        "notBefore": seconds(notes.not_before_ms),
        "notAfter": seconds(notes.not_after_ms),
    })
}

fn ca_description(state: &ApiState, ca: &CaCertificate) -> Value {
    json!({
        "certificateArn": state.registry().arns().ca_certificate(&ca.id),
        "certificateId": ca.id,
        "status": ca.status.as_str(),
        "certificatePem": ca.pem,
        "ownedBy": state.registry().arns().account(),
        "creationDate": seconds(ca.created_ms),
        "autoRegistrationStatus": ca.auto_registration.as_str(),
        "lastModifiedDate": seconds(ca.modified_ms),
        "customerVersion": ca.customer_version,
        "generationId": ca.generation_id,
        "validity": validity(&ca.validity),
        "certificateMode": ca.mode.as_str(),
    })
}

fn certificate_description(state: &ApiState, cert: &Certificate) -> Value {
    let mut description = json!({
        "certificateArn": state.registry().arns().certificate(&cert.id),
        "certificateId": cert.id,
        "status": cert.status.as_str(),
        "certificatePem": cert.pem,
        "ownedBy": state.registry().arns().account(),
        "creationDate": seconds(cert.created_ms),
        "lastModifiedDate": seconds(cert.modified_ms),
        "customerVersion": cert.customer_version,
        "transferData": {},
        "generationId": cert.generation_id,
        "validity": validity(&cert.validity),
        "certificateMode": cert.mode.as_str(),
    });
    if let Some(ca) = &cert.ca_id {
        description["caCertificateId"] = ca.clone().into();
    }
    description
}

fn certificate_summary(state: &ApiState, cert: &CertificateSummary) -> Value {
    json!({
        "certificateArn": state.registry().arns().certificate(&cert.id),
        "certificateId": cert.id,
        "status": cert.status,
        "certificateMode": cert.mode.as_str(),
        "creationDate": seconds(cert.created_ms),
    })
}

fn with_next(mut body: Value, field: &str, next: Option<String>) -> Json<Value> {
    if let Some(next) = next {
        body[field] = next.into();
    }
    Json(body)
}

pub(super) async fn get_registration_code(State(state): State<ApiState>) -> ApiResult<Json<Value>> {
    let code = state.registry().get_registration_code().await?;
    Ok(Json(json!({ "registrationCode": code })))
}

pub(super) async fn delete_registration_code(
    State(state): State<ApiState>,
) -> ApiResult<Json<Value>> {
    state.registry().delete_registration_code().await?;
    Ok(Json(json!({})))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RegisterCaBody {
    ca_certificate: Option<String>,
    verification_certificate: Option<String>,
    registration_config: Option<RegistrationConfig>,
    #[serde(default)]
    tags: Vec<Tag>,
    certificate_mode: Option<String>,
}

pub(super) async fn register_ca_certificate(
    State(state): State<ApiState>,
    query: QueryParams,
    Body(body): Body<RegisterCaBody>,
) -> ApiResult<Json<Value>> {
    let ca_pem = body
        .ca_certificate
        .ok_or_else(|| ApiError::invalid("caCertificate is required"))?;
    check_pem_size("caCertificate", &ca_pem)?;
    if let Some(pem) = &body.verification_certificate {
        check_pem_size("verificationCertificate", pem)?;
    }
    let mode = match body.certificate_mode.as_deref() {
        None => CertificateMode::Default,
        Some(mode) => CertificateMode::parse("certificateMode", mode)?,
    };
    let ca = state
        .registry()
        .register_ca_certificate(NewCaCertificate {
            ca_pem,
            verification_pem: body.verification_certificate.filter(|v| !v.is_empty()),
            set_as_active: query.flag("setAsActive")?,
            allow_auto_registration: query.flag("allowAutoRegistration")?,
            registration_config: body.registration_config,
            mode,
            tags: body.tags,
        })
        .await?;
    Ok(Json(json!({
        "certificateArn": state.registry().arns().ca_certificate(&ca.id),
        "certificateId": ca.id,
    })))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct UpdateCaBody {
    registration_config: Option<RegistrationConfig>,
    #[serde(default)]
    remove_auto_registration: bool,
}

pub(super) async fn update_ca_certificate(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    query: QueryParams,
    Body(body): Body<UpdateCaBody>,
) -> ApiResult<Json<Value>> {
    let update = CaCertificateUpdate {
        new_status: query
            .text("newStatus")
            .map(|s| CaStatus::parse("newStatus", s))
            .transpose()?,
        new_auto_registration: query
            .text("newAutoRegistrationStatus")
            .map(|s| AutoRegistrationStatus::parse("newAutoRegistrationStatus", s))
            .transpose()?,
        registration_config: body.registration_config,
        remove_auto_registration: body.remove_auto_registration,
    };
    state.registry().update_ca_certificate(&id, update).await?;
    Ok(Json(json!({})))
}

pub(super) async fn describe_ca_certificate(
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let ca = state.registry().describe_ca_certificate(&id).await?;
    let mut body = json!({ "certificateDescription": ca_description(&state, &ca) });
    if let Some(config) = &ca.registration_config {
        body["registrationConfig"] = serde_json::to_value(config).map_err(ApiError::internal)?;
    }
    Ok(Json(body))
}

pub(super) async fn list_ca_certificates(
    State(state): State<ApiState>,
    query: QueryParams,
) -> ApiResult<Json<Value>> {
    let page = state
        .registry()
        .list_ca_certificates(query.text("templateName"), &page_from(&query)?)
        .await?;
    let certificates: Vec<Value> = page
        .items
        .iter()
        .map(|ca| {
            json!({
                "certificateArn": state.registry().arns().ca_certificate(&ca.id),
                "certificateId": ca.id,
                "status": ca.status.as_str(),
                "creationDate": seconds(ca.created_ms),
            })
        })
        .collect();
    Ok(with_next(
        json!({ "certificates": certificates }),
        "nextMarker",
        page.next,
    ))
}

pub(super) async fn delete_ca_certificate(
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    state.registry().delete_ca_certificate(&id).await?;
    Ok(Json(json!({})))
}

pub(super) async fn list_certificates_by_ca(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    query: QueryParams,
) -> ApiResult<Json<Value>> {
    let page = state
        .registry()
        .list_certificates_by_ca(&id, &page_from(&query)?)
        .await?;
    let certificates: Vec<Value> = page
        .items
        .iter()
        .map(|c| certificate_summary(&state, c))
        .collect();
    Ok(with_next(
        json!({ "certificates": certificates }),
        "nextMarker",
        page.next,
    ))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RegisterCertificateBody {
    certificate_pem: Option<String>,
    ca_certificate_pem: Option<String>,
    status: Option<String>,
}

fn registration_status(query: &QueryParams, status: Option<&str>) -> ApiResult<CertificateStatus> {
    if query.flag("setAsActive")? {
        return Ok(CertificateStatus::Active);
    }
    Ok(match status {
        None => CertificateStatus::Inactive,
        Some(status) => CertificateStatus::parse("status", status)?,
    })
}

fn registered(state: &ApiState, cert: &Certificate) -> Json<Value> {
    Json(json!({
        "certificateArn": state.registry().arns().certificate(&cert.id),
        "certificateId": cert.id,
    }))
}

pub(super) async fn register_certificate(
    State(state): State<ApiState>,
    query: QueryParams,
    Body(body): Body<RegisterCertificateBody>,
) -> ApiResult<Json<Value>> {
    let pem = body
        .certificate_pem
        .ok_or_else(|| ApiError::invalid("certificatePem is required"))?;
    check_pem_size("certificatePem", &pem)?;
    let status = registration_status(&query, body.status.as_deref())?;
    let ca_pem = body.ca_certificate_pem.filter(|p| !p.is_empty());
    // As on AWS, a certificate the service issued itself (CreateKeysAndCertificate, CSR) can be
    // registered again after it was deleted, without naming a CA: ours is the issuer.
    let source = if ca_pem.is_none() && issued_by(state.device_issuer(), &pem) {
        CertificateSource::Issued
    } else {
        CertificateSource::WithCa { ca_pem }
    };
    let cert = state
        .registry()
        .register_certificate(NewCertificate {
            pem,
            source,
            status,
        })
        .await?;
    Ok(registered(&state, &cert))
}

/// Whether `pem` is a certificate `issuer` signed.
fn issued_by(issuer: &roost_pki::CertificateAuthority, pem: &str) -> bool {
    roost_pki::CertificateInfo::from_pem(pem).is_ok_and(|leaf| {
        leaf.issuer_der == issuer.certificate().subject_der
            && roost_pki::verify_signed_by(&leaf, issuer.certificate()).is_ok()
    })
}

pub(super) async fn register_certificate_without_ca(
    State(state): State<ApiState>,
    query: QueryParams,
    Body(body): Body<RegisterCertificateBody>,
) -> ApiResult<Json<Value>> {
    let pem = body
        .certificate_pem
        .ok_or_else(|| ApiError::invalid("certificatePem is required"))?;
    check_pem_size("certificatePem", &pem)?;
    let status = registration_status(&query, body.status.as_deref())?;
    let cert = state
        .registry()
        .register_certificate(NewCertificate {
            pem,
            source: CertificateSource::WithoutCa,
            status,
        })
        .await?;
    Ok(registered(&state, &cert))
}

fn issued_validity() -> ApiResult<Validity> {
    // Back-dated a minute so that a device whose clock lags slightly accepts it at once.
    Validity::new(unix_now() - 60, ISSUED_NOT_AFTER).map_err(ApiError::internal)
}

fn issued_status(query: &QueryParams) -> ApiResult<CertificateStatus> {
    Ok(if query.flag("setAsActive")? {
        CertificateStatus::Active
    } else {
        CertificateStatus::Inactive
    })
}

pub(super) async fn create_keys_and_certificate(
    State(state): State<ApiState>,
    query: QueryParams,
) -> ApiResult<Json<Value>> {
    let status = issued_status(&query)?;
    let validity = issued_validity()?;
    let issuer = state.clone();
    // RSA key generation takes a noticeable fraction of a second: keep it off the event loop.
    let issued = tokio::task::spawn_blocking(move || {
        issuer
            .device_issuer()
            .issue_with_new_key(KeyKind::Rsa2048, ISSUED_COMMON_NAME, validity)
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::internal)?;
    let cert = state
        .registry()
        .register_certificate(NewCertificate {
            pem: issued.certificate_pem.clone(),
            source: CertificateSource::Issued,
            status,
        })
        .await?;
    Ok(Json(json!({
        "certificateArn": state.registry().arns().certificate(&cert.id),
        "certificateId": cert.id,
        "certificatePem": issued.certificate_pem,
        "keyPair": {
            "PublicKey": issued.public_key_pem,
            "PrivateKey": issued.private_key_pem,
        },
    })))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CsrBody {
    certificate_signing_request: Option<String>,
}

pub(super) async fn create_certificate_from_csr(
    State(state): State<ApiState>,
    query: QueryParams,
    Body(body): Body<CsrBody>,
) -> ApiResult<Json<Value>> {
    let csr = body
        .certificate_signing_request
        .ok_or_else(|| ApiError::invalid("certificateSigningRequest is required"))?;
    if csr.is_empty() || csr.chars().count() > MAX_CSR_CHARS {
        return Err(ApiError::constraint_without_value(
            "certificateSigningRequest",
            Constraint::LengthBetween(1, MAX_CSR_CHARS),
        ));
    }
    let status = issued_status(&query)?;
    let pem = state
        .device_issuer()
        .issue_from_csr(&csr, issued_validity()?)
        .map_err(|e| ApiError::invalid(format!("certificateSigningRequest: {e}")))?;
    let cert = state
        .registry()
        .register_certificate(NewCertificate {
            pem: pem.clone(),
            source: CertificateSource::Issued,
            status,
        })
        .await?;
    Ok(Json(json!({
        "certificateArn": state.registry().arns().certificate(&cert.id),
        "certificateId": cert.id,
        "certificatePem": pem,
    })))
}

pub(super) async fn describe_certificate(
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let cert = state.registry().describe_certificate(&id).await?;
    Ok(Json(
        json!({ "certificateDescription": certificate_description(&state, &cert) }),
    ))
}

pub(super) async fn list_certificates(
    State(state): State<ApiState>,
    query: QueryParams,
) -> ApiResult<Json<Value>> {
    let page = state
        .registry()
        .list_certificates(&page_from(&query)?)
        .await?;
    let certificates: Vec<Value> = page
        .items
        .iter()
        .map(|c| certificate_summary(&state, c))
        .collect();
    Ok(with_next(
        json!({ "certificates": certificates }),
        "nextMarker",
        page.next,
    ))
}

pub(super) async fn update_certificate(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    query: QueryParams,
) -> ApiResult<Json<Value>> {
    let status = CertificateStatus::parse("newStatus", query.required("newStatus")?)?;
    state.registry().update_certificate(&id, status).await?;
    Ok(Json(json!({})))
}

pub(super) async fn delete_certificate(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    query: QueryParams,
) -> ApiResult<Json<Value>> {
    state
        .registry()
        .delete_certificate(&id, query.flag("forceDelete")?)
        .await?;
    Ok(Json(json!({})))
}
