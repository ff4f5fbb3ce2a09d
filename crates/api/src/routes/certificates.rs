//! Registration code, CA certificates and device certificates.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::extract::State;
use roost_pki::{KeyKind, Validity};
use roost_registry::model::{
    AutoRegistrationStatus, CaCertificate, CaStatus, Certificate, CertificateMode,
    CertificateStatus, CertificateSummary, RegistrationConfig, Tag,
};
use roost_registry::{
    CaCertificateUpdate, CertificateSource, DEFAULT_PAGE_SIZE, NewCaCertificate, NewCertificate,
    Page, PageRequest,
};
use roost_validation::Constraint;
use serde::{Deserialize, Serialize};

use super::Empty;
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

/// `CertificateValidity`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct CertificateValidity {
    not_before: f64,
    not_after: f64,
}

impl From<&roost_registry::model::Validity> for CertificateValidity {
    fn from(validity: &roost_registry::model::Validity) -> Self {
        Self {
            not_before: seconds(validity.not_before_ms),
            not_after: seconds(validity.not_after_ms),
        }
    }
}

/// `CACertificateDescription`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct CaCertificateDescription {
    certificate_arn: String,
    certificate_id: String,
    status: &'static str,
    certificate_pem: String,
    owned_by: String,
    creation_date: f64,
    auto_registration_status: &'static str,
    last_modified_date: f64,
    customer_version: i64,
    generation_id: String,
    validity: CertificateValidity,
    certificate_mode: &'static str,
}

impl CaCertificateDescription {
    fn new(state: &ApiState, ca: CaCertificate) -> Self {
        let arns = state.registry().arns();
        Self {
            certificate_arn: arns.ca_certificate(&ca.id),
            owned_by: arns.account().to_owned(),
            status: ca.status.as_str(),
            certificate_pem: ca.pem,
            creation_date: seconds(ca.created_ms),
            auto_registration_status: ca.auto_registration.as_str(),
            last_modified_date: seconds(ca.modified_ms),
            customer_version: ca.customer_version,
            generation_id: ca.generation_id,
            validity: CertificateValidity::from(&ca.validity),
            certificate_mode: ca.mode.as_str(),
            certificate_id: ca.id,
        }
    }
}

/// `DescribeCACertificateResponse`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct DescribeCaCertificateResponse {
    certificate_description: CaCertificateDescription,
    #[serde(skip_serializing_if = "Option::is_none")]
    registration_config: Option<RegistrationConfig>,
}

/// `TransferData`: always empty, Roost transfers no certificates between accounts.
#[derive(Debug, Serialize)]
struct TransferData {}

/// `CertificateDescription`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct CertificateDescription {
    certificate_arn: String,
    certificate_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    ca_certificate_id: Option<String>,
    status: &'static str,
    certificate_pem: String,
    owned_by: String,
    creation_date: f64,
    last_modified_date: f64,
    customer_version: i64,
    transfer_data: TransferData,
    generation_id: String,
    validity: CertificateValidity,
    certificate_mode: &'static str,
}

impl CertificateDescription {
    fn new(state: &ApiState, cert: Certificate) -> Self {
        let arns = state.registry().arns();
        Self {
            certificate_arn: arns.certificate(&cert.id),
            owned_by: arns.account().to_owned(),
            ca_certificate_id: cert.ca_id,
            status: cert.status.as_str(),
            certificate_pem: cert.pem,
            creation_date: seconds(cert.created_ms),
            last_modified_date: seconds(cert.modified_ms),
            customer_version: cert.customer_version,
            transfer_data: TransferData {},
            generation_id: cert.generation_id,
            validity: CertificateValidity::from(&cert.validity),
            certificate_mode: cert.mode.as_str(),
            certificate_id: cert.id,
        }
    }
}

/// `DescribeCertificateResponse`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct DescribeCertificateResponse {
    certificate_description: CertificateDescription,
}

/// `Certificate`: a device certificate in a list.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct CertificateListEntry {
    certificate_arn: String,
    certificate_id: String,
    status: String,
    certificate_mode: &'static str,
    creation_date: f64,
}

impl CertificateListEntry {
    fn new(state: &ApiState, cert: CertificateSummary) -> Self {
        Self {
            certificate_arn: state.registry().arns().certificate(&cert.id),
            certificate_id: cert.id,
            status: cert.status,
            certificate_mode: cert.mode.as_str(),
            creation_date: seconds(cert.created_ms),
        }
    }
}

/// `ListCertificatesResponse`, and `ListCertificatesByCAResponse` (the same members).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ListCertificatesResponse {
    certificates: Vec<CertificateListEntry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_marker: Option<String>,
}

impl ListCertificatesResponse {
    fn new(state: &ApiState, page: Page<CertificateSummary>) -> Self {
        Self {
            certificates: page
                .items
                .into_iter()
                .map(|cert| CertificateListEntry::new(state, cert))
                .collect(),
            next_marker: page.next,
        }
    }
}

/// `CACertificate`: a CA certificate in a list.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct CaCertificateListEntry {
    certificate_arn: String,
    certificate_id: String,
    status: &'static str,
    creation_date: f64,
}

/// `ListCACertificatesResponse`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ListCaCertificatesResponse {
    certificates: Vec<CaCertificateListEntry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_marker: Option<String>,
}

/// `GetRegistrationCodeResponse`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct GetRegistrationCodeResponse {
    registration_code: String,
}

/// `RegisterCertificateResponse`, and the same members of `RegisterCACertificateResponse` and
/// `RegisterCertificateWithoutCAResponse`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RegisterCertificateResponse {
    certificate_arn: String,
    certificate_id: String,
}

