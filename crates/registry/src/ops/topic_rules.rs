//! Topic rules (CreateTopicRule and its family). A rule is validated by `roost-rules` on every
//! write, stored as the payload AWS echoes, and announced with
//! [`RegistryEvent::TopicRuleChanged`] so that the rules engine reloads it. An http action
//! whose URL no destination covers creates one, as on AWS.

use roost_rules::{CompiledAction, CompiledRule, RuleError, TopicRulePayload};
use sqlx::AnyConnection;
use sqlx::any::AnyRow;

use crate::Registry;
use crate::error::RegistryError;
use crate::events::RegistryEvent;
use crate::model::Tag;
use crate::ops::tags::tag_in;
use crate::ops::topic_rule_destinations::{
    PendingConfirmation, destination_urls, insert_destination,
};
use crate::page::{Page, PageRequest};
use crate::row;
use crate::store::{now_ms, storage};

/// A stored topic rule.
#[derive(Debug, Clone, PartialEq)]
pub struct TopicRule {
    pub name: String,
    pub arn: String,
    /// The payload as GetTopicRule echoes it: `awsIotSqlVersion` filled in (`2015-10-08` when
    /// the rule gave none) and `ruleDisabled` the rule's current state.
    pub payload: TopicRulePayload,
    /// The SQL's FROM filter; empty for a rule reached only by Basic Ingest.
    pub topic_pattern: String,
    pub disabled: bool,
    pub created_ms: i64,
    pub updated_ms: i64,
}

impl TopicRule {
    /// The rule ready to run. Stored rules compiled when written; this fails only if a newer
    /// Roost checks more than the one that stored it.
    pub fn compile(&self) -> Result<CompiledRule, RuleError> {
        roost_rules::compile(&self.name, &self.payload)
    }
}

/// Which rules ListTopicRules returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopicRuleFilter {
    /// Only rules whose FROM filter is exactly this.
    pub topic: Option<String>,
    /// Only disabled (`true`) or enabled (`false`) rules.
    pub disabled: Option<bool>,
}

/// How a new destination starts when a rule's http action creates it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NewDestinationStatus {
    /// `IN_PROGRESS`, with a confirmation to send (AWS's behaviour).
    #[default]
    AwaitConfirmation,
    /// `ENABLED` at once (a Roost setting for trusted deployments).
    Enabled,
}

/// AWS's answer for a rule that does not exist.
pub(crate) fn rule_denied(name: &str) -> RegistryError {
    RegistryError::Unauthorized(format!("Access to topic rule '{name}' was denied"))
}

/// Splits a validated payload into what is stored: the payload without `ruleDisabled` and with
/// its SQL version, and the disabled flag.
fn normalize(mut payload: TopicRulePayload) -> (TopicRulePayload, bool) {
    let disabled = payload.rule_disabled.take().unwrap_or(false);
    payload
        .aws_iot_sql_version
        .get_or_insert_with(|| roost_rules::SqlVersion::default().as_str().to_owned());
    (payload, disabled)
}

const RULE_COLUMNS: &str =
    "rule_name, payload, topic_pattern, rule_disabled, created_ms, updated_ms";

fn rule_from_row(arns: &crate::Arns, row: &AnyRow) -> Result<TopicRule, RegistryError> {
    let name = row::text(row, "rule_name")?;
    let mut payload: TopicRulePayload = serde_json::from_str(&row::text(row, "payload")?)
        .map_err(|e| RegistryError::storage(format!("topic rule {name}: payload: {e}")))?;
    let disabled = row::int(row, "rule_disabled")? != 0;
    payload.rule_disabled = Some(disabled);
    Ok(TopicRule {
        arn: arns.topic_rule(&name),
        payload,
        topic_pattern: row::text(row, "topic_pattern")?,
        disabled,
        created_ms: row::int(row, "created_ms")?,
        updated_ms: row::int(row, "updated_ms")?,
        name,
    })
}

