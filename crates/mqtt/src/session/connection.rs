//! One client connection: CONNECT acceptance, the inbound and outbound QoS flows, subscriptions,
//! keep-alive and DISCONNECT, as a state machine driven by `handle_*` and drained by `poll_*`.

use std::collections::{HashMap, VecDeque};
use std::num::{NonZeroU16, NonZeroU32};
use std::time::{Duration, Instant};

use roost_codec::{
    ConnAck, ConnAckProperties, Connect, Disconnect, DisconnectProperties, Packet, PacketId,
    ProtocolVersion, PubAck, PubComp, PubRec, PubRel, Publish, PublishQos, QoS, ReasonCode,
    RetainHandling, SubAck, Subscribe, UnsubAck, Unsubscribe, Will,
};

use super::settings::BrokerSettings;
use super::state::{ClientId, OutgoingStage, SessionState, StoredSubscription};
use crate::error::ProtocolViolation;
use crate::message::{Delivery, Message};
use crate::topic::{SubscriptionFilter, TopicName};
use crate::trie::SubscriptionEntry;

/// The policy decisions a connection asks its owner for (the broker answers with the IoT
/// policy engine; tests use a fake).
pub trait Authorizer {
    /// May this client publish on `topic` (with RETAIN set if `retain`)?
    fn publish(&self, topic: &TopicName, retain: bool) -> bool;
    /// May this client subscribe to `filter`?
    fn subscribe(&self, filter: &SubscriptionFilter) -> bool;
    /// May this client receive a message published on `topic`?
    fn receive(&self, topic: &TopicName) -> bool;
    /// Has the broker room to store `message` as a retained message? Not a policy decision but
    /// a broker-wide quota: when it says no, the message is still delivered live, its storage
    /// is skipped, and an MQTT 5 publisher is told Quota Exceeded (0x97).
    fn retained_room(&self, message: &Message) -> bool {
        let _ = message;
        true
    }
}

/// An [`Authorizer`] that allows everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct AllowAll;

impl Authorizer for AllowAll {
    fn publish(&self, _: &TopicName, _: bool) -> bool {
        true
    }
    fn subscribe(&self, _: &SubscriptionFilter) -> bool {
        true
    }
    fn receive(&self, _: &TopicName) -> bool {
        true
    }
}

/// One filter a SUBSCRIBE added or replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscribed {
    /// The filter (shared or not).
    pub filter: SubscriptionFilter,
    /// What the router must store for it.
    pub entry: SubscriptionEntry,
    /// Whether it replaced an existing subscription of this session.
    pub existed: bool,
    /// Whether the caller should now send the matching retained messages, per Retain Handling
    /// ([MQTT-3.3.1-9], [MQTT-3.3.1-10], [MQTT-3.3.1-11]); never for shared subscriptions.
    pub send_retained: bool,
}

/// What the owner of a connection must act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// An authorized message from the client to route (and, if `retain`, to store as retained).
    Publish(Message),
    /// Subscriptions to add to the router, and retained messages to send for some of them.
    Subscribed(Vec<Subscribed>),
    /// Subscriptions to remove from the router.
    Unsubscribed(Vec<SubscriptionFilter>),
    /// The client disconnected normally: its will must not be published ([MQTT-3.1.2-10]).
    WillCleared,
    /// The client has a delivery that came from the broker's durable session store (its
    /// [`Delivery::stored`] number): PUBACK, or PUBREC for QoS 2. The store may forget it.
    Acknowledged(u64),
    /// The connection is over: send what [`Connection::poll_transmit`] still holds, then close.
    Disconnect {
        /// Why (the client's DISCONNECT reason, or ours).
        reason: ReasonCode,
    },
}

/// A CONNECT the server refused: send `connack`, then close.
#[derive(Debug)]
pub struct Refused {
    /// The CONNACK to send (its reason code says why).
    pub connack: ConnAck,
    /// The session passed to [`Connection::accept`], untouched.
    pub resumed: Option<SessionState>,
}

/// A will still to be published after the connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingWill {
    /// The will as the CONNECT carried it.
    pub will: Will,
    /// How long after the disconnect to publish it: the Will Delay Interval, capped by the
    /// session expiry ([MQTT-3.1.3-9]). A new connection resuming the session cancels it.
    pub delay: Duration,
}

impl PendingWill {
    /// The will as a message to route at `now`.
    pub fn message(&self, now: Instant) -> Message {
        Message::from_will(&self.will, now)
    }
}

