//! The iot-data connection operations, answered from the broker's live sessions:
//! GetConnection and ListSubscriptions ask the connection itself (or read the stored session
//! of a client that is away), DeleteConnection closes it, SendDirectMessage delivers to it
//! alone (and, asked for a confirmation, waits for the client's PUBACK of it).

use std::time::Duration;

use bytes::Bytes;
use roost_codec::QoS;
use roost_mqtt::{Delivery, SessionState};

use crate::lifecycle::DisconnectReason;
use crate::router::{Control, Located};
use crate::{ApiProperties, ApiPublishError, BrokerCore};

/// Longest a connection may take to describe itself or to close.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

/// What GetConnection and ListSubscriptions report of a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionInfo {
    pub client_id: String,
    pub connected: bool,
    /// The thing the connection acts as, when exclusively attached.
    pub thing_name: Option<String>,
    /// Whether the session ends with the connection.
    pub clean_session: bool,
    pub keep_alive_secs: Option<u64>,
    pub session_expiry_secs: u32,
    /// When the connection was accepted, epoch milliseconds (connected clients only).
    pub connected_since_ms: Option<i64>,
    pub source_ip: Option<String>,
    pub source_port: Option<u16>,
    /// Filters as written (`$share/g/…` for shared ones) with their granted QoS.
    pub subscriptions: Vec<(String, QoS)>,
    /// Who is connected: the certificate id, or the access key of a signed WebSocket
    /// connection (connected clients of the secure listeners only).
    pub principal: Option<String>,
    /// `MQTT 3.1`, `MQTT 3.1.1` or `MQTT 5.0` (connected clients only).
    pub protocol: Option<&'static str>,
    /// `mqtts` (TLS with a certificate), `websocket` (signed) or `mqtt` (the insecure
    /// development listener); connected clients only.
    pub transport: Option<&'static str>,
}

/// A page of the live connections, by client id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionPage {
    pub connections: Vec<ConnectionInfo>,
    /// The last client id of this page, when more follow it.
    pub last: Option<String>,
}

/// A session's subscriptions as iot-data lists them.
pub(crate) fn subscriptions_of(session: &SessionState) -> Vec<(String, QoS)> {
    session
        .subscriptions()
        .map(|(filter, stored)| (filter.to_string(), stored.entry.qos))
        .collect()
}

impl BrokerCore {
    /// GetConnection / ListSubscriptions: `None` when the broker has no session of
    /// `client_id`.
    pub async fn describe_connection(&self, client_id: &str) -> Option<ConnectionInfo> {
        match self.router.locate(client_id)? {
            Located::Online(control) => {
                let (reply, answer) = tokio::sync::oneshot::channel();
                control.send(Control::Describe(reply)).ok()?;
                tokio::time::timeout(ANSWER_TIMEOUT, answer)
                    .await
                    .ok()?
                    .ok()
            }
            Located::Offline {
                subscriptions,
                session_expiry_secs,
            } => Some(ConnectionInfo {
                client_id: client_id.to_owned(),
                connected: false,
                thing_name: None,
                clean_session: false,
                keep_alive_secs: None,
                session_expiry_secs,
                connected_since_ms: None,
                source_ip: None,
                source_port: None,
                subscriptions,
                principal: None,
                protocol: None,
                transport: None,
            }),
        }
    }

    /// The live connections whose client ids sort after `after`, at most `limit` of them (the
    /// console's list; iot-data has no list operation). A client that leaves while it is asked
    /// is left out.
    pub async fn list_connections(&self, after: Option<&str>, limit: usize) -> ConnectionPage {
        let mut online = self.router.online_clients();
        online.retain(|(client_id, _)| after.is_none_or(|after| client_id.as_str() > after));
        online.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let more = online.len() > limit;
        online.truncate(limit);
        let last = more
            .then(|| online.last().map(|(id, _)| id.clone()))
            .flatten();
        // Every connection is asked first, then the answers collected: they describe
        // themselves concurrently, each on its own task.
        let pending: Vec<_> = online
            .into_iter()
            .filter_map(|(_, control)| {
                let (reply, answer) = tokio::sync::oneshot::channel();
                control.send(Control::Describe(reply)).ok()?;
                Some(answer)
            })
            .collect();
        let deadline = tokio::time::Instant::now() + ANSWER_TIMEOUT;
        let mut connections = Vec::with_capacity(pending.len());
        for answer in pending {
            if let Ok(Ok(info)) = tokio::time::timeout_at(deadline, answer).await {
                connections.push(info);
            }
        }
        ConnectionPage { connections, last }
    }

