//! CA certificates: registration with proof of possession, update, describe, list, delete.

use roost_pki::{CertificateInfo, PkiError};
use sqlx::AnyConnection;
use uuid::Uuid;

use crate::Registry;
use crate::error::RegistryError;
use crate::events::RegistryEvent;
use crate::model::{
    AutoRegistrationStatus, CaCertificate, CaStatus, CertificateMode, CertificateSummary,
    RegistrationConfig, Tag, Validity,
};
use crate::names::{CertificateId, ROLE_ARN, TEMPLATE_NAME};
use crate::ops::provisioning_templates::check_named_jitp_template;
use crate::ops::settings::current_registration_code;
use crate::ops::tags::{tag_in, untag_in};
use crate::page::{Page, PageRequest, created_key, parse_created_key};
use crate::row;
use crate::store::now_ms;

/// Most CA certificates that may share one subject (AWS quota).
pub const MAX_CAS_PER_SUBJECT: usize = 10;
/// Longest provisioning template body (AWS model).
pub const MAX_TEMPLATE_BODY: usize = 10_240;

/// Input of RegisterCACertificate.
#[derive(Debug, Clone)]
pub struct NewCaCertificate {
    pub ca_pem: String,
    pub verification_pem: Option<String>,
    pub set_as_active: bool,
    pub allow_auto_registration: bool,
    pub registration_config: Option<RegistrationConfig>,
    pub mode: CertificateMode,
    pub tags: Vec<Tag>,
}

/// Input of UpdateCACertificate.
#[derive(Debug, Clone, Default)]
pub struct CaCertificateUpdate {
    pub new_status: Option<CaStatus>,
    pub new_auto_registration: Option<AutoRegistrationStatus>,
    pub registration_config: Option<RegistrationConfig>,
    pub remove_auto_registration: bool,
}

/// Checks a registrationConfig: the template must be a valid provisioning template.
pub(crate) fn check_registration_config(config: &RegistrationConfig) -> Result<(), RegistryError> {
    if let Some(body) = &config.template_body {
        if body.chars().count() > MAX_TEMPLATE_BODY {
            return Err(RegistryError::invalid(format!(
                "registrationConfig.templateBody is longer than {MAX_TEMPLATE_BODY} characters"
            )));
        }
        roost_template::Template::parse(body).map_err(|e| {
            RegistryError::invalid(format!(
                "registrationConfig.templateBody is not a valid provisioning template: {e}"
            ))
        })?;
    }
    if let Some(role) = &config.role_arn {
        ROLE_ARN.check("registrationConfig.roleArn", role)?;
    }
    if let Some(name) = &config.template_name {
        TEMPLATE_NAME.check("registrationConfig.templateName", name)?;
        if config.template_body.is_some() {
            return Err(RegistryError::invalid(
                "registrationConfig takes either templateBody (with roleArn) or templateName, not both",
            ));
        }
    }
    Ok(())
}

/// Maps a PKI failure on a submitted certificate to CertificateValidationException.
pub(crate) fn invalid_certificate(what: &str, error: PkiError) -> RegistryError {
    RegistryError::CertificateValidation(format!("{what}: {error}"))
}

fn unix_seconds_now() -> i64 {
    now_ms() / 1000
}

pub(crate) fn ca_from_row(row: &sqlx::any::AnyRow) -> Result<CaCertificate, RegistryError> {
    let config = row::opt_text(row, "registration_config")?
        .map(|json| {
            serde_json::from_str(&json)
                .map_err(|e| RegistryError::storage(format!("registration_config: {e}")))
        })
        .transpose()?;
    Ok(CaCertificate {
        id: row::text(row, "id")?,
        pem: row::text(row, "pem")?,
        status: CaStatus::parse("status", &row::text(row, "status")?)?,
        auto_registration: AutoRegistrationStatus::parse(
            "autoRegistrationStatus",
            &row::text(row, "auto_registration")?,
        )?,
        registration_config: config,
        mode: CertificateMode::parse("certificateMode", &row::text(row, "certificate_mode")?)?,
        validity: Validity {
            not_before_ms: row::int(row, "not_before_ms")?,
            not_after_ms: row::int(row, "not_after_ms")?,
        },
        customer_version: row::int(row, "customer_version")?,
        generation_id: row::text(row, "generation_id")?,
        created_ms: row::int(row, "created_ms")?,
        modified_ms: row::int(row, "modified_ms")?,
    })
}

const CA_COLUMNS: &str = "id, pem, status, auto_registration, registration_config, certificate_mode, \
     not_before_ms, not_after_ms, customer_version, generation_id, created_ms, modified_ms";

