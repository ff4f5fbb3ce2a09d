//! Reads for the data plane: the trust material the TLS verifier keeps in memory, and what a
//! connecting principal may do (its thing and the policies that apply to it).

use std::collections::BTreeSet;

use crate::Registry;
use crate::error::RegistryError;
use crate::model::{CaCertificate, CertificateStatus, Thing};
use crate::ops::ca_certificates::{ca_from_row, find_ca};
use crate::ops::policies::find_policy;
use crate::ops::thing_groups::{ancestors, find_group};
use crate::ops::things::find_thing;
use crate::row;

/// A device certificate as the verifier needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateTrust {
    pub id: String,
    pub status: CertificateStatus,
    pub ca_id: Option<String>,
    pub not_after_ms: i64,
}

/// The thing a connection acts as, per AWS's rules for thing policy variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionThing {
    pub thing: Thing,
    /// Attached with `EXCLUSIVE_THING`.
    pub exclusive: bool,
}

/// What applies to a principal connecting with a client id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrincipalGrants {
    /// The connection's thing: the one attached exclusively, else the attached thing named
    /// like the client id.
    pub thing: Option<ConnectionThing>,
    /// (policy name, default-version document) of the policies attached to the certificate
    /// and to the thing's groups and their ancestors.
    pub policies: Vec<(String, String)>,
}

/// Everything attached to a certificate that provisioning registered just now, together with
/// its thing (if the plan created one) and all of its policies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvisionedGrants {
    /// The thing the certificate was attached to (not exclusively), created with it.
    pub thing: Option<Thing>,
    /// (policy name, default-version document) of the policies attached to the certificate.
    pub policies: Vec<(String, String)>,
    /// The commit that made them (see [`Registry::committed`]): later commits may have changed
    /// them since.
    pub as_of_commit: u64,
}

impl ProvisionedGrants {
    /// What applies to the certificate connecting as `client_id`: what
    /// [`Registry::principal_grants`] would read back.
    pub fn for_client(&self, client_id: &str) -> PrincipalGrants {
        // Provisioning attaches its thing non-exclusively.
        let attached = self.thing.iter().map(|thing| (thing.name.as_str(), false));
        let thing = connection_thing(attached, client_id).and_then(|(_, exclusive)| {
            let thing = self.thing.clone()?;
            Some(ConnectionThing { thing, exclusive })
        });
        PrincipalGrants {
            thing,
            policies: self.policies.clone(),
        }
    }
}

/// Which of a certificate's attached things (name, exclusive) a connection as `client_id`
/// acts as: the exclusively attached one, else the one named like the client id (AWS IoT's
/// rule for `iot:Connection.Thing.*`).
pub(crate) fn connection_thing<'a>(
    attached: impl IntoIterator<Item = (&'a str, bool)>,
    client_id: &str,
) -> Option<(&'a str, bool)> {
    let mut chosen = None;
    for (name, exclusive) in attached {
        if exclusive {
            return Some((name, true));
        }
        if name == client_id {
            chosen = Some((name, false));
        }
    }
    chosen
}

impl Registry {
    /// Every registered CA certificate.
    pub async fn all_ca_certificates(&self) -> Result<Vec<CaCertificate>, RegistryError> {
        let rows = sqlx::query(
            "SELECT id, pem, status, auto_registration, registration_config, certificate_mode, \
             not_before_ms, not_after_ms, customer_version, generation_id, created_ms, modified_ms \
             FROM ca_certificates",
        )
        .fetch_all(self.store.reader())
        .await?;
        rows.iter().map(ca_from_row).collect()
    }

    /// One CA certificate, if registered.
    pub async fn find_ca_certificate(
        &self,
        id: &str,
    ) -> Result<Option<CaCertificate>, RegistryError> {
        let mut conn = self.store.reader().acquire().await?;
        find_ca(&mut conn, id).await
    }

    /// Every device certificate's trust facts (loaded once at start, then kept current from
    /// change events).
    pub async fn all_certificate_trust(&self) -> Result<Vec<CertificateTrust>, RegistryError> {
        let rows = sqlx::query("SELECT id, status, ca_id, not_after_ms FROM certificates")
            .fetch_all(self.store.reader())
            .await?;
        rows.iter().map(trust_from_row).collect()
    }

    /// One device certificate's trust facts, if registered.
    pub async fn certificate_trust(
        &self,
        id: &str,
    ) -> Result<Option<CertificateTrust>, RegistryError> {
        let row =
            sqlx::query("SELECT id, status, ca_id, not_after_ms FROM certificates WHERE id = $1")
                .bind(id.to_owned())
                .fetch_optional(self.store.reader())
                .await?;
        row.as_ref().map(trust_from_row).transpose()
    }

