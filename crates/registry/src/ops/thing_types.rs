//! Thing types: create, describe, list, deprecate, delete.

use serde_json::Value;
use uuid::Uuid;

use crate::Registry;
use crate::error::RegistryError;
use crate::model::{Tag, ThingType};
use crate::names::{ATTRIBUTE_NAME, DESCRIPTION, RESOURCE_NAME};
use crate::ops::tags::{tag_in, untag_in};
use crate::page::{Page, PageRequest};
use crate::row;
use crate::store::now_ms;

/// Most searchable attributes a thing type may declare (AWS quota).
pub const MAX_SEARCHABLE_ATTRIBUTES: usize = 3;

fn thing_type_from_row(row: &sqlx::any::AnyRow) -> Result<ThingType, RegistryError> {
    let properties = row::text(row, "properties")?;
    Ok(ThingType {
        name: row::text(row, "name")?,
        id: row::text(row, "id")?,
        properties: serde_json::from_str(&properties)
            .map_err(|e| RegistryError::storage(format!("thing type properties: {e}")))?,
        deprecated: row::int(row, "deprecated")? != 0,
        deprecated_ms: row::opt_int(row, "deprecated_ms")?,
        created_ms: row::int(row, "created_ms")?,
    })
}

fn check_properties(properties: &Value) -> Result<(), RegistryError> {
    let Some(object) = properties.as_object() else {
        return Err(RegistryError::invalid(
            "thingTypeProperties must be an object",
        ));
    };
    if let Some(description) = object.get("thingTypeDescription") {
        let text = description.as_str().ok_or_else(|| {
            RegistryError::invalid("thingTypeProperties.thingTypeDescription must be a string")
        })?;
        DESCRIPTION.check("thingTypeProperties.thingTypeDescription", text)?;
    }
    if let Some(attributes) = object.get("searchableAttributes") {
        let list = attributes.as_array().ok_or_else(|| {
            RegistryError::invalid("thingTypeProperties.searchableAttributes must be a list")
        })?;
        if list.len() > MAX_SEARCHABLE_ATTRIBUTES {
            return Err(RegistryError::invalid(format!(
                "thingTypeProperties.searchableAttributes: a thing type may have at most \
                 {MAX_SEARCHABLE_ATTRIBUTES} searchable attributes"
            )));
        }
        for attribute in list {
            let name = attribute.as_str().ok_or_else(|| {
                RegistryError::invalid(
                    "thingTypeProperties.searchableAttributes must be a list of strings",
                )
            })?;
            ATTRIBUTE_NAME.check("thingTypeProperties.searchableAttributes.member", name)?;
        }
    }
    Ok(())
}

const COLUMNS: &str = "name, id, properties, deprecated, deprecated_ms, created_ms";

impl Registry {
    /// CreateThingType. Creating an existing type with the same properties returns it.
    pub async fn create_thing_type(
        &self,
        name: &str,
        properties: Value,
    ) -> Result<ThingType, RegistryError> {
        self.create_thing_type_tagged(name, properties, Vec::new())
            .await
    }

    /// CreateThingType with `tags`, written in the same transaction; creating an identical
    /// type again sets the tags on it.
    pub async fn create_thing_type_tagged(
        &self,
        name: &str,
        properties: Value,
        tags: Vec<Tag>,
    ) -> Result<ThingType, RegistryError> {
        RESOURCE_NAME.check("thingTypeName", name)?;
        let properties = if properties.is_null() {
            Value::Object(Default::default())
        } else {
            properties
        };
        check_properties(&properties)?;
        let name = name.to_owned();
        let arn = self.arns.thing_type(&name);
        self.store
            .write(job!(|conn| {
                let existing = sqlx::query(
                    "SELECT name, id, properties, deprecated, deprecated_ms, created_ms \
                     FROM thing_types WHERE name = $1",
                )
                .bind(name.clone())
                .fetch_optional(&mut *conn)
                .await?;
                if let Some(row) = existing {
                    let existing = thing_type_from_row(&row)?;
                    if existing.properties == properties {
                        tag_in(conn, &arn, &tags).await?;
                        return Ok((existing, Vec::new()));
                    }
                    return Err(RegistryError::AlreadyExists {
                        message: format!(
                            "Thing type {name} already exists with different properties"
                        ),
                        resource_id: existing.id,
                        resource_arn: arn,
                    });
                }
                let created = ThingType {
                    id: Uuid::new_v4().to_string(),
                    name,
                    properties,
                    deprecated: false,
                    deprecated_ms: None,
                    created_ms: now_ms(),
                };
                sqlx::query(
                    "INSERT INTO thing_types (name, id, properties, deprecated, deprecated_ms, created_ms) \
                     VALUES ($1, $2, $3, 0, NULL, $4)",
                )
                .bind(created.name.clone())
                .bind(created.id.clone())
                .bind(created.properties.to_string())
                .bind(created.created_ms)
                .execute(&mut *conn)
                .await?;
                tag_in(conn, &arn, &tags).await?;
                Ok((created, Vec::new()))
            }))
            .await
    }

