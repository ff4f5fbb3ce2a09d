//! Device certificates: registration (with or without a registered CA, or issued by Roost),
//! status changes, describe, list, delete.

use roost_pki::CertificateInfo;
use sqlx::AnyConnection;
use uuid::Uuid;

use crate::Registry;
use crate::error::RegistryError;
use crate::events::RegistryEvent;
use crate::model::{
    CaStatus, Certificate, CertificateMode, CertificateStatus, CertificateSummary, Validity,
};
use crate::names::CertificateId;
use crate::ops::ca_certificates::{cas_with_subject, invalid_certificate, require_ca};
use crate::page::{Page, PageRequest, created_key, parse_created_key};
use crate::row;
use crate::store::now_ms;

/// How a certificate enters the registry.
#[derive(Debug, Clone)]
pub enum CertificateSource {
    /// RegisterCertificate: signed by a registered CA, given or found by issuer name.
    WithCa { ca_pem: Option<String> },
    /// RegisterCertificateWithoutCA.
    WithoutCa,
    /// Issued by Roost's own device CA (CreateKeysAndCertificate, CreateCertificateFromCsr).
    Issued,
    /// Registered automatically on first connect (JITR/JITP) under a CA already known to have
    /// signed it.
    AutoRegistered { ca_id: String },
}

/// Input of the certificate registration operations.
#[derive(Debug, Clone)]
pub struct NewCertificate {
    pub pem: String,
    pub source: CertificateSource,
    pub status: CertificateStatus,
}

