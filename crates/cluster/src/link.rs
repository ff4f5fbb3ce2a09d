//! The link between this node's router and NATS: forwarding, interest, and what arrives.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use async_nats::connection::State;
use bytes::Bytes;
use futures_util::StreamExt;
use roost_broker::BrokerCore;
use roost_broker::router::{Interconnect, RemoteReach};
use roost_mqtt::{InterestChange, MatchSet, Message, SubscriptionFilter};
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

use crate::dedup::Dedup;
use crate::envelope::{self, Batch};
use crate::interest::{self, InterestTrie, Notice, NoticeBody, PeerInterest};
use crate::subject;

/// Messages waiting to be published on the bus; beyond this, publishers wait for room.
const OUTBOUND_CAPACITY: usize = 8_192;
/// Messages received from the bus waiting for the router.
const INBOUND_CAPACITY: usize = 4_096;
/// Most messages the publisher task takes at once.
const PUBLISH_BATCH: usize = 1_024;
/// An envelope is sent once it reaches this size (NATS's default maximum payload is 1 MiB).
const MAX_ENVELOPE: usize = 64 * 1024;
/// How long a publisher waits for room on the way to the other nodes before its message is
/// dropped there (NATS unreachable, or far slower than the publishers).
const FORWARD_WAIT: Duration = Duration::from_secs(1);
/// How long a node waits for another to hand over a client's session.
const CLAIM_TIMEOUT: Duration = Duration::from_secs(3);

/// How a node joins the bus.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// `nats://host:port` (a comma-separated list for a NATS cluster).
    pub nats_url: String,
    /// This node's name, in logs and NATS connection names.
    pub node_id: String,
    /// The first token of every subject Roost uses (several clusters can share one NATS).
    pub subject_prefix: String,
}

/// Why a node could not join.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("cannot reach NATS at {url}: {cause}")]
    Connect { url: String, cause: String },
    #[error("subscribing on NATS failed: {0}")]
    Subscribe(String),
}

/// This node's end of the bus. Cheap to clone.
#[derive(Clone)]
pub struct ClusterLink {
    inner: Arc<Inner>,
}

struct Inner {
    /// Publishes, and holds the ordinary subscriptions: with no echo, a node never receives
    /// what it published itself (it delivered it already).
    plain: async_nats::Client,
    /// Holds the queue subscriptions of shared groups; it does receive this node's own
    /// messages, since a shared group's member may be here.
    queues: async_nats::Client,
    origin: u64,
    next_sequence: AtomicU64,
    outbound: mpsc::Sender<Outbound>,
    interest: mpsc::UnboundedSender<Vec<InterestChange>>,
    /// The filters held on other nodes, and this node's shared ones (served through NATS):
    /// a message no filter here matches is not sent to the bus at all.
    wanted: RwLock<InterestTrie>,
    /// Where nodes announce their filters ([`interest`]).
    interest_subject: String,
    message_prefix: String,
    retain_subject: String,
    /// Where a connection that took a client id is announced (every node follows it).
    taken_subject: String,
    /// `<prefix>.node.`: a node answers session claims on `<prefix>.node.<its name>.claim`.
    node_prefix: String,
    node_id: String,
    registry: roost_registry::Registry,
}

impl std::fmt::Debug for ClusterLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterLink")
            .field("origin", &self.inner.origin)
            .finish_non_exhaustive()
    }
}

/// A message on its way to the bus: its number, and whether a filter elsewhere matches it (a
/// retained one is sent, to every node's store, even if none does).
struct Outbound {
    sequence: u64,
    message: Message,
    wanted: bool,
}

/// What arrived on the bus, by the subscription it came through.
enum Inbound {
    Plain(Bytes),
    Group {
        group: Arc<str>,
        filter: Arc<str>,
        payload: Bytes,
    },
    Retained(Bytes),
}

