//! Things: create, describe, update, delete, list.

use sqlx::AnyConnection;
use uuid::Uuid;

use crate::Registry;
use crate::error::RegistryError;
use crate::events::RegistryEvent;
use crate::model::{Attributes, Thing};
use crate::names::{ATTRIBUTE_NAME, ATTRIBUTE_VALUE, RESOURCE_NAME};
use crate::ops::tags::untag_in;
use crate::page::{Page, PageRequest};
use crate::row;
use crate::store::now_ms;

/// Most attributes a thing without a type may have (AWS quota).
pub const MAX_ATTRIBUTES_WITHOUT_TYPE: usize = 3;
/// Most attributes a thing with a type may have (AWS quota).
pub const MAX_ATTRIBUTES_WITH_TYPE: usize = 50;

/// Input of CreateThing.
#[derive(Debug, Clone, Default)]
pub struct NewThing {
    pub name: String,
    pub type_name: Option<String>,
    pub attributes: Attributes,
    pub billing_group: Option<String>,
}

/// How UpdateThing changes the attributes.
#[derive(Debug, Clone)]
pub struct AttributeUpdate {
    pub attributes: Attributes,
    /// Merge into the existing attributes (an empty value removes one) instead of replacing them.
    pub merge: bool,
}

/// Input of UpdateThing.
#[derive(Debug, Clone, Default)]
pub struct ThingUpdate {
    pub type_name: Option<String>,
    pub remove_type: bool,
    pub attributes: Option<AttributeUpdate>,
    pub expected_version: Option<i64>,
}

/// ListThings filters.
#[derive(Debug, Clone, Default)]
pub struct ThingFilter {
    pub attribute_name: Option<String>,
    pub attribute_value: Option<String>,
    pub use_prefix_attribute_value: bool,
    pub type_name: Option<String>,
}

pub(crate) fn check_attributes(attributes: &Attributes) -> Result<(), RegistryError> {
    for (name, value) in attributes {
        ATTRIBUTE_NAME.check("attributePayload.attributes.member.key", name)?;
        ATTRIBUTE_VALUE.check("attributePayload.attributes.member.value", value)?;
    }
    Ok(())
}

pub(crate) fn check_attribute_count(
    thing: &str,
    count: usize,
    has_type: bool,
) -> Result<(), RegistryError> {
    let max = if has_type {
        MAX_ATTRIBUTES_WITH_TYPE
    } else {
        MAX_ATTRIBUTES_WITHOUT_TYPE
    };
    if count > max {
        return Err(RegistryError::invalid(format!(
            "attributePayload.attributes: thing {thing} would have {count} attributes; a thing {} \
             may have at most {max}",
            if has_type {
                "with a thing type"
            } else {
                "without a thing type"
            }
        )));
    }
    Ok(())
}

pub(crate) fn thing_from_row(row: &sqlx::any::AnyRow) -> Result<Thing, RegistryError> {
    Ok(Thing {
        name: row::text(row, "name")?,
        id: row::text(row, "id")?,
        type_name: row::opt_text(row, "type_name")?,
        attributes: row::attributes(row, "attributes")?,
        version: row::int(row, "version")?,
        billing_group: row::opt_text(row, "billing_group")?,
        created_ms: row::int(row, "created_ms")?,
    })
}

const THING_COLUMNS: &str = "name, id, type_name, attributes, version, billing_group, created_ms";

pub(crate) async fn find_thing(
    conn: &mut AnyConnection,
    name: &str,
) -> Result<Option<Thing>, RegistryError> {
    let row = sqlx::query(
        "SELECT name, id, type_name, attributes, version, billing_group, created_ms \
         FROM things WHERE name = $1",
    )
    .bind(name.to_owned())
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(thing_from_row).transpose()
}

pub(crate) async fn require_thing(
    conn: &mut AnyConnection,
    name: &str,
) -> Result<Thing, RegistryError> {
    find_thing(conn, name)
        .await?
        .ok_or_else(|| RegistryError::not_found(format!("Thing {name} cannot be found.")))
}

/// Checks a thing type can be given to a thing: it exists and is not deprecated.
pub(crate) async fn check_usable_type(
    conn: &mut AnyConnection,
    type_name: &str,
) -> Result<(), RegistryError> {
    let row = sqlx::query("SELECT deprecated FROM thing_types WHERE name = $1")
        .bind(type_name.to_owned())
        .fetch_optional(&mut *conn)
        .await?;
    match row {
        None => Err(RegistryError::not_found(format!(
            "Thing type {type_name} cannot be found."
        ))),
        Some(row) if row::int(&row, "deprecated")? != 0 => Err(RegistryError::invalid(format!(
            "Can not create a new thing with a deprecated thing type {type_name}"
        ))),
        Some(_) => Ok(()),
    }
}

