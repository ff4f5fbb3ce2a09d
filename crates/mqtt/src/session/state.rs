//! The part of a session that outlives its connection ([MQTT-4.1.0]): subscriptions, queued and
//! in-flight messages, and QoS 2 packet identifiers awaiting PUBREL.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use roost_codec::{PacketId, QoS, RetainHandling};

use super::settings::QueueLimit;
use crate::message::Delivery;
use crate::topic::SubscriptionFilter;
use crate::trie::SubscriptionEntry;

/// A client identifier: non-empty, at most the configured length (checked at CONNECT).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientId(Arc<str>);

impl ClientId {
    /// Wraps an identifier; [`super::Connection::accept`] is where the length rules apply.
    pub fn new(id: &str) -> Self {
        Self(Arc::from(id))
    }

    /// The identifier as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A subscription as the session remembers it, to report on resume and to answer "did this
/// subscription already exist" for Retain Handling 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredSubscription {
    /// What the router needs.
    pub entry: SubscriptionEntry,
    /// Retain Handling as requested.
    pub retain_handling: RetainHandling,
}

/// Where an outgoing QoS 1/2 delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutgoingStage {
    /// QoS 1 PUBLISH sent, waiting for PUBACK.
    AwaitingPubAck,
    /// QoS 2 PUBLISH sent, waiting for PUBREC.
    AwaitingPubRec,
    /// PUBREL sent, waiting for PUBCOMP (the message itself is no longer needed).
    AwaitingPubComp,
}

#[derive(Debug, Clone)]
pub(crate) struct Outgoing {
    pub(crate) delivery: Delivery,
    pub(crate) stage: OutgoingStage,
    /// Send order, so that a resumed session resends in the original order (§4.6).
    pub(crate) seq: u64,
}

/// Why messages meant for this session were not delivered, counted since the session began.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DropCounts {
    /// Dropped because the queue was full (QoS 0 first, then the new message).
    pub queue_full: u64,
    /// Expired while queued ([MQTT-3.3.2-5]).
    pub expired: u64,
    /// Larger than the client's Maximum Packet Size ([MQTT-3.1.2-25]).
    pub too_large: u64,
    /// QoS 0 while the client was away and QoS 0 is not queued then.
    pub offline_qos0: u64,
    /// Refused by the authorizer's receive check.
    pub not_authorized: u64,
}

/// The queue of deliveries waiting for an inflight slot or for the client to come back. It
/// counts its QoS 0 and expiring messages, so that a full queue — the common case under
/// overload — is handled without scanning it on every new message.
#[derive(Debug, Clone, Default)]
pub(crate) struct DeliveryQueue {
    items: VecDeque<Delivery>,
    qos0: usize,
    expiring: usize,
    bytes: usize,
}

/// The bytes a queued delivery is charged for: its topic and payload.
fn queued_bytes(d: &Delivery) -> usize {
    d.message.topic.as_str().len() + d.message.payload.len()
}

impl DeliveryQueue {
    fn count(&mut self, d: &Delivery, add: bool) {
        let (qos0, expiring, bytes) = (
            usize::from(d.qos == QoS::AtMostOnce),
            usize::from(d.message.expires_at.is_some()),
            queued_bytes(d),
        );
        if add {
            self.qos0 += qos0;
            self.expiring += expiring;
            self.bytes += bytes;
        } else {
            self.qos0 -= qos0;
            self.expiring -= expiring;
            self.bytes -= bytes;
        }
    }

    /// Whether `d` fits beside what is queued under `limit`.
    fn has_room(&self, d: &Delivery, limit: QueueLimit) -> bool {
        self.items.len() < limit.messages
            && self.bytes.saturating_add(queued_bytes(d)) <= limit.bytes
    }

    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    pub(crate) fn push_back(&mut self, d: Delivery) {
        self.count(&d, true);
        self.items.push_back(d);
    }

    pub(crate) fn push_front(&mut self, d: Delivery) {
        self.count(&d, true);
        self.items.push_front(d);
    }

