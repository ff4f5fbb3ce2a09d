//! Topic rule destinations (CreateTopicRuleDestination and its family): the URLs http actions
//! may reach once their owner has confirmed them. A new or re-challenged destination gets a
//! fresh confirmation token; the caller receives it once, in a [`PendingConfirmation`], to
//! send; the registry keeps only its SHA-256, as it does for ownership tokens.

use roost_rules::DestinationStatus;
use sqlx::AnyConnection;
use sqlx::any::AnyRow;
use uuid::Uuid;

use crate::Registry;
use crate::error::RegistryError;
use crate::events::RegistryEvent;
use crate::ops::fleet::token_digest;
use crate::ops::topic_rules::NewDestinationStatus;
use crate::page::{Page, PageRequest, created_key, parse_created_key};
use crate::row;
use crate::store::{now_ms, storage};

/// A topic rule destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicRuleDestination {
    /// `arn:aws:iot:<region>:<account>:ruledestination/http/<uuid>`.
    pub arn: String,
    /// The URL confirmed, a prefix of the URLs it lets http actions reach.
    pub confirmation_url: String,
    pub status: DestinationStatus,
    /// Why the status is what it is (the failed confirmation of an `ERROR` destination).
    pub status_reason: Option<String>,
    pub created_ms: i64,
    pub updated_ms: i64,
}

/// A confirmation to send: POST `roost_rules::confirmation_body` to `url`. The token is the
/// plain one, given only here.
#[derive(Clone, PartialEq, Eq)]
pub struct PendingConfirmation {
    pub arn: String,
    pub url: String,
    pub token: String,
}

impl std::fmt::Debug for PendingConfirmation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingConfirmation")
            .field("arn", &self.arn)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// AWS's answer for a destination that does not exist.
fn destination_denied(arn: &str) -> RegistryError {
    RegistryError::Unauthorized(format!(
        "Access to topic rule destination '{arn}' was denied"
    ))
}

/// A fresh confirmation token: 244 random bits from the OS generator, hex.
fn new_token() -> String {
    format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple())
}

const DESTINATION_COLUMNS: &str = "arn, url, status, status_reason, created_ms, updated_ms";

fn destination_from_row(row: &AnyRow) -> Result<TopicRuleDestination, RegistryError> {
    let status = row::text(row, "status")?;
    Ok(TopicRuleDestination {
        arn: row::text(row, "arn")?,
        confirmation_url: row::text(row, "url")?,
        status: status
            .parse()
            .map_err(|e| RegistryError::storage(format!("topic_rule_destinations: {e}")))?,
        status_reason: row::opt_text(row, "status_reason")?,
        created_ms: row::int(row, "created_ms")?,
        updated_ms: row::int(row, "updated_ms")?,
    })
}