/// What is left when a connection ends.
#[derive(Debug)]
pub struct Ended {
    /// The session, to keep for [`SessionState::expires_at`] if persistent.
    pub session: SessionState,
    /// The will, unless the client disconnected normally.
    pub will: Option<PendingWill>,
}

const fn violation(reason: ReasonCode, detail: &'static str) -> ProtocolViolation {
    ProtocolViolation { reason, detail }
}

/// Checks a CONNECT against the server's rules and limits, with no side effect: the reason
/// code of the refusing CONNACK, if any. A broker runs it before anything else at admission
/// (identity, provisioning, takeover), so that an invalid CONNECT changes nothing;
/// [`Connection::accept`] runs it again.
pub fn validate_connect(connect: &Connect, settings: &BrokerSettings) -> Result<(), ReasonCode> {
    if connect.properties.authentication_method.is_some() {
        return Err(ReasonCode::BadAuthenticationMethod);
    }
    if connect.client_id.is_empty() && !connect.protocol_version.is_v5() && !connect.clean_start {
        // [MQTT-3.1.3-8]: 3.1.1 allows an empty id only with a clean session.
        return Err(ReasonCode::ClientIdentifierNotValid);
    }
    if connect.client_id.len() > settings.max_client_id_bytes {
        return Err(ReasonCode::ClientIdentifierNotValid);
    }
    if let Some(will) = &connect.will {
        if settings.topic_limits.check_name(&will.topic).is_err() {
            return Err(ReasonCode::TopicNameInvalid);
        }
        if will.qos > settings.maximum_qos {
            // [MQTT-3.2.2-12]
            return Err(ReasonCode::QoSNotSupported);
        }
        if will.retain && !settings.retain_available {
            // [MQTT-3.2.2-13]
            return Err(ReasonCode::RetainNotSupported);
        }
    }
    Ok(())
}

/// Checks a CONNECT; returns the client id to use (assigned if the client sent none) or the
/// reason to refuse.
fn check_connect(
    connect: &Connect,
    settings: &BrokerSettings,
    assign_client_id: impl FnOnce() -> String,
) -> Result<ClientId, ReasonCode> {
    validate_connect(connect, settings)?;
    let client_id = if connect.client_id.is_empty() {
        ClientId::new(&assign_client_id())
    } else {
        ClientId::new(&connect.client_id)
    };
    if client_id.as_str().len() > settings.max_client_id_bytes {
        return Err(ReasonCode::ClientIdentifierNotValid);
    }
    Ok(client_id)
}

/// The CONNACK properties that follow from the settings alone; absent ones mean the spec default.
fn connack_properties(settings: &BrokerSettings) -> ConnAckProperties {
    ConnAckProperties {
        receive_maximum: Some(settings.receive_maximum),
        maximum_qos: (settings.maximum_qos < QoS::ExactlyOnce).then_some(settings.maximum_qos),
        retain_available: (!settings.retain_available).then_some(false),
        maximum_packet_size: NonZeroU32::new(settings.maximum_packet_size),
        topic_alias_maximum: (settings.topic_alias_maximum > 0)
            .then_some(settings.topic_alias_maximum),
        wildcard_subscription_available: (!settings.wildcard_subscription_available)
            .then_some(false),
        subscription_identifiers_available: (!settings.subscription_identifiers_available)
            .then_some(false),
        shared_subscription_available: (!settings.shared_subscription_available).then_some(false),
        ..ConnAckProperties::default()
    }
}

/// One client connection of a session: the MQTT protocol for one network connection, without
/// I/O. Packets and time go in through `handle_*`, packets to send and events come out of
/// `poll_*`. Created by [`Connection::accept`], ended by [`Connection::into_session_state`].
#[derive(Debug)]
pub struct Connection {
    version: ProtocolVersion,
    settings: BrokerSettings,
    session: SessionState,
    session_present: bool,
    /// Whether CONNECT asked for Session Expiry 0 (then DISCONNECT may not raise it).
    connect_expiry_zero: bool,
    keep_alive: Option<Duration>,
    last_packet_at: Instant,
    client_receive_maximum: u16,
    client_maximum_packet_size: Option<u32>,
    client_topic_alias_maximum: u16,
    inbound_aliases: HashMap<NonZeroU16, TopicName>,
    outbound_aliases: HashMap<TopicName, NonZeroU16>,
    will: Option<Will>,
    transmit: VecDeque<Packet>,
    events: VecDeque<Event>,
    closed: Option<ReasonCode>,
}

