//! Thing–principal attachments (a certificate ARN attached to a thing).

use sqlx::AnyConnection;

use crate::Registry;
use crate::ResourceArn;
use crate::error::RegistryError;
use crate::events::RegistryEvent;
use crate::model::{ThingPrincipal, ThingPrincipalType};
use crate::names::RESOURCE_NAME;
use crate::ops::things::require_thing;
use crate::page::{Page, PageRequest};
use crate::row;
use crate::store::now_ms;

/// Checks `principal` is the ARN of a registered certificate.
async fn require_certificate_principal(
    conn: &mut AnyConnection,
    arns: &crate::Arns,
    principal: &str,
) -> Result<(), RegistryError> {
    match arns.parse("principal", principal)? {
        ResourceArn::Certificate(id) => {
            let found = sqlx::query("SELECT id FROM certificates WHERE id = $1")
                .bind(id.as_str().to_owned())
                .fetch_optional(&mut *conn)
                .await?;
            if found.is_none() {
                return Err(RegistryError::not_found(format!(
                    "The certificate given in the principal does not exist: {principal}"
                )));
            }
            Ok(())
        }
        _ => Err(RegistryError::invalid(format!(
            "principal '{principal}' is not a certificate ARN"
        ))),
    }
}

/// Attaches a principal to a thing (shared with provisioning); returns whether it was new.
pub(crate) async fn attach_principal_in(
    conn: &mut AnyConnection,
    arns: &crate::Arns,
    thing: &str,
    principal: &str,
    kind: ThingPrincipalType,
) -> Result<bool, RegistryError> {
    require_thing(conn, thing).await?;
    require_certificate_principal(conn, arns, principal).await?;
    let existing =
        sqlx::query("SELECT thing_name, exclusive FROM thing_principals WHERE principal = $1")
            .bind(principal.to_owned())
            .fetch_all(&mut *conn)
            .await?;
    let mut already = false;
    for row in &existing {
        let other = row::text(row, "thing_name")?;
        if other == thing {
            already = true;
            continue;
        }
        if row::int(row, "exclusive")? != 0 || kind == ThingPrincipalType::ExclusiveThing {
            return Err(RegistryError::invalid(format!(
                "Principal {principal} is exclusively attached to thing {other}, or an exclusive \
                 attachment was asked while it is attached to {other}; detach it first"
            )));
        }
    }
    if already {
        return Ok(false);
    }
    insert_thing_principal_in(conn, thing, principal, kind).await?;
    Ok(true)
}