async fn find_destination(
    conn: &mut AnyConnection,
    arn: &str,
) -> Result<Option<TopicRuleDestination>, RegistryError> {
    let sql = format!("SELECT {DESTINATION_COLUMNS} FROM topic_rule_destinations WHERE arn = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(arn.to_owned())
        .fetch_optional(&mut *conn)
        .await
        .map_err(storage)?;
    row.as_ref().map(destination_from_row).transpose()
}

async fn require_destination(
    conn: &mut AnyConnection,
    arn: &str,
) -> Result<TopicRuleDestination, RegistryError> {
    find_destination(conn, arn)
        .await?
        .ok_or_else(|| destination_denied(arn))
}

/// The confirmation URLs of every destination, whatever its status.
pub(crate) async fn destination_urls(
    conn: &mut AnyConnection,
) -> Result<Vec<String>, RegistryError> {
    let rows = sqlx::query("SELECT url FROM topic_rule_destinations")
        .fetch_all(&mut *conn)
        .await
        .map_err(storage)?;
    rows.iter().map(|r| row::text(r, "url")).collect()
}

/// Inserts a destination for the (checked) `url`; refuses a URL that has one already.
pub(crate) async fn insert_destination(
    conn: &mut AnyConnection,
    arns: &crate::Arns,
    url: &str,
    start: NewDestinationStatus,
) -> Result<(TopicRuleDestination, Option<PendingConfirmation>), RegistryError> {
    let existing = sqlx::query("SELECT arn FROM topic_rule_destinations WHERE url = $1")
        .bind(url.to_owned())
        .fetch_optional(&mut *conn)
        .await
        .map_err(storage)?;
    if let Some(existing) = existing {
        let arn = row::text(&existing, "arn")?;
        return Err(RegistryError::AlreadyExists {
            message: format!("A topic rule destination for {url} already exists: {arn}"),
            resource_id: arn.clone(),
            resource_arn: arn,
        });
    }
    let arn = arns.topic_rule_destination(&Uuid::new_v4().to_string());
    let (status, token) = match start {
        NewDestinationStatus::AwaitConfirmation => {
            (DestinationStatus::InProgress, Some(new_token()))
        }
        NewDestinationStatus::Enabled => (DestinationStatus::Enabled, None),
    };
    let now = now_ms();
    sqlx::query(
        "INSERT INTO topic_rule_destinations (arn, url, status, status_reason, \
         confirmation_token, created_ms, updated_ms) VALUES ($1, $2, $3, NULL, $4, $5, $6)",
    )
    .bind(arn.clone())
    .bind(url.to_owned())
    .bind(status.as_str())
    .bind(token.as_deref().map(token_digest))
    .bind(now)
    .bind(now)
    .execute(&mut *conn)
    .await
    .map_err(storage)?;
    let destination = TopicRuleDestination {
        arn: arn.clone(),
        confirmation_url: url.to_owned(),
        status,
        status_reason: None,
        created_ms: now,
        updated_ms: now,
    };
    let pending = token.map(|token| PendingConfirmation {
        arn,
        url: url.to_owned(),
        token,
    });
    Ok((destination, pending))
}

/// Sets a destination's status and reason, and its token digest when `token` is given.
async fn set_status(
    conn: &mut AnyConnection,
    arn: &str,
    status: DestinationStatus,
    reason: Option<&str>,
    token: Option<&str>,
) -> Result<(), RegistryError> {
    let sql = if token.is_some() {
        "UPDATE topic_rule_destinations SET status = $1, status_reason = $2, updated_ms = $3, \
         confirmation_token = $4 WHERE arn = $5"
    } else {
        "UPDATE topic_rule_destinations SET status = $1, status_reason = $2, updated_ms = $3 \
         WHERE arn = $4"
    };
    let mut query = sqlx::query(sql)
        .bind(status.as_str())
        .bind(reason.map(str::to_owned))
        .bind(now_ms());
    if let Some(token) = token {
        query = query.bind(token_digest(token));
    }
    query
        .bind(arn.to_owned())
        .execute(&mut *conn)
        .await
        .map_err(storage)?;
    Ok(())
}

fn changed(arn: &str) -> Vec<RegistryEvent> {
    vec![RegistryEvent::TopicRuleDestinationChanged {
        arn: arn.to_owned(),
    }]
}

impl Registry {
    /// CreateTopicRuleDestination for `confirmation_url`: `IN_PROGRESS` with a confirmation
    /// to send, or `ENABLED` at once when `start` says so. One destination per URL.
    pub async fn create_topic_rule_destination(
        &self,
        confirmation_url: &str,
        start: NewDestinationStatus,
    ) -> Result<(TopicRuleDestination, Option<PendingConfirmation>), RegistryError> {
        roost_rules::check_destination_url(confirmation_url)?;
        let url = confirmation_url.to_owned();
        let arns = self.arns.clone();
        self.store
            .write(job!(|conn| {
                let created = insert_destination(conn, &arns, &url, start).await?;
                let events = changed(&created.0.arn);
                Ok((created, events))
            }))
            .await
    }

    /// GetTopicRuleDestination; a missing one is [`RegistryError::Unauthorized`], as on AWS.
    pub async fn topic_rule_destination(
        &self,
        arn: &str,
    ) -> Result<TopicRuleDestination, RegistryError> {
        let mut conn = self.store.reader().acquire().await.map_err(storage)?;
        require_destination(&mut conn, arn).await
    }

    /// Every destination, oldest first (for the rules engine).
    pub async fn all_topic_rule_destinations(
        &self,
    ) -> Result<Vec<TopicRuleDestination>, RegistryError> {
        let sql = format!(
            "SELECT {DESTINATION_COLUMNS} FROM topic_rule_destinations ORDER BY created_ms, arn"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(self.store.reader())
            .await
            .map_err(storage)?;
        rows.iter().map(destination_from_row).collect()
    }

    /// ListTopicRuleDestinations, oldest first.
    pub async fn list_topic_rule_destinations(
        &self,
        page: &PageRequest,
    ) -> Result<Page<TopicRuleDestination>, RegistryError> {
        let after = page.after.as_deref().map(parse_created_key).transpose()?;
        let sql = format!(
            "SELECT {DESTINATION_COLUMNS} FROM topic_rule_destinations \
             WHERE ($1 IS NULL OR created_ms > $1 OR (created_ms = $1 AND arn > $2)) \
             ORDER BY created_ms, arn LIMIT $3"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(after.as_ref().map(|(ms, _)| *ms))
            .bind(after.map(|(_, arn)| arn))
            .bind(i64::from(page.limit) + 1)
            .fetch_all(self.store.reader())
            .await
            .map_err(storage)?;
        let items = rows
            .iter()
            .map(destination_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(items, page.limit, |d| {
            created_key(d.created_ms, &d.arn)
        }))
    }

    /// UpdateTopicRuleDestination. `IN_PROGRESS` re-challenges the destination (a new token,
    /// returned to send; the old one stops working); `ENABLED` is allowed from `DISABLED` and
    /// `DISABLED` from `ENABLED` (a destination is enabled first by its confirmation); `ERROR`
    /// and `DELETING` are the server's to set.
    pub async fn update_topic_rule_destination(
        &self,
        arn: &str,
        status: DestinationStatus,
    ) -> Result<Option<PendingConfirmation>, RegistryError> {
        let arn = arn.to_owned();
        self.store
            .write(job!(|conn| {
                let destination = require_destination(conn, &arn).await?;
                let current = destination.status;
                let pending = match (status, current) {
                    (DestinationStatus::InProgress, _) => {
                        let token = new_token();
                        set_status(conn, &arn, status, None, Some(&token)).await?;
                        Some(PendingConfirmation {
                            arn: arn.clone(),
                            url: destination.confirmation_url,
                            token,
                        })
                    }
                    (
                        DestinationStatus::Enabled | DestinationStatus::Disabled,
                        DestinationStatus::Enabled | DestinationStatus::Disabled,
                    ) => {
                        if status != current {
                            set_status(conn, &arn, status, None, None).await?;
                        }
                        None
                    }
                    (DestinationStatus::Enabled | DestinationStatus::Disabled, _) => {
                        return Err(RegistryError::invalid(format!(
                            "The topic rule destination {arn} is {current}: it can be set \
                                 to {status} only once confirmed (open its confirmation \
                                 message's enableUrl, or call ConfirmTopicRuleDestination)"
                        )));
                    }
                    (DestinationStatus::Error | DestinationStatus::Deleting, _) => {
                        return Err(RegistryError::invalid(format!(
                            "status {status} cannot be set; use ENABLED, DISABLED or \
                                 IN_PROGRESS"
                        )));
                    }
                };
                Ok((pending, changed(&arn)))
            }))
            .await
    }

    /// DeleteTopicRuleDestination. Rules whose http actions it covered stop reaching their
    /// URL until another destination covers it.
    pub async fn delete_topic_rule_destination(&self, arn: &str) -> Result<(), RegistryError> {
        let arn = arn.to_owned();
        self.store
            .write(job!(|conn| {
                require_destination(conn, &arn).await?;
                sqlx::query("DELETE FROM topic_rule_destinations WHERE arn = $1")
                    .bind(arn.clone())
                    .execute(&mut *conn)
                    .await
                    .map_err(storage)?;
                Ok(((), changed(&arn)))
            }))
            .await
    }

    /// ConfirmTopicRuleDestination (and the `enableUrl`): the destination whose current
    /// token this is becomes `ENABLED`. Confirming an enabled destination again changes
    /// nothing; a disabled one must be enabled with UpdateTopicRuleDestination.
    pub async fn confirm_topic_rule_destination(
        &self,
        token: &str,
    ) -> Result<TopicRuleDestination, RegistryError> {
        let digest = token_digest(token);
        self.store
            .write(job!(|conn| {
                let sql = format!(
                    "SELECT {DESTINATION_COLUMNS} FROM topic_rule_destinations \
                         WHERE confirmation_token = $1"
                );
                let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(digest)
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(storage)?
                    .ok_or_else(|| {
                        RegistryError::invalid(
                            "The confirmation token is not valid: it is not the latest \
                                 token of any topic rule destination",
                        )
                    })?;
                let mut destination = destination_from_row(&row)?;
                match destination.status {
                    DestinationStatus::Enabled => Ok((destination, Vec::new())),
                    DestinationStatus::InProgress | DestinationStatus::Error => {
                        let arn = destination.arn.clone();
                        set_status(conn, &arn, DestinationStatus::Enabled, None, None).await?;
                        destination.status = DestinationStatus::Enabled;
                        destination.status_reason = None;
                        destination.updated_ms = now_ms();
                        Ok((destination, changed(&arn)))
                    }
                    other => Err(RegistryError::invalid(format!(
                        "The topic rule destination {} is {other}; enable it with \
                             UpdateTopicRuleDestination",
                        destination.arn
                    ))),
                }
            }))
            .await
    }

    /// Marks a destination `ERROR` because `confirmation` could not be delivered; `reason`
    /// becomes its `statusReason`. Does nothing unless the destination is still
    /// `IN_PROGRESS` with that confirmation's token (it may have been confirmed,
    /// re-challenged or deleted meanwhile).
    pub async fn fail_topic_rule_destination_confirmation(
        &self,
        confirmation: &PendingConfirmation,
        reason: &str,
    ) -> Result<(), RegistryError> {
        let arn = confirmation.arn.clone();
        let digest = token_digest(&confirmation.token);
        let reason = reason.to_owned();
        self.store
            .write(job!(|conn| {
                let updated = sqlx::query(
                    "UPDATE topic_rule_destinations SET status = $1, status_reason = $2, \
                         updated_ms = $3 WHERE arn = $4 AND status = $5 \
                         AND confirmation_token = $6",
                )
                .bind(DestinationStatus::Error.as_str())
                .bind(reason)
                .bind(now_ms())
                .bind(arn.clone())
                .bind(DestinationStatus::InProgress.as_str())
                .bind(digest)
                .execute(&mut *conn)
                .await
                .map_err(storage)?;
                let events = if updated.rows_affected() > 0 {
                    changed(&arn)
                } else {
                    Vec::new()
                };
                Ok(((), events))
            }))
            .await
    }
}
