//! Persistent MQTT sessions: the broker writes a session's subscriptions before their SUBACK,
//! the messages queued for it while its client is away before the publisher's PUBACK, and the
//! whole session when its client disconnects; it loads them all at start-up. The registry
//! keeps the broker's encodings (JSON) as they are: it stores sessions, it does not read them.
//!
//! Their writes fail only with storage errors, so they skip the per-job savepoint
//! (`write_unguarded`): a failure rolls the batch back as a failed commit would.

use sqlx::AnyConnection;
use sqlx::any::AnyRow;

use crate::Registry;
use crate::error::RegistryError;
use crate::row;
use crate::store::now_ms;

/// A stored session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub client_id: String,
    /// Session Expiry Interval in seconds (`u32::MAX`: never).
    pub expiry_secs: u32,
    /// When its client went away, epoch milliseconds; `None` while connected.
    pub disconnected_ms: Option<i64>,
    /// The subscriptions, as the broker encodes them.
    pub subscriptions: String,
}

/// A message a stored session owes its client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionMessageRecord {
    pub client_id: String,
    /// Its number; the order of delivery.
    pub seq: u64,
    /// The delivery, as the broker encodes it.
    pub delivery: String,
}

/// A stored session with the messages it owes, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSession {
    pub session: SessionRecord,
    pub messages: Vec<SessionMessageRecord>,
}

