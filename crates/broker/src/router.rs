//! The router: subscriptions (a topic trie), retained messages, and the sessions — online ones
//! reached through a bounded mailbox each, offline persistent ones holding their queue.
//!
//! A publishing connection routes its own messages: it matches the trie under a read lock and
//! offers each delivery to the subscriber's mailbox without waiting. A full mailbox is handed
//! back as [`Busy`]: the publisher then waits a little for room (so a subscriber that is merely
//! behind — sharing the CPU with fast publishers — loses nothing, and publishers slow down to
//! its pace). A subscriber stops taking from its mailbox while its session queue is full (it is
//! behind on acknowledgements), so that pressure reaches publishers instead of the queue
//! dropping QoS 1 messages. A mailbox that stayed full through such a wait is marked stalled;
//! further deliveries to it are dropped and counted at once until its connection drains it
//! again. So a stuck client never holds up the others for long, and memory stays bounded.
//!
//! Lock order, everywhere: `sessions`, then `mailboxes`, then `trie`; `retained` alone.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock, RwLock, RwLockWriteGuard};
use std::time::{Duration, Instant};

use roost_codec::ReasonCode;
use roost_mqtt::{
    Delivery, InterestChange, Match, MatchSet, Message, QueueLimit, RetainOutcome, RetainedLimits,
    RetainedStore, SessionKey, SessionState, SubscriptionEntry, SubscriptionFilter,
    SubscriptionTrie, TopicFilter,
};
use tokio::sync::{mpsc, oneshot};

use crate::lifecycle::DisconnectReason;
use crate::metrics::BrokerMetrics;

/// How long a new connection waits for the connection it takes over to hand its session back.
const TAKEOVER_TIMEOUT: Duration = Duration::from_secs(5);

/// Orders sent to a connection task from outside.
#[derive(Debug)]
pub enum Control {
    /// Close the connection (takeover, revocation, policy change, shutdown); `done` is told
    /// once the session has been handed back to the router.
    Close {
        reason: ReasonCode,
        /// Why, as the lifecycle event says it (and whether the will is published).
        lifecycle: DisconnectReason,
        done: Option<oneshot::Sender<()>>,
    },
    /// Re-read the policies that apply (a policy, attachment, thing or group changed).
    RefreshPolicy,
    /// Describe the connection (iot-data GetConnection and ListSubscriptions).
    Describe(oneshot::Sender<crate::connections::ConnectionInfo>),
    /// Deliver a message to this connection alone, whatever its subscriptions (iot-data
    /// SendDirectMessage); the connection's `iot:Receive` still decides. With `receipt`, the
    /// sender waits for the client's PUBACK of this delivery (QoS 1); dropping it unanswered
    /// means the connection ended first.
    ///
    /// Boxed: a channel keeps room for 32 orders per connection from the start, so the
    /// largest variant sets every connection's memory; direct messages are rare.
    Direct {
        delivery: Box<Delivery>,
        receipt: Option<oneshot::Sender<crate::connections::Receipt>>,
    },
}

/// Where a client's session is, for the iot-data connection operations.
#[derive(Debug)]
pub enum Located {
    /// Connected: ask the connection itself.
    Online(mpsc::UnboundedSender<Control>),
    /// A persistent session whose client is away.
    Offline {
        subscriptions: Vec<(String, roost_codec::QoS)>,
        session_expiry_secs: u32,
    },
}

/// What a mailbox carries: a delivery, boxed because tokio's channel reserves its first 32
/// slots when it is made, and most held connections never receive anything: 32 boxes take
/// 256 bytes of each connection's memory where 32 deliveries took 4 KiB.
pub type Posted = Box<Delivery>;

/// A connection's mailbox as the router holds it.
#[derive(Debug, Clone)]
pub struct Mailbox {
    pub sender: mpsc::Sender<Posted>,
    /// Set when a publisher gave up waiting for room; cleared by the connection as it drains.
    pub stalled: Arc<AtomicBool>,
}

/// A delivery whose mailbox was full, for the publisher to wait on.
#[derive(Debug)]
pub struct Busy {
    pub session: SessionKey,
    pub mailbox: Mailbox,
    pub delivery: Posted,
}

/// How a connection reaches its session: deliveries in, control orders in.
#[derive(Debug)]
pub struct Attachment {
    pub key: SessionKey,
    /// The stored session to resume, if the client had one.
    pub resumed: Option<SessionState>,
    /// Clean Start ended a stored session of the client (the durable copy must go too).
    pub ended_stored: bool,
}

/// A delivery queued for an offline session, to be made durable before the publisher's
/// PUBACK (see `durable_sessions`).
#[derive(Debug)]
pub struct Owed {
    pub client_id: String,
    pub delivery: Delivery,
}