pub(crate) async fn check_billing_group_exists(
    conn: &mut AnyConnection,
    name: &str,
) -> Result<(), RegistryError> {
    let found = sqlx::query("SELECT name FROM billing_groups WHERE name = $1")
        .bind(name.to_owned())
        .fetch_optional(&mut *conn)
        .await?;
    match found {
        Some(_) => Ok(()),
        None => Err(RegistryError::not_found(format!(
            "Billing group {name} cannot be found."
        ))),
    }
}

/// Creates a thing inside a transaction; shared by CreateThing and provisioning. Returns the
/// thing and whether it was created (false: an identical thing existed).
pub(crate) async fn create_thing_in(
    conn: &mut AnyConnection,
    arns: &crate::Arns,
    thing: NewThing,
) -> Result<(Thing, bool), RegistryError> {
    if let Some(existing) = find_thing(conn, &thing.name).await? {
        let same = existing.type_name == thing.type_name
            && existing.attributes == thing.attributes
            && existing.billing_group == thing.billing_group;
        if same {
            return Ok((existing, false));
        }
        return Err(RegistryError::AlreadyExists {
            message: format!(
                "Thing {} already exists in account with different attributes",
                thing.name
            ),
            resource_id: existing.id,
            resource_arn: arns.thing(&thing.name),
        });
    }
    Ok((insert_thing_in(conn, thing).await?, true))
}