    /// DescribeThingType.
    pub async fn describe_thing_type(&self, name: &str) -> Result<ThingType, RegistryError> {
        RESOURCE_NAME.check("thingTypeName", name)?;
        let row = sqlx::query(
            "SELECT name, id, properties, deprecated, deprecated_ms, created_ms \
             FROM thing_types WHERE name = $1",
        )
        .bind(name.to_owned())
        .fetch_optional(self.store.reader())
        .await?
        .ok_or_else(|| RegistryError::not_found(format!("Thing type {name} cannot be found.")))?;
        thing_type_from_row(&row)
    }

    /// ListThingTypes, optionally only the one named `name_filter`.
    pub async fn list_thing_types(
        &self,
        name_filter: Option<&str>,
        page: &PageRequest,
    ) -> Result<Page<ThingType>, RegistryError> {
        if let Some(name) = name_filter {
            RESOURCE_NAME.check("thingTypeName", name)?;
        }
        let sql = format!(
            "SELECT {COLUMNS} FROM thing_types WHERE ($1 IS NULL OR name > $1) \
             AND ($2 IS NULL OR name = $2) ORDER BY name LIMIT $3"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(page.after.clone())
            .bind(name_filter.map(str::to_owned))
            .bind(i64::from(page.limit) + 1)
            .fetch_all(self.store.reader())
            .await?;
        let items = rows
            .iter()
            .map(thing_type_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(items, page.limit, |t| t.name.clone()))
    }

    /// DeprecateThingType (or undo it).
    pub async fn deprecate_thing_type(&self, name: &str, undo: bool) -> Result<(), RegistryError> {
        RESOURCE_NAME.check("thingTypeName", name)?;
        let name = name.to_owned();
        self.store
            .write(job!(|conn| {
                let (deprecated, when) = if undo { (0, None) } else { (1, Some(now_ms())) };
                let done = sqlx::query(
                    "UPDATE thing_types SET deprecated = $1, deprecated_ms = $2 WHERE name = $3",
                )
                .bind(deprecated as i64)
                .bind(when)
                .bind(name.clone())
                .execute(&mut *conn)
                .await?;
                if done.rows_affected() == 0 {
                    return Err(RegistryError::not_found(format!(
                        "Thing type {name} cannot be found."
                    )));
                }
                Ok(((), Vec::new()))
            }))
            .await
    }

    /// DeleteThingType: only a deprecated type that no thing uses.
    pub async fn delete_thing_type(&self, name: &str) -> Result<(), RegistryError> {
        RESOURCE_NAME.check("thingTypeName", name)?;
        let name = name.to_owned();
        let arn = self.arns.thing_type(&name);
        self.store
            .write(job!(|conn| {
                let row = sqlx::query("SELECT deprecated FROM thing_types WHERE name = $1")
                    .bind(name.clone())
                    .fetch_optional(&mut *conn)
                    .await?
                    .ok_or_else(|| {
                        RegistryError::not_found(format!("Thing type {name} cannot be found."))
                    })?;
                if row::int(&row, "deprecated")? == 0 {
                    return Err(RegistryError::invalid(format!(
                        "Thing type {name} must be deprecated before it can be deleted"
                    )));
                }
                let used = sqlx::query("SELECT name FROM things WHERE type_name = $1 LIMIT 1")
                    .bind(name.clone())
                    .fetch_optional(&mut *conn)
                    .await?;
                if used.is_some() {
                    return Err(RegistryError::invalid(format!(
                        "Thing type {name} cannot be deleted while things are associated with it"
                    )));
                }
                sqlx::query("DELETE FROM thing_types WHERE name = $1")
                    .bind(name)
                    .execute(&mut *conn)
                    .await?;
                untag_in(conn, &arn).await?;
                Ok(((), Vec::new()))
            }))
            .await
    }
}