pub(crate) async fn find_ca(
    conn: &mut AnyConnection,
    id: &str,
) -> Result<Option<CaCertificate>, RegistryError> {
    let sql = format!("SELECT {CA_COLUMNS} FROM ca_certificates WHERE id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id.to_owned())
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(ca_from_row).transpose()
}

pub(crate) async fn require_ca(
    conn: &mut AnyConnection,
    id: &str,
) -> Result<CaCertificate, RegistryError> {
    find_ca(conn, id)
        .await?
        .ok_or_else(|| RegistryError::not_found(format!("CA certificate {id} cannot be found.")))
}

/// The registered CAs whose subject is `subject_der` (candidate issuers of a certificate).
pub(crate) async fn cas_with_subject(
    conn: &mut AnyConnection,
    subject_der: &[u8],
) -> Result<Vec<CaCertificate>, RegistryError> {
    let sql =
        format!("SELECT {CA_COLUMNS} FROM ca_certificates WHERE subject_key = $1 ORDER BY id");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(hex::encode(subject_der))
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(ca_from_row).collect()
}

fn config_json(config: &Option<RegistrationConfig>) -> Option<String> {
    config
        .as_ref()
        .map(|c| serde_json::to_string(c).unwrap_or_else(|_| "{}".to_owned()))
}

impl Registry {
    /// RegisterCACertificate. DEFAULT mode requires the proof of possession: a verification
    /// certificate whose CN is the current registration code, signed by the CA's key.
    pub async fn register_ca_certificate(
        &self,
        input: NewCaCertificate,
    ) -> Result<CaCertificate, RegistryError> {
        let ca = CertificateInfo::from_pem(&input.ca_pem)
            .map_err(|e| invalid_certificate("caCertificate", e))?;
        roost_pki::check_ca_certificate(&ca, unix_seconds_now())
            .map_err(|e| invalid_certificate("caCertificate", e))?;
        let verification = match (input.mode, &input.verification_pem) {
            (CertificateMode::Default, None) => {
                return Err(RegistryError::invalid(
                    "verificationCertificate is required in DEFAULT certificate mode: sign a \
                     certificate whose common name is the registration code with the CA's key",
                ));
            }
            (CertificateMode::SniOnly, Some(_)) => {
                return Err(RegistryError::invalid(
                    "verificationCertificate must not be given in SNI_ONLY certificate mode",
                ));
            }
            (CertificateMode::Default, Some(pem)) => Some(
                CertificateInfo::from_pem(pem)
                    .map_err(|e| invalid_certificate("verificationCertificate", e))?,
            ),
            (CertificateMode::SniOnly, None) => None,
        };
        if let Some(config) = &input.registration_config {
            check_registration_config(config)?;
        }
        let arns = self.arns.clone();
        self.store
            .write(job!(|conn| {
                if let Some(verification) = &verification {
                    let code = current_registration_code(conn).await?.ok_or_else(|| {
                        RegistryError::RegistrationCodeValidation(
                            "There is no registration code; call GetRegistrationCode first".into(),
                        )
                    })?;
                    roost_pki::verify_registration_proof(&ca, verification, &code).map_err(
                        |e| {
                            RegistryError::RegistrationCodeValidation(format!(
                                "The registration code is invalid: {e}"
                            ))
                        },
                    )?;
                }
                check_named_jitp_template(conn, input.registration_config.as_ref()).await?;
                if find_ca(conn, &ca.id).await?.is_some() {
                    return Err(RegistryError::AlreadyExists {
                        message: "The CA certificate is already registered".into(),
                        resource_id: ca.id.clone(),
                        resource_arn: arns.ca_certificate(&ca.id),
                    });
                }
                if cas_with_subject(conn, &ca.subject_der).await?.len() >= MAX_CAS_PER_SUBJECT {
                    return Err(RegistryError::LimitExceeded(format!(
                        "At most {MAX_CAS_PER_SUBJECT} CA certificates may have the subject '{}'",
                        ca.subject
                    )));
                }
                let now = now_ms();
                let record = CaCertificate {
                    id: ca.id.clone(),
                    pem: ca.pem.clone(),
                    status: if input.set_as_active {
                        CaStatus::Active
                    } else {
                        CaStatus::Inactive
                    },
                    auto_registration: if input.allow_auto_registration {
                        AutoRegistrationStatus::Enable
                    } else {
                        AutoRegistrationStatus::Disable
                    },
                    registration_config: input.registration_config,
                    mode: input.mode,
                    validity: ca.validity.into(),
                    customer_version: 1,
                    generation_id: Uuid::new_v4().to_string(),
                    created_ms: now,
                    modified_ms: now,
                };
                sqlx::query(
                    "INSERT INTO ca_certificates (id, pem, subject_key, status, auto_registration, \
                         registration_config, certificate_mode, not_before_ms, not_after_ms, \
                         customer_version, generation_id, created_ms, modified_ms) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                )
                .bind(record.id.clone())
                .bind(record.pem.clone())
                .bind(hex::encode(&ca.subject_der))
                .bind(record.status.as_str())
                .bind(record.auto_registration.as_str())
                .bind(config_json(&record.registration_config))
                .bind(record.mode.as_str())
                .bind(record.validity.not_before_ms)
                .bind(record.validity.not_after_ms)
                .bind(record.customer_version)
                .bind(record.generation_id.clone())
                .bind(now)
                .bind(now)
                .execute(&mut *conn)
                .await?;
                tag_in(conn, &arns.ca_certificate(&record.id), &input.tags).await?;
                let event = RegistryEvent::CaCertificateChanged {
                    ca_id: record.id.clone(),
                };
                Ok((record, vec![event]))
            }))
            .await
    }

    /// UpdateCACertificate.
    pub async fn update_ca_certificate(
        &self,
        id: &str,
        update: CaCertificateUpdate,
    ) -> Result<(), RegistryError> {
        let id = CertificateId::parse("caCertificateId", id)?.to_string();
        if let Some(config) = &update.registration_config {
            check_registration_config(config)?;
            if update.remove_auto_registration {
                return Err(RegistryError::invalid(
                    "Cannot both set registrationConfig and removeAutoRegistration",
                ));
            }
        }
        self.store
            .write(job!(|conn| {
                let mut ca = require_ca(conn, &id).await?;
                check_named_jitp_template(conn, update.registration_config.as_ref()).await?;
                if let Some(status) = update.new_status {
                    ca.status = status;
                }
                if let Some(auto) = update.new_auto_registration {
                    ca.auto_registration = auto;
                }
                if update.remove_auto_registration {
                    ca.registration_config = None;
                }
                if let Some(config) = update.registration_config {
                    ca.registration_config = Some(config);
                }
                sqlx::query(
                    "UPDATE ca_certificates SET status = $1, auto_registration = $2, \
                         registration_config = $3, customer_version = customer_version + 1, \
                         generation_id = $4, modified_ms = $5 WHERE id = $6",
                )
                .bind(ca.status.as_str())
                .bind(ca.auto_registration.as_str())
                .bind(config_json(&ca.registration_config))
                .bind(Uuid::new_v4().to_string())
                .bind(now_ms())
                .bind(id.clone())
                .execute(&mut *conn)
                .await?;
                Ok(((), vec![RegistryEvent::CaCertificateChanged { ca_id: id }]))
            }))
            .await
    }

    /// DescribeCACertificate.
    pub async fn describe_ca_certificate(&self, id: &str) -> Result<CaCertificate, RegistryError> {
        let id = CertificateId::parse("caCertificateId", id)?;
        let mut conn = self.store.reader().acquire().await?;
        require_ca(&mut conn, id.as_str()).await
    }

    /// ListCACertificates, by creation date (newest first unless `page.ascending`), optionally
    /// only those whose registration config names `template_name`.
    pub async fn list_ca_certificates(
        &self,
        template_name: Option<&str>,
        page: &PageRequest,
    ) -> Result<Page<CaCertificate>, RegistryError> {
        if let Some(name) = template_name {
            TEMPLATE_NAME.check("templateName", name)?;
        }
        let after = page.after.as_deref().map(parse_created_key).transpose()?;
        let (cmp, order) = if page.ascending {
            (">", "ASC")
        } else {
            ("<", "DESC")
        };
        let sql = format!(
            "SELECT {CA_COLUMNS} FROM ca_certificates \
             WHERE ($1 IS NULL OR created_ms {cmp} $1 OR (created_ms = $1 AND id {cmp} $2)) \
             ORDER BY created_ms {order}, id {order}"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(after.as_ref().map(|(ms, _)| *ms))
            .bind(after.map(|(_, id)| id))
            .fetch_all(self.store.reader())
            .await?;
        let mut items = Vec::new();
        for row in &rows {
            let ca = ca_from_row(row)?;
            if let Some(name) = template_name
                && ca
                    .registration_config
                    .as_ref()
                    .and_then(|c| c.template_name.as_deref())
                    != Some(name)
            {
                continue;
            }
            items.push(ca);
            if items.len() > page.limit as usize {
                break;
            }
        }
        Ok(Page::from_rows(items, page.limit, |c| {
            created_key(c.created_ms, &c.id)
        }))
    }

    /// DeleteCACertificate: only an INACTIVE CA. Certificates it signed stay registered.
    pub async fn delete_ca_certificate(&self, id: &str) -> Result<(), RegistryError> {
        let id = CertificateId::parse("caCertificateId", id)?.to_string();
        let arn = self.arns.ca_certificate(&id);
        self.store
            .write(job!(|conn| {
                let ca = require_ca(conn, &id).await?;
                if ca.status == CaStatus::Active {
                    return Err(RegistryError::CertificateState(format!(
                        "CA certificate {id} is ACTIVE; set it INACTIVE before deleting it"
                    )));
                }
                sqlx::query("DELETE FROM ca_certificates WHERE id = $1")
                    .bind(id.clone())
                    .execute(&mut *conn)
                    .await?;
                untag_in(conn, &arn).await?;
                Ok(((), vec![RegistryEvent::CaCertificateChanged { ca_id: id }]))
            }))
            .await
    }

    /// ListCertificatesByCA, by creation date.
    pub async fn list_certificates_by_ca(
        &self,
        ca_id: &str,
        page: &PageRequest,
    ) -> Result<Page<CertificateSummary>, RegistryError> {
        let ca_id = CertificateId::parse("caCertificateId", ca_id)?;
        self.list_certificate_summaries(Some(ca_id.as_str()), page)
            .await
    }
}
