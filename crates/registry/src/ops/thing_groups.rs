//! Static thing groups and their membership.

use sqlx::AnyConnection;
use uuid::Uuid;

use crate::Registry;
use crate::ResourceArn;
use crate::error::RegistryError;
use crate::events::RegistryEvent;
use crate::model::{Attributes, Tag, ThingGroup};
use crate::names::{DESCRIPTION, RESOURCE_NAME};
use crate::ops::tags::tag_in;
use crate::ops::things::{AttributeUpdate, apply_attributes, check_attributes, require_thing};
use crate::page::{Page, PageRequest};
use crate::row;
use crate::store::now_ms;

/// Deepest a group hierarchy may be (AWS quota).
pub const MAX_GROUP_DEPTH: usize = 7;
/// Most static groups a thing may belong to (AWS quota).
pub const MAX_GROUPS_PER_THING: usize = 10;

/// Input of CreateThingGroup.
#[derive(Debug, Clone, Default)]
pub struct NewThingGroup {
    pub name: String,
    pub parent: Option<String>,
    pub description: Option<String>,
    pub attributes: Attributes,
}

/// Input of UpdateThingGroup.
#[derive(Debug, Clone, Default)]
pub struct ThingGroupUpdate {
    pub description: Option<String>,
    pub attributes: Option<AttributeUpdate>,
    pub expected_version: Option<i64>,
}

/// ListThingGroups filters.
#[derive(Debug, Clone, Default)]
pub struct ThingGroupFilter {
    pub parent: Option<String>,
    pub name_prefix: Option<String>,
    /// With `parent`: all descendants instead of direct children.
    pub recursive: bool,
}

/// A group or thing named either by name or by ARN (AddThingToThingGroup and friends).
#[derive(Debug, Clone, Default)]
pub struct NameOrArn {
    pub name: Option<String>,
    pub arn: Option<String>,
}

const COLUMNS: &str = "name, id, parent, description, attributes, version, created_ms";

fn group_from_row(row: &sqlx::any::AnyRow) -> Result<ThingGroup, RegistryError> {
    Ok(ThingGroup {
        name: row::text(row, "name")?,
        id: row::text(row, "id")?,
        parent: row::opt_text(row, "parent")?,
        description: row::opt_text(row, "description")?,
        attributes: row::attributes(row, "attributes")?,
        version: row::int(row, "version")?,
        created_ms: row::int(row, "created_ms")?,
        root_to_parent: Vec::new(),
    })
}

pub(crate) async fn find_group(
    conn: &mut AnyConnection,
    name: &str,
) -> Result<Option<ThingGroup>, RegistryError> {
    let row = sqlx::query(
        "SELECT name, id, parent, description, attributes, version, created_ms \
         FROM thing_groups WHERE name = $1",
    )
    .bind(name.to_owned())
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(group_from_row).transpose()
}

pub(crate) async fn require_group(
    conn: &mut AnyConnection,
    name: &str,
) -> Result<ThingGroup, RegistryError> {
    find_group(conn, name)
        .await?
        .ok_or_else(|| RegistryError::not_found(format!("Thing group {name} cannot be found.")))
}

/// The ancestors of `group`, root first, ending with its parent.
pub(crate) async fn ancestors(
    conn: &mut AnyConnection,
    group: &ThingGroup,
) -> Result<Vec<String>, RegistryError> {
    let mut chain = Vec::new();
    let mut next = group.parent.clone();
    while let Some(name) = next {
        if chain.len() > MAX_GROUP_DEPTH {
            return Err(RegistryError::storage(format!(
                "thing group hierarchy above {} is deeper than {MAX_GROUP_DEPTH}",
                group.name
            )));
        }
        let parent = require_group(conn, &name).await?;
        next = parent.parent.clone();
        chain.push(name);
    }
    chain.reverse();
    Ok(chain)
}