/// What routing a message did beyond delivering it, for the caller to make durable.
#[derive(Debug, Default)]
#[must_use]
pub struct Routed {
    /// What storing it as retained did.
    pub retained: Option<RetainOutcome>,
    /// Numbered deliveries queued for offline sessions.
    pub owed: Vec<Owed>,
    /// In a cluster: the message, when the way to the other nodes was full (see
    /// [`Interconnect::forward`]).
    pub unforwarded: Option<Message>,
}

/// A disconnected session's durable copy.
#[derive(Debug)]
pub struct SessionSnapshot {
    pub session: roost_registry::SessionRecord,
    pub messages: Vec<roost_registry::SessionMessageRecord>,
    /// Every delivery numbered below this is in `messages` or no longer owed.
    pub below: u64,
}

enum Slot {
    Online {
        key: SessionKey,
        connection: u64,
        control: mpsc::UnboundedSender<Control>,
    },
    Offline {
        key: SessionKey,
    },
}

struct OfflineSession {
    client_id: String,
    state: SessionState,
    expires_at: Option<Instant>,
}

#[derive(Default)]
struct Sessions {
    by_client: HashMap<String, Slot>,
    offline: HashMap<SessionKey, OfflineSession>,
}

/// Counters of what routing could not deliver.
#[derive(Debug, Default)]
pub struct RouteCounters {
    /// Deliveries dropped because the subscriber's mailbox was full.
    pub mailbox_full: AtomicU64,
    /// Deliveries routed.
    pub delivered: AtomicU64,
}

/// A handle on the retained store that only asks whether a message would fit (the session
/// machine's [`roost_mqtt::Authorizer::retained_room`]); the store itself enforces the limit
/// again when the message is routed.
#[derive(Clone)]
pub struct RetainedRoom(Arc<Mutex<RetainedStore>>);

impl RetainedRoom {
    /// Whether `message` would be stored now.
    pub fn has_room(&self, message: &Message) -> bool {
        lock(&self.0).has_room(message)
    }
}

impl std::fmt::Debug for RetainedRoom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RetainedRoom").finish_non_exhaustive()
    }
}

/// What carries messages between the nodes of a cluster: it hears every message this node
/// routes on its own behalf, and which filters this node's sessions hold (so that it receives
/// from the other nodes only what someone here wants). Both are called on the routing path,
/// the second under the trie's lock: they must only queue.
pub trait Interconnect: Send + Sync {
    /// A message published on this node, already delivered here: `false` if the way out is
    /// full, for the caller to wait with [`Interconnect::forward_when_room`] (publishers slow to
    /// the cluster's pace as they slow to a full mailbox's).
    fn forward(&self, message: &Message) -> bool;
    /// Forwards `message` once there is room, or drops it (counted) after a bounded wait, as a
    /// delivery to a stalled mailbox is.
    fn forward_when_room(
        &self,
        message: Message,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>>;
    /// Filters that gained their first subscriber on this node or lost their last, in order.
    fn interest_changed(&self, changes: Vec<InterestChange>);
    /// A connection took `client_id` on this node: the other nodes end theirs, and with
    /// `clean_start` the session they held ends too (it is not stored for a later connection).
    fn session_taken(&self, client_id: &str, clean_start: bool);
    /// Before a persistent session of `client_id` starts on this node, the node that holds it
    /// hands it over: its connection is closed (0x8E) and its state written to the registry,
    /// where this node reads it. Resolves once that is done, or could not be (that node is
    /// gone: the registry then has what it last wrote).
    fn claim_session<'a>(
        &'a self,
        client_id: &'a str,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'a>>;
}

/// Which of this node's subscriptions a message that came from another node reaches.
#[derive(Debug, Clone, Copy)]
pub enum RemoteReach<'a> {
    /// The ordinary subscriptions (shared groups are served through [`RemoteReach::Group`]).
    Subscribers,
    /// One member of the shared group `group` with filter `filter`, which the cluster chose
    /// this node for.
    Group { group: &'a str, filter: &'a str },
}

/// Which subscriptions one routing reaches.
#[derive(Debug, Clone, Copy)]
enum Reach<'a> {
    /// Every matching subscription: a standalone node's own messages.
    Everyone,
    /// Ordinary subscriptions only: in a cluster, shared groups are served cluster-wide.
    Plain,
    /// One shared group.
    Group { group: &'a str, filter: &'a str },
}

/// The broker's shared routing state.
pub struct Router {
    sessions: Mutex<Sessions>,
    mailboxes: RwLock<HashMap<SessionKey, Mailbox>>,
    trie: RwLock<SubscriptionTrie>,
    retained: Arc<Mutex<RetainedStore>>,
    next_key: AtomicU64,
    /// Connections waiting in [`Router::attach`] for another to hand over their client id.
    takeovers_waiting: AtomicUsize,
    max_queued: QueueLimit,
    queue_qos0_offline: bool,
    /// Whether persistent sessions are written to the registry (`durable_sessions`).
    durable: bool,
    /// The next number of a durable delivery.
    next_stored: AtomicU64,
    pub counters: Arc<RouteCounters>,
    pub(crate) metrics: BrokerMetrics,
    /// Set once when this node joins a cluster.
    interconnect: OnceLock<Arc<dyn Interconnect>>,
}

