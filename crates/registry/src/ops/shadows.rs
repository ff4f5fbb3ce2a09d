//! Device shadows, stored per (thing, shadow name). An update or delete reads the shadow,
//! applies AWS's rules (`roost-shadow`) and writes the result in one writer job, so concurrent
//! requests on one shadow are serialised and every answer follows the commit that made it
//! durable. A rejected request (bad version, bad document) writes nothing.
//!
//! Their writes skip the per-job savepoint (`write_unguarded`): a refused update returns before
//! its only write, so nothing of it needs undoing, and a storage error fails the batch as a
//! failed commit would.

use roost_shadow::{
    ClientToken, DeleteAccepted, ShadowDocument, ShadowError, ShadowName, ThingName, UpdateOutcome,
    UpdateRequest,
};
use sqlx::AnyConnection;

use crate::Registry;
use crate::error::RegistryError;
use crate::page::{Page, PageRequest};
use crate::row;
use crate::store::now_ms;

/// The storage key of a shadow name: the classic shadow is stored under ''.
fn shadow_key(shadow: Option<&ShadowName>) -> String {
    shadow.map(|s| s.as_str().to_owned()).unwrap_or_default()
}

/// A shadow's row: its document (absent once deleted) and the version numbering continues
/// from.
struct StoredShadow {
    document: Option<ShadowDocument>,
    version: u64,
}

async fn find_shadow(
    conn: &mut AnyConnection,
    thing: &ThingName,
    shadow: Option<&ShadowName>,
) -> Result<Option<StoredShadow>, RegistryError> {
    let row = sqlx::query(
        "SELECT document, version FROM shadows WHERE thing_name = $1 AND shadow_name = $2",
    )
    .bind(thing.as_str().to_owned())
    .bind(shadow_key(shadow))
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let document = row::opt_text(&row, "document")?
        .map(|json| {
            serde_json::from_str::<ShadowDocument>(&json)
                .map_err(|e| RegistryError::storage(format!("stored shadow document: {e}")))
        })
        .transpose()?;
    let version = u64::try_from(row::int(&row, "version")?).unwrap_or_default();
    Ok(Some(StoredShadow { document, version }))
}

async fn store_shadow(
    conn: &mut AnyConnection,
    thing: &ThingName,
    shadow: Option<&ShadowName>,
    document: Option<&ShadowDocument>,
    version: u64,
) -> Result<(), RegistryError> {
    let text = document
        .map(serde_json::to_string)
        .transpose()
        .map_err(|e| RegistryError::storage(format!("serializing a shadow document: {e}")))?;
    sqlx::query(
        "INSERT INTO shadows (thing_name, shadow_name, document, version, updated_ms) \
         VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (thing_name, shadow_name) DO UPDATE SET document = excluded.document, \
         version = excluded.version, updated_ms = excluded.updated_ms",
    )
    .bind(thing.as_str().to_owned())
    .bind(shadow_key(shadow))
    .bind(text)
    .bind(i64::try_from(version).unwrap_or(i64::MAX))
    .bind(now_ms())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

impl Registry {
    /// GetThingShadow: the shadow's document, if it exists.
    pub async fn shadow(
        &self,
        thing: &ThingName,
        shadow: Option<&ShadowName>,
    ) -> Result<Option<ShadowDocument>, RegistryError> {
        let mut conn = self.store.reader().acquire().await?;
        Ok(find_shadow(&mut conn, thing, shadow)
            .await?
            .and_then(|stored| stored.document))
    }

    /// ListNamedShadowsForThing: the names of `thing`'s named shadows, by name.
    pub async fn list_named_shadows(
        &self,
        thing: &ThingName,
        page: &PageRequest,
    ) -> Result<Page<ShadowName>, RegistryError> {
        let rows = sqlx::query(
            "SELECT shadow_name FROM shadows WHERE thing_name = $1 AND shadow_name <> ''              AND document IS NOT NULL AND ($2 IS NULL OR shadow_name > $2)              ORDER BY shadow_name LIMIT $3",
        )
        .bind(thing.as_str().to_owned())
        .bind(page.after.clone())
        .bind(i64::from(page.limit) + 1)
        .fetch_all(self.store.reader())
        .await?;
        let names = rows
            .iter()
            .map(|row| {
                let name = row::text(row, "shadow_name")?;
                ShadowName::new(&name)
                    .map_err(|e| RegistryError::storage(format!("stored shadow name: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(names, page.limit, |n| {
            n.as_str().to_owned()
        }))
    }

    /// UpdateThingShadow: applies `request` at `now` (epoch seconds), creating the shadow if
    /// needed. `Ok(Err(_))` is AWS's rejection of the request, with nothing written.
    pub async fn update_shadow(
        &self,
        thing: &ThingName,
        shadow: Option<&ShadowName>,
        request: UpdateRequest,
        now: u64,
    ) -> Result<Result<UpdateOutcome, ShadowError>, RegistryError> {
        let (thing, shadow) = (thing.clone(), shadow.cloned());
        self.store
            .write_unguarded(job!(|conn| {
                let stored = find_shadow(conn, &thing, shadow.as_ref()).await?;
                let applied = match stored {
                    Some(StoredShadow {
                        document: Some(mut document),
                        ..
                    }) => document
                        .apply_update(&request, now)
                        .map(|outcome| (document, outcome)),
                    Some(StoredShadow {
                        document: None,
                        version,
                    }) => ShadowDocument::create(&request, now, version),
                    None => ShadowDocument::create(&request, now, 0),
                };
                let (document, outcome) = match applied {
                    Ok(applied) => applied,
                    Err(rejection) => return Ok((Err(rejection), Vec::new())),
                };
                store_shadow(
                    conn,
                    &thing,
                    shadow.as_ref(),
                    Some(&document),
                    document.version(),
                )
                .await?;
                Ok((Ok(outcome), Vec::new()))
            }))
            .await
            .map(|(value, _)| value)
    }

    /// DeleteThingShadow: removes the shadow's document, keeping its version for the next
    /// incarnation. `Ok(Err(_))` when there is no such shadow.
    pub async fn delete_shadow(
        &self,
        thing: &ThingName,
        shadow: Option<&ShadowName>,
        client_token: Option<ClientToken>,
        now: u64,
    ) -> Result<Result<DeleteAccepted, ShadowError>, RegistryError> {
        let (thing, shadow) = (thing.clone(), shadow.cloned());
        self.store
            .write_unguarded(job!(|conn| {
                let document = find_shadow(conn, &thing, shadow.as_ref())
                    .await?
                    .and_then(|stored| stored.document);
                let Some(document) = document else {
                    let missing = ShadowError::not_found(&thing, shadow.as_ref());
                    return Ok((Err(missing), Vec::new()));
                };
                store_shadow(conn, &thing, shadow.as_ref(), None, document.version()).await?;
                Ok((Ok(document.delete(client_token.as_ref(), now)), Vec::new()))
            }))
            .await
            .map(|(value, _)| value)
    }
}
