//! Retained messages, one per topic: the broker writes each retained publish here before it
//! acknowledges it, loads them all at start-up, and iot-data reads them.
//!
//! Their writes are single statements, sent without a per-job savepoint (`write_unguarded`).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;

use crate::Registry;
use crate::error::RegistryError;
use crate::page::{Page, PageRequest};
use crate::row;
use crate::store::now_ms;

/// The MQTT 5 properties a retained message keeps.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RetainedProperties {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// Payload Format Indicator: 0 unspecified bytes, 1 UTF-8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_format: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_topic: Option<String>,
    /// Base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_data: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub user_properties: Vec<(String, String)>,
}

impl RetainedProperties {
    fn is_empty(&self) -> bool {
        self == &Self::default()
    }
}

/// A stored retained message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetainedRecord {
    pub topic: String,
    pub payload: Vec<u8>,
    pub qos: u8,
    pub properties: RetainedProperties,
    /// When it expires, epoch milliseconds; `None`: never.
    pub expires_ms: Option<i64>,
    /// When it was stored, epoch milliseconds.
    pub updated_ms: i64,
}

/// A retained message as ListRetainedMessages shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetainedSummary {
    pub topic: String,
    pub payload_bytes: i64,
    pub qos: u8,
    pub updated_ms: i64,
}

const COLUMNS: &str = "topic, payload, qos, properties, expires_ms, updated_ms";

fn record_from_row(row: &AnyRow) -> Result<RetainedRecord, RegistryError> {
    let corrupt = |what: &str, e: &dyn std::fmt::Display| {
        RegistryError::storage(format!("stored retained message {what}: {e}"))
    };
    let payload = STANDARD
        .decode(row::text(row, "payload")?)
        .map_err(|e| corrupt("payload", &e))?;
    let properties = match row::opt_text(row, "properties")? {
        Some(json) => serde_json::from_str(&json).map_err(|e| corrupt("properties", &e))?,
        None => RetainedProperties::default(),
    };
    Ok(RetainedRecord {
        topic: row::text(row, "topic")?,
        payload,
        qos: u8::try_from(row::int(row, "qos")?).unwrap_or(0),
        properties,
        expires_ms: row::opt_int(row, "expires_ms")?,
        updated_ms: row::int(row, "updated_ms")?,
    })
}

impl Registry {
    /// Stores `record` as its topic's retained message (replacing any), durably.
    pub async fn put_retained(&self, record: RetainedRecord) -> Result<(), RegistryError> {
        let properties = if record.properties.is_empty() {
            None
        } else {
            Some(serde_json::to_string(&record.properties).map_err(|e| {
                RegistryError::storage(format!("serializing retained properties: {e}"))
            })?)
        };
        self.store
            .write_unguarded(job!(|conn| {
                sqlx::query(
                    "INSERT INTO retained_messages (topic, payload, payload_bytes, qos, \
                         properties, expires_ms, updated_ms) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                         ON CONFLICT (topic) DO UPDATE SET payload = excluded.payload, \
                         payload_bytes = excluded.payload_bytes, qos = excluded.qos, \
                         properties = excluded.properties, expires_ms = excluded.expires_ms, \
                         updated_ms = excluded.updated_ms",
                )
                .bind(record.topic)
                .bind(STANDARD.encode(&record.payload))
                .bind(i64::try_from(record.payload.len()).unwrap_or(i64::MAX))
                .bind(i64::from(record.qos))
                .bind(properties)
                .bind(record.expires_ms)
                .bind(record.updated_ms)
                .execute(&mut *conn)
                .await?;
                Ok(((), Vec::new()))
            }))
            .await
            .map(|(value, _)| value)
    }

    /// Removes `topic`'s retained message, if any, durably.
    pub async fn delete_retained(&self, topic: &str) -> Result<(), RegistryError> {
        let topic = topic.to_owned();
        self.store
            .write_unguarded(job!(|conn| {
                sqlx::query("DELETE FROM retained_messages WHERE topic = $1")
                    .bind(topic)
                    .execute(&mut *conn)
                    .await?;
                Ok(((), Vec::new()))
            }))
            .await
            .map(|(value, _)| value)
    }

    /// GetRetainedMessage: `topic`'s retained message, unless there is none or it expired.
    pub async fn retained(&self, topic: &str) -> Result<Option<RetainedRecord>, RegistryError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM retained_messages WHERE topic = $1 \
             AND (expires_ms IS NULL OR expires_ms > $2)"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(topic.to_owned())
            .bind(now_ms())
            .fetch_optional(self.store.reader())
            .await?;
        row.as_ref().map(record_from_row).transpose()
    }

    /// Every unexpired retained message, for the broker to load at start-up.
    pub async fn all_retained(&self) -> Result<Vec<RetainedRecord>, RegistryError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM retained_messages \
             WHERE expires_ms IS NULL OR expires_ms > $1 ORDER BY topic"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(now_ms())
            .fetch_all(self.store.reader())
            .await?;
        rows.iter().map(record_from_row).collect()
    }

    /// ListRetainedMessages, by topic.
    pub async fn list_retained(
        &self,
        page: &PageRequest,
    ) -> Result<Page<RetainedSummary>, RegistryError> {
        let rows = sqlx::query(
            "SELECT topic, payload_bytes, qos, updated_ms FROM retained_messages \
             WHERE (expires_ms IS NULL OR expires_ms > $1) AND ($2 IS NULL OR topic > $2) \
             ORDER BY topic LIMIT $3",
        )
        .bind(now_ms())
        .bind(page.after.clone())
        .bind(i64::from(page.limit) + 1)
        .fetch_all(self.store.reader())
        .await?;
        let items = rows
            .iter()
            .map(|row| {
                Ok(RetainedSummary {
                    topic: row::text(row, "topic")?,
                    payload_bytes: row::int(row, "payload_bytes")?,
                    qos: u8::try_from(row::int(row, "qos")?).unwrap_or(0),
                    updated_ms: row::int(row, "updated_ms")?,
                })
            })
            .collect::<Result<Vec<_>, RegistryError>>()?;
        Ok(Page::from_rows(items, page.limit, |r| r.topic.clone()))
    }
}