    pub(crate) fn pop_front(&mut self) -> Option<Delivery> {
        let d = self.items.pop_front()?;
        self.count(&d, false);
        Some(d)
    }

    /// Keeps the deliveries `keep` accepts; returns how many were removed.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&Delivery) -> bool) -> usize {
        let before = self.items.len();
        self.items.retain(|d| keep(d));
        self.qos0 = self
            .items
            .iter()
            .filter(|d| d.qos == QoS::AtMostOnce)
            .count();
        self.expiring = self
            .items
            .iter()
            .filter(|d| d.message.expires_at.is_some())
            .count();
        self.bytes = self.items.iter().map(queued_bytes).sum();
        before - self.items.len()
    }

    #[cfg(test)]
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Delivery> {
        self.items.iter()
    }

    /// Removes the oldest QoS 0 delivery; false if there is none.
    fn remove_oldest_qos0(&mut self) -> bool {
        if self.qos0 == 0 {
            return false;
        }
        match self.items.iter().position(|d| d.qos == QoS::AtMostOnce) {
            Some(i) => {
                if let Some(d) = self.items.remove(i) {
                    self.count(&d, false);
                }
                true
            }
            None => false,
        }
    }
}

/// The state of a session that survives disconnection, to be resumed by the next connection with
/// the same client identifier until it expires.
#[derive(Debug, Clone)]
pub struct SessionState {
    pub(crate) client_id: ClientId,
    pub(crate) subscriptions: BTreeMap<SubscriptionFilter, StoredSubscription>,
    pub(crate) queue: DeliveryQueue,
    pub(crate) outgoing: BTreeMap<PacketId, Outgoing>,
    pub(crate) incoming_qos2: BTreeSet<PacketId>,
    pub(crate) expiry_secs: u32,
    pub(crate) next_packet_id: u16,
    pub(crate) next_seq: u64,
    pub(crate) dropped: DropCounts,
}

impl SessionState {
    /// A new, empty session.
    pub fn new(client_id: ClientId) -> Self {
        Self {
            client_id,
            subscriptions: BTreeMap::new(),
            queue: DeliveryQueue::default(),
            outgoing: BTreeMap::new(),
            incoming_qos2: BTreeSet::new(),
            expiry_secs: 0,
            next_packet_id: 1,
            next_seq: 0,
            dropped: DropCounts::default(),
        }
    }

    /// A persistent session as the broker's durable store kept it: its expiry, its
    /// subscriptions and the deliveries it still owes the client, in order (those that were in
    /// flight are sent again as new PUBLISHes).
    pub fn restored(
        client_id: ClientId,
        expiry_secs: u32,
        subscriptions: impl IntoIterator<Item = (SubscriptionFilter, StoredSubscription)>,
        pending: impl IntoIterator<Item = Delivery>,
    ) -> Self {
        let mut session = Self::new(client_id);
        session.expiry_secs = expiry_secs;
        session.subscriptions = subscriptions.into_iter().collect();
        for delivery in pending {
            session.queue.push_back(delivery);
        }
        session
    }

    /// The deliveries the client has yet to acknowledge, oldest first: those in flight
    /// (unless only their PUBCOMP is missing: the client has the message), then the queue.
    pub fn pending_deliveries(&self) -> impl Iterator<Item = &Delivery> {
        let mut inflight: Vec<&Outgoing> = self
            .outgoing
            .values()
            .filter(|o| o.stage != OutgoingStage::AwaitingPubComp)
            .collect();
        inflight.sort_by_key(|o| o.seq);
        inflight
            .into_iter()
            .map(|o| &o.delivery)
            .chain(self.queue.items.iter())
    }