/// Names of every descendant of `group` (children, grandchildren…).
async fn descendants(conn: &mut AnyConnection, group: &str) -> Result<Vec<String>, RegistryError> {
    let mut found = Vec::new();
    let mut frontier = vec![group.to_owned()];
    while let Some(name) = frontier.pop() {
        let rows = sqlx::query("SELECT name FROM thing_groups WHERE parent = $1 ORDER BY name")
            .bind(name)
            .fetch_all(&mut *conn)
            .await?;
        for row in rows {
            let child = row::text(&row, "name")?;
            frontier.push(child.clone());
            found.push(child);
        }
    }
    found.sort();
    Ok(found)
}

/// Resolves a group given by name or ARN.
pub(crate) fn group_name(registry: &Registry, input: &NameOrArn) -> Result<String, RegistryError> {
    match (&input.name, &input.arn) {
        (Some(name), _) => {
            RESOURCE_NAME.check("thingGroupName", name)?;
            Ok(name.clone())
        }
        (None, Some(arn)) => match registry.arns.parse("thingGroupArn", arn)? {
            ResourceArn::ThingGroup(name) => Ok(name),
            _ => Err(RegistryError::invalid(format!(
                "thingGroupArn '{arn}' is not a thing group ARN"
            ))),
        },
        (None, None) => Err(RegistryError::invalid(
            "Either thingGroupName or thingGroupArn must be given",
        )),
    }
}

/// Resolves a thing given by name or ARN.
pub(crate) fn thing_name(registry: &Registry, input: &NameOrArn) -> Result<String, RegistryError> {
    match (&input.name, &input.arn) {
        (Some(name), _) => {
            RESOURCE_NAME.check("thingName", name)?;
            Ok(name.clone())
        }
        (None, Some(arn)) => match registry.arns.parse("thingArn", arn)? {
            ResourceArn::Thing(name) => Ok(name),
            _ => Err(RegistryError::invalid(format!(
                "thingArn '{arn}' is not a thing ARN"
            ))),
        },
        (None, None) => Err(RegistryError::invalid(
            "Either thingName or thingArn must be given",
        )),
    }
}

/// Adds `thing` to `group` inside a transaction (shared with provisioning).
pub(crate) async fn add_member_in(
    conn: &mut AnyConnection,
    group: &str,
    thing: &str,
) -> Result<bool, RegistryError> {
    require_group(conn, group).await?;
    require_thing(conn, thing).await?;
    let current = sqlx::query("SELECT group_name FROM thing_group_members WHERE thing_name = $1")
        .bind(thing.to_owned())
        .fetch_all(&mut *conn)
        .await?;
    let mut already = false;
    for row in &current {
        if row::text(row, "group_name")? == group {
            already = true;
        }
    }
    if already {
        return Ok(false);
    }
    if current.len() >= MAX_GROUPS_PER_THING {
        // InvalidRequest, not LimitExceeded: the model gives AddThingToThingGroup no
        // LimitExceededException, so SDKs would have no class for it.
        return Err(RegistryError::invalid(format!(
            "Thing {thing} is already in {MAX_GROUPS_PER_THING} thing groups, the most it may be in"
        )));
    }
    sqlx::query("INSERT INTO thing_group_members (group_name, thing_name) VALUES ($1, $2)")
        .bind(group.to_owned())
        .bind(thing.to_owned())
        .execute(&mut *conn)
        .await?;
    Ok(true)
}

impl Registry {
    /// CreateThingGroup. The same name with the same properties returns the existing group.
    pub async fn create_thing_group(
        &self,
        group: NewThingGroup,
    ) -> Result<ThingGroup, RegistryError> {
        self.create_thing_group_tagged(group, Vec::new()).await
    }

