//! Fleet provisioning's registry state: certificates created over MQTT wait, PENDING_ACTIVATION,
//! for RegisterThing to present their ownership token; trusted-user claim certificates live for
//! minutes. Both expire, and an unclaimed certificate is removed as on AWS.

use roost_pki::CertificateInfo;
use sha2::Digest as _;
use uuid::Uuid;

use crate::Registry;
use crate::error::RegistryError;
use crate::events::RegistryEvent;
use crate::model::{Certificate, CertificateStatus};
use crate::names::{CertificateId, TEMPLATE_NAME};
use crate::ops::ca_certificates::invalid_certificate;
use crate::ops::certificates::{CertificateSource, register_certificate_in};
use crate::row;
use crate::store::now_ms;

/// How an ownership token is stored: its SHA-256, so that a copy of the database (or its WAL)
/// lets nobody provision a device with a live token. Tokens carry 244 random bits, so an
/// unsalted hash is enough.
pub(crate) fn token_digest(token: &str) -> String {
    hex::encode(sha2::Sha256::digest(token.as_bytes()))
}

/// Why an ownership token is refused (fleet provisioning's `InvalidCertificateOwnershipToken`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OwnershipTokenError {
    #[error("Certificate ownership token cannot be empty.")]
    Empty,
    #[error("The certificate ownership token is not valid.")]
    Unknown,
    #[error("The certificate ownership token has expired.")]
    Expired,
}

/// A trusted-user claim certificate (CreateProvisioningClaim).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvisioningClaim {
    pub certificate_id: String,
    pub template_name: String,
    pub pem: String,
    pub expires_ms: i64,
}

impl Registry {
    /// Registers a certificate Roost just issued for a device over MQTT, PENDING_ACTIVATION,
    /// with an ownership token valid for `token_ttl_ms`; returns both.
    pub async fn register_pending_with_token(
        &self,
        certificate_pem: &str,
        token_ttl_ms: i64,
    ) -> Result<(Certificate, String), RegistryError> {
        let leaf = CertificateInfo::from_pem(certificate_pem)
            .map_err(|e| invalid_certificate("certificatePem", e))?;
        let arns = self.arns.clone();
        self.store
            .write(job!(|conn| {
                let certificate = register_certificate_in(
                    conn,
                    &arns,
                    &leaf,
                    &CertificateSource::Issued,
                    CertificateStatus::PendingActivation,
                )
                .await?;
                // 244 random bits from the OS generator.
                let token = format!(
                    "{}{}",
                    Uuid::new_v4().simple(),
                    Uuid::new_v4().simple()
                );
                sqlx::query(
                    "INSERT INTO ownership_tokens (token, certificate_id, expires_ms) VALUES ($1, $2, $3)",
                )
                .bind(token_digest(&token))
                .bind(certificate.id.clone())
                .bind(now_ms() + token_ttl_ms)
                .execute(&mut *conn)
                .await?;
                let event = RegistryEvent::CertificateChanged {
                    certificate_id: certificate.id.clone(),
                };
                Ok(((certificate, token), vec![event]))
            }))
            .await
    }

    /// The certificate an ownership token stands for, if the token is valid now.
    pub async fn ownership_token_certificate(
        &self,
        token: &str,
    ) -> Result<Result<Certificate, OwnershipTokenError>, RegistryError> {
        if token.is_empty() {
            return Ok(Err(OwnershipTokenError::Empty));
        }
        let row = sqlx::query(
            "SELECT t.expires_ms, c.id, c.pem FROM ownership_tokens t \
             JOIN certificates c ON c.id = t.certificate_id WHERE t.token = $1",
        )
        .bind(token_digest(token))
        .fetch_optional(self.store.reader())
        .await?;
        let Some(row) = row else {
            return Ok(Err(OwnershipTokenError::Unknown));
        };
        if row::int(&row, "expires_ms")? <= now_ms() {
            return Ok(Err(OwnershipTokenError::Expired));
        }
        let id = row::text(&row, "id")?;
        self.describe_certificate(&id).await.map(Ok)
    }

