//! Roost's cascade for a compromised CA: revoke every certificate it signed at once.

use uuid::Uuid;

use crate::Registry;
use crate::error::RegistryError;
use crate::events::RegistryEvent;
use crate::model::CertificateStatus;
use crate::names::CertificateId;
use crate::ops::ca_certificates::require_ca;
use crate::row;
use crate::store::now_ms;

/// Certificates updated per statement: two parameters each, far below SQLite's 32,766.
const CHUNK: usize = 500;

impl Registry {
    /// Sets every certificate registered under CA `ca_id` to REVOKED (those already REVOKED
    /// are left alone), in one transaction; returns how many changed. The CA itself keeps its
    /// status: set it INACTIVE too to stop new registrations.
    pub async fn revoke_certificates_of_ca(&self, ca_id: &str) -> Result<usize, RegistryError> {
        let ca_id = CertificateId::parse("caCertificateId", ca_id)?.to_string();
        self.store
            .write(job!(|conn| {
                require_ca(conn, &ca_id).await?;
                let rows =
                    sqlx::query("SELECT id FROM certificates WHERE ca_id = $1 AND status <> $2")
                        .bind(ca_id.clone())
                        .bind(CertificateStatus::Revoked.as_str())
                        .fetch_all(&mut *conn)
                        .await?;
                let ids = rows
                    .iter()
                    .map(|row| row::text(row, "id"))
                    .collect::<Result<Vec<_>, _>>()?;
                // A compromised CA may have signed a whole fleet: one statement per chunk,
                // each certificate with its own new generation id, instead of one round
                // trip to the database per certificate.
                let now = now_ms();
                for chunk in ids.chunks(CHUNK) {
                    let values = (0..chunk.len())
                        .map(|i| format!("(${}, ${})", 3 + 2 * i, 4 + 2 * i))
                        .collect::<Vec<_>>()
                        .join(", ");
                    let sql = format!(
                        "UPDATE certificates SET status = $1, \
                             customer_version = customer_version + 1, \
                             generation_id = v.column2, modified_ms = $2 \
                             FROM (VALUES {values}) AS v WHERE certificates.id = v.column1"
                    );
                    let mut update = sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(CertificateStatus::Revoked.as_str())
                        .bind(now);
                    for id in chunk {
                        update = update.bind(id.clone()).bind(Uuid::new_v4().to_string());
                    }
                    update.execute(&mut *conn).await?;
                }
                let events: Vec<_> = ids
                    .into_iter()
                    .map(|certificate_id| RegistryEvent::CertificateChanged { certificate_id })
                    .collect();
                Ok((events.len(), events))
            }))
            .await
    }
}