    /// CreateThingGroup with `tags`, written in the same transaction; creating an identical
    /// group again sets the tags on it.
    pub async fn create_thing_group_tagged(
        &self,
        group: NewThingGroup,
        tags: Vec<Tag>,
    ) -> Result<ThingGroup, RegistryError> {
        RESOURCE_NAME.check("thingGroupName", &group.name)?;
        if let Some(parent) = &group.parent {
            RESOURCE_NAME.check("parentGroupName", parent)?;
        }
        if let Some(description) = &group.description {
            DESCRIPTION.check("thingGroupProperties.thingGroupDescription", description)?;
        }
        check_attributes(&group.attributes)?;
        let arn = self.arns.thing_group(&group.name);
        self.store
            .write(job!(|conn| {
                if let Some(existing) = find_group(conn, &group.name).await? {
                    if existing.parent == group.parent
                        && existing.description == group.description
                        && existing.attributes == group.attributes
                    {
                        tag_in(conn, &arn, &tags).await?;
                        return Ok((existing, Vec::new()));
                    }
                    return Err(RegistryError::AlreadyExists {
                        message: format!(
                            "Thing group {} already exists with different properties",
                            group.name
                        ),
                        resource_id: existing.id,
                        resource_arn: arn,
                    });
                }
                let mut root_to_parent = Vec::new();
                if let Some(parent_name) = &group.parent {
                    let parent = require_group(conn, parent_name).await?;
                    root_to_parent = ancestors(conn, &parent).await?;
                    root_to_parent.push(parent_name.clone());
                    if root_to_parent.len() >= MAX_GROUP_DEPTH {
                        // The model gives CreateThingGroup no LimitExceededException.
                        return Err(RegistryError::invalid(format!(
                            "parentGroupName: thing group hierarchies may be at most \
                             {MAX_GROUP_DEPTH} levels deep"
                        )));
                    }
                }
                let created = ThingGroup {
                    id: Uuid::new_v4().to_string(),
                    version: 1,
                    created_ms: now_ms(),
                    root_to_parent,
                    name: group.name,
                    parent: group.parent,
                    description: group.description,
                    attributes: group.attributes,
                };
                sqlx::query(
                    "INSERT INTO thing_groups (name, id, parent, description, attributes, version, created_ms) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(created.name.clone())
                .bind(created.id.clone())
                .bind(created.parent.clone())
                .bind(created.description.clone())
                .bind(row::attributes_json(&created.attributes))
                .bind(created.version)
                .bind(created.created_ms)
                .execute(&mut *conn)
                .await?;
                tag_in(conn, &arn, &tags).await?;
                let event = RegistryEvent::ThingGroupChanged {
                    group_name: created.name.clone(),
                };
                Ok((created, vec![event]))
            }))
            .await
    }

    /// DescribeThingGroup, with its ancestry.
    pub async fn describe_thing_group(&self, name: &str) -> Result<ThingGroup, RegistryError> {
        RESOURCE_NAME.check("thingGroupName", name)?;
        let mut conn = self.store.reader().acquire().await?;
        let mut group = require_group(&mut conn, name).await?;
        group.root_to_parent = ancestors(&mut conn, &group).await?;
        Ok(group)
    }

    /// UpdateThingGroup; returns the new version.
    pub async fn update_thing_group(
        &self,
        name: &str,
        update: ThingGroupUpdate,
    ) -> Result<i64, RegistryError> {
        RESOURCE_NAME.check("thingGroupName", name)?;
        if let Some(description) = &update.description {
            DESCRIPTION.check("thingGroupProperties.thingGroupDescription", description)?;
        }
        if let Some(attributes) = &update.attributes {
            check_attributes(&attributes.attributes)?;
        }
        let name = name.to_owned();
        self.store
            .write(job!(|conn| {
                let group = require_group(conn, &name).await?;
                super::check_expected_version(
                    "thing group",
                    &name,
                    update.expected_version,
                    group.version,
                )?;
                let attributes = match &update.attributes {
                    Some(change) => apply_attributes(&group.attributes, change),
                    None => group.attributes.clone(),
                };
                let description = update.description.or(group.description);
                let version = group.version + 1;
                sqlx::query(
                    "UPDATE thing_groups SET description = $1, attributes = $2, version = $3 WHERE name = $4",
                )
                .bind(description)
                .bind(row::attributes_json(&attributes))
                .bind(version)
                .bind(name.clone())
                .execute(&mut *conn)
                .await?;
                Ok((version, vec![RegistryEvent::ThingGroupChanged { group_name: name }]))
            }))
            .await
    }

    /// DeleteThingGroup. Succeeds for a group that doesn't exist; refuses one with children.
    pub async fn delete_thing_group(
        &self,
        name: &str,
        expected_version: Option<i64>,
    ) -> Result<(), RegistryError> {
        RESOURCE_NAME.check("thingGroupName", name)?;
        let name = name.to_owned();
        let arn = self.arns.thing_group(&name);
        self.store
            .write(job!(|conn| {
                let Some(group) = find_group(conn, &name).await? else {
                    return Ok(((), Vec::new()));
                };
                super::check_expected_version(
                    "thing group",
                    &name,
                    expected_version,
                    group.version,
                )?;
                let child = sqlx::query("SELECT name FROM thing_groups WHERE parent = $1 LIMIT 1")
                    .bind(name.clone())
                    .fetch_optional(&mut *conn)
                    .await?;
                if child.is_some() {
                    return Err(RegistryError::invalid(format!(
                        "Cannot delete thing group : {name} when there are still child groups attached to it"
                    )));
                }
                // The group's policies stop applying to its things: say which.
                let attached =
                    sqlx::query("SELECT policy_name FROM policy_attachments WHERE target = $1")
                        .bind(arn.clone())
                        .fetch_all(&mut *conn)
                        .await?;
                let mut events = Vec::with_capacity(attached.len() + 1);
                for row in &attached {
                    events.push(RegistryEvent::PolicyAttachmentChanged {
                        policy_name: row::text(row, "policy_name")?,
                        target: arn.clone(),
                    });
                }
                for sql in [
                    "DELETE FROM thing_group_members WHERE group_name = $1",
                    "DELETE FROM thing_groups WHERE name = $1",
                ] {
                    sqlx::query(sql)
                        .bind(name.clone())
                        .execute(&mut *conn)
                        .await?;
                }
                for sql in [
                    "DELETE FROM policy_attachments WHERE target = $1",
                    "DELETE FROM tags WHERE resource_arn = $1",
                ] {
                    sqlx::query(sql)
                        .bind(arn.clone())
                        .execute(&mut *conn)
                        .await?;
                }
                events.push(RegistryEvent::ThingGroupChanged { group_name: name });
                Ok(((), events))
            }))
            .await
    }

    /// ListThingGroups, ordered by name.
    pub async fn list_thing_groups(
        &self,
        filter: &ThingGroupFilter,
        page: &PageRequest,
    ) -> Result<Page<ThingGroup>, RegistryError> {
        if let Some(prefix) = &filter.name_prefix {
            RESOURCE_NAME.check("namePrefixFilter", prefix)?;
        }
        let mut conn = self.store.reader().acquire().await?;
        let within: Option<Vec<String>> = match &filter.parent {
            None => None,
            Some(parent) => {
                RESOURCE_NAME.check("parentGroup", parent)?;
                require_group(&mut conn, parent).await?;
                if filter.recursive {
                    Some(descendants(&mut conn, parent).await?)
                } else {
                    let rows = sqlx::query("SELECT name FROM thing_groups WHERE parent = $1")
                        .bind(parent.clone())
                        .fetch_all(&mut *conn)
                        .await?;
                    Some(
                        rows.iter()
                            .map(|r| row::text(r, "name"))
                            .collect::<Result<_, _>>()?,
                    )
                }
            }
        };
        let sql = format!(
            "SELECT {COLUMNS} FROM thing_groups WHERE ($1 IS NULL OR name > $1) ORDER BY name"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(page.after.clone())
            .fetch_all(&mut *conn)
            .await?;
        let mut items = Vec::new();
        for row in &rows {
            let group = group_from_row(row)?;
            if let Some(prefix) = &filter.name_prefix
                && !group.name.starts_with(prefix.as_str())
            {
                continue;
            }
            if let Some(allowed) = &within
                && !allowed.contains(&group.name)
            {
                continue;
            }
            items.push(group);
            if items.len() > page.limit as usize {
                break;
            }
        }
        Ok(Page::from_rows(items, page.limit, |g| g.name.clone()))
    }

    /// AddThingToThingGroup.
    pub async fn add_thing_to_thing_group(
        &self,
        group: &NameOrArn,
        thing: &NameOrArn,
    ) -> Result<(), RegistryError> {
        let group = group_name(self, group)?;
        let thing = thing_name(self, thing)?;
        self.store
            .write(job!(|conn| {
                let added = add_member_in(conn, &group, &thing).await?;
                let events = if added {
                    vec![RegistryEvent::ThingGroupChanged { group_name: group }]
                } else {
                    Vec::new()
                };
                Ok(((), events))
            }))
            .await
    }

    /// RemoveThingFromThingGroup.
    pub async fn remove_thing_from_thing_group(
        &self,
        group: &NameOrArn,
        thing: &NameOrArn,
    ) -> Result<(), RegistryError> {
        let group = group_name(self, group)?;
        let thing = thing_name(self, thing)?;
        self.store
            .write(job!(|conn| {
                require_group(conn, &group).await?;
                require_thing(conn, &thing).await?;
                sqlx::query(
                    "DELETE FROM thing_group_members WHERE group_name = $1 AND thing_name = $2",
                )
                .bind(group.clone())
                .bind(thing)
                .execute(&mut *conn)
                .await?;
                Ok((
                    (),
                    vec![RegistryEvent::ThingGroupChanged { group_name: group }],
                ))
            }))
            .await
    }

    /// ListThingsInThingGroup (with `recursive`, things of descendant groups too).
    pub async fn list_things_in_thing_group(
        &self,
        group: &str,
        recursive: bool,
        page: &PageRequest,
    ) -> Result<Page<String>, RegistryError> {
        RESOURCE_NAME.check("thingGroupName", group)?;
        let mut conn = self.store.reader().acquire().await?;
        require_group(&mut conn, group).await?;
        let mut groups = vec![group.to_owned()];
        if recursive {
            groups.extend(descendants(&mut conn, group).await?);
        }
        let mut things = std::collections::BTreeSet::new();
        for group in groups {
            let rows = sqlx::query(
                "SELECT thing_name FROM thing_group_members WHERE group_name = $1 \
                 AND ($2 IS NULL OR thing_name > $2)",
            )
            .bind(group)
            .bind(page.after.clone())
            .fetch_all(&mut *conn)
            .await?;
            for row in &rows {
                things.insert(row::text(row, "thing_name")?);
            }
        }
        let items: Vec<String> = things.into_iter().take(page.limit as usize + 1).collect();
        Ok(Page::from_rows(items, page.limit, Clone::clone))
    }

    /// ListThingGroupsForThing: (name, ARN) of each group the thing is directly in.
    pub async fn list_thing_groups_for_thing(
        &self,
        thing: &str,
        page: &PageRequest,
    ) -> Result<Page<String>, RegistryError> {
        RESOURCE_NAME.check("thingName", thing)?;
        let mut conn = self.store.reader().acquire().await?;
        require_thing(&mut conn, thing).await?;
        let rows = sqlx::query(
            "SELECT group_name FROM thing_group_members WHERE thing_name = $1 \
             AND ($2 IS NULL OR group_name > $2) ORDER BY group_name LIMIT $3",
        )
        .bind(thing.to_owned())
        .bind(page.after.clone())
        .bind(i64::from(page.limit) + 1)
        .fetch_all(&mut *conn)
        .await?;
        let items = rows
            .iter()
            .map(|r| row::text(r, "group_name"))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(items, page.limit, Clone::clone))
    }

    /// The groups `thing` is in, directly or through ancestors (for policies of groups).
    pub async fn thing_groups_with_ancestors(
        &self,
        thing: &str,
    ) -> Result<Vec<String>, RegistryError> {
        let mut conn = self.store.reader().acquire().await?;
        let rows = sqlx::query("SELECT group_name FROM thing_group_members WHERE thing_name = $1")
            .bind(thing.to_owned())
            .fetch_all(&mut *conn)
            .await?;
        let mut all = std::collections::BTreeSet::new();
        for row in &rows {
            let name = row::text(row, "group_name")?;
            if let Some(group) = find_group(&mut conn, &name).await? {
                all.extend(ancestors(&mut conn, &group).await?);
            }
            all.insert(name);
        }
        Ok(all.into_iter().collect())
    }
}