impl ClusterLink {
    /// Connects to NATS and joins `core`'s router to the cluster: from then on its messages
    /// are forwarded and its subscriptions' subjects followed.
    pub async fn join(
        options: &ClusterOptions,
        core: Arc<BrokerCore>,
    ) -> Result<ClusterLink, ClusterError> {
        let connect = |name: String, no_echo: bool| {
            let mut nats = async_nats::ConnectOptions::new()
                .name(name)
                .connection_timeout(Duration::from_secs(5))
                .retry_on_initial_connect()
                .max_reconnects(None);
            if no_echo {
                nats = nats.no_echo();
            }
            let url = options.nats_url.clone();
            async move {
                let client = nats.connect(url.as_str()).await;
                client.map_err(|e| ClusterError::Connect {
                    url: url.clone(),
                    cause: e.to_string(),
                })
            }
        };
        let plain = connect(format!("roost {}", options.node_id), true).await?;
        let queues = connect(format!("roost {} (shared)", options.node_id), false).await?;
        wait_connected(&plain, &options.nats_url).await?;
        wait_connected(&queues, &options.nats_url).await?;

        let prefix = options.subject_prefix.trim_end_matches('.');
        let (outbound, outbound_rx) = mpsc::channel(OUTBOUND_CAPACITY);
        let (interest, interest_rx) = mpsc::unbounded_channel();
        let (inbound, inbound_rx) = mpsc::channel(INBOUND_CAPACITY);
        let (origin, _) = uuid::Uuid::new_v4().as_u64_pair();
        let inner = Arc::new(Inner {
            plain,
            queues,
            origin,
            next_sequence: AtomicU64::new(1),
            outbound,
            interest,
            wanted: RwLock::new(InterestTrie::new()),
            interest_subject: format!("{prefix}.interest"),
            message_prefix: format!("{prefix}.m."),
            retain_subject: format!("{prefix}.retained"),
            taken_subject: format!("{prefix}.session.taken"),
            node_prefix: format!("{prefix}.node."),
            node_id: options.node_id.clone(),
            registry: core.registry.clone(),
        });
        serve_sessions(&inner, &core).await?;
        let (snapshot_requests, snapshot_requests_rx) = mpsc::unbounded_channel();
        follow_peers(&inner, snapshot_requests).await?;

        let retained = inner
            .plain
            .subscribe(inner.retain_subject.clone())
            .await
            .map_err(subscribe_error)?;
        let to_router = inbound.clone();
        tokio::spawn(async move {
            let mut retained = retained;
            while let Some(message) = retained.next().await {
                if to_router
                    .send(Inbound::Retained(message.payload))
                    .await
                    .is_err()
                {
                    break;
                }
            }
        });
        tokio::spawn(publish(inner.clone(), outbound_rx));
        tokio::spawn(follow_interest(
            inner.clone(),
            interest_rx,
            snapshot_requests_rx,
            inbound,
        ));
        tokio::spawn(route_inbound(core.clone(), origin, inbound_rx));

        let link = ClusterLink { inner };
        core.router.connect(Arc::new(link.clone()));
        tracing::info!(node = %options.node_id, nats = %options.nats_url, "joined the cluster's message bus");
        Ok(link)
    }

    /// Checks every `period` that this node reaches PostgreSQL and NATS; while it does not, it
    /// refuses new connections with the reason (and `/health` says it), and takes them again
    /// once both answer.
    pub fn watch_dependencies(&self, core: Arc<BrokerCore>, period: Duration) {
        let link = self.clone();
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(period);
            loop {
                ticker.tick().await;
                let registry = tokio::time::timeout(
                    period.max(Duration::from_secs(1)),
                    core.registry.is_reachable(),
                );
                let reason = if !matches!(registry.await, Ok(true)) {
                    Some("this node cannot reach the cluster's PostgreSQL registry")
                } else if !link.is_connected() {
                    Some("this node cannot reach the cluster's NATS")
                } else {
                    None
                };
                if core.availability.set(reason.map(str::to_owned)) {
                    match reason {
                        Some(reason) => tracing::warn!(reason, "refusing new connections"),
                        None => tracing::info!(
                            "PostgreSQL and NATS reachable again: taking new connections"
                        ),
                    }
                }
            }
        });
    }

    /// Whether both connections to NATS are up now.
    pub fn is_connected(&self) -> bool {
        self.inner.plain.connection_state() == State::Connected
            && self.inner.queues.connection_state() == State::Connected
    }
}

impl Inner {
    /// Whether `message` must go to the bus, and whether any node's filter wants it there.
    fn must_send(&self, message: &Message) -> Option<bool> {
        let wanted = self
            .wanted
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .wants(message.topic.as_str());
        (wanted || message.retain).then_some(wanted)
    }
}

