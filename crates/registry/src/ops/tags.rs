//! Resource tags.

use std::collections::BTreeMap;

use sqlx::AnyConnection;

use crate::Registry;
use crate::ResourceArn;
use crate::error::RegistryError;
use crate::model::Tag;
use crate::names::{POLICY_NAME, RESOURCE_NAME, TAG_KEY, TAG_VALUE, TEMPLATE_NAME};
use crate::page::{Page, PageRequest};
use crate::row;

/// Most tags a resource may have (AWS quota).
pub const MAX_TAGS: usize = 50;

/// Checks that the resource `arn` names exists.
async fn require_resource(
    conn: &mut AnyConnection,
    arns: &crate::Arns,
    arn: &str,
) -> Result<(), RegistryError> {
    let parsed = arns.parse("resourceArn", arn)?;
    check_resource_name(&parsed)?;
    let (sql, key) = match parsed {
        ResourceArn::Certificate(id) => {
            ("SELECT id FROM certificates WHERE id = $1", id.to_string())
        }
        ResourceArn::CaCertificate(id) => (
            "SELECT id FROM ca_certificates WHERE id = $1",
            id.to_string(),
        ),
        ResourceArn::Thing(name) => ("SELECT name FROM things WHERE name = $1", name),
        ResourceArn::ThingType(name) => ("SELECT name FROM thing_types WHERE name = $1", name),
        ResourceArn::ThingGroup(name) => ("SELECT name FROM thing_groups WHERE name = $1", name),
        ResourceArn::BillingGroup(name) => {
            ("SELECT name FROM billing_groups WHERE name = $1", name)
        }
        ResourceArn::Policy(name) => ("SELECT name FROM policies WHERE name = $1", name),
        ResourceArn::ProvisioningTemplate(name) => (
            "SELECT name FROM provisioning_templates WHERE name = $1",
            name,
        ),
        ResourceArn::TopicRule(name) => (
            "SELECT rule_name FROM topic_rules WHERE rule_name = $1",
            name,
        ),
    };
    let found = sqlx::query(sql)
        .bind(key)
        .fetch_optional(&mut *conn)
        .await?;
    match found {
        Some(_) => Ok(()),
        None => Err(RegistryError::not_found(format!(
            "Resource {arn} cannot be found."
        ))),
    }
}

/// Checks the name in an ARN against its resource's pattern, so that an ARN no resource
/// could have is InvalidRequest rather than NotFound.
fn check_resource_name(parsed: &ResourceArn) -> Result<(), RegistryError> {
    match parsed {
        ResourceArn::Thing(name)
        | ResourceArn::ThingType(name)
        | ResourceArn::ThingGroup(name)
        | ResourceArn::BillingGroup(name) => RESOURCE_NAME.check("resourceArn", name),
        ResourceArn::Policy(name) => POLICY_NAME.check("resourceArn", name),
        ResourceArn::ProvisioningTemplate(name) => TEMPLATE_NAME.check("resourceArn", name),
        ResourceArn::TopicRule(name) => roost_rules::check_rule_name(name).map_err(|_| {
            RegistryError::invalid(format!(
                "resourceArn names the topic rule '{name}', which is not a valid rule name"
            ))
        }),
        ResourceArn::Certificate(_) | ResourceArn::CaCertificate(_) => Ok(()),
    }
}

/// Removes every tag of `arn` inside a transaction (shared with the delete operations).
pub(crate) async fn untag_in(conn: &mut AnyConnection, arn: &str) -> Result<(), RegistryError> {
    sqlx::query("DELETE FROM tags WHERE resource_arn = $1")
        .bind(arn.to_owned())
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Sets `tags` on `arn` inside a transaction (shared with the create operations).
pub(crate) async fn tag_in(
    conn: &mut AnyConnection,
    arn: &str,
    tags: &[Tag],
) -> Result<(), RegistryError> {
    for tag in tags {
        TAG_KEY.check("tags.member.Key", &tag.key)?;
        TAG_VALUE.check("tags.member.Value", &tag.value)?;
    }
    let rows = sqlx::query("SELECT tag_key FROM tags WHERE resource_arn = $1")
        .bind(arn.to_owned())
        .fetch_all(&mut *conn)
        .await?;
    let mut keys = rows
        .iter()
        .map(|r| row::text(r, "tag_key"))
        .collect::<Result<std::collections::BTreeSet<_>, _>>()?;
    let wanted: BTreeMap<&str, &str> = tags
        .iter()
        .map(|t| (t.key.as_str(), t.value.as_str()))
        .collect();
    keys.extend(wanted.keys().map(|k| (*k).to_owned()));
    if keys.len() > MAX_TAGS {
        return Err(RegistryError::LimitExceeded(format!(
            "A resource may have at most {MAX_TAGS} tags"
        )));
    }
    for (key, value) in wanted {
        sqlx::query("DELETE FROM tags WHERE resource_arn = $1 AND tag_key = $2")
            .bind(arn.to_owned())
            .bind(key.to_owned())
            .execute(&mut *conn)
            .await?;
        sqlx::query("INSERT INTO tags (resource_arn, tag_key, tag_value) VALUES ($1, $2, $3)")
            .bind(arn.to_owned())
            .bind(key.to_owned())
            .bind(value.to_owned())
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

impl Registry {
    /// TagResource.
    pub async fn tag_resource(&self, arn: &str, tags: Vec<Tag>) -> Result<(), RegistryError> {
        let arn = arn.to_owned();
        let arns = self.arns.clone();
        self.store
            .write(job!(|conn| {
                require_resource(conn, &arns, &arn).await?;
                tag_in(conn, &arn, &tags).await?;
                Ok(((), Vec::new()))
            }))
            .await
    }

    /// UntagResource.
    pub async fn untag_resource(&self, arn: &str, keys: Vec<String>) -> Result<(), RegistryError> {
        let arn = arn.to_owned();
        let arns = self.arns.clone();
        self.store
            .write(job!(|conn| {
                require_resource(conn, &arns, &arn).await?;
                for key in keys {
                    sqlx::query("DELETE FROM tags WHERE resource_arn = $1 AND tag_key = $2")
                        .bind(arn.clone())
                        .bind(key)
                        .execute(&mut *conn)
                        .await?;
                }
                Ok(((), Vec::new()))
            }))
            .await
    }

    /// ListTagsForResource, by key.
    pub async fn list_tags_for_resource(
        &self,
        arn: &str,
        page: &PageRequest,
    ) -> Result<Page<Tag>, RegistryError> {
        let mut conn = self.store.reader().acquire().await?;
        require_resource(&mut conn, &self.arns, arn).await?;
        let rows = sqlx::query(
            "SELECT tag_key, tag_value FROM tags WHERE resource_arn = $1 AND ($2 IS NULL OR tag_key > $2) \
             ORDER BY tag_key LIMIT $3",
        )
        .bind(arn.to_owned())
        .bind(page.after.clone())
        .bind(i64::from(page.limit) + 1)
        .fetch_all(&mut *conn)
        .await?;
        let items = rows
            .iter()
            .map(|r| {
                Ok(Tag {
                    key: row::text(r, "tag_key")?,
                    value: row::text(r, "tag_value")?,
                })
            })
            .collect::<Result<Vec<_>, RegistryError>>()?;
        Ok(Page::from_rows(items, page.limit, |t| t.key.clone()))
    }
}