    /// Numbers, with `next`, the QoS 1/2 deliveries still owed that have no number yet (see
    /// [`Delivery::stored`]), oldest first.
    pub fn number_pending(&mut self, mut next: impl FnMut() -> u64) {
        let mut inflight: Vec<&mut Outgoing> = self
            .outgoing
            .values_mut()
            .filter(|o| o.stage != OutgoingStage::AwaitingPubComp)
            .collect();
        inflight.sort_by_key(|o| o.seq);
        let owed = inflight
            .into_iter()
            .map(|o| &mut o.delivery)
            .chain(self.queue.items.iter_mut());
        for delivery in owed {
            if delivery.qos != QoS::AtMostOnce && delivery.stored.is_none() {
                delivery.stored = Some(next());
            }
        }
    }

    /// The session's client identifier.
    pub fn client_id(&self) -> &ClientId {
        &self.client_id
    }

    /// The session's subscriptions.
    pub fn subscriptions(
        &self,
    ) -> impl Iterator<Item = (&SubscriptionFilter, &StoredSubscription)> {
        self.subscriptions.iter()
    }

    /// Session Expiry Interval in seconds: 0 ends the session with the connection, `u32::MAX`
    /// never expires.
    pub fn expiry_secs(&self) -> u32 {
        self.expiry_secs
    }

    /// When a session whose connection ended at `disconnected_at` expires; `None`: never.
    pub fn expires_at(&self, disconnected_at: Instant) -> Option<Instant> {
        (self.expiry_secs != u32::MAX)
            .then(|| disconnected_at + Duration::from_secs(u64::from(self.expiry_secs)))
    }

    /// Whether the session outlives its connection at all.
    pub fn is_persistent(&self) -> bool {
        self.expiry_secs > 0
    }

    /// Messages waiting for an inflight slot or for the client to return.
    pub fn queued_len(&self) -> usize {
        self.queue.len()
    }

    /// Bytes of topics and payloads of the queued messages.
    pub fn queued_bytes(&self) -> usize {
        self.queue.bytes
    }

    /// QoS 1/2 deliveries sent and not yet fully acknowledged.
    pub fn inflight_len(&self) -> usize {
        self.outgoing.len()
    }

    /// The delivery sent with packet id `id` while it waits for its PUBACK (QoS 1); a PUBACK
    /// with that id acknowledges it.
    pub fn awaiting_puback(&self, id: PacketId) -> Option<&Delivery> {
        self.outgoing
            .get(&id)
            .filter(|o| o.stage == OutgoingStage::AwaitingPubAck)
            .map(|o| &o.delivery)
    }

    /// Drop counters.
    pub fn dropped(&self) -> DropCounts {
        self.dropped
    }

    /// Queues a delivery for a session whose client is not connected; QoS 0 is dropped unless
    /// `queue_qos0` (AWS IoT queues only QoS 1). Returns whether the message was kept.
    pub fn enqueue_offline(
        &mut self,
        now: Instant,
        delivery: Delivery,
        limit: QueueLimit,
        queue_qos0: bool,
    ) -> bool {
        if delivery.qos == QoS::AtMostOnce && !queue_qos0 {
            self.dropped.offline_qos0 += 1;
            return false;
        }
        self.enqueue(now, delivery, limit)
    }

    /// Appends to the bounded queue; when full, the oldest queued QoS 0 message makes room, or
    /// else the new message is dropped. Expired messages are purged first.
    pub(crate) fn enqueue(&mut self, now: Instant, delivery: Delivery, limit: QueueLimit) -> bool {
        if delivery.message.is_expired(now) {
            self.dropped.expired += 1;
            return false;
        }
        if !self.queue.has_room(&delivery, limit) && self.queue.expiring > 0 {
            self.purge_expired(now);
        }
        if !self.queue.has_room(&delivery, limit) {
            // The new message is dropped, unless it is QoS 1/2 and QoS 0 ones can make room.
            self.dropped.queue_full += 1;
            if delivery.qos == QoS::AtMostOnce {
                return false;
            }
            while !self.queue.has_room(&delivery, limit) {
                if !self.queue.remove_oldest_qos0() {
                    return false;
                }
            }
        }
        self.queue.push_back(delivery);
        true
    }

    fn purge_expired(&mut self, now: Instant) {
        let removed = self.queue.retain(|d| !d.message.is_expired(now));
        self.dropped.expired += removed as u64;
    }