impl Interconnect for ClusterLink {
    fn forward(&self, message: &Message) -> bool {
        let Some(wanted) = self.inner.must_send(message) else {
            return true;
        };
        let sequence = self.inner.next_sequence.fetch_add(1, Ordering::Relaxed);
        let outbound = Outbound {
            sequence,
            message: message.clone(),
            wanted,
        };
        match self.inner.outbound.try_send(outbound) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                // Numbered again when it is sent: a number is never used twice.
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                metrics::counter!("roost_cluster_forward_dropped_total").increment(1);
                true
            }
        }
    }

    fn forward_when_room(
        &self,
        message: Message,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>> {
        Box::pin(async move {
            let Some(wanted) = self.inner.must_send(&message) else {
                return;
            };
            let sequence = self.inner.next_sequence.fetch_add(1, Ordering::Relaxed);
            let sent = self.inner.outbound.send(Outbound {
                sequence,
                message,
                wanted,
            });
            if !matches!(tokio::time::timeout(FORWARD_WAIT, sent).await, Ok(Ok(()))) {
                metrics::counter!("roost_cluster_forward_dropped_total").increment(1);
            }
        })
    }

    fn interest_changed(&self, changes: Vec<InterestChange>) {
        let _ = self.inner.interest.send(changes);
    }

    fn session_taken(&self, client_id: &str, clean_start: bool) {
        let inner = self.inner.clone();
        let mut payload = Vec::with_capacity(1 + client_id.len());
        payload.push(u8::from(clean_start));
        payload.extend_from_slice(client_id.as_bytes());
        let payload = Bytes::from(payload);
        tokio::spawn(async move {
            if let Err(error) = inner
                .plain
                .publish(inner.taken_subject.clone(), payload)
                .await
            {
                tracing::warn!(%error, "announcing a client id taken on this node failed");
            }
        });
    }

    fn claim_session<'a>(
        &'a self,
        client_id: &'a str,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'a>> {
        Box::pin(async move {
            let inner = &self.inner;
            let holder = match inner.registry.session_holder(client_id).await {
                Ok(Some(Some(node))) if node != inner.node_id => node,
                Ok(_) => return,
                Err(error) => {
                    tracing::warn!(%error, "reading which node holds a session failed");
                    return;
                }
            };
            let subject = format!("{}{}.claim", inner.node_prefix, subject::token(&holder));
            let payload = Bytes::copy_from_slice(client_id.as_bytes());
            let asked = tokio::time::timeout(CLAIM_TIMEOUT, inner.plain.request(subject, payload));
            match asked.await {
                Ok(Ok(_)) => tracing::debug!(node = %holder, "session handed over"),
                // No responders: that node is gone; the registry has what it last wrote.
                Ok(Err(error)) => {
                    tracing::info!(node = %holder, %error, "the node that held the session did not answer; taking it from the registry")
                }
                Err(_) => {
                    tracing::warn!(node = %holder, "the node that held the session did not hand it over in time; taking it from the registry")
                }
            }
        })
    }
}

/// Answers the other nodes about sessions: a claim (a client whose persistent session is here
/// reconnected elsewhere) is answered once the session is handed over; an announcement that
/// a client id was taken elsewhere ends this node's connection and session of it.
async fn serve_sessions(inner: &Arc<Inner>, core: &Arc<BrokerCore>) -> Result<(), ClusterError> {
    let claims_subject = format!(
        "{}{}.claim",
        inner.node_prefix,
        subject::token(&inner.node_id)
    );
    let mut claims = inner
        .plain
        .subscribe(claims_subject)
        .await
        .map_err(subscribe_error)?;
    let mut taken = inner
        .plain
        .subscribe(inner.taken_subject.clone())
        .await
        .map_err(subscribe_error)?;
    let (client, owner) = (inner.plain.clone(), core.clone());
    tokio::spawn(async move {
        while let Some(claim) = claims.next().await {
            let (client, core) = (client.clone(), owner.clone());
            tokio::spawn(async move {
                if let Ok(client_id) = std::str::from_utf8(&claim.payload) {
                    core.hand_over_session(client_id).await;
                }
                if let Some(reply) = claim.reply {
                    let _ = client.publish(reply, Bytes::new()).await;
                }
            });
        }
    });
    let core = core.clone();
    tokio::spawn(async move {
        while let Some(announced) = taken.next().await {
            let core = core.clone();
            tokio::spawn(async move {
                // `clean start u8 | client id`.
                let Some((&clean_start, client_id)) = announced.payload.split_first() else {
                    return;
                };
                if let Ok(client_id) = std::str::from_utf8(client_id)
                    && core.router.holds(client_id)
                {
                    if clean_start == 1 {
                        core.end_taken_session(client_id).await;
                    } else {
                        core.hand_over_session(client_id).await;
                    }
                }
            });
        }
    });
    Ok(())
}