/// Attaches `principal` to existing `thing`, when the principal is known to have no thing
/// attached (the caller made sure).
pub(crate) async fn insert_thing_principal_in(
    conn: &mut AnyConnection,
    thing: &str,
    principal: &str,
    kind: ThingPrincipalType,
) -> Result<(), RegistryError> {
    sqlx::query(
        "INSERT INTO thing_principals (thing_name, principal, exclusive, created_ms) VALUES ($1, $2, $3, $4)",
    )
    .bind(thing.to_owned())
    .bind(principal.to_owned())
    .bind(i64::from(kind == ThingPrincipalType::ExclusiveThing))
    .bind(now_ms())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

fn principal_from_row(row: &sqlx::any::AnyRow) -> Result<ThingPrincipal, RegistryError> {
    Ok(ThingPrincipal {
        thing_name: row::text(row, "thing_name")?,
        principal: row::text(row, "principal")?,
        kind: if row::int(row, "exclusive")? != 0 {
            ThingPrincipalType::ExclusiveThing
        } else {
            ThingPrincipalType::NonExclusiveThing
        },
    })
}

impl Registry {
    /// AttachThingPrincipal.
    pub async fn attach_thing_principal(
        &self,
        thing: &str,
        principal: &str,
        kind: ThingPrincipalType,
    ) -> Result<(), RegistryError> {
        RESOURCE_NAME.check("thingName", thing)?;
        let (thing, principal) = (thing.to_owned(), principal.to_owned());
        let arns = self.arns.clone();
        self.store
            .write(job!(|conn| {
                let added = attach_principal_in(conn, &arns, &thing, &principal, kind).await?;
                let events = if added {
                    vec![RegistryEvent::ThingPrincipalChanged {
                        thing_name: thing,
                        principal,
                    }]
                } else {
                    Vec::new()
                };
                Ok(((), events))
            }))
            .await
    }

    /// DetachThingPrincipal.
    pub async fn detach_thing_principal(
        &self,
        thing: &str,
        principal: &str,
    ) -> Result<(), RegistryError> {
        RESOURCE_NAME.check("thingName", thing)?;
        let (thing, principal) = (thing.to_owned(), principal.to_owned());
        let arns = self.arns.clone();
        self.store
            .write(job!(|conn| {
                require_thing(conn, &thing).await?;
                arns.parse("principal", &principal)?;
                let done = sqlx::query(
                    "DELETE FROM thing_principals WHERE thing_name = $1 AND principal = $2",
                )
                .bind(thing.clone())
                .bind(principal.clone())
                .execute(&mut *conn)
                .await?;
                let events = if done.rows_affected() > 0 {
                    vec![RegistryEvent::ThingPrincipalChanged {
                        thing_name: thing,
                        principal,
                    }]
                } else {
                    Vec::new()
                };
                Ok(((), events))
            }))
            .await
    }

    /// ListThingPrincipals / ListThingPrincipalsV2, by principal.
    pub async fn list_thing_principals(
        &self,
        thing: &str,
        kind: Option<ThingPrincipalType>,
        page: &PageRequest,
    ) -> Result<Page<ThingPrincipal>, RegistryError> {
        RESOURCE_NAME.check("thingName", thing)?;
        let mut conn = self.store.reader().acquire().await?;
        require_thing(&mut conn, thing).await.map_err(|_| {
            RegistryError::not_found(format!(
                "Failed to list principals for thing {thing} because the thing does not exist in your account"
            ))
        })?;
        let rows = sqlx::query(
            "SELECT thing_name, principal, exclusive FROM thing_principals WHERE thing_name = $1 \
             AND ($2 IS NULL OR principal > $2) AND ($3 IS NULL OR exclusive = $3) \
             ORDER BY principal LIMIT $4",
        )
        .bind(thing.to_owned())
        .bind(page.after.clone())
        .bind(kind.map(|k| i64::from(k == ThingPrincipalType::ExclusiveThing)))
        .bind(i64::from(page.limit) + 1)
        .fetch_all(&mut *conn)
        .await?;
        let items = rows
            .iter()
            .map(principal_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(items, page.limit, |p| p.principal.clone()))
    }

    /// ListPrincipalThings / ListPrincipalThingsV2, by thing name.
    pub async fn list_principal_things(
        &self,
        principal: &str,
        kind: Option<ThingPrincipalType>,
        page: &PageRequest,
    ) -> Result<Page<ThingPrincipal>, RegistryError> {
        let mut conn = self.store.reader().acquire().await?;
        require_certificate_principal(&mut conn, &self.arns, principal).await?;
        let rows = sqlx::query(
            "SELECT thing_name, principal, exclusive FROM thing_principals WHERE principal = $1 \
             AND ($2 IS NULL OR thing_name > $2) AND ($3 IS NULL OR exclusive = $3) \
             ORDER BY thing_name LIMIT $4",
        )
        .bind(principal.to_owned())
        .bind(page.after.clone())
        .bind(kind.map(|k| i64::from(k == ThingPrincipalType::ExclusiveThing)))
        .bind(i64::from(page.limit) + 1)
        .fetch_all(&mut *conn)
        .await?;
        let items = rows
            .iter()
            .map(principal_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(items, page.limit, |p| p.thing_name.clone()))
    }
}