async fn find_rule(
    conn: &mut AnyConnection,
    arns: &crate::Arns,
    name: &str,
) -> Result<Option<TopicRule>, RegistryError> {
    let sql = format!("SELECT {RULE_COLUMNS} FROM topic_rules WHERE rule_name = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(name.to_owned())
        .fetch_optional(&mut *conn)
        .await
        .map_err(storage)?;
    row.map(|row| rule_from_row(arns, &row)).transpose()
}

async fn require_rule(
    conn: &mut AnyConnection,
    arns: &crate::Arns,
    name: &str,
) -> Result<TopicRule, RegistryError> {
    find_rule(conn, arns, name)
        .await?
        .ok_or_else(|| rule_denied(name))
}

/// Creates a destination for each http action (and errorAction) whose confirmation URL no
/// destination covers yet, one per URL.
async fn create_missing_destinations(
    conn: &mut AnyConnection,
    arns: &crate::Arns,
    compiled: &CompiledRule,
    status: NewDestinationStatus,
) -> Result<(Vec<PendingConfirmation>, Vec<RegistryEvent>), RegistryError> {
    let mut known = destination_urls(conn).await?;
    let mut confirmations = Vec::new();
    let mut events = Vec::new();
    for action in compiled.actions.iter().chain(&compiled.error_action) {
        let CompiledAction::Http(http) = action else {
            continue;
        };
        let target = roost_rules::destination_target(http);
        // A templated URL with no confirmation URL cannot compile, so the target is literal.
        if known
            .iter()
            .any(|url| roost_rules::destination_covers(url, target))
        {
            continue;
        }
        let (destination, pending) = insert_destination(conn, arns, target, status).await?;
        known.push(destination.confirmation_url.clone());
        events.push(RegistryEvent::TopicRuleDestinationChanged {
            arn: destination.arn,
        });
        confirmations.extend(pending);
    }
    Ok((confirmations, events))
}

impl Registry {
    /// CreateTopicRule: validates `payload` (see [`roost_rules::compile`]), stores it with
    /// `tags`, and creates the destinations its http actions need (starting as `destinations`
    /// says). Returns the rule and the confirmations to send.
    pub async fn create_topic_rule(
        &self,
        name: &str,
        payload: TopicRulePayload,
        tags: Vec<Tag>,
        destinations: NewDestinationStatus,
    ) -> Result<(TopicRule, Vec<PendingConfirmation>), RegistryError> {
        let compiled = roost_rules::compile(name, &payload)?;
        let (payload, disabled) = normalize(payload);
        let name = name.to_owned();
        let arns = self.arns.clone();
        self.store
            .write(job!(|conn| {
                let arn = arns.topic_rule(&name);
                if find_rule(conn, &arns, &name).await?.is_some() {
                    return Err(RegistryError::AlreadyExists {
                        message: format!("A topic rule named '{name}' already exists"),
                        resource_id: name,
                        resource_arn: arn,
                    });
                }
                let now = now_ms();
                write_rule(conn, &name, &payload, &compiled, disabled, Some(now)).await?;
                tag_in(conn, &arn, &tags).await?;
                let (confirmations, mut events) =
                    create_missing_destinations(conn, &arns, &compiled, destinations).await?;
                events.push(RegistryEvent::TopicRuleChanged {
                    rule_name: name.clone(),
                });
                let mut payload = payload;
                payload.rule_disabled = Some(disabled);
                let rule = TopicRule {
                    name,
                    arn,
                    payload,
                    topic_pattern: compiled.topic_pattern,
                    disabled,
                    created_ms: now,
                    updated_ms: now,
                };
                Ok(((rule, confirmations), events))
            }))
            .await
    }

    /// ReplaceTopicRule: the whole payload replaced (its `ruleDisabled` included), the
    /// creation time kept.
    pub async fn replace_topic_rule(
        &self,
        name: &str,
        payload: TopicRulePayload,
        destinations: NewDestinationStatus,
    ) -> Result<(TopicRule, Vec<PendingConfirmation>), RegistryError> {
        let compiled = roost_rules::compile(name, &payload)?;
        let (payload, disabled) = normalize(payload);
        let name = name.to_owned();
        let arns = self.arns.clone();
        self.store
            .write(job!(|conn| {
                let old = require_rule(conn, &arns, &name).await?;
                write_rule(conn, &name, &payload, &compiled, disabled, None).await?;
                let (confirmations, mut events) =
                    create_missing_destinations(conn, &arns, &compiled, destinations).await?;
                events.push(RegistryEvent::TopicRuleChanged {
                    rule_name: name.clone(),
                });
                let mut payload = payload;
                payload.rule_disabled = Some(disabled);
                let rule = TopicRule {
                    payload,
                    topic_pattern: compiled.topic_pattern,
                    disabled,
                    updated_ms: now_ms(),
                    ..old
                };
                Ok(((rule, confirmations), events))
            }))
            .await
    }

    /// GetTopicRule; a missing rule is [`RegistryError::Unauthorized`], as on AWS.
    pub async fn topic_rule(&self, name: &str) -> Result<TopicRule, RegistryError> {
        roost_rules::check_rule_name(name)?;
        let mut conn = self.store.reader().acquire().await.map_err(storage)?;
        require_rule(&mut conn, &self.arns, name).await
    }

    /// The rule named `name`, if there is one (for the rules engine, which reloads a rule on
    /// [`RegistryEvent::TopicRuleChanged`]).
    pub async fn find_topic_rule(&self, name: &str) -> Result<Option<TopicRule>, RegistryError> {
        let mut conn = self.store.reader().acquire().await.map_err(storage)?;
        find_rule(&mut conn, &self.arns, name).await
    }

    /// Every rule, by name (for the rules engine at start-up).
    pub async fn all_topic_rules(&self) -> Result<Vec<TopicRule>, RegistryError> {
        let sql = format!("SELECT {RULE_COLUMNS} FROM topic_rules ORDER BY rule_name");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(self.store.reader())
            .await
            .map_err(storage)?;
        rows.iter()
            .map(|row| rule_from_row(&self.arns, row))
            .collect()
    }

    /// ListTopicRules, by name.
    pub async fn list_topic_rules(
        &self,
        filter: &TopicRuleFilter,
        page: &PageRequest,
    ) -> Result<Page<TopicRule>, RegistryError> {
        let sql = format!(
            "SELECT {RULE_COLUMNS} FROM topic_rules WHERE ($1 IS NULL OR rule_name > $1) \
             AND ($2 IS NULL OR topic_pattern = $2) AND ($3 IS NULL OR rule_disabled = $3) \
             ORDER BY rule_name LIMIT $4"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(page.after.clone())
            .bind(filter.topic.clone())
            .bind(filter.disabled.map(i64::from))
            .bind(i64::from(page.limit) + 1)
            .fetch_all(self.store.reader())
            .await
            .map_err(storage)?;
        let items = rows
            .iter()
            .map(|row| rule_from_row(&self.arns, row))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(items, page.limit, |r| r.name.clone()))
    }

    /// EnableTopicRule (`disabled` false) and DisableTopicRule (`disabled` true).
    pub async fn set_topic_rule_disabled(
        &self,
        name: &str,
        disabled: bool,
    ) -> Result<(), RegistryError> {
        roost_rules::check_rule_name(name)?;
        let name = name.to_owned();
        let arns = self.arns.clone();
        self.store
            .write(job!(|conn| {
                require_rule(conn, &arns, &name).await?;
                sqlx::query(
                    "UPDATE topic_rules SET rule_disabled = $1, updated_ms = $2 \
                         WHERE rule_name = $3",
                )
                .bind(i64::from(disabled))
                .bind(now_ms())
                .bind(name.clone())
                .execute(&mut *conn)
                .await
                .map_err(storage)?;
                Ok((
                    (),
                    vec![RegistryEvent::TopicRuleChanged { rule_name: name }],
                ))
            }))
            .await
    }

    /// DeleteTopicRule, with its tags. The destinations it created stay.
    pub async fn delete_topic_rule(&self, name: &str) -> Result<(), RegistryError> {
        roost_rules::check_rule_name(name)?;
        let name = name.to_owned();
        let arns = self.arns.clone();
        self.store
            .write(job!(|conn| {
                require_rule(conn, &arns, &name).await?;
                for (sql, key) in [
                    ("DELETE FROM topic_rules WHERE rule_name = $1", name.clone()),
                    (
                        "DELETE FROM tags WHERE resource_arn = $1",
                        arns.topic_rule(&name),
                    ),
                ] {
                    sqlx::query(sql)
                        .bind(key)
                        .execute(&mut *conn)
                        .await
                        .map_err(storage)?;
                }
                Ok((
                    (),
                    vec![RegistryEvent::TopicRuleChanged { rule_name: name }],
                ))
            }))
            .await
    }
}

/// Inserts (with `created`) or updates (without) a rule's row.
async fn write_rule(
    conn: &mut AnyConnection,
    name: &str,
    payload: &TopicRulePayload,
    compiled: &CompiledRule,
    disabled: bool,
    created: Option<i64>,
) -> Result<(), RegistryError> {
    let json = serde_json::to_string(payload)
        .map_err(|e| RegistryError::storage(format!("topic rule {name}: payload: {e}")))?;
    let version = payload.aws_iot_sql_version.clone().unwrap_or_default();
    let query = match created {
        Some(created) => sqlx::query(
            "INSERT INTO topic_rules (payload, topic_pattern, rule_disabled, sql_version, \
             updated_ms, rule_name, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(json)
        .bind(compiled.topic_pattern.clone())
        .bind(i64::from(disabled))
        .bind(version)
        .bind(created)
        .bind(name.to_owned())
        .bind(created),
        None => sqlx::query(
            "UPDATE topic_rules SET payload = $1, topic_pattern = $2, rule_disabled = $3, \
             sql_version = $4, updated_ms = $5 WHERE rule_name = $6",
        )
        .bind(json)
        .bind(compiled.topic_pattern.clone())
        .bind(i64::from(disabled))
        .bind(version)
        .bind(now_ms())
        .bind(name.to_owned()),
    };
    query.execute(&mut *conn).await.map_err(storage)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_payload_has_its_version_and_not_its_disabled_flag() {
        let payload: TopicRulePayload = serde_json::from_value(serde_json::json!({
            "sql": "SELECT * FROM 'a'", "actions": [], "ruleDisabled": true
        }))
        .unwrap();
        let (stored, disabled) = normalize(payload);
        assert!(disabled);
        assert_eq!(stored.rule_disabled, None);
        assert_eq!(stored.aws_iot_sql_version.as_deref(), Some("2015-10-08"));
    }
}