    /// DeleteConnection: closes `client_id`'s connection (lifecycle `API_INITIATED_DISCONNECT`,
    /// the will published unless `prevent_will`) and, with `clean_session`, ends its stored
    /// session too. False when the broker has no session of `client_id`.
    pub async fn delete_connection(
        &self,
        client_id: &str,
        clean_session: bool,
        prevent_will: bool,
    ) -> bool {
        match self.router.locate(client_id) {
            None => false,
            Some(Located::Offline { .. }) => {
                if clean_session {
                    self.end_stored_session(client_id).await;
                }
                true
            }
            Some(Located::Online(control)) => {
                let (done, closed) = tokio::sync::oneshot::channel();
                let order = Control::Close {
                    reason: roost_codec::ReasonCode::AdministrativeAction,
                    lifecycle: DisconnectReason::ApiInitiated { prevent_will },
                    done: Some(done),
                };
                if control.send(order).is_err() {
                    return false;
                }
                let _ = tokio::time::timeout(ANSWER_TIMEOUT, closed).await;
                if clean_session {
                    self.end_stored_session(client_id).await;
                }
                true
            }
        }
    }

    /// Ends `client_id`'s offline session, and its durable copy.
    async fn end_stored_session(&self, client_id: &str) {
        if self.router.discard_offline_session(client_id)
            && self.config.durable_sessions
            && let Err(error) = self.registry.delete_session(client_id).await
        {
            tracing::error!(%error, "deleting the stored session failed");
        }
    }

    /// SendDirectMessage: delivers `payload` on `topic` to `client_id`'s connection alone, if
    /// it is connected (its `iot:Receive` still decides). Without `confirm_within` the message
    /// goes at QoS 0 and this returns once the connection has it; with it, at QoS 1, and this
    /// waits that long for the client's PUBACK.
    pub async fn send_direct_message(
        &self,
        client_id: &str,
        topic: &str,
        payload: Bytes,
        properties: ApiProperties,
        confirm_within: Option<Duration>,
    ) -> Result<DirectOutcome, ApiPublishError> {
        let qos = match confirm_within {
            Some(_) => QoS::AtLeastOnce,
            None => QoS::AtMostOnce,
        };
        let message = self.api_message(topic, payload, qos, false, properties)?;
        let Some(Located::Online(control)) = self.router.locate(client_id) else {
            return Ok(DirectOutcome::NotConnected);
        };
        let delivery = Box::new(Delivery {
            qos,
            retain: false,
            subscription_ids: Vec::new(),
            stored: None,
            message,
        });
        let Some(wait) = confirm_within else {
            let order = Control::Direct {
                delivery,
                receipt: None,
            };
            return Ok(match control.send(order) {
                Ok(()) => DirectOutcome::Sent,
                Err(_) => DirectOutcome::NotConnected,
            });
        };
        let (receipt, answer) = tokio::sync::oneshot::channel();
        let order = Control::Direct {
            delivery,
            receipt: Some(receipt),
        };
        if control.send(order).is_err() {
            return Ok(DirectOutcome::NotConnected);
        }
        Ok(match tokio::time::timeout(wait, answer).await {
            Ok(Ok(Receipt::Acknowledged)) => DirectOutcome::Acknowledged,
            Ok(Ok(Receipt::NotAuthorized)) => DirectOutcome::NotAuthorized,
            Ok(Err(_)) => DirectOutcome::Disconnected,
            Err(_) => DirectOutcome::Unacknowledged,
        })
    }
}

/// What a connection tells the sender of a direct message that waits for confirmation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Receipt {
    /// The client sent the PUBACK of the delivery.
    Acknowledged,
    /// The connection's policies do not allow `iot:Receive` on the topic: nothing was sent.
    NotAuthorized,
}

/// What became of a SendDirectMessage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirectOutcome {
    /// Handed to the connection at QoS 0 (no confirmation asked).
    Sent,
    /// The client acknowledged it (PUBACK).
    Acknowledged,
    /// The client is not connected.
    NotConnected,
    /// The connection's policies do not allow it to receive on the topic (reported when a
    /// confirmation was asked; otherwise the message is dropped as for any publish).
    NotAuthorized,
    /// No PUBACK came in the time allowed.
    Unacknowledged,
    /// The connection ended before the client acknowledged it.
    Disconnected,
}