fn subscribe_error(error: async_nats::SubscribeError) -> ClusterError {
    ClusterError::Subscribe(error.to_string())
}

async fn wait_connected(client: &async_nats::Client, url: &str) -> Result<(), ClusterError> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while client.connection_state() != State::Connected {
        if Instant::now() > deadline {
            return Err(ClusterError::Connect {
                url: url.to_owned(),
                cause: "no connection within 10 s".into(),
            });
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// Publishes forwarded messages: what has gathered since the last wake-up goes as one
/// envelope per subject (a topic's messages keep their order), retained ones also in one
/// envelope on the retained subject.
async fn publish(inner: Arc<Inner>, mut outbound: mpsc::Receiver<Outbound>) {
    let mut taken = Vec::with_capacity(PUBLISH_BATCH);
    // Envelopes by topic (a subject is computed once per topic and wake-up).
    let mut slots: HashMap<roost_mqtt::TopicName, usize> = HashMap::new();
    while outbound.recv_many(&mut taken, PUBLISH_BATCH).await > 0 {
        let now = Instant::now();
        let mut envelopes: Vec<(String, Batch)> = Vec::new();
        let mut retained: Option<Batch> = None;
        slots.clear();
        for Outbound {
            sequence,
            message,
            wanted,
        } in taken.drain(..)
        {
            if message.retain {
                let batch = retained.get_or_insert_with(|| Batch::new(inner.origin));
                if batch.size() >= MAX_ENVELOPE {
                    let full = std::mem::replace(batch, Batch::new(inner.origin));
                    send(&inner, inner.retain_subject.clone(), full).await;
                }
                batch.push(sequence, &message, now);
            }
            if !wanted {
                continue;
            }
            let slot = *slots.entry(message.topic.clone()).or_insert_with(|| {
                let subject = subject::topic_subject(&inner.message_prefix, message.topic.as_str());
                envelopes.push((subject, Batch::new(inner.origin)));
                envelopes.len() - 1
            });
            if envelopes[slot].1.size() >= MAX_ENVELOPE {
                let full = std::mem::replace(&mut envelopes[slot].1, Batch::new(inner.origin));
                send(&inner, envelopes[slot].0.clone(), full).await;
            }
            envelopes[slot].1.push(sequence, &message, now);
        }
        for (subject, batch) in envelopes {
            send(&inner, subject, batch).await;
        }
        if let Some(retained) = retained {
            send(&inner, inner.retain_subject.clone(), retained).await;
        }
    }
}

/// Sends one envelope (nothing for an empty batch).
async fn send(inner: &Inner, subject: String, batch: Batch) {
    if batch.is_empty() {
        return;
    }
    let count = batch.len() as u64;
    match inner.plain.publish(subject, batch.finish()).await {
        Ok(()) => metrics::counter!("roost_cluster_messages_sent_total").increment(count),
        Err(error) => {
            metrics::counter!("roost_cluster_forward_dropped_total").increment(count);
            tracing::warn!(%error, "messages were not forwarded to the cluster");
        }
    }
}

/// A NATS subscription of this node and how many of its filters need it.
struct Held {
    filters: usize,
    reader: AbortHandle,
}

/// The subject on which node `origin` receives the snapshots it asked for.
fn snapshot_subject(interest_subject: &str, origin: u64) -> String {
    format!("{interest_subject}.to.{origin:016x}")
}

/// Follows the other nodes' announcements of their filters into [`Inner::wanted`], asks a
/// node whose view here is incomplete for a snapshot, passes on requests for this node's
/// snapshot, and forgets nodes gone silent. Asks every node for its snapshot once subscribed.
async fn follow_peers(
    inner: &Arc<Inner>,
    snapshot_requests: mpsc::UnboundedSender<u64>,
) -> Result<(), ClusterError> {
    // Snapshots come to this node alone, on their own subject: a node that joins a cluster of
    // N asks N snapshots, which the others need not receive.
    let mut snapshots = inner
        .plain
        .subscribe(snapshot_subject(&inner.interest_subject, inner.origin))
        .await
        .map_err(subscribe_error)?;
    let mut notices = inner
        .plain
        .subscribe(inner.interest_subject.clone())
        .await
        .map_err(subscribe_error)?;
    let inner = inner.clone();
    tokio::spawn(async move {
        let started = Instant::now();
        let mut peers = PeerInterest::new();
        let mut ticker = tokio::time::interval(interest::HEARTBEAT);
        announce(&inner, 0, NoticeBody::SyncRequest { target: 0 }).await;
        loop {
            let notice = tokio::select! {
                // Both subscriptions are filled in the order their messages came on the one
                // connection: taking snapshots first keeps a snapshot before the changes its
                // sender made after it.
                biased;
                received = snapshots.next() => match received {
                    Some(received) => received,
                    None => break,
                },
                received = notices.next() => match received {
                    Some(received) => received,
                    None => break,
                },
                _ = ticker.tick() => {
                    let mut wanted = inner.wanted.write().unwrap_or_else(|p| p.into_inner());
                    let forgotten = peers.forget_silent(&mut wanted, started.elapsed());
                    if forgotten > 0 {
                        tracing::info!(forgotten, "nodes silent on the bus are no longer sent messages");
                    }
                    continue;
                }
            };
            let notice = match Notice::decode(&notice.payload) {
                Ok(notice) => notice,
                Err(error) => {
                    tracing::warn!(%error, "an unreadable interest notice was dropped");
                    continue;
                }
            };
            if let NoticeBody::SyncRequest { target } = notice.body
                && (target == 0 || target == inner.origin)
            {
                let _ = snapshot_requests.send(notice.origin);
            }
            let ask = {
                let mut wanted = inner.wanted.write().unwrap_or_else(|p| p.into_inner());
                peers.apply(notice, &mut wanted, started.elapsed())
            };
            if let Some(target) = ask {
                announce(&inner, 0, NoticeBody::SyncRequest { target }).await;
            }
        }
    });
    Ok(())
}

/// Publishes one interest notice of this node to every node.
async fn announce(inner: &Inner, sequence: u64, body: NoticeBody) {
    announce_on(inner, inner.interest_subject.clone(), sequence, body).await;
}

async fn announce_on(inner: &Inner, subject: String, sequence: u64, body: NoticeBody) {
    let notice = Notice {
        origin: inner.origin,
        sequence,
        body,
    };
    let payload = Bytes::from(notice.encode());
    if let Err(error) = inner.plain.publish(subject, payload).await {
        // The others find the gap at the next heartbeat and ask for a snapshot.
        tracing::debug!(%error, "an interest notice was not sent");
    }
}

/// Keeps this node's NATS subscriptions to what its sessions' filters need, and tells the
/// other nodes which filters it holds (changes as they come, a snapshot when asked, and a
/// heartbeat).
async fn follow_interest(
    inner: Arc<Inner>,
    mut changes: mpsc::UnboundedReceiver<Vec<InterestChange>>,
    mut snapshot_requests: mpsc::UnboundedReceiver<u64>,
    inbound: mpsc::Sender<Inbound>,
) {
    // Keyed by (queue group, subject); no queue group for ordinary subscriptions.
    let mut held: HashMap<(Option<String>, String), Held> = HashMap::new();
    // This node's filters as announced (a filter held plainly and in a group counts twice).
    let mut announced: HashMap<String, u32> = HashMap::new();
    let mut sequence = 0;
    let mut heartbeat = tokio::time::interval(interest::HEARTBEAT);
    loop {
        let list = tokio::select! {
            list = changes.recv() => match list {
                Some(list) => list,
                None => break,
            },
            Some(requester) = snapshot_requests.recv() => {
                let subject = snapshot_subject(&inner.interest_subject, requester);
                for chunk in interest::snapshot(inner.origin, sequence, &announced) {
                    announce_on(&inner, subject.clone(), sequence, chunk.body).await;
                }
                continue;
            }
            _ = heartbeat.tick() => {
                announce(&inner, sequence, NoticeBody::Heartbeat).await;
                continue;
            }
        };
        let mut notice = Vec::with_capacity(list.len());
        for change in list {
            let filter = change.filter.filter().as_str().to_owned();
            if change.added {
                *announced.entry(filter.clone()).or_default() += 1;
            } else if let Some(count) = announced.get_mut(&filter) {
                *count -= 1;
                if *count == 0 {
                    announced.remove(&filter);
                }
            }
            notice.push((change.added, filter));
            let (queue, target) = match &change.filter {
                SubscriptionFilter::Plain(_) => (None, None),
                SubscriptionFilter::Shared(shared) => {
                    let filter = &shared.filter;
                    let group = shared.group.as_str();
                    // Shared groups are served through NATS, this node's own members too.
                    let mut wanted = inner.wanted.write().unwrap_or_else(|p| p.into_inner());
                    if change.added {
                        wanted.add(filter.as_str());
                    } else {
                        wanted.remove(filter.as_str());
                    }
                    (
                        Some(subject::queue_group(group, filter)),
                        Some((Arc::<str>::from(group), Arc::<str>::from(filter.as_str()))),
                    )
                }
            };
            for subject in subject::filter_subjects(&inner.message_prefix, change.filter.filter()) {
                let key = (queue.clone(), subject);
                if change.added {
                    if let Some(h) = held.get_mut(&key) {
                        h.filters += 1;
                        continue;
                    }
                    match subscribe(&inner, &key, target.clone(), inbound.clone()).await {
                        Ok(reader) => {
                            held.insert(key, Held { filters: 1, reader });
                        }
                        Err(error) => {
                            tracing::error!(%error, subject = %key.1, "subscribing on NATS failed; messages from other nodes on it are not received")
                        }
                    }
                } else if let Some(h) = held.get_mut(&key) {
                    h.filters -= 1;
                    if h.filters == 0 {
                        // Dropping the subscriber unsubscribes.
                        h.reader.abort();
                        held.remove(&key);
                    }
                }
            }
        }
        if !notice.is_empty() {
            sequence += 1;
            announce(&inner, sequence, NoticeBody::Changes(notice)).await;
        }
    }
}

async fn subscribe(
    inner: &Inner,
    (queue, subject): &(Option<String>, String),
    group: Option<(Arc<str>, Arc<str>)>,
    inbound: mpsc::Sender<Inbound>,
) -> Result<AbortHandle, async_nats::SubscribeError> {
    let mut subscriber = match queue {
        None => inner.plain.subscribe(subject.clone()).await?,
        Some(queue) => {
            inner
                .queues
                .queue_subscribe(subject.clone(), queue.clone())
                .await?
        }
    };
    let reader = tokio::spawn(async move {
        while let Some(message) = subscriber.next().await {
            let item = match &group {
                None => Inbound::Plain(message.payload),
                Some((group, filter)) => Inbound::Group {
                    group: group.clone(),
                    filter: filter.clone(),
                    payload: message.payload,
                },
            };
            if inbound.send(item).await.is_err() {
                break;
            }
        }
    });
    Ok(reader.abort_handle())
}

/// Routes what arrives to this node's subscribers.
async fn route_inbound(core: Arc<BrokerCore>, origin: u64, mut inbound: mpsc::Receiver<Inbound>) {
    let mut dedup = Dedup::new();
    let mut scratch = MatchSet::new();
    while let Some(item) = inbound.recv().await {
        let bytes = match &item {
            Inbound::Plain(b) | Inbound::Retained(b) => b,
            Inbound::Group { payload, .. } => payload,
        };
        let messages = match envelope::decode(bytes, Instant::now()) {
            Ok(messages) => messages,
            Err(error) => {
                tracing::warn!(%error, "an unreadable message on the cluster bus was dropped");
                continue;
            }
        };
        metrics::counter!("roost_cluster_messages_received_total").increment(messages.len() as u64);
        for (stamp, message) in messages {
            match &item {
                Inbound::Retained(_) => {
                    if stamp.origin != origin {
                        core.router.retain_remote(&message);
                    }
                }
                Inbound::Plain(_) => {
                    if !dedup.first_time(stamp) {
                        metrics::counter!("roost_cluster_duplicates_dropped_total").increment(1);
                        continue;
                    }
                    core.route_from_cluster(&message, RemoteReach::Subscribers, &mut scratch)
                        .await;
                }
                Inbound::Group { group, filter, .. } => {
                    let reach = RemoteReach::Group { group, filter };
                    core.route_from_cluster(&message, reach, &mut scratch).await;
                }
            }
        }
    }
}