impl Connection {
    /// Validates a CONNECT and starts a connection; the CONNACK is the first packet of
    /// [`Connection::poll_transmit`], followed by any resent deliveries of a resumed session.
    ///
    /// `resumed` is the stored session of this client id, if any: it is resumed unless the
    /// CONNECT has Clean Start, in which case it is dropped and the caller must forget it (and
    /// its router entries). `assign_client_id` is called for an empty client id and must return
    /// a unique one ([MQTT-3.1.3-6]).
    pub fn accept(
        now: Instant,
        connect: Connect,
        settings: &BrokerSettings,
        resumed: Option<SessionState>,
        assign_client_id: impl FnOnce() -> String,
    ) -> Result<Self, Box<Refused>> {
        let version = connect.protocol_version;
        let v5 = version.is_v5();
        let refuse = |reason: ReasonCode, resumed: Option<SessionState>| {
            Box::new(Refused {
                connack: ConnAck {
                    session_present: false,
                    reason_code: reason,
                    properties: ConnAckProperties::default(),
                },
                resumed,
            })
        };
        let client_id = match check_connect(&connect, settings, assign_client_id) {
            Ok(id) => id,
            Err(reason) => return Err(refuse(reason, resumed)),
        };
        let assigned = v5 && connect.client_id.is_empty();

        let requested_expiry = if v5 {
            connect.properties.session_expiry_interval.unwrap_or(0)
        } else if connect.clean_start {
            0
        } else {
            settings.v3_session_expiry_secs
        };
        let expiry = requested_expiry.min(settings.max_session_expiry_secs);

        let resumable = resumed.filter(|s| !connect.clean_start && s.client_id == client_id);
        let session_present = resumable.is_some();
        let mut session = resumable.unwrap_or_else(|| SessionState::new(client_id.clone()));
        session.expiry_secs = expiry;

        let keep_alive_secs = settings.keep_alive.effective(connect.keep_alive, v5);
        let props = &connect.properties;
        let connack_props = if v5 {
            let mut p = connack_properties(settings);
            p.session_expiry_interval = (expiry != requested_expiry).then_some(expiry);
            p.assigned_client_identifier = assigned.then(|| client_id.as_str().to_owned());
            p.server_keep_alive =
                (keep_alive_secs != connect.keep_alive).then_some(keep_alive_secs);
            p
        } else {
            ConnAckProperties::default()
        };

        let mut connection = Self {
            version,
            settings: settings.clone(),
            session,
            session_present,
            connect_expiry_zero: requested_expiry == 0,
            keep_alive: (keep_alive_secs > 0)
                .then(|| Duration::from_secs(u64::from(keep_alive_secs))),
            last_packet_at: now,
            client_receive_maximum: if v5 {
                props.receive_maximum.map_or(u16::MAX, NonZeroU16::get)
            } else {
                u16::MAX
            },
            client_maximum_packet_size: props
                .maximum_packet_size
                .filter(|_| v5)
                .map(NonZeroU32::get),
            client_topic_alias_maximum: if v5 {
                props.topic_alias_maximum.unwrap_or(0)
            } else {
                0
            },
            inbound_aliases: HashMap::new(),
            outbound_aliases: HashMap::new(),
            will: connect.will,
            transmit: VecDeque::new(),
            events: VecDeque::new(),
            closed: None,
        };
        connection
            .transmit
            .push_back(Packet::ConnAck(Box::new(ConnAck {
                session_present,
                reason_code: ReasonCode::Success,
                properties: connack_props,
            })));
        connection.resend_inflight(now);
        connection.fill_window(now);
        Ok(connection)
    }

    /// The protocol version of this connection.
    pub fn protocol_version(&self) -> ProtocolVersion {
        self.version
    }

    /// The client identifier (assigned by the server if the client sent none).
    pub fn client_id(&self) -> &ClientId {
        &self.session.client_id
    }

    /// Whether CONNACK said Session Present.
    pub fn session_present(&self) -> bool {
        self.session_present
    }

    /// The keep-alive the server enforces (×1.5), `None` if none.
    pub fn keep_alive(&self) -> Option<Duration> {
        self.keep_alive
    }

    /// The session state, for inspection.
    pub fn session(&self) -> &SessionState {
        &self.session
    }

    /// Whether a QoS 1/2 delivery would be queued without dropping anything: false while the
    /// client's inflight window is full and the queue behind it is at its limit. A driver that
    /// stops taking deliveries then lets its (bounded) mailbox fill, which slows publishers to
    /// this client's pace instead of losing acknowledged messages.
    pub fn accepts_deliveries(&self) -> bool {
        self.session.queued_len() < self.settings.max_queued_messages
            && self.session.queued_bytes() < self.settings.max_queued_bytes
    }