/// The trie, locked for writing; when the lock is released, the interest changes made under
/// it go to the interconnect (in lock order, so a subscribe and an unsubscribe of one filter
/// never arrive swapped).
struct TrieWriter<'a> {
    trie: RwLockWriteGuard<'a, SubscriptionTrie>,
    interconnect: Option<&'a Arc<dyn Interconnect>>,
}

impl std::ops::Deref for TrieWriter<'_> {
    type Target = SubscriptionTrie;

    fn deref(&self) -> &SubscriptionTrie {
        &self.trie
    }
}

impl std::ops::DerefMut for TrieWriter<'_> {
    fn deref_mut(&mut self) -> &mut SubscriptionTrie {
        &mut self.trie
    }
}

impl Drop for TrieWriter<'_> {
    fn drop(&mut self) {
        if let Some(interconnect) = self.interconnect {
            let changes = self.trie.take_interest_changes();
            if !changes.is_empty() {
                interconnect.interest_changed(changes);
            }
        }
    }
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router").finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl Router {
    /// A router whose offline sessions hold at most `max_queued` each (QoS 0 only if
    /// `queue_qos0_offline`) and whose retained store stays within `retained`; `durable`
    /// numbers the QoS 1/2 deliveries queued for offline sessions, for the registry.
    pub fn new(
        max_queued: QueueLimit,
        queue_qos0_offline: bool,
        retained: RetainedLimits,
        durable: bool,
    ) -> Self {
        Self {
            sessions: Mutex::default(),
            mailboxes: RwLock::default(),
            trie: RwLock::new(SubscriptionTrie::new()),
            retained: Arc::new(Mutex::new(RetainedStore::with_limits(retained))),
            next_key: AtomicU64::new(1),
            takeovers_waiting: AtomicUsize::new(0),
            max_queued,
            queue_qos0_offline,
            durable,
            next_stored: AtomicU64::new(1),
            counters: Arc::default(),
            metrics: BrokerMetrics::new(),
            interconnect: OnceLock::new(),
        }
    }

    /// Joins this router to a cluster: from now on every message routed on this node's behalf
    /// is also forwarded, shared groups are served through the interconnect only, and the
    /// filters held here (those already held first) are reported. Only the first call counts.
    pub fn connect(&self, interconnect: Arc<dyn Interconnect>) {
        if self.interconnect.set(interconnect).is_ok() {
            self.write_trie().track_interest();
        }
    }

    /// The cluster's interconnect, if this node is part of one.
    pub fn interconnect(&self) -> Option<&Arc<dyn Interconnect>> {
        self.interconnect.get()
    }

    /// Whether this node has a session (online or offline) for `client_id`.
    pub fn holds(&self, client_id: &str) -> bool {
        lock(&self.sessions).by_client.contains_key(client_id)
    }

    /// Attaches connection `connection` to `client_id`'s session, taking over a connection
    /// that holds it (closing it with 0x8E and waiting for its session). Deliveries start
    /// flowing to `mailbox` at once.
    pub async fn attach(
        &self,
        client_id: &str,
        connection: u64,
        control: mpsc::UnboundedSender<Control>,
        mailbox: Mailbox,
        clean_start: bool,
    ) -> Attachment {
        let deadline = Instant::now() + TAKEOVER_TIMEOUT;
        loop {
            let waiting = {
                let mut sessions = lock(&self.sessions);
                match sessions.by_client.get(client_id) {
                    Some(Slot::Online { control: old, .. }) if Instant::now() < deadline => {
                        let (done, waiting) = oneshot::channel();
                        let sent = old.send(Control::Close {
                            reason: ReasonCode::SessionTakenOver,
                            lifecycle: DisconnectReason::DuplicateClientId,
                            done: Some(done),
                        });
                        if sent.is_ok() {
                            Some(waiting)
                        } else {
                            // The old task is gone without detaching (it panicked): forget it.
                            if let Some(Slot::Online { key, .. }) =
                                sessions.by_client.remove(client_id)
                            {
                                self.write_mailboxes().remove(&key);
                            }
                            None
                        }
                    }
                    Some(Slot::Online { key, .. }) => {
                        // The old connection did not hand over in time: it loses the session.
                        let key = *key;
                        tracing::warn!(
                            client_id,
                            "takeover timed out; the old connection is abandoned"
                        );
                        sessions.by_client.remove(client_id);
                        self.write_mailboxes().remove(&key);
                        None
                    }
                    Some(Slot::Offline { key }) if clean_start => {
                        // Clean Start ends the stored session: a new one, under a new key.
                        let old = *key;
                        sessions.offline.remove(&old);
                        self.write_trie().remove_all(old);
                        let key = SessionKey(self.next_key.fetch_add(1, Ordering::Relaxed));
                        sessions.by_client.insert(
                            client_id.to_owned(),
                            Slot::Online {
                                key,
                                connection,
                                control,
                            },
                        );
                        self.write_mailboxes().insert(key, mailbox);
                        return Attachment {
                            key,
                            resumed: None,
                            ended_stored: self.durable,
                        };
                    }
                    Some(Slot::Offline { key }) => {
                        let key = *key;
                        let resumed = sessions.offline.remove(&key).map(|o| o.state);
                        sessions.by_client.insert(
                            client_id.to_owned(),
                            Slot::Online {
                                key,
                                connection,
                                control,
                            },
                        );
                        self.write_mailboxes().insert(key, mailbox);
                        return Attachment {
                            key,
                            resumed,
                            ended_stored: false,
                        };
                    }
                    None => {
                        let key = SessionKey(self.next_key.fetch_add(1, Ordering::Relaxed));
                        sessions.by_client.insert(
                            client_id.to_owned(),
                            Slot::Online {
                                key,
                                connection,
                                control,
                            },
                        );
                        self.write_mailboxes().insert(key, mailbox);
                        return Attachment {
                            key,
                            resumed: None,
                            ended_stored: false,
                        };
                    }
                }
            };
            if let Some(waiting) = waiting {
                self.takeovers_waiting.fetch_add(1, Ordering::Relaxed);
                let _ = tokio::time::timeout_at(deadline.into(), waiting).await;
                self.takeovers_waiting.fetch_sub(1, Ordering::Relaxed);
            }
        }
    }

    fn write_mailboxes(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<SessionKey, Mailbox>> {
        self.mailboxes.write().unwrap_or_else(|p| p.into_inner())
    }

    fn read_mailboxes(&self) -> std::sync::RwLockReadGuard<'_, HashMap<SessionKey, Mailbox>> {
        self.mailboxes.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write_trie(&self) -> TrieWriter<'_> {
        TrieWriter {
            trie: self.trie.write().unwrap_or_else(|p| p.into_inner()),
            interconnect: self.interconnect.get(),
        }
    }

    /// Forgets every subscription of `key` (a session that starts clean or ends).
    pub fn forget_subscriptions(&self, key: SessionKey) {
        self.write_trie().remove_all(key);
    }

    /// Detaches connection `connection` from its session when it ends: a persistent session is
    /// kept offline until `expires_at`; any other is forgotten with its subscriptions.
    pub fn detach(
        &self,
        client_id: &str,
        connection: u64,
        key: SessionKey,
        session: SessionState,
        now: Instant,
    ) {
        let mut sessions = lock(&self.sessions);
        let ours = matches!(
            sessions.by_client.get(client_id),
            Some(Slot::Online { connection: c, .. }) if *c == connection
        );
        self.write_mailboxes().remove(&key);
        if !ours {
            // A newer connection already holds the client id (after a takeover timeout).
            self.write_trie().remove_all(key);
            return;
        }
        if session.is_persistent() {
            let expires_at = session.expires_at(now);
            sessions
                .by_client
                .insert(client_id.to_owned(), Slot::Offline { key });
            sessions.offline.insert(
                key,
                OfflineSession {
                    client_id: client_id.to_owned(),
                    state: session,
                    expires_at,
                },
            );
        } else {
            sessions.by_client.remove(client_id);
            self.write_trie().remove_all(key);
        }
    }

    /// Whether a new connection has resumed the session `key` of `client_id` (so its pending
    /// will must not be published, [MQTT-3.1.3-9]).
    pub fn is_resumed(&self, client_id: &str, key: SessionKey) -> bool {
        let sessions = lock(&self.sessions);
        matches!(sessions.by_client.get(client_id), Some(Slot::Online { key: k, .. }) if *k == key)
    }

    /// Queues deliveries that reached a closing connection for its now-offline session.
    pub fn deliver_offline(&self, key: SessionKey, deliveries: Vec<Delivery>, now: Instant) {
        if deliveries.is_empty() {
            return;
        }
        let mut sessions = lock(&self.sessions);
        if let Some(offline) = sessions.offline.get_mut(&key) {
            for delivery in deliveries {
                offline.state.enqueue_offline(
                    now,
                    delivery,
                    self.max_queued,
                    self.queue_qos0_offline,
                );
            }
        }
    }

    /// The durable copy of the offline session `key` (its client has just disconnected): its
    /// subscriptions, expiry, and the deliveries it owes, numbered.
    pub fn snapshot(&self, key: SessionKey) -> Option<SessionSnapshot> {
        let mut sessions = lock(&self.sessions);
        let offline = sessions.offline.get_mut(&key)?;
        offline
            .state
            .number_pending(|| self.next_stored.fetch_add(1, Ordering::Relaxed));
        let below = self.next_stored.load(Ordering::Relaxed);
        let client_id = offline.client_id.as_str();
        let messages = offline
            .state
            .pending_deliveries()
            .filter_map(|d| crate::durable_sessions::message_record(client_id, d))
            .collect();
        let session = crate::durable_sessions::session_record(
            &offline.state,
            Some(crate::retained::epoch_ms()),
        );
        Some(SessionSnapshot {
            session,
            messages,
            below,
        })
    }

    /// Restores persistent sessions (from the registry, at start-up) as offline sessions;
    /// deliveries are numbered after `last_number`.
    pub fn restore_sessions(
        &self,
        restored: impl IntoIterator<Item = crate::durable_sessions::RestoredSession>,
        last_number: u64,
    ) {
        self.next_stored
            .fetch_max(last_number.saturating_add(1), Ordering::Relaxed);
        let mut sessions = lock(&self.sessions);
        let mut trie = self.write_trie();
        for session in restored {
            let key = SessionKey(self.next_key.fetch_add(1, Ordering::Relaxed));
            let client_id = session.state.client_id().as_str().to_owned();
            for (filter, stored) in session.state.subscriptions() {
                trie.insert(key, filter, stored.entry);
            }
            sessions
                .by_client
                .insert(client_id.clone(), Slot::Offline { key });
            sessions.offline.insert(
                key,
                OfflineSession {
                    client_id,
                    state: session.state,
                    expires_at: session.expires_at,
                },
            );
        }
    }

    /// Removes offline sessions whose expiry has passed; returns their client ids.
    pub fn expire_sessions(&self, now: Instant) -> Vec<String> {
        let mut sessions = lock(&self.sessions);
        let expired: Vec<SessionKey> = sessions
            .offline
            .iter()
            .filter(|(_, o)| o.expires_at.is_some_and(|at| at <= now))
            .map(|(key, _)| *key)
            .collect();
        let mut ids = Vec::with_capacity(expired.len());
        for key in expired {
            if let Some(offline) = sessions.offline.remove(&key) {
                sessions.by_client.remove(&offline.client_id);
                self.write_trie().remove_all(key);
                ids.push(offline.client_id);
            }
        }
        ids
    }

    /// Adds or replaces a subscription.
    pub fn subscribe(
        &self,
        key: SessionKey,
        filter: &SubscriptionFilter,
        entry: SubscriptionEntry,
    ) {
        self.write_trie().insert(key, filter, entry);
    }

    /// Removes a subscription.
    pub fn unsubscribe(&self, key: SessionKey, filter: &SubscriptionFilter) {
        self.write_trie().remove(key, filter);
    }

    /// The retained messages matching `filter`, unexpired at `now`.
    pub fn retained_matching(&self, filter: &TopicFilter, now: Instant) -> Vec<Message> {
        let mut out = Vec::new();
        lock(&self.retained).matching(filter, now, &mut out);
        out
    }

    /// Drops expired retained messages.
    pub fn expire_retained(&self, now: Instant) {
        lock(&self.retained).remove_expired(now);
    }

    /// How many connections are waiting for another to hand over their client id.
    pub fn takeovers_waiting(&self) -> usize {
        self.takeovers_waiting.load(Ordering::Relaxed)
    }

    /// Number of retained messages.
    pub fn retained_count(&self) -> usize {
        lock(&self.retained).len()
    }

    /// Answers whether the retained store has room, for connections' session machines.
    pub fn retained_room(&self) -> RetainedRoom {
        RetainedRoom(self.retained.clone())
    }

    /// Routes `message` to every matching session (except the publisher's where no-local
    /// asks), and stores it if it is retained. `scratch` is the caller's reusable buffer;
    /// deliveries whose mailbox is full (and not stalled) are appended to `busy`. Returns what
    /// storing a retained message did and what was queued for offline sessions, for the
    /// caller to make them durable.
    pub fn route(
        &self,
        message: &Message,
        publisher: Option<SessionKey>,
        scratch: &mut MatchSet,
        busy: &mut Vec<Busy>,
        now: Instant,
    ) -> Routed {
        self.route_behind(message, publisher, scratch, busy, now, false)
    }

    /// [`Router::route`] for a publisher that may already have messages waiting for room on
    /// the way to the other nodes (`behind`): this one then waits behind them instead of
    /// overtaking them (it comes back as [`Routed::unforwarded`]), so that a topic's messages
    /// reach the other nodes in the order they were published.
    pub fn route_behind(
        &self,
        message: &Message,
        publisher: Option<SessionKey>,
        scratch: &mut MatchSet,
        busy: &mut Vec<Busy>,
        now: Instant,
        behind: bool,
    ) -> Routed {
        let retained = message.retain.then(|| lock(&self.retained).retain(message));
        if retained == Some(RetainOutcome::Refused) {
            self.metrics.retained_refused.increment(1);
        }
        let interconnect = self.interconnect.get();
        let reach = if interconnect.is_some() {
            Reach::Plain
        } else {
            Reach::Everyone
        };
        let owed = self.deliver(message, publisher, reach, scratch, busy, now);
        let unforwarded = interconnect
            .filter(|interconnect| behind || !interconnect.forward(message))
            .map(|_| message.clone());
        Routed {
            retained,
            owed,
            unforwarded,
        }
    }

    /// Routes a message another node of the cluster published to the subscriptions `reach`
    /// says; it is not forwarded again, and not retained here (see [`Router::retain_remote`]).
    pub fn route_remote(
        &self,
        message: &Message,
        reach: RemoteReach<'_>,
        scratch: &mut MatchSet,
        busy: &mut Vec<Busy>,
        now: Instant,
    ) -> Routed {
        let reach = match reach {
            RemoteReach::Subscribers => Reach::Plain,
            RemoteReach::Group { group, filter } => Reach::Group { group, filter },
        };
        let owed = self.deliver(message, None, reach, scratch, busy, now);
        Routed {
            retained: None,
            owed,
            unforwarded: None,
        }
    }

    /// Keeps (or, for an empty payload, removes) a retained message another node stored, so
    /// that subscribers here get it too.
    pub fn retain_remote(&self, message: &Message) {
        if lock(&self.retained).retain(message) == RetainOutcome::Refused {
            self.metrics.retained_refused.increment(1);
        }
    }

    /// Restores retained messages (from the registry, at start-up), within the store's limits.
    pub fn restore_retained(&self, messages: impl IntoIterator<Item = Message>) {
        let mut store = lock(&self.retained);
        for message in messages {
            if store.retain(&message) == RetainOutcome::Refused {
                tracing::warn!(topic = %message.topic.as_str(), "a stored retained message is beyond the retained limits; not loaded");
            }
        }
    }

    fn deliver(
        &self,
        message: &Message,
        publisher: Option<SessionKey>,
        reach: Reach<'_>,
        scratch: &mut MatchSet,
        busy: &mut Vec<Busy>,
        now: Instant,
    ) -> Vec<Owed> {
        scratch.clear();
        self.trie.read().unwrap_or_else(|p| p.into_inner()).matches(
            &message.topic,
            publisher,
            scratch,
        );
        if scratch.sessions.is_empty() && scratch.shared.is_empty() {
            return Vec::new();
        }
        let mut offline: Vec<(SessionKey, Delivery)> = Vec::new();
        {
            let mailboxes = self.read_mailboxes();
            if matches!(reach, Reach::Group { .. }) {
                scratch.sessions.clear();
            }
            for m in scratch.sessions.drain(..) {
                self.offer(&mailboxes, message, &m, &mut offline, busy);
            }
            for shared in scratch.shared.drain(..) {
                let wanted = match reach {
                    Reach::Everyone => true,
                    Reach::Plain => false,
                    Reach::Group { group, filter } => {
                        shared.group.as_str() == group && shared.filter.as_str() == filter
                    }
                };
                if !wanted {
                    continue;
                }
                let online = shared.pick(|key| mailboxes.contains_key(&key));
                let chosen = online.or_else(|| shared.pick(|_| true));
                if let Some(m) = chosen {
                    self.offer(&mailboxes, message, &m, &mut offline, busy);
                }
            }
        }
        let mut owed = Vec::new();
        if offline.is_empty() {
            return owed;
        }
        let mut sessions = lock(&self.sessions);
        for (key, mut delivery) in offline {
            if let Some(session) = sessions.offline.get_mut(&key) {
                let durable = self.durable && delivery.qos != roost_codec::QoS::AtMostOnce;
                if durable {
                    delivery.stored = Some(self.next_stored.fetch_add(1, Ordering::Relaxed));
                }
                let copy = durable.then(|| delivery.clone());
                let kept = session.state.enqueue_offline(
                    now,
                    delivery,
                    self.max_queued,
                    self.queue_qos0_offline,
                );
                if kept && let Some(delivery) = copy {
                    owed.push(Owed {
                        client_id: session.client_id.clone(),
                        delivery,
                    });
                }
            } else if let Some(mailbox) = self.read_mailboxes().get(&key) {
                // It came online in the meantime.
                let _ = mailbox.sender.try_send(Box::new(delivery));
            }
        }
        owed
    }

    fn offer(
        &self,
        mailboxes: &HashMap<SessionKey, Mailbox>,
        message: &Message,
        m: &Match,
        offline: &mut Vec<(SessionKey, Delivery)>,
        busy: &mut Vec<Busy>,
    ) {
        let delivery = Delivery::live(message.clone(), m);
        match mailboxes.get(&m.session) {
            Some(mailbox) => match mailbox.sender.try_send(Box::new(delivery)) {
                Ok(()) => {
                    self.counters.delivered.fetch_add(1, Ordering::Relaxed);
                }
                Err(mpsc::error::TrySendError::Full(delivery)) => {
                    if mailbox.stalled.load(Ordering::Relaxed) {
                        self.drop_full();
                    } else {
                        busy.push(Busy {
                            session: m.session,
                            mailbox: mailbox.clone(),
                            delivery,
                        });
                    }
                }
                Err(mpsc::error::TrySendError::Closed(delivery)) => {
                    offline.push((m.session, *delivery));
                }
            },
            None => offline.push((m.session, delivery)),
        }
    }

    /// Counts a delivery dropped at a full mailbox.
    pub fn drop_full(&self) {
        drop_full(&self.counters, &self.metrics);
    }

    /// Where `client_id`'s session is: its online connection's control channel, or the
    /// subscriptions and expiry of its stored (offline) session.
    pub fn locate(&self, client_id: &str) -> Option<Located> {
        let sessions = lock(&self.sessions);
        match sessions.by_client.get(client_id)? {
            Slot::Online { control, .. } => Some(Located::Online(control.clone())),
            Slot::Offline { key } => {
                let offline = sessions.offline.get(key)?;
                Some(Located::Offline {
                    subscriptions: crate::connections::subscriptions_of(&offline.state),
                    session_expiry_secs: offline.state.expiry_secs(),
                })
            }
        }
    }

    /// Ends `client_id`'s stored session, if it is offline (iot-data DeleteConnection with
    /// cleanSession): its subscriptions and queued messages are dropped.
    pub fn discard_offline_session(&self, client_id: &str) -> bool {
        let mut sessions = lock(&self.sessions);
        let Some(Slot::Offline { key }) = sessions.by_client.get(client_id) else {
            return false;
        };
        let key = *key;
        sessions.by_client.remove(client_id);
        sessions.offline.remove(&key);
        self.write_trie().remove_all(key);
        true
    }

    /// Client ids and control channels of every online connection.
    pub fn online_clients(&self) -> Vec<(String, mpsc::UnboundedSender<Control>)> {
        lock(&self.sessions)
            .by_client
            .iter()
            .filter_map(|(client_id, slot)| match slot {
                Slot::Online { control, .. } => Some((client_id.to_string(), control.clone())),
                Slot::Offline { .. } => None,
            })
            .collect()
    }

    /// Control channels of every online connection (for shutdown).
    pub fn online_controls(&self) -> Vec<mpsc::UnboundedSender<Control>> {
        lock(&self.sessions)
            .by_client
            .values()
            .filter_map(|slot| match slot {
                Slot::Online { control, .. } => Some(control.clone()),
                Slot::Offline { .. } => None,
            })
            .collect()
    }

    /// Number of sessions (online, offline).
    pub fn session_counts(&self) -> (usize, usize) {
        let sessions = lock(&self.sessions);
        let offline = sessions.offline.len();
        (sessions.by_client.len() - offline, offline)
    }
}