fn seq_column(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

/// Writes `session` as held by `node` (this node's cluster id; `None` on a single node).
async fn upsert_session(
    conn: &mut AnyConnection,
    session: &SessionRecord,
    node: Option<String>,
) -> Result<(), RegistryError> {
    sqlx::query(
        "INSERT INTO mqtt_sessions (client_id, expiry_secs, disconnected_ms, subscriptions, \
         updated_ms, node) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (client_id) DO UPDATE SET \
         expiry_secs = excluded.expiry_secs, disconnected_ms = excluded.disconnected_ms, \
         subscriptions = excluded.subscriptions, updated_ms = excluded.updated_ms, \
         node = excluded.node",
    )
    .bind(session.client_id.clone())
    .bind(i64::from(session.expiry_secs))
    .bind(session.disconnected_ms)
    .bind(session.subscriptions.clone())
    .bind(now_ms())
    .bind(node)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn insert_messages(
    conn: &mut AnyConnection,
    messages: &[SessionMessageRecord],
) -> Result<(), RegistryError> {
    for message in messages {
        sqlx::query(
            "INSERT INTO mqtt_session_messages (client_id, seq, delivery) VALUES ($1, $2, $3) \
             ON CONFLICT (client_id, seq) DO NOTHING",
        )
        .bind(message.client_id.clone())
        .bind(seq_column(message.seq))
        .bind(message.delivery.clone())
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

fn session_from_row(row: &AnyRow) -> Result<SessionRecord, RegistryError> {
    Ok(SessionRecord {
        client_id: row::text(row, "client_id")?,
        expiry_secs: u32::try_from(row::int(row, "expiry_secs")?).unwrap_or(u32::MAX),
        disconnected_ms: row::opt_int(row, "disconnected_ms")?,
        subscriptions: row::text(row, "subscriptions")?,
    })
}

impl Registry {
    /// Stores `session` (its subscriptions changed, or it began), keeping its messages.
    pub async fn put_session(&self, session: SessionRecord) -> Result<(), RegistryError> {
        let node = self.store.cluster_node();
        self.store
            .write_unguarded(job!(|conn| {
                upsert_session(conn, &session, node).await?;
                Ok(((), Vec::new()))
            }))
            .await
            .map(|(value, _)| value)
    }

    /// Stores `session` and replaces the messages numbered below `below` that it owes with
    /// `messages`, in one transaction (its client has just disconnected; messages numbered
    /// from `below` on were queued since, and written by their publishers).
    pub async fn replace_session(
        &self,
        session: SessionRecord,
        messages: Vec<SessionMessageRecord>,
        below: u64,
    ) -> Result<(), RegistryError> {
        let node = self.store.cluster_node();
        self.store
            .write_unguarded(job!(|conn| {
                upsert_session(conn, &session, node).await?;
                sqlx::query("DELETE FROM mqtt_session_messages WHERE client_id = $1 AND seq < $2")
                    .bind(session.client_id.clone())
                    .bind(seq_column(below))
                    .execute(&mut *conn)
                    .await?;
                insert_messages(conn, &messages).await?;
                Ok(((), Vec::new()))
            }))
            .await
            .map(|(value, _)| value)
    }

    /// Marks `client_id`'s stored session as connected again (its expiry clock stops).
    pub async fn session_connected(&self, client_id: &str) -> Result<(), RegistryError> {
        let client_id = client_id.to_owned();
        let node = self.store.cluster_node();
        self.store
            .write_unguarded(job!(|conn| {
                sqlx::query(
                    "UPDATE mqtt_sessions SET disconnected_ms = NULL, node = $2 WHERE client_id = $1",
                )
                .bind(client_id)
                .bind(node)
                    .execute(&mut *conn)
                    .await?;
                Ok(((), Vec::new()))
            }))
            .await
            .map(|(value, _)| value)
    }

    /// Adds messages owed by stored sessions (queued while their clients are away).
    pub async fn append_session_messages(
        &self,
        messages: Vec<SessionMessageRecord>,
    ) -> Result<(), RegistryError> {
        if messages.is_empty() {
            return Ok(());
        }
        self.store
            .write_unguarded(job!(|conn| {
                insert_messages(conn, &messages).await?;
                Ok(((), Vec::new()))
            }))
            .await
            .map(|(value, _)| value)
    }

    /// Forgets messages their clients have acknowledged.
    pub async fn delete_session_messages(
        &self,
        client_id: &str,
        seqs: Vec<u64>,
    ) -> Result<(), RegistryError> {
        if seqs.is_empty() {
            return Ok(());
        }
        let client_id = client_id.to_owned();
        self.store
            .write_unguarded(job!(|conn| {
                for seq in seqs {
                    sqlx::query(
                        "DELETE FROM mqtt_session_messages WHERE client_id = $1 AND seq = $2",
                    )
                    .bind(client_id.clone())
                    .bind(seq_column(seq))
                    .execute(&mut *conn)
                    .await?;
                }
                Ok(((), Vec::new()))
            }))
            .await
            .map(|(value, _)| value)
    }

    /// Forgets a session and the messages it owed (it ended: Clean Start, expiry, a
    /// disconnect with expiry 0, DeleteConnection).
    pub async fn delete_session(&self, client_id: &str) -> Result<(), RegistryError> {
        let client_id = client_id.to_owned();
        self.store
            .write_unguarded(job!(|conn| {
                for table in ["mqtt_session_messages", "mqtt_sessions"] {
                    let sql = format!("DELETE FROM {table} WHERE client_id = $1");
                    sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(client_id.clone())
                        .execute(&mut *conn)
                        .await?;
                }
                Ok(((), Vec::new()))
            }))
            .await
            .map(|(value, _)| value)
    }

    /// Which cluster node holds `client_id`'s stored session: `None` if there is none,
    /// `Some(None)` if it was written by a single node.
    pub async fn session_holder(
        &self,
        client_id: &str,
    ) -> Result<Option<Option<String>>, RegistryError> {
        let row = sqlx::query("SELECT node FROM mqtt_sessions WHERE client_id = $1")
            .bind(client_id)
            .fetch_optional(self.store.reader())
            .await?;
        row.map(|row| row::opt_text(&row, "node")).transpose()
    }

    /// `client_id`'s stored session with the messages it owes, if there is one (a cluster node
    /// takes over a session another node held).
    pub async fn stored_session(
        &self,
        client_id: &str,
    ) -> Result<Option<StoredSession>, RegistryError> {
        let sessions = sqlx::query(
            "SELECT client_id, expiry_secs, disconnected_ms, subscriptions FROM mqtt_sessions \
             WHERE client_id = $1",
        )
        .bind(client_id)
        .fetch_all(self.store.reader())
        .await?;
        let messages = sqlx::query(
            "SELECT client_id, seq, delivery FROM mqtt_session_messages WHERE client_id = $1 \
             ORDER BY seq",
        )
        .bind(client_id)
        .fetch_all(self.store.reader())
        .await?;
        Ok(with_messages(&sessions, &messages)?.pop())
    }

    /// Every stored session with the messages it owes, for the broker to load at start-up;
    /// in a cluster, those this node holds.
    pub async fn all_sessions(&self) -> Result<Vec<StoredSession>, RegistryError> {
        let node = self.store.cluster_node();
        let (sessions, messages) = match &node {
            None => (
                sqlx::query(
                    "SELECT client_id, expiry_secs, disconnected_ms, subscriptions \
                     FROM mqtt_sessions ORDER BY client_id",
                )
                .fetch_all(self.store.reader())
                .await?,
                sqlx::query(
                    "SELECT client_id, seq, delivery FROM mqtt_session_messages ORDER BY seq",
                )
                .fetch_all(self.store.reader())
                .await?,
            ),
            Some(node) => (
                sqlx::query(
                    "SELECT client_id, expiry_secs, disconnected_ms, subscriptions \
                     FROM mqtt_sessions WHERE node = $1 ORDER BY client_id",
                )
                .bind(node.clone())
                .fetch_all(self.store.reader())
                .await?,
                sqlx::query(
                    "SELECT m.client_id, m.seq, m.delivery FROM mqtt_session_messages m \
                     JOIN mqtt_sessions s ON s.client_id = m.client_id WHERE s.node = $1 \
                     ORDER BY m.seq",
                )
                .bind(node.clone())
                .fetch_all(self.store.reader())
                .await?,
            ),
        };
        with_messages(&sessions, &messages)
    }
}

/// Sessions from their rows, each with its messages' rows (in the order given).
fn with_messages(
    sessions: &[AnyRow],
    messages: &[AnyRow],
) -> Result<Vec<StoredSession>, RegistryError> {
    let mut stored: Vec<StoredSession> = sessions
        .iter()
        .map(|row| {
            Ok(StoredSession {
                session: session_from_row(row)?,
                messages: Vec::new(),
            })
        })
        .collect::<Result<_, RegistryError>>()?;
    let index: std::collections::HashMap<String, usize> = stored
        .iter()
        .enumerate()
        .map(|(i, s)| (s.session.client_id.clone(), i))
        .collect();
    for row in messages {
        let message = SessionMessageRecord {
            client_id: row::text(row, "client_id")?,
            seq: u64::try_from(row::int(row, "seq")?).unwrap_or(0),
            delivery: row::text(row, "delivery")?,
        };
        // A message without its session is ignored.
        if let Some(&i) = index.get(message.client_id.as_str()) {
            stored[i].messages.push(message);
        }
    }
    Ok(stored)
}
