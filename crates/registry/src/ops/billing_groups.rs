//! Billing groups: a thing belongs to at most one.

use sqlx::AnyConnection;
use uuid::Uuid;

use crate::Registry;
use crate::ResourceArn;
use crate::error::RegistryError;
use crate::events::RegistryEvent;
use crate::model::{BillingGroup, Tag};
use crate::names::{DESCRIPTION, RESOURCE_NAME};
use crate::ops::tags::{tag_in, untag_in};
use crate::ops::thing_groups::{NameOrArn, thing_name};
use crate::ops::things::require_thing;
use crate::page::{Page, PageRequest};
use crate::row;
use crate::store::now_ms;

fn billing_group_from_row(row: &sqlx::any::AnyRow) -> Result<BillingGroup, RegistryError> {
    Ok(BillingGroup {
        name: row::text(row, "name")?,
        id: row::text(row, "id")?,
        description: row::opt_text(row, "description")?,
        version: row::int(row, "version")?,
        created_ms: row::int(row, "created_ms")?,
    })
}

async fn find(conn: &mut AnyConnection, name: &str) -> Result<Option<BillingGroup>, RegistryError> {
    let row = sqlx::query(
        "SELECT name, id, description, version, created_ms FROM billing_groups WHERE name = $1",
    )
    .bind(name.to_owned())
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(billing_group_from_row).transpose()
}

async fn require(conn: &mut AnyConnection, name: &str) -> Result<BillingGroup, RegistryError> {
    find(conn, name)
        .await?
        .ok_or_else(|| RegistryError::not_found(format!("Billing group {name} cannot be found.")))
}

fn billing_group_name(registry: &Registry, input: &NameOrArn) -> Result<String, RegistryError> {
    match (&input.name, &input.arn) {
        (Some(name), _) => {
            RESOURCE_NAME.check("billingGroupName", name)?;
            Ok(name.clone())
        }
        (None, Some(arn)) => match registry.arns.parse("billingGroupArn", arn)? {
            ResourceArn::BillingGroup(name) => Ok(name),
            _ => Err(RegistryError::invalid(format!(
                "billingGroupArn '{arn}' is not a billing group ARN"
            ))),
        },
        (None, None) => Err(RegistryError::invalid(
            "Either billingGroupName or billingGroupArn must be given",
        )),
    }
}

/// Puts `thing` in billing group `group` inside a transaction (shared with provisioning).
pub(crate) async fn set_billing_group_in(
    conn: &mut AnyConnection,
    group: &str,
    thing: &str,
) -> Result<(), RegistryError> {
    require(conn, group).await?;
    let current = require_thing(conn, thing).await?;
    sqlx::query("UPDATE things SET billing_group = $1, version = $2 WHERE name = $3")
        .bind(group.to_owned())
        .bind(current.version + 1)
        .bind(thing.to_owned())
        .execute(&mut *conn)
        .await?;
    Ok(())
}

impl Registry {
    /// CreateBillingGroup. The same name and description returns the existing group.
    pub async fn create_billing_group(
        &self,
        name: &str,
        description: Option<String>,
    ) -> Result<BillingGroup, RegistryError> {
        self.create_billing_group_tagged(name, description, Vec::new())
            .await
    }