    /// The trust facts of each of `ids` that is registered (absent ones are left out).
    pub async fn certificate_trust_many(
        &self,
        ids: &[String],
    ) -> Result<Vec<CertificateTrust>, RegistryError> {
        // SQLite binds at most 32,766 parameters per statement; stay far below.
        const CHUNK: usize = 500;
        let mut found = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(CHUNK) {
            let placeholders = (1..=chunk.len())
                .map(|i| format!("${i}"))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "SELECT id, status, ca_id, not_after_ms FROM certificates WHERE id IN ({placeholders})"
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for id in chunk {
                query = query.bind(id.clone());
            }
            let rows = query.fetch_all(self.store.reader()).await?;
            for row in &rows {
                found.push(trust_from_row(row)?);
            }
        }
        Ok(found)
    }

    /// The thing and the policies that apply to certificate `certificate_id` connecting as
    /// `client_id`.
    pub async fn principal_grants(
        &self,
        certificate_id: &str,
        client_id: &str,
    ) -> Result<PrincipalGrants, RegistryError> {
        let principal = self.arns.certificate(certificate_id);
        let mut conn = self.store.reader().acquire().await?;
        let attached =
            sqlx::query("SELECT thing_name, exclusive FROM thing_principals WHERE principal = $1")
                .bind(principal.clone())
                .fetch_all(&mut *conn)
                .await?;
        let attached = attached
            .iter()
            .map(|row| {
                Ok((
                    row::text(row, "thing_name")?,
                    row::int(row, "exclusive")? != 0,
                ))
            })
            .collect::<Result<Vec<_>, RegistryError>>()?;
        let chosen = connection_thing(
            attached
                .iter()
                .map(|(name, exclusive)| (name.as_str(), *exclusive)),
            client_id,
        );
        let thing = match chosen {
            Some((name, exclusive)) => find_thing(&mut conn, name)
                .await?
                .map(|thing| ConnectionThing { thing, exclusive }),
            None => None,
        };

        let mut targets = vec![principal];
        if let Some(connection_thing) = &thing {
            let rows =
                sqlx::query("SELECT group_name FROM thing_group_members WHERE thing_name = $1")
                    .bind(connection_thing.thing.name.clone())
                    .fetch_all(&mut *conn)
                    .await?;
            let mut groups = BTreeSet::new();
            for row in &rows {
                let name = row::text(row, "group_name")?;
                if let Some(group) = find_group(&mut conn, &name).await? {
                    groups.extend(ancestors(&mut conn, &group).await?);
                }
                groups.insert(name);
            }
            targets.extend(groups.iter().map(|g| self.arns.thing_group(g)));
        }
        let mut names = BTreeSet::new();
        for target in targets {
            let rows = sqlx::query("SELECT policy_name FROM policy_attachments WHERE target = $1")
                .bind(target)
                .fetch_all(&mut *conn)
                .await?;
            for row in &rows {
                names.insert(row::text(row, "policy_name")?);
            }
        }
        let mut policies = Vec::with_capacity(names.len());
        for name in names {
            if let Some(policy) = find_policy(&mut conn, &name).await? {
                policies.push((policy.name, policy.document));
            }
        }
        Ok(PrincipalGrants { thing, policies })
    }
}

fn trust_from_row(row: &sqlx::any::AnyRow) -> Result<CertificateTrust, RegistryError> {
    Ok(CertificateTrust {
        id: row::text(row, "id")?,
        status: CertificateStatus::parse("status", &row::text(row, "status")?)?,
        ca_id: row::opt_text(row, "ca_id")?,
        not_after_ms: row::int(row, "not_after_ms")?,
    })
}

#[cfg(test)]
mod tests {
    use super::connection_thing;

    #[test]
    fn an_exclusive_attachment_wins_over_a_thing_named_like_the_client() {
        let attached = [("sensor-1", false), ("gateway", true)];
        assert_eq!(
            connection_thing(attached, "sensor-1"),
            Some(("gateway", true))
        );
    }

    #[test]
    fn otherwise_the_thing_named_like_the_client_id_and_nothing_else() {
        let attached = [("sensor-1", false), ("sensor-2", false)];
        assert_eq!(
            connection_thing(attached, "sensor-2"),
            Some(("sensor-2", false))
        );
        assert_eq!(connection_thing(attached, "someone-else"), None);
        assert_eq!(connection_thing([], "sensor-1"), None);
    }
}
