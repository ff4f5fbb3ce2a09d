//! Roost's cascade for a compromised CA: revoke every certificate it signed at once.

use crate::Registry;
use crate::error::RegistryError;
use crate::events::RegistryEvent;
use crate::model::CertificateStatus;
use crate::names::CertificateId;
use crate::ops::ca_certificates::require_ca;
use crate::ops::certificates::set_status_in;
use crate::row;

impl Registry {
    /// Sets every certificate registered under CA `ca_id` to REVOKED (those already REVOKED
    /// are left alone), in one transaction; returns how many changed. The CA itself keeps its
    /// status: set it INACTIVE too to stop new registrations.
    pub async fn revoke_certificates_of_ca(&self, ca_id: &str) -> Result<usize, RegistryError> {
        let ca_id = CertificateId::parse("caCertificateId", ca_id)?.to_string();
        self.store
            .write(move |conn| {
                Box::pin(async move {
                    require_ca(conn, &ca_id).await?;
                    let rows = sqlx::query(
                        "SELECT id FROM certificates WHERE ca_id = $1 AND status <> $2",
                    )
                    .bind(ca_id.clone())
                    .bind(CertificateStatus::Revoked.as_str())
                    .fetch_all(&mut *conn)
                    .await?;
                    let mut events = Vec::with_capacity(rows.len());
                    for row in &rows {
                        let id = row::text(row, "id")?;
                        set_status_in(conn, &id, CertificateStatus::Revoked).await?;
                        events.push(RegistryEvent::CertificateChanged { certificate_id: id });
                    }
                    Ok((events.len(), events))
                })
            })
            .await
    }
}