/// How long a publisher waits for room in a full mailbox before marking it stalled.
pub const BUSY_WAIT: std::time::Duration = std::time::Duration::from_millis(100);

fn drop_full(counters: &RouteCounters, metrics: &BrokerMetrics) {
    counters.mailbox_full.fetch_add(1, Ordering::Relaxed);
    metrics.deliveries_dropped_mailbox_full.increment(1);
}

/// Waits (up to [`BUSY_WAIT`] each) for room for deliveries whose mailbox was full; a mailbox
/// that stays full is marked stalled and its delivery dropped.
pub async fn wait_for_room(counters: &RouteCounters, metrics: &BrokerMetrics, busy: Vec<Busy>) {
    for Busy {
        mailbox, delivery, ..
    } in busy
    {
        if mailbox.stalled.load(Ordering::Relaxed) {
            drop_full(counters, metrics);
            continue;
        }
        match tokio::time::timeout(BUSY_WAIT, mailbox.sender.send(delivery)).await {
            Ok(Ok(())) => {
                counters.delivered.fetch_add(1, Ordering::Relaxed);
            }
            // The connection ended meanwhile; its session has what it queued.
            Ok(Err(_closed)) => {}
            Err(_elapsed) => {
                mailbox.stalled.store(true, Ordering::Relaxed);
                drop_full(counters, metrics);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use bytes::Bytes;
    use roost_codec::{PublishProperties, QoS, TopicName};
    use roost_mqtt::TopicLimits;

    use super::*;

    /// An interconnect whose way out holds `room` messages.
    #[derive(Default)]
    struct Recorded {
        room: Mutex<usize>,
        forwarded: Mutex<Vec<String>>,
        interest: Mutex<Vec<(String, bool)>>,
    }

    impl Interconnect for Recorded {
        fn forward(&self, message: &Message) -> bool {
            let mut room = self.room.lock().unwrap();
            if *room == 0 {
                return false;
            }
            *room -= 1;
            let payload = String::from_utf8_lossy(&message.payload).into_owned();
            self.forwarded.lock().unwrap().push(payload);
            true
        }

        fn forward_when_room(
            &self,
            message: Message,
        ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>> {
            let payload = String::from_utf8_lossy(&message.payload).into_owned();
            self.forwarded.lock().unwrap().push(payload);
            Box::pin(async {})
        }

        fn interest_changed(&self, changes: Vec<InterestChange>) {
            let mut interest = self.interest.lock().unwrap();
            for change in changes {
                interest.push((change.filter.to_string(), change.added));
            }
        }

        fn session_taken(&self, _client_id: &str, _clean_start: bool) {}

        fn claim_session<'a>(
            &'a self,
            _client_id: &'a str,
        ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'a>> {
            Box::pin(async {})
        }
    }

    fn router() -> Router {
        Router::new(
            QueueLimit {
                messages: 100,
                bytes: 1 << 20,
            },
            false,
            RetainedLimits::UNLIMITED,
            false,
        )
    }

    fn message(payload: &'static str) -> Message {
        Message::new(
            TopicName::new("a/b").unwrap(),
            Bytes::from_static(payload.as_bytes()),
            QoS::AtMostOnce,
            false,
            PublishProperties::default(),
            Instant::now(),
        )
    }

    fn filter(text: &str) -> SubscriptionFilter {
        SubscriptionFilter::parse(text, &TopicLimits::MQTT).unwrap()
    }

    fn entry() -> SubscriptionEntry {
        SubscriptionEntry {
            qos: QoS::AtMostOnce,
            no_local: false,
            retain_as_published: false,
            id: None,
        }
    }

    #[test]
    fn a_joined_router_reports_its_filters_and_a_publisher_behind_does_not_overtake() {
        let router = router();
        router.subscribe(SessionKey(1), &filter("a/#"), entry());
        let link = Arc::new(Recorded::default());
        router.connect(link.clone());
        router.subscribe(SessionKey(2), &filter("a/#"), entry());
        router.subscribe(SessionKey(2), &filter("$share/g/x"), entry());
        router.forget_subscriptions(SessionKey(1));
        router.forget_subscriptions(SessionKey(2));
        let mut interest = link.interest.lock().unwrap().clone();
        interest.sort();
        assert_eq!(
            interest,
            [
                ("$share/g/x".to_owned(), false),
                ("$share/g/x".to_owned(), true),
                ("a/#".to_owned(), false),
                ("a/#".to_owned(), true),
            ],
            "held filters first, then each filter's first and last subscriber only"
        );

        // One message of room: the second comes back unforwarded, and the third, published
        // behind it, waits too even though room came back meanwhile.
        *link.room.lock().unwrap() = 1;
        let (mut scratch, mut busy) = (MatchSet::new(), Vec::new());
        let mut route = |payload, behind| {
            let routed = router.route_behind(
                &message(payload),
                None,
                &mut scratch,
                &mut busy,
                Instant::now(),
                behind,
            );
            routed.unforwarded.is_some()
        };
        assert!(!route("m1", false));
        assert!(route("m2", false));
        *link.room.lock().unwrap() = 10;
        assert!(route("m3", true));
        assert_eq!(*link.forwarded.lock().unwrap(), ["m1"]);
    }

    #[tokio::test]
    async fn a_clustered_router_leaves_shared_groups_to_the_cluster() {
        let router = router();
        router.connect(Arc::new(Recorded {
            room: Mutex::new(10),
            ..Recorded::default()
        }));
        let (sender, mut mailbox) = mpsc::channel(8);
        let (control, _control) = mpsc::unbounded_channel();
        let mailbox_of = Mailbox {
            sender,
            stalled: Arc::default(),
        };
        let key = router
            .attach("member", 1, control, mailbox_of, true)
            .await
            .key;
        router.subscribe(key, &filter("$share/g/a/+"), entry());
        router.subscribe(key, &filter("a/b"), entry());
        let (mut scratch, mut busy) = (MatchSet::new(), Vec::new());

        let _ = router.route(
            &message("local"),
            None,
            &mut scratch,
            &mut busy,
            Instant::now(),
        );
        let got = mailbox.try_recv().unwrap();
        assert_eq!(
            &got.message.payload[..],
            b"local",
            "the ordinary subscription"
        );
        assert!(
            mailbox.try_recv().is_err(),
            "the shared group is served through the cluster"
        );

        let remote = router.route_remote(
            &message("remote"),
            RemoteReach::Group {
                group: "g",
                filter: "a/+",
            },
            &mut scratch,
            &mut busy,
            Instant::now(),
        );
        let got = mailbox.try_recv().unwrap();
        assert_eq!(
            &got.message.payload[..],
            b"remote",
            "the group the cluster chose us for"
        );
        assert!(
            mailbox.try_recv().is_err(),
            "and not the ordinary subscription again"
        );
        assert!(
            remote.unforwarded.is_none(),
            "a remote message is not forwarded again"
        );
    }
}