    /// Keeps only the queued deliveries `allowed` accepts, counting the others as not
    /// authorized; returns how many were dropped. The broker runs the receive check of the
    /// policies in force when a session is resumed: messages queued while the client was away
    /// were never checked against them.
    pub fn retain_queued(&mut self, mut allowed: impl FnMut(&Delivery) -> bool) -> usize {
        let dropped = self.queue.retain(|d| allowed(d));
        self.dropped.not_authorized += dropped as u64;
        dropped
    }

    /// The next unexpired queued delivery, counting the expired ones it skips.
    pub(crate) fn dequeue(&mut self, now: Instant) -> Option<Delivery> {
        while let Some(d) = self.queue.pop_front() {
            if !d.message.is_expired(now) {
                return Some(d);
            }
            self.dropped.expired += 1;
        }
        None
    }

    /// A packet identifier not used by any outgoing flow ([MQTT-2.2.1-3]); `None` if all 65,535
    /// are in use.
    pub(crate) fn allocate_packet_id(&mut self) -> Option<PacketId> {
        for _ in 0..u16::MAX {
            let candidate = PacketId::new(self.next_packet_id);
            self.next_packet_id = self.next_packet_id.checked_add(1).unwrap_or(1);
            if let Some(id) = candidate.filter(|id| !self.outgoing.contains_key(id)) {
                return Some(id);
            }
        }
        None
    }

    /// Records an outgoing QoS 1/2 delivery under `id`.
    pub(crate) fn start_outgoing(&mut self, id: PacketId, delivery: Delivery) {
        let stage = match delivery.qos {
            QoS::ExactlyOnce => OutgoingStage::AwaitingPubRec,
            _ => OutgoingStage::AwaitingPubAck,
        };
        let seq = self.next_seq;
        self.next_seq += 1;
        self.outgoing.insert(
            id,
            Outgoing {
                delivery,
                stage,
                seq,
            },
        );
    }