    /// Removes what fleet provisioning left behind: certificates whose ownership token expired
    /// while they were still PENDING_ACTIVATION and attached to nothing, expired tokens and
    /// expired claims. Returns the ids of the certificates removed.
    pub async fn expire_fleet_provisioning(&self) -> Result<Vec<String>, RegistryError> {
        let arns = self.arns.clone();
        self.store
            .write(job!(|conn| {
                let now = now_ms();
                let rows = sqlx::query(
                    "SELECT t.certificate_id FROM ownership_tokens t \
                         JOIN certificates c ON c.id = t.certificate_id \
                         WHERE t.expires_ms <= $1 AND c.status = $2",
                )
                .bind(now)
                .bind(CertificateStatus::PendingActivation.as_str())
                .fetch_all(&mut *conn)
                .await?;
                let mut removed = Vec::new();
                for row in &rows {
                    let id = row::text(row, "certificate_id")?;
                    let arn = arns.certificate(&id);
                    let attached = sqlx::query(
                        "SELECT 1 AS x FROM thing_principals WHERE principal = $1 \
                             UNION ALL SELECT 1 AS x FROM policy_attachments WHERE target = $1",
                    )
                    .bind(arn)
                    .fetch_optional(&mut *conn)
                    .await?;
                    if attached.is_none() {
                        sqlx::query("DELETE FROM certificates WHERE id = $1")
                            .bind(id.clone())
                            .execute(&mut *conn)
                            .await?;
                        removed.push(id);
                    }
                }
                sqlx::query("DELETE FROM ownership_tokens WHERE expires_ms <= $1")
                    .bind(now)
                    .execute(&mut *conn)
                    .await?;
                sqlx::query("DELETE FROM provisioning_claims WHERE expires_ms <= $1")
                    .bind(now)
                    .execute(&mut *conn)
                    .await?;
                let events = removed
                    .iter()
                    .map(|id| RegistryEvent::CertificateChanged {
                        certificate_id: id.clone(),
                    })
                    .collect();
                Ok((removed, events))
            }))
            .await
    }

    /// Records a claim certificate issued for `template_name` (CreateProvisioningClaim).
    pub async fn create_provisioning_claim(
        &self,
        template_name: &str,
        certificate_pem: &str,
        expires_ms: i64,
    ) -> Result<ProvisioningClaim, RegistryError> {
        TEMPLATE_NAME.check("templateName", template_name)?;
        let leaf = CertificateInfo::from_pem(certificate_pem)
            .map_err(|e| invalid_certificate("certificatePem", e))?;
        let claim = ProvisioningClaim {
            certificate_id: leaf.id,
            template_name: template_name.to_owned(),
            pem: certificate_pem.to_owned(),
            expires_ms,
        };
        let record = claim.clone();
        self.store
            .write(job!(|conn| {
                sqlx::query(
                    "INSERT INTO provisioning_claims (certificate_id, template_name, pem, expires_ms, created_ms) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(record.certificate_id.clone())
                .bind(record.template_name.clone())
                .bind(record.pem.clone())
                .bind(record.expires_ms)
                .bind(now_ms())
                .execute(&mut *conn)
                .await?;
                let event = RegistryEvent::CertificateChanged {
                    certificate_id: record.certificate_id.clone(),
                };
                Ok(((), vec![event]))
            }))
            .await?;
        Ok(claim)
    }

    /// A claim certificate, if it exists and has not expired.
    pub async fn provisioning_claim(
        &self,
        certificate_id: &str,
    ) -> Result<Option<ProvisioningClaim>, RegistryError> {
        let id = CertificateId::parse("certificateId", certificate_id)?;
        let row = sqlx::query(
            "SELECT certificate_id, template_name, pem, expires_ms FROM provisioning_claims \
             WHERE certificate_id = $1 AND expires_ms > $2",
        )
        .bind(id.to_string())
        .bind(now_ms())
        .fetch_optional(self.store.reader())
        .await?;
        row.as_ref().map(claim_from_row).transpose()
    }

    /// Every unexpired claim certificate (loaded into the broker's trust view).
    pub async fn all_provisioning_claims(&self) -> Result<Vec<ProvisioningClaim>, RegistryError> {
        let rows = sqlx::query(
            "SELECT certificate_id, template_name, pem, expires_ms FROM provisioning_claims \
             WHERE expires_ms > $1",
        )
        .bind(now_ms())
        .fetch_all(self.store.reader())
        .await?;
        rows.iter().map(claim_from_row).collect()
    }
}

fn claim_from_row(row: &sqlx::any::AnyRow) -> Result<ProvisioningClaim, RegistryError> {
    Ok(ProvisioningClaim {
        certificate_id: row::text(row, "certificate_id")?,
        template_name: row::text(row, "template_name")?,
        pem: row::text(row, "pem")?,
        expires_ms: row::int(row, "expires_ms")?,
    })
}

/// Spends the unexpired ownership token whose digest is `token`, if it stands for
/// `certificate_id`; false when there is no such token (spent, expired or another's).
pub(crate) async fn spend_ownership_token_in(
    conn: &mut sqlx::AnyConnection,
    token: &str,
    certificate_id: &str,
) -> Result<bool, RegistryError> {
    let spent = sqlx::query(
        "DELETE FROM ownership_tokens WHERE token = $1 AND certificate_id = $2 AND expires_ms > $3",
    )
    .bind(token)
    .bind(certificate_id)
    .bind(now_ms())
    .execute(&mut *conn)
    .await?;
    Ok(spent.rows_affected() == 1)
}