fn certificate_from_row(row: &sqlx::any::AnyRow) -> Result<Certificate, RegistryError> {
    Ok(Certificate {
        id: row::text(row, "id")?,
        pem: row::text(row, "pem")?,
        ca_id: row::opt_text(row, "ca_id")?,
        status: CertificateStatus::parse("status", &row::text(row, "status")?)?,
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

const COLUMNS: &str = "id, pem, ca_id, status, certificate_mode, not_before_ms, not_after_ms, \
     customer_version, generation_id, created_ms, modified_ms";

pub(crate) async fn find_certificate(
    conn: &mut AnyConnection,
    id: &str,
) -> Result<Option<Certificate>, RegistryError> {
    let sql = format!("SELECT {COLUMNS} FROM certificates WHERE id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id.to_owned())
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(certificate_from_row).transpose()
}

pub(crate) async fn require_certificate(
    conn: &mut AnyConnection,
    id: &str,
) -> Result<Certificate, RegistryError> {
    find_certificate(conn, id)
        .await?
        .ok_or_else(|| RegistryError::not_found(format!("Certificate {id} cannot be found.")))
}

/// Finds the registered CA that signed `leaf`: the one given by `ca_pem`, or among those whose
/// subject is the leaf's issuer, the one whose key verifies the signature.
async fn signing_ca(
    conn: &mut AnyConnection,
    leaf: &CertificateInfo,
    ca_pem: Option<&str>,
) -> Result<(crate::model::CaCertificate, CertificateInfo), RegistryError> {
    let candidates = match ca_pem {
        Some(pem) => {
            let given = CertificateInfo::from_pem(pem)
                .map_err(|e| invalid_certificate("caCertificatePem", e))?;
            vec![require_ca(conn, &given.id).await.map_err(|_| {
                RegistryError::CertificateValidation(format!(
                    "caCertificatePem is not a registered CA certificate (id {})",
                    given.id
                ))
            })?]
        }
        None => cas_with_subject(conn, &leaf.issuer_der).await?,
    };
    if candidates.is_empty() {
        return Err(RegistryError::CertificateValidation(format!(
            "The certificate's issuer '{}' is not a registered CA certificate; register the CA \
             first, or use RegisterCertificateWithoutCA",
            leaf.issuer
        )));
    }
    let mut signers = signers_of(leaf, candidates)?;
    match signers.len() {
        0 => Err(RegistryError::CertificateValidation(format!(
            "The certificate is not signed by the registered CA certificate(s) with subject '{}'",
            leaf.issuer
        ))),
        1 => Ok(signers.remove(0)),
        _ => Err(RegistryError::CertificateConflict(
            "Several registered CA certificates share this subject and key; give caCertificatePem"
                .into(),
        )),
    }
}

/// Among `candidates`, the registered CAs whose key verifies `leaf`'s signature, each with its
/// parsed certificate. The one check behind every search for a leaf's CA in the database (the
/// broker's trust view makes the same check in memory).
pub(crate) fn signers_of(
    leaf: &CertificateInfo,
    candidates: Vec<crate::model::CaCertificate>,
) -> Result<Vec<(crate::model::CaCertificate, CertificateInfo)>, RegistryError> {
    let mut signers = Vec::new();
    for candidate in candidates {
        let ca = CertificateInfo::from_pem(&candidate.pem)
            .map_err(|e| RegistryError::storage(format!("stored CA {}: {e}", candidate.id)))?;
        if roost_pki::verify_signed_by(leaf, &ca).is_ok() {
            signers.push((candidate, ca));
        }
    }
    Ok(signers)
}

/// Registers a certificate inside a transaction (shared with provisioning).
pub(crate) async fn register_certificate_in(
    conn: &mut AnyConnection,
    arns: &crate::Arns,
    leaf: &CertificateInfo,
    source: &CertificateSource,
    status: CertificateStatus,
) -> Result<Certificate, RegistryError> {
    if find_certificate(conn, &leaf.id).await?.is_some() {
        return Err(RegistryError::AlreadyExists {
            message: "The certificate is already provisioned or registered".into(),
            resource_id: leaf.id.clone(),
            resource_arn: arns.certificate(&leaf.id),
        });
    }
    if matches!(
        source,
        CertificateSource::WithCa { .. } | CertificateSource::WithoutCa
    ) {
        leaf.check_not_sha1_signed()
            .map_err(|e| RegistryError::CertificateValidation(e.to_string()))?;
    }
    let (ca_id, mode) = match source {
        CertificateSource::WithCa { ca_pem } => {
            let (ca, ca_info) = signing_ca(conn, leaf, ca_pem.as_deref()).await?;
            // A CA that has expired, or cannot sign, vouches for no new certificate.
            roost_pki::check_ca_certificate(&ca_info, now_ms() / 1000).map_err(|e| {
                RegistryError::CertificateValidation(format!(
                    "The CA certificate {} cannot vouch for new certificates: {e}",
                    ca.id
                ))
            })?;
            if ca.status != CaStatus::Active {
                return Err(RegistryError::CertificateState(format!(
                    "The CA certificate {} is INACTIVE; activate it before registering certificates it signed",
                    ca.id
                )));
            }
            (Some(ca.id), ca.mode)
        }
        CertificateSource::WithoutCa => (None, CertificateMode::SniOnly),
        CertificateSource::Issued => (None, CertificateMode::Default),
        CertificateSource::AutoRegistered { ca_id } => {
            return insert_ca_signed_in(conn, leaf, ca_id, status).await;
        }
    };
    let now = now_ms();
    let record = Certificate {
        id: leaf.id.clone(),
        pem: leaf.pem.clone(),
        ca_id,
        status,
        mode,
        validity: leaf.validity.into(),
        customer_version: 1,
        generation_id: Uuid::new_v4().to_string(),
        created_ms: now,
        modified_ms: now,
    };
    sqlx::query(
        "INSERT INTO certificates (id, pem, ca_id, status, certificate_mode, not_before_ms, \
         not_after_ms, customer_version, generation_id, created_ms, modified_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(record.id.clone())
    .bind(record.pem.clone())
    .bind(record.ca_id.clone())
    .bind(record.status.as_str())
    .bind(record.mode.as_str())
    .bind(record.validity.not_before_ms)
    .bind(record.validity.not_after_ms)
    .bind(record.customer_version)
    .bind(record.generation_id.clone())
    .bind(now)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(record)
}

/// Registers `leaf`, known not to be registered yet, under registered CA `ca_id` (which has
/// verified its signature), with the CA's certificate mode. The CA lookup and the insert are one
/// statement: this is on the path of every just-in-time provisioning.
pub(crate) async fn insert_ca_signed_in(
    conn: &mut AnyConnection,
    leaf: &CertificateInfo,
    ca_id: &str,
    status: CertificateStatus,
) -> Result<Certificate, RegistryError> {
    let now = now_ms();
    let generation_id = Uuid::new_v4().to_string();
    let row = sqlx::query(
        "INSERT INTO certificates (id, pem, ca_id, status, certificate_mode, not_before_ms, \
         not_after_ms, customer_version, generation_id, created_ms, modified_ms) \
         SELECT $1, $2, id, $3, certificate_mode, $4, $5, 1, $6, $7, $7 \
         FROM ca_certificates WHERE id = $8 RETURNING certificate_mode",
    )
    .bind(leaf.id.clone())
    .bind(leaf.pem.clone())
    .bind(status.as_str())
    .bind(leaf.validity.not_before * 1000)
    .bind(leaf.validity.not_after * 1000)
    .bind(generation_id.clone())
    .bind(now)
    .bind(ca_id.to_owned())
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| RegistryError::not_found(format!("CA certificate {ca_id} cannot be found.")))?;
    Ok(Certificate {
        id: leaf.id.clone(),
        pem: leaf.pem.clone(),
        ca_id: Some(ca_id.to_owned()),
        status,
        mode: CertificateMode::parse("certificateMode", &row::text(&row, "certificate_mode")?)?,
        validity: leaf.validity.into(),
        customer_version: 1,
        generation_id,
        created_ms: now,
        modified_ms: now,
    })
}

/// Sets a certificate's status inside a transaction (shared with provisioning).
pub(crate) async fn set_status_in(
    conn: &mut AnyConnection,
    id: &str,
    status: CertificateStatus,
) -> Result<(), RegistryError> {
    sqlx::query(
        "UPDATE certificates SET status = $1, customer_version = customer_version + 1, \
         generation_id = $2, modified_ms = $3 WHERE id = $4",
    )
    .bind(status.as_str())
    .bind(Uuid::new_v4().to_string())
    .bind(now_ms())
    .bind(id.to_owned())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

impl Registry {
    /// RegisterCertificate, RegisterCertificateWithoutCA, and the registration half of
    /// CreateKeysAndCertificate / CreateCertificateFromCsr.
    pub async fn register_certificate(
        &self,
        input: NewCertificate,
    ) -> Result<Certificate, RegistryError> {
        let leaf = CertificateInfo::from_pem(&input.pem)
            .map_err(|e| invalid_certificate("certificatePem", e))?;
        leaf.check_validity_at(now_ms() / 1000)
            .map_err(|e| invalid_certificate("certificatePem", e))?;
        // The model documents ACTIVE, INACTIVE and REVOKED; REGISTER_INACTIVE is deprecated.
        if matches!(
            input.status,
            CertificateStatus::PendingTransfer
                | CertificateStatus::PendingActivation
                | CertificateStatus::RegisterInactive
        ) {
            return Err(RegistryError::invalid(format!(
                "status: a certificate cannot be registered with status {}; use ACTIVE, \
                 INACTIVE or REVOKED",
                input.status
            )));
        }
        let arns = self.arns.clone();
        self.store
            .write(job!(|conn| {
                let record =
                    register_certificate_in(conn, &arns, &leaf, &input.source, input.status)
                        .await?;
                let event = RegistryEvent::CertificateChanged {
                    certificate_id: record.id.clone(),
                };
                Ok((record, vec![event]))
            }))
            .await
    }

    /// DescribeCertificate.
    pub async fn describe_certificate(&self, id: &str) -> Result<Certificate, RegistryError> {
        let id = CertificateId::parse("certificateId", id)?;
        let mut conn = self.store.reader().acquire().await?;
        require_certificate(&mut conn, id.as_str()).await
    }

    /// ListCertificates, by creation date (newest first unless `page.ascending`).
    pub async fn list_certificates(
        &self,
        page: &PageRequest,
    ) -> Result<Page<CertificateSummary>, RegistryError> {
        self.list_certificate_summaries(None, page).await
    }

    pub(crate) async fn list_certificate_summaries(
        &self,
        ca_id: Option<&str>,
        page: &PageRequest,
    ) -> Result<Page<CertificateSummary>, RegistryError> {
        let after = page.after.as_deref().map(parse_created_key).transpose()?;
        let (cmp, order) = if page.ascending {
            (">", "ASC")
        } else {
            ("<", "DESC")
        };
        let sql = format!(
            "SELECT id, status, certificate_mode, created_ms FROM certificates \
             WHERE ($1 IS NULL OR ca_id = $1) \
             AND ($2 IS NULL OR created_ms {cmp} $2 OR (created_ms = $2 AND id {cmp} $3)) \
             ORDER BY created_ms {order}, id {order} LIMIT $4"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(ca_id.map(str::to_owned))
            .bind(after.as_ref().map(|(ms, _)| *ms))
            .bind(after.map(|(_, id)| id))
            .bind(i64::from(page.limit) + 1)
            .fetch_all(self.store.reader())
            .await?;
        let items = rows
            .iter()
            .map(|r| {
                Ok(CertificateSummary {
                    id: row::text(r, "id")?,
                    status: row::text(r, "status")?,
                    mode: CertificateMode::parse(
                        "certificateMode",
                        &row::text(r, "certificate_mode")?,
                    )?,
                    created_ms: row::int(r, "created_ms")?,
                })
            })
            .collect::<Result<Vec<_>, RegistryError>>()?;
        Ok(Page::from_rows(items, page.limit, |c| {
            created_key(c.created_ms, &c.id)
        }))
    }

    /// UpdateCertificate. REVOKED is final; the PENDING_* states can't be set by hand.
    pub async fn update_certificate(
        &self,
        id: &str,
        new_status: CertificateStatus,
    ) -> Result<(), RegistryError> {
        let id = CertificateId::parse("certificateId", id)?.to_string();
        if matches!(
            new_status,
            CertificateStatus::PendingTransfer
                | CertificateStatus::PendingActivation
                | CertificateStatus::RegisterInactive
        ) {
            return Err(RegistryError::invalid(format!(
                "The status of a certificate cannot be set to {new_status}"
            )));
        }
        self.store
            .write(job!(|conn| {
                let current = require_certificate(conn, &id).await?;
                if current.status == new_status {
                    return Ok(((), Vec::new()));
                }
                if current.status == CertificateStatus::Revoked {
                    return Err(RegistryError::CertificateState(format!(
                        "Certificate {id} is REVOKED; a revoked certificate cannot change status"
                    )));
                }
                if current.status == CertificateStatus::PendingTransfer {
                    return Err(RegistryError::CertificateState(format!(
                        "Certificate {id} is PENDING_TRANSFER"
                    )));
                }
                set_status_in(conn, &id, new_status).await?;
                Ok((
                    (),
                    vec![RegistryEvent::CertificateChanged { certificate_id: id }],
                ))
            }))
            .await
    }

    /// DeleteCertificate: not ACTIVE, no things attached; attached policies are a conflict
    /// unless `force_delete`, which detaches them.
    pub async fn delete_certificate(
        &self,
        id: &str,
        force_delete: bool,
    ) -> Result<(), RegistryError> {
        let id = CertificateId::parse("certificateId", id)?.to_string();
        let arn = self.arns.certificate(&id);
        self.store
            .write(job!(|conn| {
                let current = require_certificate(conn, &id).await?;
                if current.status == CertificateStatus::Active {
                    return Err(RegistryError::CertificateState(
                        "Certificate must be deactivated (not ACTIVE) before deletion.".into(),
                    ));
                }
                let thing = sqlx::query(
                    "SELECT thing_name FROM thing_principals WHERE principal = $1 LIMIT 1",
                )
                .bind(arn.clone())
                .fetch_optional(&mut *conn)
                .await?;
                if thing.is_some() {
                    return Err(RegistryError::DeleteConflict(format!(
                        "Things must be detached before deletion (arn: {arn})"
                    )));
                }
                let policies =
                    sqlx::query("SELECT policy_name FROM policy_attachments WHERE target = $1")
                        .bind(arn.clone())
                        .fetch_all(&mut *conn)
                        .await?;
                if !policies.is_empty() && !force_delete {
                    return Err(RegistryError::DeleteConflict(format!(
                        "Certificate policies must be detached before deletion (arn: {arn})"
                    )));
                }
                let mut events = Vec::new();
                for row in &policies {
                    events.push(RegistryEvent::PolicyAttachmentChanged {
                        policy_name: row::text(row, "policy_name")?,
                        target: arn.clone(),
                    });
                }
                for sql in [
                    "DELETE FROM policy_attachments WHERE target = $1",
                    "DELETE FROM tags WHERE resource_arn = $1",
                ] {
                    sqlx::query(sql)
                        .bind(arn.clone())
                        .execute(&mut *conn)
                        .await?;
                }
                sqlx::query("DELETE FROM certificates WHERE id = $1")
                    .bind(id.clone())
                    .execute(&mut *conn)
                    .await?;
                events.push(RegistryEvent::CertificateChanged { certificate_id: id });
                Ok(((), events))
            }))
            .await
    }
}
