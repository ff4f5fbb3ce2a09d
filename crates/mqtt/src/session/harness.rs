//! A deterministic test harness: connections driven in memory on a virtual clock, and a tiny
//! router (the trie and the retained store) wiring several of them the way the broker shell
//! will. Time only moves when a test says so.

use std::collections::{BTreeMap, HashSet};
use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use bytes::Bytes;
use roost_codec::{
    Connect, ConnectProperties, Packet, PacketId, ProtocolVersion, Publish, PublishProperties,
    PublishQos, QoS, RetainHandling, Subscribe, SubscribeProperties, Subscription,
    SubscriptionOptions, TopicFilter, Unsubscribe,
};

use super::{
    Authorizer, BrokerSettings, Connection, Ended, Event, PendingWill, Refused, SessionState,
};
use crate::error::ProtocolViolation;
use crate::message::Delivery;
use crate::retained::RetainedStore;
use crate::topic::{SubscriptionFilter, TopicLimits, TopicName, topic_name};
use crate::trie::{MatchSet, SessionKey, SubscriptionTrie};

/// An authorizer that allows everything except what a test lists.
#[derive(Debug, Default, Clone)]
pub(crate) struct FakeAuth {
    pub(crate) deny_publish: HashSet<String>,
    pub(crate) deny_subscribe: HashSet<String>,
    pub(crate) deny_receive: HashSet<String>,
    /// The broker's retained store is full.
    pub(crate) retained_full: bool,
}

impl Authorizer for FakeAuth {
    fn publish(&self, topic: &TopicName, _retain: bool) -> bool {
        !self.deny_publish.contains(topic.as_str())
    }
    fn subscribe(&self, filter: &SubscriptionFilter) -> bool {
        !self.deny_subscribe.contains(&filter.to_string())
    }
    fn receive(&self, topic: &TopicName) -> bool {
        !self.deny_receive.contains(topic.as_str())
    }
    fn retained_room(&self, _message: &crate::message::Message) -> bool {
        !self.retained_full
    }
}

pub(crate) fn pid(n: u16) -> PacketId {
    PacketId::new(n).unwrap()
}

pub(crate) fn topic(s: &str) -> TopicName {
    topic_name(s, &TopicLimits::MQTT).unwrap()
}

pub(crate) fn connect(version: ProtocolVersion, client_id: &str) -> Connect {
    Connect {
        protocol_version: version,
        clean_start: true,
        keep_alive: 60,
        client_id: client_id.to_owned(),
        will: None,
        username: None,
        password: None,
        properties: ConnectProperties::default(),
    }
}

pub(crate) fn v5(client_id: &str) -> Connect {
    connect(ProtocolVersion::V5, client_id)
}

pub(crate) fn v3(client_id: &str) -> Connect {
    connect(ProtocolVersion::V3_1_1, client_id)
}

pub(crate) fn publish(t: &str, qos: QoS, id: u16, payload: &'static [u8]) -> Publish {
    Publish {
        dup: false,
        qos: match qos {
            QoS::AtMostOnce => PublishQos::AtMostOnce,
            QoS::AtLeastOnce => PublishQos::AtLeastOnce(pid(id)),
            QoS::ExactlyOnce => PublishQos::ExactlyOnce(pid(id)),
        },
        retain: false,
        topic: topic(t),
        properties: PublishProperties::default(),
        payload: Bytes::from_static(payload),
    }
}

pub(crate) fn options(qos: QoS) -> SubscriptionOptions {
    SubscriptionOptions {
        qos,
        ..SubscriptionOptions::default()
    }
}

pub(crate) fn subscribe(id: u16, filters: &[(&str, SubscriptionOptions)]) -> Subscribe {
    Subscribe {
        packet_id: pid(id),
        subscriptions: filters
            .iter()
            .map(|(f, options)| Subscription {
                filter: TopicFilter::new(f).unwrap(),
                options: *options,
            })
            .collect(),
        properties: SubscribeProperties::default(),
    }
}

pub(crate) fn subscribe_with_id(id: u16, filter: &str, qos: QoS, sub_id: u32) -> Subscribe {
    Subscribe {
        properties: SubscribeProperties {
            subscription_identifier: NonZeroU32::new(sub_id),
            ..SubscribeProperties::default()
        },
        ..subscribe(id, &[(filter, options(qos))])
    }
}

pub(crate) fn unsubscribe(id: u16, filters: &[&str]) -> Unsubscribe {
    Unsubscribe {
        packet_id: pid(id),
        filters: filters
            .iter()
            .map(|f| TopicFilter::new(f).unwrap())
            .collect(),
        properties: Default::default(),
    }
}

/// A virtual clock shared by everything in a test.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    pub(crate) now: Instant,
}

impl Clock {
    pub(crate) fn new() -> Self {
        // The one real clock read: every later instant is this plus virtual time.
        Self {
            now: Instant::now(),
        }
    }

    pub(crate) fn advance(&mut self, by: Duration) {
        self.now += by;
    }
}

/// One connection under test on a virtual clock.
#[derive(Debug)]
pub(crate) struct Client {
    pub(crate) clock: Clock,
    pub(crate) conn: Connection,
    pub(crate) auth: FakeAuth,
    pub(crate) settings: BrokerSettings,
}

impl Client {
    /// Connects with default settings and drains the CONNACK.
    pub(crate) fn connect(connect: Connect) -> Self {
        Self::connect_with(BrokerSettings::default(), connect)
    }