    /// Why the connection closed, if it has.
    pub fn closed(&self) -> Option<ReasonCode> {
        self.closed
    }

    /// The next packet to send to the client.
    pub fn poll_transmit(&mut self) -> Option<Packet> {
        self.transmit.pop_front()
    }

    /// The next event for the owner to act on.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Connection::handle_timeout`] must next be called, if ever: the keep-alive deadline
    /// at 1.5 times the interval after the last packet from the client ([MQTT-3.1.2-22]).
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.closed.is_some() {
            return None;
        }
        self.keep_alive.map(|k| self.last_packet_at + k + k / 2)
    }

    /// Closes the connection if its keep-alive has run out at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.poll_timeout().is_some_and(|deadline| now >= deadline) {
            self.close(ReasonCode::KeepAliveTimeout);
        }
    }

    /// Closes the connection from the server side (session taken over 0x8E, administrative
    /// action 0x98, server shutting down 0x8B…): a v5 client gets a DISCONNECT with `reason`.
    /// The will stays pending.
    pub fn close(&mut self, reason: ReasonCode) {
        if self.closed.is_some() {
            return;
        }
        if self.version.is_v5() {
            self.transmit.push_back(Packet::Disconnect(Disconnect {
                reason_code: reason,
                properties: DisconnectProperties::default(),
            }));
        }
        self.closed = Some(reason);
        self.events.push_back(Event::Disconnect { reason });
    }

    /// Ends the connection and hands back the session and the will still to publish.
    pub fn into_session_state(self) -> Ended {
        let expiry = u64::from(self.session.expiry_secs);
        let will = self.will.map(|will| {
            let delay = u64::from(will.properties.will_delay_interval.unwrap_or(0)).min(expiry);
            PendingWill {
                will,
                delay: Duration::from_secs(delay),
            }
        });
        Ended {
            session: self.session,
            will,
        }
    }

    /// Handles one packet from the client. A protocol violation closes the connection (a v5
    /// client is sent a DISCONNECT with its reason code) and is returned. Packets arriving after
    /// the connection closed are ignored.
    pub fn handle_packet(
        &mut self,
        now: Instant,
        packet: Packet,
        auth: &dyn Authorizer,
    ) -> Result<(), ProtocolViolation> {
        if self.closed.is_some() {
            return Ok(());
        }
        self.last_packet_at = now;
        let result = match packet {
            Packet::Publish(publish) => self.handle_publish(now, publish, auth),
            Packet::PubAck(ack) => {
                self.handle_puback(now, ack.packet_id, ack.reason_code);
                Ok(())
            }
            Packet::PubRec(rec) => {
                self.handle_pubrec(now, &rec);
                Ok(())
            }
            Packet::PubRel(rel) => {
                self.handle_pubrel(&rel);
                Ok(())
            }
            Packet::PubComp(comp) => {
                self.handle_pubcomp(now, &comp);
                Ok(())
            }
            Packet::Subscribe(subscribe) => self.handle_subscribe(subscribe, auth),
            Packet::Unsubscribe(unsubscribe) => self.handle_unsubscribe(&unsubscribe),
            Packet::PingReq => {
                self.transmit.push_back(Packet::PingResp);
                Ok(())
            }
            Packet::Disconnect(disconnect) => self.handle_disconnect(&disconnect),
            Packet::Connect(_) => Err(violation(
                ReasonCode::ProtocolError,
                "[MQTT-3.1.0-2] second CONNECT on a connection",
            )),
            Packet::Auth(_) => Err(violation(
                ReasonCode::ProtocolError,
                "[MQTT-3.1.2-32] AUTH without an Authentication Method in CONNECT",
            )),
            Packet::ConnAck(_) | Packet::SubAck(_) | Packet::UnsubAck(_) | Packet::PingResp => {
                Err(violation(
                    ReasonCode::ProtocolError,
                    "a client sent a packet only a server may send",
                ))
            }
        };
        if let Err(v) = &result {
            self.close(v.reason);
        }
        result
    }

    /// Takes a message the router matched to this session: authorized with the receive check,
    /// sent at once if the client's Receive Maximum allows ([MQTT-3.3.4-9]), else queued; when
    /// the connection is closed it is queued as for an offline session.
    pub fn handle_delivery(&mut self, now: Instant, delivery: Delivery, auth: &dyn Authorizer) {
        if !auth.receive(&delivery.message.topic) {
            self.session.dropped.not_authorized += 1;
            return;
        }
        if self.closed.is_some() {
            let limit = self.settings.queue_limit();
            let qos0 = self.settings.queue_qos0_while_offline;
            self.session.enqueue_offline(now, delivery, limit, qos0);
            return;
        }
        if delivery.message.is_expired(now) {
            self.session.dropped.expired += 1;
            return;
        }
        if delivery.qos == QoS::AtMostOnce {
            self.send_publish(now, &delivery, None, false);
            return;
        }
        let limit = self.settings.queue_limit();
        self.session.enqueue(now, delivery, limit);
        self.fill_window(now);
    }

    // --- inbound PUBLISH ---------------------------------------------------------------------

    fn handle_publish(
        &mut self,
        now: Instant,
        mut publish: Publish,
        auth: &dyn Authorizer,
    ) -> Result<(), ProtocolViolation> {
        let qos = publish.qos.qos();
        if qos > self.settings.maximum_qos {
            return Err(violation(
                ReasonCode::QoSNotSupported,
                "[MQTT-3.2.2-11] PUBLISH above the Maximum QoS",
            ));
        }
        if publish.retain && !self.settings.retain_available {
            return Err(violation(
                ReasonCode::RetainNotSupported,
                "[MQTT-3.2.2-14] RETAIN while Retain Available is 0",
            ));
        }
        if !publish.properties.subscription_identifiers.is_empty() {
            return Err(violation(
                ReasonCode::ProtocolError,
                "[MQTT-3.3.4-6] PUBLISH from a client carries a Subscription Identifier",
            ));
        }
        publish.topic = self.resolve_topic_alias(&publish)?;
        if self
            .settings
            .topic_limits
            .check_name(&publish.topic)
            .is_err()
        {
            return Err(violation(
                ReasonCode::TopicNameInvalid,
                "topic name exceeds the server's topic limits",
            ));
        }
        if let PublishQos::ExactlyOnce(id) = publish.qos {
            if self.session.incoming_qos2.contains(&id) {
                // [MQTT-4.3.3-9]: a resent QoS 2 PUBLISH is acknowledged, not delivered again.
                self.transmit.push_back(Packet::PubRec(PubRec::new(id)));
                return Ok(());
            }
            if self.session.incoming_qos2.len() >= usize::from(self.settings.receive_maximum.get())
            {
                return Err(violation(
                    ReasonCode::ReceiveMaximumExceeded,
                    "[MQTT-3.3.4-9] more unacknowledged QoS 2 PUBLISHes than Receive Maximum",
                ));
            }
        }
        if !auth.publish(&publish.topic, publish.retain) {
            if !self.version.is_v5() {
                return Err(violation(
                    ReasonCode::NotAuthorized,
                    "PUBLISH not authorized (3.1.1 cannot refuse it in an acknowledgement)",
                ));
            }
            match publish.qos {
                PublishQos::AtMostOnce => {}
                PublishQos::AtLeastOnce(id) => self.transmit.push_back(Packet::PubAck(PubAck {
                    reason_code: ReasonCode::NotAuthorized,
                    ..PubAck::new(id)
                })),
                PublishQos::ExactlyOnce(id) => self.transmit.push_back(Packet::PubRec(PubRec {
                    reason_code: ReasonCode::NotAuthorized,
                    ..PubRec::new(id)
                })),
            }
            return Ok(());
        }
        let mut message = Message::new(
            publish.topic,
            publish.payload,
            qos,
            publish.retain,
            publish.properties,
            now,
        );
        // At the retained-store quota the message still goes to current subscribers; only its
        // storage is refused, and an MQTT 5 publisher hears why.
        let quota_exceeded =
            message.retain && !message.payload.is_empty() && !auth.retained_room(&message);
        if quota_exceeded {
            message.make_mut().retain = false;
        }
        let refusal = (quota_exceeded && self.version.is_v5()).then_some(ReasonCode::QuotaExceeded);
        self.events.push_back(Event::Publish(message));
        match publish.qos {
            PublishQos::AtMostOnce => {}
            PublishQos::AtLeastOnce(id) => self.transmit.push_back(Packet::PubAck(PubAck {
                reason_code: refusal.unwrap_or(ReasonCode::Success),
                ..PubAck::new(id)
            })),
            PublishQos::ExactlyOnce(id) => {
                // An error PUBREC ends the QoS 2 flow (§4.3.3): no PUBREL is expected.
                if refusal.is_none() {
                    self.session.incoming_qos2.insert(id);
                }
                self.transmit.push_back(Packet::PubRec(PubRec {
                    reason_code: refusal.unwrap_or(ReasonCode::Success),
                    ..PubRec::new(id)
                }));
            }
        }
        Ok(())
    }

    /// The topic of an inbound PUBLISH after Topic Alias processing (MQTT 5 §3.3.2.3.4).
    fn resolve_topic_alias(&mut self, publish: &Publish) -> Result<TopicName, ProtocolViolation> {
        let Some(alias) = publish.properties.topic_alias else {
            if publish.topic.is_empty() {
                return Err(violation(
                    ReasonCode::ProtocolError,
                    "§3.3.2.1 PUBLISH without a topic name or topic alias",
                ));
            }
            return Ok(publish.topic.clone());
        };
        if alias.get() > self.settings.topic_alias_maximum || !self.version.is_v5() {
            return Err(violation(
                ReasonCode::TopicAliasInvalid,
                "[MQTT-3.3.2-9] topic alias above the server's Topic Alias Maximum",
            ));
        }
        if publish.topic.is_empty() {
            return self.inbound_aliases.get(&alias).cloned().ok_or(violation(
                ReasonCode::ProtocolError,
                "§3.3.2.3.4 topic alias used before it was set on this connection",
            ));
        }
        self.inbound_aliases.insert(alias, publish.topic.clone());
        Ok(publish.topic.clone())
    }

    fn handle_pubrel(&mut self, rel: &PubRel) {
        let reason = if self.session.incoming_qos2.remove(&rel.packet_id) || !self.version.is_v5() {
            ReasonCode::Success
        } else {
            ReasonCode::PacketIdentifierNotFound
        };
        self.transmit.push_back(Packet::PubComp(PubComp {
            reason_code: reason,
            ..PubComp::new(rel.packet_id)
        }));
    }

    // --- outbound acknowledgements -----------------------------------------------------------

    fn handle_puback(&mut self, now: Instant, id: PacketId, _reason: ReasonCode) {
        let awaiting = self
            .session
            .outgoing
            .get(&id)
            .is_some_and(|o| o.stage == OutgoingStage::AwaitingPubAck);
        if awaiting {
            if let Some(flow) = self.session.outgoing.remove(&id) {
                self.acknowledged(&flow.delivery);
            }
            self.fill_window(now);
        }
    }

    /// Tells the owner that the client has a delivery the durable store holds.
    fn acknowledged(&mut self, delivery: &Delivery) {
        if let Some(stored) = delivery.stored {
            self.events.push_back(Event::Acknowledged(stored));
        }
    }

    fn handle_pubrec(&mut self, now: Instant, rec: &PubRec) {
        let Some(flow) = self.session.outgoing.get_mut(&rec.packet_id) else {
            self.transmit.push_back(Packet::PubRel(PubRel {
                reason_code: ReasonCode::PacketIdentifierNotFound,
                ..PubRel::new(rec.packet_id)
            }));
            return;
        };
        match flow.stage {
            OutgoingStage::AwaitingPubAck => {}
            _ if rec.reason_code.is_error() => {
                // A PUBREC with an error code ends the flow and frees the slot (§4.3.3).
                if let Some(flow) = self.session.outgoing.remove(&rec.packet_id) {
                    self.acknowledged(&flow.delivery);
                }
                self.fill_window(now);
            }
            OutgoingStage::AwaitingPubRec | OutgoingStage::AwaitingPubComp => {
                if flow.stage == OutgoingStage::AwaitingPubRec
                    && let Some(stored) = flow.delivery.stored
                {
                    self.events.push_back(Event::Acknowledged(stored));
                }
                flow.stage = OutgoingStage::AwaitingPubComp;
                self.transmit
                    .push_back(Packet::PubRel(PubRel::new(rec.packet_id)));
            }
        }
    }

    fn handle_pubcomp(&mut self, now: Instant, comp: &PubComp) {
        let awaiting = self
            .session
            .outgoing
            .get(&comp.packet_id)
            .is_some_and(|o| o.stage == OutgoingStage::AwaitingPubComp);
        if awaiting {
            self.session.outgoing.remove(&comp.packet_id);
            self.fill_window(now);
        }
    }

    // --- subscriptions -----------------------------------------------------------------------

    fn handle_subscribe(
        &mut self,
        subscribe: Subscribe,
        auth: &dyn Authorizer,
    ) -> Result<(), ProtocolViolation> {
        let id = subscribe.properties.subscription_identifier;
        if id.is_some() && !self.settings.subscription_identifiers_available {
            return Err(violation(
                ReasonCode::SubscriptionIdentifiersNotSupported,
                "§3.2.2.3.12 Subscription Identifier while Subscription Identifiers Available is 0",
            ));
        }
        let mut reason_codes = Vec::with_capacity(subscribe.subscriptions.len());
        let mut subscribed = Vec::new();
        // 3.1.1 has a single failure code (0x80); MQTT 5 says which quota was hit.
        let quota_exceeded = if self.version.is_v5() {
            ReasonCode::QuotaExceeded
        } else {
            ReasonCode::UnspecifiedError
        };
        for (index, sub) in subscribe.subscriptions.into_iter().enumerate() {
            if index >= self.settings.max_filters_per_subscribe {
                reason_codes.push(quota_exceeded);
                continue;
            }
            let options = sub.options;
            let filter =
                match SubscriptionFilter::from_wire(&sub.filter, &self.settings.topic_limits) {
                    Ok(filter) => filter,
                    Err(_) => {
                        reason_codes.push(ReasonCode::TopicFilterInvalid);
                        continue;
                    }
                };
            let shared = filter.group().is_some();
            if shared && options.no_local {
                return Err(violation(
                    ReasonCode::ProtocolError,
                    "[MQTT-3.8.3-4] No Local on a shared subscription",
                ));
            }
            let refusal = if shared && !self.settings.shared_subscription_available {
                Some(ReasonCode::SharedSubscriptionsNotSupported)
            } else if filter.filter().has_wildcards()
                && !self.settings.wildcard_subscription_available
            {
                Some(ReasonCode::WildcardSubscriptionsNotSupported)
            } else if !auth.subscribe(&filter) {
                Some(ReasonCode::NotAuthorized)
            } else {
                None
            };
            if let Some(code) = refusal {
                reason_codes.push(code);
                continue;
            }
            if !self.session.subscriptions.contains_key(&filter)
                && self.session.subscriptions.len() >= self.settings.max_subscriptions
            {
                reason_codes.push(quota_exceeded);
                continue;
            }
            let qos = options.qos.min(self.settings.maximum_qos);
            let entry = SubscriptionEntry {
                qos,
                no_local: options.no_local,
                retain_as_published: options.retain_as_published,
                id,
            };
            let stored = StoredSubscription {
                entry,
                retain_handling: options.retain_handling,
            };
            let existed = self
                .session
                .subscriptions
                .insert(filter.clone(), stored)
                .is_some();
            let send_retained = !shared
                && match options.retain_handling {
                    RetainHandling::SendAtSubscribe => true,
                    RetainHandling::SendAtSubscribeIfNew => !existed,
                    RetainHandling::DoNotSend => false,
                };
            reason_codes.push(match qos {
                QoS::AtMostOnce => ReasonCode::Success,
                QoS::AtLeastOnce => ReasonCode::GrantedQoS1,
                QoS::ExactlyOnce => ReasonCode::GrantedQoS2,
            });
            subscribed.push(Subscribed {
                filter,
                entry,
                existed,
                send_retained,
            });
        }
        self.transmit.push_back(Packet::SubAck(SubAck {
            packet_id: subscribe.packet_id,
            reason_codes,
            properties: Default::default(),
        }));
        if !subscribed.is_empty() {
            self.events.push_back(Event::Subscribed(subscribed));
        }
        Ok(())
    }

    fn handle_unsubscribe(&mut self, unsubscribe: &Unsubscribe) -> Result<(), ProtocolViolation> {
        let mut reason_codes = Vec::with_capacity(unsubscribe.filters.len());
        let mut removed = Vec::new();
        for wire in &unsubscribe.filters {
            match SubscriptionFilter::from_wire(wire, &self.settings.topic_limits) {
                Err(_) => reason_codes.push(ReasonCode::TopicFilterInvalid),
                Ok(filter) => {
                    if self.session.subscriptions.remove(&filter).is_some() {
                        reason_codes.push(ReasonCode::Success);
                        removed.push(filter);
                    } else {
                        reason_codes.push(ReasonCode::NoSubscriptionExisted);
                    }
                }
            }
        }
        self.transmit.push_back(Packet::UnsubAck(UnsubAck {
            packet_id: unsubscribe.packet_id,
            reason_codes,
            properties: Default::default(),
        }));
        if !removed.is_empty() {
            self.events.push_back(Event::Unsubscribed(removed));
        }
        Ok(())
    }

    // --- DISCONNECT --------------------------------------------------------------------------

    fn handle_disconnect(&mut self, disconnect: &Disconnect) -> Result<(), ProtocolViolation> {
        if let Some(secs) = disconnect.properties.session_expiry_interval {
            if self.connect_expiry_zero && secs > 0 {
                return Err(violation(
                    ReasonCode::ProtocolError,
                    "§3.14.2.2.2 DISCONNECT sets a Session Expiry Interval after CONNECT set 0",
                ));
            }
            self.session.expiry_secs = secs.min(self.settings.max_session_expiry_secs);
        }
        if disconnect.reason_code != ReasonCode::DisconnectWithWillMessage && self.will.is_some() {
            self.will = None;
            self.events.push_back(Event::WillCleared);
        }
        self.closed = Some(disconnect.reason_code);
        self.events.push_back(Event::Disconnect {
            reason: disconnect.reason_code,
        });
        Ok(())
    }

    // --- outbound PUBLISH --------------------------------------------------------------------

    fn window(&self) -> usize {
        usize::from(
            self.client_receive_maximum
                .min(self.settings.max_inflight.get()),
        )
    }

    /// Moves queued deliveries into the inflight window while it has room.
    fn fill_window(&mut self, now: Instant) {
        if self.closed.is_some() {
            return;
        }
        while self.session.outgoing.len() < self.window() {
            let Some(delivery) = self.session.dequeue(now) else {
                return;
            };
            if delivery.qos == QoS::AtMostOnce {
                self.send_publish(now, &delivery, None, false);
                continue;
            }
            let Some(id) = self.session.allocate_packet_id() else {
                self.session.queue.push_front(delivery);
                return;
            };
            if self.send_publish(now, &delivery, Some(id), false) {
                self.session.start_outgoing(id, delivery);
            }
        }
    }

    /// Resends the unacknowledged flows of a resumed session, in order, with DUP set
    /// ([MQTT-4.4.0-1], [MQTT-3.3.1-1]).
    fn resend_inflight(&mut self, now: Instant) {
        for (id, flow) in self.session.outgoing_in_order() {
            match flow.stage {
                OutgoingStage::AwaitingPubComp => {
                    self.transmit.push_back(Packet::PubRel(PubRel::new(id)));
                }
                OutgoingStage::AwaitingPubAck | OutgoingStage::AwaitingPubRec => {
                    if !self.send_publish(now, &flow.delivery, Some(id), true) {
                        self.session.outgoing.remove(&id);
                    }
                }
            }
        }
    }

    /// Builds and queues one PUBLISH; returns false if it was dropped for exceeding the
    /// client's Maximum Packet Size ([MQTT-3.1.2-25]: then it counts as sent).
    fn send_publish(
        &mut self,
        now: Instant,
        delivery: &Delivery,
        id: Option<PacketId>,
        dup: bool,
    ) -> bool {
        let message = &delivery.message;
        let mut properties = message.properties.clone();
        properties.message_expiry_interval = message.remaining_expiry(now);
        properties.subscription_identifiers = delivery.subscription_ids.clone();
        let qos = match (delivery.qos, id) {
            (QoS::AtLeastOnce, Some(id)) => PublishQos::AtLeastOnce(id),
            (QoS::ExactlyOnce, Some(id)) => PublishQos::ExactlyOnce(id),
            _ => PublishQos::AtMostOnce,
        };
        let mut publish = Publish {
            dup: dup && qos != PublishQos::AtMostOnce,
            qos,
            retain: delivery.retain,
            topic: message.topic.clone(),
            properties,
            payload: message.payload.clone(),
        };
        let new_alias = self.apply_outbound_alias(&mut publish);
        let packet = Packet::Publish(publish);
        if let Some(max) = self.client_maximum_packet_size {
            let fits = roost_codec::encoded_len(&packet, self.version)
                .is_ok_and(|len| len <= max as usize);
            if !fits {
                self.session.dropped.too_large += 1;
                return false;
            }
        }
        if let Some(alias) = new_alias {
            self.outbound_aliases.insert(message.topic.clone(), alias);
        }
        self.transmit.push_back(packet);
        true
    }

    /// Replaces the topic by an alias the client already knows, or sets a new alias while the
    /// client's Topic Alias Maximum allows; returns the new alias to remember once sent.
    fn apply_outbound_alias(&self, publish: &mut Publish) -> Option<NonZeroU16> {
        if !self.settings.outbound_topic_aliases || self.client_topic_alias_maximum == 0 {
            return None;
        }
        if let Some(&alias) = self.outbound_aliases.get(&publish.topic) {
            publish.properties.topic_alias = Some(alias);
            publish.topic = TopicName::empty_for_alias();
            return None;
        }
        let next = u16::try_from(self.outbound_aliases.len() + 1).ok()?;
        let alias = NonZeroU16::new(next).filter(|a| a.get() <= self.client_topic_alias_maximum)?;
        publish.properties.topic_alias = Some(alias);
        Some(alias)
    }
}