/// Creates `thing`, known not to exist (the caller looked), after checking its type and billing
/// group.
pub(crate) async fn insert_thing_in(
    conn: &mut AnyConnection,
    thing: NewThing,
) -> Result<Thing, RegistryError> {
    if let Some(type_name) = &thing.type_name {
        check_usable_type(conn, type_name).await?;
    }
    if let Some(group) = &thing.billing_group {
        check_billing_group_exists(conn, group).await?;
    }
    let created = Thing {
        id: Uuid::new_v4().to_string(),
        version: 1,
        created_ms: now_ms(),
        name: thing.name,
        type_name: thing.type_name,
        attributes: thing.attributes,
        billing_group: thing.billing_group,
    };
    sqlx::query(
        "INSERT INTO things (name, id, type_name, attributes, version, billing_group, created_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(created.name.clone())
    .bind(created.id.clone())
    .bind(created.type_name.clone())
    .bind(row::attributes_json(&created.attributes))
    .bind(created.version)
    .bind(created.billing_group.clone())
    .bind(created.created_ms)
    .execute(&mut *conn)
    .await?;
    Ok(created)
}

/// Applies an attribute update to `current`.
pub(crate) fn apply_attributes(current: &Attributes, update: &AttributeUpdate) -> Attributes {
    let mut result = if update.merge {
        current.clone()
    } else {
        Attributes::new()
    };
    for (name, value) in &update.attributes {
        if value.is_empty() {
            result.remove(name);
        } else {
            result.insert(name.clone(), value.clone());
        }
    }
    result
}

impl Registry {
    /// CreateThing. Idempotent: the same name with the same configuration returns the
    /// existing thing; a different configuration is `AlreadyExists`.
    pub async fn create_thing(&self, thing: NewThing) -> Result<Thing, RegistryError> {
        RESOURCE_NAME.check("thingName", &thing.name)?;
        if let Some(t) = &thing.type_name {
            RESOURCE_NAME.check("thingTypeName", t)?;
        }
        if let Some(g) = &thing.billing_group {
            RESOURCE_NAME.check("billingGroupName", g)?;
        }
        check_attributes(&thing.attributes)?;
        check_attribute_count(
            &thing.name,
            thing.attributes.len(),
            thing.type_name.is_some(),
        )?;
        let arns = self.arns.clone();
        self.store
            .write(job!(|conn| {
                let (thing, created) = create_thing_in(conn, &arns, thing).await?;
                let events = if created {
                    vec![RegistryEvent::ThingChanged {
                        thing_name: thing.name.clone(),
                    }]
                } else {
                    Vec::new()
                };
                Ok((thing, events))
            }))
            .await
    }

    /// DescribeThing.
    pub async fn describe_thing(&self, name: &str) -> Result<Thing, RegistryError> {
        RESOURCE_NAME.check("thingName", name)?;
        let mut conn = self.store.reader().acquire().await?;
        require_thing(&mut conn, name).await
    }

    /// UpdateThing; returns the new version.
    pub async fn update_thing(
        &self,
        name: &str,
        update: ThingUpdate,
    ) -> Result<i64, RegistryError> {
        RESOURCE_NAME.check("thingName", name)?;
        if let Some(t) = &update.type_name {
            RESOURCE_NAME.check("thingTypeName", t)?;
            if update.remove_type {
                return Err(RegistryError::invalid(
                    "Cannot both set thingTypeName and removeThingType",
                ));
            }
        }
        if let Some(attributes) = &update.attributes {
            check_attributes(&attributes.attributes)?;
        }
        let name = name.to_owned();
        self.store
            .write(job!(|conn| {
                let thing = require_thing(conn, &name).await?;
                super::check_expected_version(
                    "thing",
                    &name,
                    update.expected_version,
                    thing.version,
                )?;
                let type_name = if update.remove_type {
                    None
                } else if let Some(new_type) = update.type_name {
                    if thing.type_name.as_deref() != Some(new_type.as_str()) {
                        check_usable_type(conn, &new_type).await?;
                    }
                    Some(new_type)
                } else {
                    thing.type_name.clone()
                };
                let attributes = match &update.attributes {
                    Some(change) => apply_attributes(&thing.attributes, change),
                    None => thing.attributes.clone(),
                };
                check_attribute_count(&name, attributes.len(), type_name.is_some())?;
                let version = thing.version + 1;
                sqlx::query(
                    "UPDATE things SET type_name = $1, attributes = $2, version = $3 \
                         WHERE name = $4",
                )
                .bind(type_name)
                .bind(row::attributes_json(&attributes))
                .bind(version)
                .bind(name.clone())
                .execute(&mut *conn)
                .await?;
                Ok((
                    version,
                    vec![RegistryEvent::ThingChanged { thing_name: name }],
                ))
            }))
            .await
    }

    /// DeleteThing. Deleting a thing that does not exist succeeds, as on AWS.
    pub async fn delete_thing(
        &self,
        name: &str,
        expected_version: Option<i64>,
    ) -> Result<(), RegistryError> {
        RESOURCE_NAME.check("thingName", name)?;
        let name = name.to_owned();
        let arn = self.arns.thing(&name);
        self.store
            .write(job!(|conn| {
                let Some(thing) = find_thing(conn, &name).await? else {
                    return Ok(((), Vec::new()));
                };
                super::check_expected_version("thing", &name, expected_version, thing.version)?;
                let attached = sqlx::query(
                    "SELECT principal FROM thing_principals WHERE thing_name = $1 LIMIT 1",
                )
                .bind(name.clone())
                .fetch_optional(&mut *conn)
                .await?;
                if attached.is_some() {
                    return Err(RegistryError::invalid(format!(
                        "Cannot delete. Thing {name} is still attached to one or more principals"
                    )));
                }
                for sql in [
                    "DELETE FROM thing_group_members WHERE thing_name = $1",
                    "DELETE FROM things WHERE name = $1",
                ] {
                    sqlx::query(sql)
                        .bind(name.clone())
                        .execute(&mut *conn)
                        .await?;
                }
                untag_in(conn, &arn).await?;
                Ok(((), vec![RegistryEvent::ThingChanged { thing_name: name }]))
            }))
            .await
    }

    /// ListThings, ordered by name.
    pub async fn list_things(
        &self,
        filter: &ThingFilter,
        page: &PageRequest,
    ) -> Result<Page<Thing>, RegistryError> {
        if filter.attribute_value.is_some() && filter.attribute_name.is_none() {
            return Err(RegistryError::invalid(
                "attributeValue is given without attributeName",
            ));
        }
        if let Some(name) = &filter.attribute_name {
            ATTRIBUTE_NAME.check("attributeName", name)?;
        }
        if let Some(value) = &filter.attribute_value {
            ATTRIBUTE_VALUE.check("attributeValue", value)?;
        }
        if let Some(type_name) = &filter.type_name {
            RESOURCE_NAME.check("thingTypeName", type_name)?;
        }
        let mut sql = format!(
            "SELECT {THING_COLUMNS} FROM things WHERE ($1 IS NULL OR name > $1) \
             AND ($2 IS NULL OR type_name = $2)"
        );
        sql.push_str(" ORDER BY name LIMIT $3");
        // Attribute filters apply to the JSON column; portable SQL has no JSON operators, so
        // filter in memory and keep fetching until the page is full.
        let mut items = Vec::new();
        let mut after = page.after.clone();
        let want = page.limit as usize + 1;
        loop {
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                .bind(after.clone())
                .bind(filter.type_name.clone())
                .bind(i64::from(page.limit) + 1)
                .fetch_all(self.store.reader())
                .await?;
            let exhausted = rows.len() <= page.limit as usize;
            for row in &rows {
                let thing = thing_from_row(row)?;
                after = Some(thing.name.clone());
                if matches_attribute_filter(&thing, filter) {
                    items.push(thing);
                    if items.len() == want {
                        break;
                    }
                }
            }
            if exhausted || items.len() == want {
                break;
            }
        }
        Ok(Page::from_rows(items, page.limit, |t| t.name.clone()))
    }
}

fn matches_attribute_filter(thing: &Thing, filter: &ThingFilter) -> bool {
    let Some(name) = &filter.attribute_name else {
        return true;
    };
    match (thing.attributes.get(name), &filter.attribute_value) {
        (None, _) => false,
        (Some(_), None) => true,
        (Some(value), Some(wanted)) if filter.use_prefix_attribute_value => {
            value.starts_with(wanted.as_str())
        }
        (Some(value), Some(wanted)) => value == wanted,
    }
}
