//! Registry-wide settings: the CA registration code, and what the nodes of a cluster share.

use sqlx::AnyConnection;
use uuid::Uuid;

use crate::Registry;
use crate::error::RegistryError;
use crate::row;

const REGISTRATION_CODE: &str = "registration_code";

pub(crate) async fn current_registration_code(
    conn: &mut AnyConnection,
) -> Result<Option<String>, RegistryError> {
    let row = sqlx::query("SELECT value FROM settings WHERE name = $1")
        .bind(REGISTRATION_CODE)
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(|r| row::text(r, "value")).transpose()
}

impl Registry {
    /// GetRegistrationCode: the same 64-hex-digit code until it is deleted.
    pub async fn get_registration_code(&self) -> Result<String, RegistryError> {
        self.store
            .write(job!(|conn| {
                if let Some(code) = current_registration_code(conn).await? {
                    return Ok((code, Vec::new()));
                }
                // Two v4 UUIDs: 244 random bits from the OS generator, 64 hex digits.
                let code = format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple());
                sqlx::query("INSERT INTO settings (name, value) VALUES ($1, $2)")
                    .bind(REGISTRATION_CODE)
                    .bind(code.clone())
                    .execute(&mut *conn)
                    .await?;
                Ok((code, Vec::new()))
            }))
            .await
    }

    /// DeleteRegistrationCode: the next GetRegistrationCode makes a new one.
    pub async fn delete_registration_code(&self) -> Result<(), RegistryError> {
        self.store
            .write(job!(|conn| {
                let done = sqlx::query("DELETE FROM settings WHERE name = $1")
                    .bind(REGISTRATION_CODE)
                    .execute(&mut *conn)
                    .await?;
                if done.rows_affected() == 0 {
                    return Err(RegistryError::not_found(
                        "There is no registration code to delete.",
                    ));
                }
                Ok(((), Vec::new()))
            }))
            .await
    }

    /// The value of setting `name`, storing `proposed` first if it has none: the first node
    /// of a cluster to ask sets what every node then uses (the server CA, the admin keys).
    pub async fn shared_setting(
        &self,
        name: &str,
        proposed: String,
    ) -> Result<String, RegistryError> {
        let name = name.to_owned();
        self.store
            .write(job!(|conn| {
                sqlx::query(
                    "INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
                )
                .bind(name.clone())
                .bind(proposed)
                .execute(&mut *conn)
                .await?;
                let row = sqlx::query("SELECT value FROM settings WHERE name = $1")
                    .bind(name)
                    .fetch_one(&mut *conn)
                    .await?;
                Ok((row::text(&row, "value")?, Vec::new()))
            }))
            .await
    }
}