/// `KeyPair`, the one shape of the model with capitalised members.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct KeyPair {
    pub(super) public_key: String,
    pub(super) private_key: String,
}

/// `CreateKeysAndCertificateResponse`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CreateKeysAndCertificateResponse {
    certificate_arn: String,
    certificate_id: String,
    certificate_pem: String,
    key_pair: KeyPair,
}

/// `CreateCertificateFromCsrResponse`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CreateCertificateFromCsrResponse {
    certificate_arn: String,
    certificate_id: String,
    certificate_pem: String,
}

pub(super) async fn get_registration_code(
    State(state): State<ApiState>,
) -> ApiResult<Json<GetRegistrationCodeResponse>> {
    let registration_code = state.registry().get_registration_code().await?;
    Ok(Json(GetRegistrationCodeResponse { registration_code }))
}

pub(super) async fn delete_registration_code(
    State(state): State<ApiState>,
) -> ApiResult<Json<Empty>> {
    state.registry().delete_registration_code().await?;
    Ok(Json(Empty {}))
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
) -> ApiResult<Json<RegisterCertificateResponse>> {
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
    Ok(Json(RegisterCertificateResponse {
        certificate_arn: state.registry().arns().ca_certificate(&ca.id),
        certificate_id: ca.id,
    }))
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
) -> ApiResult<Json<Empty>> {
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
    Ok(Json(Empty {}))
}

pub(super) async fn describe_ca_certificate(
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> ApiResult<Json<DescribeCaCertificateResponse>> {
    let mut ca = state.registry().describe_ca_certificate(&id).await?;
    let registration_config = ca.registration_config.take();
    Ok(Json(DescribeCaCertificateResponse {
        certificate_description: CaCertificateDescription::new(&state, ca),
        registration_config,
    }))
}

pub(super) async fn list_ca_certificates(
    State(state): State<ApiState>,
    query: QueryParams,
) -> ApiResult<Json<ListCaCertificatesResponse>> {
    let page = state
        .registry()
        .list_ca_certificates(query.text("templateName"), &page_from(&query)?)
        .await?;
    let arns = state.registry().arns();
    Ok(Json(ListCaCertificatesResponse {
        certificates: page
            .items
            .into_iter()
            .map(|ca| CaCertificateListEntry {
                certificate_arn: arns.ca_certificate(&ca.id),
                certificate_id: ca.id,
                status: ca.status.as_str(),
                creation_date: seconds(ca.created_ms),
            })
            .collect(),
        next_marker: page.next,
    }))
}

pub(super) async fn delete_ca_certificate(
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Empty>> {
    state.registry().delete_ca_certificate(&id).await?;
    Ok(Json(Empty {}))
}

pub(super) async fn list_certificates_by_ca(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    query: QueryParams,
) -> ApiResult<Json<ListCertificatesResponse>> {
    let page = state
        .registry()
        .list_certificates_by_ca(&id, &page_from(&query)?)
        .await?;
    Ok(Json(ListCertificatesResponse::new(&state, page)))
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

fn registered(state: &ApiState, cert: Certificate) -> Json<RegisterCertificateResponse> {
    Json(RegisterCertificateResponse {
        certificate_arn: state.registry().arns().certificate(&cert.id),
        certificate_id: cert.id,
    })
}

pub(super) async fn register_certificate(
    State(state): State<ApiState>,
    query: QueryParams,
    Body(body): Body<RegisterCertificateBody>,
) -> ApiResult<Json<RegisterCertificateResponse>> {
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
    Ok(registered(&state, cert))
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
) -> ApiResult<Json<RegisterCertificateResponse>> {
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
    Ok(registered(&state, cert))
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
) -> ApiResult<Json<CreateKeysAndCertificateResponse>> {
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
    Ok(Json(CreateKeysAndCertificateResponse {
        certificate_arn: state.registry().arns().certificate(&cert.id),
        certificate_id: cert.id,
        certificate_pem: issued.certificate_pem,
        key_pair: KeyPair {
            public_key: issued.public_key_pem,
            private_key: issued.private_key_pem,
        },
    }))
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
) -> ApiResult<Json<CreateCertificateFromCsrResponse>> {
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
    Ok(Json(CreateCertificateFromCsrResponse {
        certificate_arn: state.registry().arns().certificate(&cert.id),
        certificate_id: cert.id,
        certificate_pem: pem,
    }))
}

pub(super) async fn describe_certificate(
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> ApiResult<Json<DescribeCertificateResponse>> {
    let cert = state.registry().describe_certificate(&id).await?;
    Ok(Json(DescribeCertificateResponse {
        certificate_description: CertificateDescription::new(&state, cert),
    }))
}

pub(super) async fn list_certificates(
    State(state): State<ApiState>,
    query: QueryParams,
) -> ApiResult<Json<ListCertificatesResponse>> {
    let page = state
        .registry()
        .list_certificates(&page_from(&query)?)
        .await?;
    Ok(Json(ListCertificatesResponse::new(&state, page)))
}

pub(super) async fn update_certificate(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    query: QueryParams,
) -> ApiResult<Json<Empty>> {
    let status = CertificateStatus::parse("newStatus", query.required("newStatus")?)?;
    state.registry().update_certificate(&id, status).await?;
    Ok(Json(Empty {}))
}

pub(super) async fn delete_certificate(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    query: QueryParams,
) -> ApiResult<Json<Empty>> {
    state
        .registry()
        .delete_certificate(&id, query.flag("forceDelete")?)
        .await?;
    Ok(Json(Empty {}))
}