    pub(crate) fn connect_with(settings: BrokerSettings, connect: Connect) -> Self {
        let clock = Clock::new();
        let mut client = Self::try_accept(clock, settings, connect, None).unwrap();
        client.expect_connack();
        client
    }

    pub(crate) fn try_accept(
        clock: Clock,
        settings: BrokerSettings,
        connect: Connect,
        resumed: Option<SessionState>,
    ) -> Result<Self, Box<Refused>> {
        let conn = Connection::accept(clock.now, connect, &settings, resumed, || {
            "assigned-1".to_owned()
        })?;
        Ok(Self {
            clock,
            conn,
            auth: FakeAuth::default(),
            settings,
        })
    }

    pub(crate) fn expect_connack(&mut self) -> roost_codec::ConnAck {
        match self.conn.poll_transmit() {
            Some(Packet::ConnAck(connack)) => *connack,
            other => panic!("expected CONNACK, got {other:?}"),
        }
    }

    pub(crate) fn send(&mut self, packet: Packet) -> Result<(), ProtocolViolation> {
        self.conn.handle_packet(self.clock.now, packet, &self.auth)
    }

    pub(crate) fn deliver(&mut self, delivery: Delivery) {
        self.conn
            .handle_delivery(self.clock.now, delivery, &self.auth);
    }

    /// Moves the clock and fires the timer if it is due.
    pub(crate) fn advance(&mut self, by: Duration) {
        self.clock.advance(by);
        if self
            .conn
            .poll_timeout()
            .is_some_and(|deadline| deadline <= self.clock.now)
        {
            self.conn.handle_timeout(self.clock.now);
        }
    }

    pub(crate) fn sent(&mut self) -> Vec<Packet> {
        std::iter::from_fn(|| self.conn.poll_transmit()).collect()
    }

    pub(crate) fn events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.conn.poll_event()).collect()
    }

    /// Ends the connection (as if the socket closed) and reconnects with `connect` `after` later.
    pub(crate) fn reconnect(
        self,
        after: Duration,
        connect: Connect,
    ) -> (Option<PendingWill>, Self) {
        let Ended { session, will } = self.conn.into_session_state();
        let mut clock = self.clock;
        clock.advance(after);
        let mut client = Self::try_accept(clock, self.settings, connect, Some(session)).unwrap();
        client.auth = self.auth;
        (will, client)
    }
}

/// Several clients and a router, as the broker shell will wire them.
#[derive(Debug)]
pub(crate) struct Broker {
    pub(crate) clock: Clock,
    pub(crate) settings: BrokerSettings,
    pub(crate) clients: BTreeMap<u64, Client>,
    pub(crate) trie: SubscriptionTrie,
    pub(crate) retained: RetainedStore,
    matches: MatchSet,
}

impl Broker {
    pub(crate) fn new() -> Self {
        Self {
            clock: Clock::new(),
            settings: BrokerSettings::default(),
            clients: BTreeMap::new(),
            trie: SubscriptionTrie::new(),
            retained: RetainedStore::new(),
            matches: MatchSet::new(),
        }
    }

    pub(crate) fn connect(&mut self, key: u64, connect: Connect) {
        let mut client =
            Client::try_accept(self.clock, self.settings.clone(), connect, None).unwrap();
        client.expect_connack();
        self.clients.insert(key, client);
    }

    pub(crate) fn client(&mut self, key: u64) -> &mut Client {
        self.clients.get_mut(&key).unwrap()
    }

    /// Sends a packet from client `key`, then routes whatever it caused until quiet.
    pub(crate) fn send(&mut self, key: u64, packet: Packet) {
        self.client(key).send(packet).unwrap();
        self.pump(key);
    }

    fn pump(&mut self, key: u64) {
        let now = self.clock.now;
        let events = self.client(key).events();
        for event in events {
            match event {
                Event::Publish(message) => {
                    if message.retain {
                        self.retained.retain(&message);
                    }
                    self.trie
                        .matches(&message.topic, Some(SessionKey(key)), &mut self.matches);
                    let matches = std::mem::take(&mut self.matches.sessions);
                    for m in &matches {
                        let delivery = Delivery::live(message.clone(), m);
                        if let Some(target) = self.clients.get_mut(&m.session.0) {
                            target.clock.now = now;
                            target.deliver(delivery);
                        }
                    }
                    self.matches.sessions = matches;
                }
                Event::Subscribed(subs) => {
                    for sub in subs {
                        self.trie.insert(SessionKey(key), &sub.filter, sub.entry);
                        if sub.send_retained {
                            let mut found = Vec::new();
                            self.retained.matching(sub.filter.filter(), now, &mut found);
                            for message in found {
                                let d = Delivery::retained(message, sub.entry.qos, sub.entry.id);
                                self.client(key).deliver(d);
                            }
                        }
                    }
                }
                Event::Unsubscribed(filters) => {
                    for f in filters {
                        self.trie.remove(SessionKey(key), &f);
                    }
                }
                Event::WillCleared | Event::Disconnect { .. } | Event::Acknowledged(_) => {}
            }
        }
    }
}

pub(crate) fn retain_handling(qos: QoS, rh: RetainHandling) -> SubscriptionOptions {
    SubscriptionOptions {
        retain_handling: rh,
        ..options(qos)
    }
}