    /// Outgoing flows in the order they were started.
    pub(crate) fn outgoing_in_order(&self) -> Vec<(PacketId, Outgoing)> {
        let mut flows: Vec<(PacketId, Outgoing)> = self
            .outgoing
            .iter()
            .map(|(id, o)| (*id, o.clone()))
            .collect();
        flows.sort_by_key(|(_, o)| o.seq);
        flows
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use roost_codec::PublishProperties;

    use super::*;
    use crate::message::Message;
    use crate::topic::{TopicLimits, topic_name};

    fn messages(n: usize) -> QueueLimit {
        QueueLimit {
            messages: n,
            bytes: usize::MAX,
        }
    }

    #[test]
    fn a_queue_at_its_byte_limit_drops_qos0_first_then_refuses() {
        let now = Instant::now();
        let mut s = SessionState::new(ClientId::new("c"));
        // Each delivery is charged 1 topic byte + 1 payload byte.
        let limit = QueueLimit {
            messages: usize::MAX,
            bytes: 4,
        };
        assert!(s.enqueue(now, delivery(QoS::AtMostOnce, now, None), limit));
        assert!(s.enqueue(now, delivery(QoS::AtLeastOnce, now, None), limit));
        assert_eq!(s.queued_bytes(), 4);
        assert!(s.enqueue(now, delivery(QoS::AtLeastOnce, now, None), limit));
        assert_eq!(s.queued_len(), 2, "the QoS 0 message made room");
        assert!(!s.enqueue(now, delivery(QoS::AtLeastOnce, now, None), limit));
        assert_eq!(s.queued_bytes(), 4);
        assert_eq!(s.dropped().queue_full, 2);
    }

    fn delivery(qos: QoS, now: Instant, expiry: Option<u32>) -> Delivery {
        let properties = PublishProperties {
            message_expiry_interval: expiry,
            ..PublishProperties::default()
        };
        let topic = topic_name("t", &TopicLimits::MQTT).unwrap();
        let message = Message::new(topic, Bytes::from_static(b"x"), qos, false, properties, now);
        Delivery {
            qos,
            retain: false,
            subscription_ids: Vec::new(),
            stored: None,
            message,
        }
    }

    #[test]
    fn a_full_queue_drops_the_oldest_qos0_message_before_refusing_qos1() {
        let now = Instant::now();
        let mut s = SessionState::new(ClientId::new("c"));
        assert!(s.enqueue(now, delivery(QoS::AtLeastOnce, now, None), messages(2)));
        assert!(s.enqueue(now, delivery(QoS::AtMostOnce, now, None), messages(2)));
        assert!(!s.enqueue(now, delivery(QoS::AtMostOnce, now, None), messages(2)));
        assert!(s.enqueue(now, delivery(QoS::AtLeastOnce, now, None), messages(2)));
        assert!(s.queue.iter().all(|d| d.qos == QoS::AtLeastOnce));
        assert!(!s.enqueue(now, delivery(QoS::AtLeastOnce, now, None), messages(2)));
        assert_eq!(s.dropped().queue_full, 3);
    }

    #[test]
    fn expired_messages_are_skipped_when_dequeued() {
        let now = Instant::now();
        let mut s = SessionState::new(ClientId::new("c"));
        s.enqueue(now, delivery(QoS::AtLeastOnce, now, Some(1)), messages(10));
        s.enqueue(now, delivery(QoS::AtLeastOnce, now, Some(10)), messages(10));
        let later = now + Duration::from_secs(2);
        let d = s.dequeue(later).unwrap();
        assert_eq!(d.message.remaining_expiry(later), Some(8));
        assert_eq!(s.dropped().expired, 1);
    }

    #[test]
    fn only_a_qos_1_flow_awaits_a_puback() {
        let now = Instant::now();
        let mut s = SessionState::new(ClientId::new("c"));
        let one = s.allocate_packet_id().unwrap();
        s.start_outgoing(one, delivery(QoS::AtLeastOnce, now, None));
        let two = s.allocate_packet_id().unwrap();
        s.start_outgoing(two, delivery(QoS::ExactlyOnce, now, None));
        assert!(s.awaiting_puback(one).is_some());
        assert!(s.awaiting_puback(two).is_none());
        assert!(s.awaiting_puback(PacketId::new(99).unwrap()).is_none());
    }

    #[test]
    fn packet_ids_skip_those_in_flight_and_wrap_past_65535() {
        let now = Instant::now();
        let mut s = SessionState::new(ClientId::new("c"));
        s.next_packet_id = u16::MAX;
        let a = s.allocate_packet_id().unwrap();
        assert_eq!(a.get(), u16::MAX);
        s.start_outgoing(a, delivery(QoS::AtLeastOnce, now, None));
        let b = s.allocate_packet_id().unwrap();
        assert_eq!(b.get(), 1);
        s.start_outgoing(b, delivery(QoS::AtLeastOnce, now, None));
        s.next_packet_id = u16::MAX;
        assert_eq!(s.allocate_packet_id().unwrap().get(), 2);
    }

    #[test]
    fn queued_deliveries_refused_on_resume_are_dropped_and_counted() {
        let now = Instant::now();
        let mut s = SessionState::new(ClientId::new("c"));
        s.enqueue(now, delivery(QoS::AtLeastOnce, now, None), messages(10));
        s.enqueue(now, delivery(QoS::AtMostOnce, now, None), messages(10));
        assert_eq!(s.retain_queued(|d| d.qos == QoS::AtLeastOnce), 1);
        assert_eq!(s.queued_len(), 1);
        assert_eq!(s.dropped().not_authorized, 1);
    }

    #[test]
    fn session_expiry_of_u32_max_never_ends() {
        let now = Instant::now();
        let mut s = SessionState::new(ClientId::new("c"));
        assert!(!s.is_persistent());
        s.expiry_secs = u32::MAX;
        assert_eq!(s.expires_at(now), None);
        s.expiry_secs = 60;
        assert_eq!(s.expires_at(now), Some(now + Duration::from_secs(60)));
    }
}