    /// CreateBillingGroup with `tags`, written in the same transaction; creating an identical
    /// group again sets the tags on it.
    pub async fn create_billing_group_tagged(
        &self,
        name: &str,
        description: Option<String>,
        tags: Vec<Tag>,
    ) -> Result<BillingGroup, RegistryError> {
        RESOURCE_NAME.check("billingGroupName", name)?;
        if let Some(d) = &description {
            DESCRIPTION.check("billingGroupProperties.billingGroupDescription", d)?;
        }
        let name = name.to_owned();
        let arn = self.arns.billing_group(&name);
        self.store
            .write(job!(|conn| {
                if let Some(existing) = find(conn, &name).await? {
                    if existing.description == description {
                        tag_in(conn, &arn, &tags).await?;
                        return Ok((existing, Vec::new()));
                    }
                    return Err(RegistryError::AlreadyExists {
                        message: format!(
                            "Billing group {name} already exists with different properties"
                        ),
                        resource_id: existing.id,
                        resource_arn: arn,
                    });
                }
                let created = BillingGroup {
                    id: Uuid::new_v4().to_string(),
                    name,
                    description,
                    version: 1,
                    created_ms: now_ms(),
                };
                sqlx::query(
                    "INSERT INTO billing_groups (name, id, description, version, created_ms) \
                         VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(created.name.clone())
                .bind(created.id.clone())
                .bind(created.description.clone())
                .bind(created.version)
                .bind(created.created_ms)
                .execute(&mut *conn)
                .await?;
                tag_in(conn, &arn, &tags).await?;
                Ok((created, Vec::new()))
            }))
            .await
    }

    /// DescribeBillingGroup.
    pub async fn describe_billing_group(&self, name: &str) -> Result<BillingGroup, RegistryError> {
        RESOURCE_NAME.check("billingGroupName", name)?;
        let mut conn = self.store.reader().acquire().await?;
        require(&mut conn, name).await
    }

    /// UpdateBillingGroup; returns the new version.
    pub async fn update_billing_group(
        &self,
        name: &str,
        description: Option<String>,
        expected_version: Option<i64>,
    ) -> Result<i64, RegistryError> {
        RESOURCE_NAME.check("billingGroupName", name)?;
        if let Some(d) = &description {
            DESCRIPTION.check("billingGroupProperties.billingGroupDescription", d)?;
        }
        let name = name.to_owned();
        self.store
            .write(job!(|conn| {
                let group = require(conn, &name).await?;
                super::check_expected_version(
                    "billing group",
                    &name,
                    expected_version,
                    group.version,
                )?;
                let version = group.version + 1;
                sqlx::query(
                    "UPDATE billing_groups SET description = $1, version = $2 WHERE name = $3",
                )
                .bind(description)
                .bind(version)
                .bind(name)
                .execute(&mut *conn)
                .await?;
                Ok((version, Vec::new()))
            }))
            .await
    }

    /// DeleteBillingGroup. Its things leave it; deleting a missing group succeeds.
    pub async fn delete_billing_group(
        &self,
        name: &str,
        expected_version: Option<i64>,
    ) -> Result<(), RegistryError> {
        RESOURCE_NAME.check("billingGroupName", name)?;
        let name = name.to_owned();
        let arn = self.arns.billing_group(&name);
        self.store
            .write(job!(|conn| {
                let Some(group) = find(conn, &name).await? else {
                    return Ok(((), Vec::new()));
                };
                super::check_expected_version(
                    "billing group",
                    &name,
                    expected_version,
                    group.version,
                )?;
                sqlx::query("UPDATE things SET billing_group = NULL WHERE billing_group = $1")
                    .bind(name.clone())
                    .execute(&mut *conn)
                    .await?;
                sqlx::query("DELETE FROM billing_groups WHERE name = $1")
                    .bind(name)
                    .execute(&mut *conn)
                    .await?;
                untag_in(conn, &arn).await?;
                Ok(((), Vec::new()))
            }))
            .await
    }

    /// ListBillingGroups, ordered by name.
    pub async fn list_billing_groups(
        &self,
        name_prefix: Option<&str>,
        page: &PageRequest,
    ) -> Result<Page<BillingGroup>, RegistryError> {
        if let Some(prefix) = name_prefix {
            RESOURCE_NAME.check("namePrefixFilter", prefix)?;
        }
        let rows = sqlx::query(
            "SELECT name, id, description, version, created_ms FROM billing_groups \
             WHERE ($1 IS NULL OR name > $1) AND ($2 IS NULL OR substr(name, 1, length($2)) = $2) \
             ORDER BY name LIMIT $3",
        )
        .bind(page.after.clone())
        .bind(name_prefix.map(str::to_owned))
        .bind(i64::from(page.limit) + 1)
        .fetch_all(self.store.reader())
        .await?;
        let items = rows
            .iter()
            .map(billing_group_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(items, page.limit, |g| g.name.clone()))
    }

    /// AddThingToBillingGroup (a thing is in at most one billing group: this moves it).
    pub async fn add_thing_to_billing_group(
        &self,
        group: &NameOrArn,
        thing: &NameOrArn,
    ) -> Result<(), RegistryError> {
        let group = billing_group_name(self, group)?;
        let thing = thing_name(self, thing)?;
        self.store
            .write(job!(|conn| {
                set_billing_group_in(conn, &group, &thing).await?;
                Ok(((), vec![RegistryEvent::ThingChanged { thing_name: thing }]))
            }))
            .await
    }

    /// RemoveThingFromBillingGroup.
    pub async fn remove_thing_from_billing_group(
        &self,
        group: &NameOrArn,
        thing: &NameOrArn,
    ) -> Result<(), RegistryError> {
        let group = billing_group_name(self, group)?;
        let thing = thing_name(self, thing)?;
        self.store
            .write(job!(|conn| {
                require(conn, &group).await?;
                let current = require_thing(conn, &thing).await?;
                if current.billing_group.as_deref() != Some(group.as_str()) {
                    return Ok(((), Vec::new()));
                }
                sqlx::query("UPDATE things SET billing_group = NULL, version = $1 WHERE name = $2")
                    .bind(current.version + 1)
                    .bind(thing.clone())
                    .execute(&mut *conn)
                    .await?;
                Ok(((), vec![RegistryEvent::ThingChanged { thing_name: thing }]))
            }))
            .await
    }

    /// ListThingsInBillingGroup.
    pub async fn list_things_in_billing_group(
        &self,
        group: &str,
        page: &PageRequest,
    ) -> Result<Page<String>, RegistryError> {
        RESOURCE_NAME.check("billingGroupName", group)?;
        let mut conn = self.store.reader().acquire().await?;
        require(&mut conn, group).await?;
        let rows = sqlx::query(
            "SELECT name FROM things WHERE billing_group = $1 AND ($2 IS NULL OR name > $2) \
             ORDER BY name LIMIT $3",
        )
        .bind(group.to_owned())
        .bind(page.after.clone())
        .bind(i64::from(page.limit) + 1)
        .fetch_all(&mut *conn)
        .await?;
        let items = rows
            .iter()
            .map(|r| row::text(r, "name"))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(items, page.limit, Clone::clone))
    }
}
