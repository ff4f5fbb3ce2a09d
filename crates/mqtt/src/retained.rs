//! The retained-message store: the last retained message of each topic (MQTT 5.0 §3.3.1.3).
//!
//! Topics are stored level by level, so that the retained messages a new subscription receives
//! are found by walking its filter, without scanning every topic.

use std::collections::HashMap;
use std::time::Instant;

use crate::message::Message;
use crate::topic::{TopicFilter, TopicName};

type NodeId = u32;
const ROOT: NodeId = 0;

#[derive(Debug, Default)]
struct Node {
    children: HashMap<Box<str>, NodeId>,
    message: Option<Message>,
    parent: Option<(NodeId, Box<str>)>,
}

/// What [`RetainedStore::retain`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetainOutcome {
    /// The topic had no retained message and now has one.
    Stored,
    /// The topic's retained message was replaced.
    Replaced,
    /// An empty payload removed the topic's retained message ([MQTT-3.3.1-6]).
    Cleared,
    /// An empty payload for a topic with no retained message: nothing changed.
    Unchanged,
    /// Storing it would pass the store's [`RetainedLimits`]: nothing changed (the message is
    /// still delivered to current subscribers; only its storage is refused).
    Refused,
}

/// How much the whole broker keeps as retained messages: a bound on the memory any set of
/// clients can make it hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetainedLimits {
    /// Most retained messages (topics with one).
    pub max_messages: usize,
    /// Most bytes of topics and payloads, added up over all retained messages.
    pub max_bytes: usize,
}

impl RetainedLimits {
    /// No bound beyond memory.
    pub const UNLIMITED: Self = Self {
        max_messages: usize::MAX,
        max_bytes: usize::MAX,
    };
}

/// The bytes a retained message is charged for: its topic and payload.
fn charged_bytes(message: &Message) -> usize {
    message.topic.as_str().len() + message.payload.len()
}

/// Retained messages by topic. Expired messages are never returned; they are dropped by
/// [`RetainedStore::remove_expired`] or when their topic is written again.
#[derive(Debug)]
pub struct RetainedStore {
    nodes: Vec<Node>,
    free: Vec<NodeId>,
    len: usize,
    bytes: usize,
    limits: RetainedLimits,
}

impl Default for RetainedStore {
    fn default() -> Self {
        Self::new()
    }
}

impl RetainedStore {
    /// An empty store with no limits.
    pub fn new() -> Self {
        Self::with_limits(RetainedLimits::UNLIMITED)
    }

    /// An empty store that refuses messages beyond `limits`.
    pub fn with_limits(limits: RetainedLimits) -> Self {
        Self {
            nodes: vec![Node::default()],
            free: Vec::new(),
            len: 0,
            bytes: 0,
            limits,
        }
    }

    /// Bytes of topics and payloads held (what [`RetainedLimits::max_bytes`] bounds).
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Whether [`RetainedStore::retain`] would store `message` (an empty payload, which
    /// clears, always has room; a replacement is charged only for what it adds).
    pub fn has_room(&self, message: &Message) -> bool {
        if message.payload.is_empty() {
            return true;
        }
        let existing = self
            .find(&message.topic)
            .and_then(|node| self.nodes[node as usize].message.as_ref());
        let (count, freed) = match existing {
            Some(old) => (self.len, charged_bytes(old)),
            None => (self.len.saturating_add(1), 0),
        };
        count <= self.limits.max_messages
            && (self.bytes - freed).saturating_add(charged_bytes(message)) <= self.limits.max_bytes
    }

    /// Number of stored messages, expired ones included until they are removed.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the store holds no message.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Stores `message` as its topic's retained message, or clears the topic if its payload is
    /// empty ([MQTT-3.3.1-5], [MQTT-3.3.1-6]). The stored copy has its RETAIN flag set.
    pub fn retain(&mut self, message: &Message) -> RetainOutcome {
        if message.payload.is_empty() {
            return match self.remove(&message.topic) {
                Some(_) => RetainOutcome::Cleared,
                None => RetainOutcome::Unchanged,
            };
        }
        if !self.has_room(message) {
            return RetainOutcome::Refused;
        }
        let mut node = ROOT;
        for level in message.topic.as_str().split('/') {
            node = self.child_or_insert(node, level);
        }
        let mut stored = message.clone();
        if !stored.retain {
            stored.make_mut().retain = true;
        }
        self.bytes += charged_bytes(&stored);
        match self.nodes[node as usize].message.replace(stored) {
            Some(old) => {
                self.bytes -= charged_bytes(&old);
                RetainOutcome::Replaced
            }
            None => {
                self.len += 1;
                RetainOutcome::Stored
            }
        }
    }

    /// Removes and returns the retained message of `topic`.
    pub fn remove(&mut self, topic: &TopicName) -> Option<Message> {
        let node = self.find(topic)?;
        let removed = self.nodes[node as usize].message.take()?;
        self.len -= 1;
        self.bytes -= charged_bytes(&removed);
        self.prune(node);
        Some(removed)
    }

    /// The retained message of `topic`, unless it has expired at `now`.
    pub fn get(&self, topic: &TopicName, now: Instant) -> Option<&Message> {
        let node = self.find(topic)?;
        self.nodes[node as usize]
            .message
            .as_ref()
            .filter(|m| !m.is_expired(now))
    }

    /// Appends to `out` the unexpired retained messages whose topics match `filter`: what a new
    /// subscription receives (§3.3.1.3). Leading wildcards skip `$` topics ([MQTT-4.7.2-1]).
    pub fn matching(&self, filter: &TopicFilter, now: Instant, out: &mut Vec<Message>) {
        let levels: Vec<&str> = filter.levels().collect();
        let mut stack = vec![(ROOT, 0usize)];
        while let Some((id, depth)) = stack.pop() {
            let node = &self.nodes[id as usize];
            let at_root = id == ROOT;
            let Some(&level) = levels.get(depth) else {
                out.extend(node.message.iter().filter(|m| !m.is_expired(now)).cloned());
                continue;
            };
            match level {
                "#" => self.collect_subtree(id, at_root, now, out),
                "+" => stack.extend(
                    node.children
                        .iter()
                        .filter(|(name, _)| !(at_root && name.starts_with('$')))
                        .map(|(_, &child)| (child, depth + 1)),
                ),
                _ => {
                    if let Some(&child) = node.children.get(level) {
                        stack.push((child, depth + 1));
                    }
                }
            }
        }
    }

    /// Drops every message that has expired at `now`; returns how many.
    pub fn remove_expired(&mut self, now: Instant) -> usize {
        let expired: Vec<NodeId> = (0..self.nodes.len() as NodeId)
            .filter(|&id| {
                self.nodes[id as usize]
                    .message
                    .as_ref()
                    .is_some_and(|m| m.is_expired(now))
            })
            .collect();
        let count = expired.len();
        for id in expired {
            if let Some(old) = self.nodes[id as usize].message.take() {
                self.bytes -= charged_bytes(&old);
            }
            self.len -= 1;
            self.prune(id);
        }
        count
    }

    /// Every message at `id` and below (the parent level matches `#` too).
    fn collect_subtree(&self, id: NodeId, skip_system: bool, now: Instant, out: &mut Vec<Message>) {
        let mut stack = vec![id];
        while let Some(id) = stack.pop() {
            let node = &self.nodes[id as usize];
            out.extend(node.message.iter().filter(|m| !m.is_expired(now)).cloned());
            stack.extend(
                node.children
                    .iter()
                    .filter(|(name, _)| !(skip_system && id == ROOT && name.starts_with('$')))
                    .map(|(_, &child)| child),
            );
        }
    }

    fn find(&self, topic: &TopicName) -> Option<NodeId> {
        let mut node = ROOT;
        for level in topic.as_str().split('/') {
            node = *self.nodes[node as usize].children.get(level)?;
        }
        Some(node)
    }

    fn child_or_insert(&mut self, parent: NodeId, level: &str) -> NodeId {
        if let Some(&id) = self.nodes[parent as usize].children.get(level) {
            return id;
        }
        let node = Node {
            parent: Some((parent, level.into())),
            ..Node::default()
        };
        let id = match self.free.pop() {
            Some(id) => {
                self.nodes[id as usize] = node;
                id
            }
            None => {
                self.nodes.push(node);
                (self.nodes.len() - 1) as NodeId
            }
        };
        self.nodes[parent as usize]
            .children
            .insert(level.into(), id);
        id
    }

    fn prune(&mut self, mut id: NodeId) {
        while id != ROOT {
            let node = &self.nodes[id as usize];
            if node.message.is_some() || !node.children.is_empty() {
                return;
            }
            let Some((parent, level)) = self.nodes[id as usize].parent.take() else {
                return;
            };
            self.nodes[parent as usize].children.remove(&level);
            self.free.push(id);
            id = parent;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use bytes::Bytes;
    use proptest::prelude::*;
    use roost_codec::{PublishProperties, QoS};

    use super::*;
    use crate::topic::{TopicLimits, topic_name};

    fn msg(topic: &str, payload: &'static [u8], expiry: Option<u32>, now: Instant) -> Message {
        let properties = PublishProperties {
            message_expiry_interval: expiry,
            ..PublishProperties::default()
        };
        let topic = topic_name(topic, &TopicLimits::MQTT).unwrap();
        Message::new(
            topic,
            Bytes::from_static(payload),
            QoS::AtLeastOnce,
            true,
            properties,
            now,
        )
    }

    fn topics(store: &RetainedStore, filter: &str, now: Instant) -> Vec<String> {
        let filter = TopicFilter::new(filter, &TopicLimits::MQTT).unwrap();
        let mut out = Vec::new();
        store.matching(&filter, now, &mut out);
        let mut names: Vec<String> = out.iter().map(|m| m.topic.to_string()).collect();
        names.sort();
        names
    }

    #[test]
    fn the_store_refuses_a_new_topic_at_its_message_limit_but_replaces_existing_ones() {
        let now = Instant::now();
        let mut store = RetainedStore::with_limits(RetainedLimits {
            max_messages: 2,
            max_bytes: usize::MAX,
        });
        assert_eq!(
            store.retain(&msg("a", b"1", None, now)),
            RetainOutcome::Stored
        );
        assert_eq!(
            store.retain(&msg("b", b"1", None, now)),
            RetainOutcome::Stored
        );
        let third = msg("c", b"1", None, now);
        assert!(!store.has_room(&third));
        assert_eq!(store.retain(&third), RetainOutcome::Refused);
        assert_eq!(store.len(), 2);
        assert_eq!(
            store.retain(&msg("a", b"2", None, now)),
            RetainOutcome::Replaced
        );
        assert_eq!(
            store.retain(&msg("a", b"", None, now)),
            RetainOutcome::Cleared
        );
        assert_eq!(store.retain(&third), RetainOutcome::Stored);
    }

    #[test]
    fn the_store_counts_topic_and_payload_bytes_against_its_byte_limit() {
        let now = Instant::now();
        let mut store = RetainedStore::with_limits(RetainedLimits {
            max_messages: usize::MAX,
            max_bytes: 10,
        });
        assert_eq!(
            store.retain(&msg("ab", b"123", None, now)),
            RetainOutcome::Stored
        );
        assert_eq!(store.bytes(), 5);
        assert_eq!(
            store.retain(&msg("cd", b"1234", None, now)),
            RetainOutcome::Refused
        );
        // A replacement is charged only for what it adds.
        assert_eq!(
            store.retain(&msg("ab", b"12345678", None, now)),
            RetainOutcome::Replaced
        );
        assert_eq!(store.bytes(), 10);
        store.remove(&topic_name("ab", &TopicLimits::MQTT).unwrap());
        assert_eq!(store.bytes(), 0);
        assert!(store.is_empty());
    }

    #[test]
    fn a_retained_message_is_replaced_by_the_next_one_on_its_topic() {
        let now = Instant::now();
        let mut store = RetainedStore::new();
        assert_eq!(
            store.retain(&msg("a/b", b"1", None, now)),
            RetainOutcome::Stored
        );
        assert_eq!(
            store.retain(&msg("a/b", b"2", None, now)),
            RetainOutcome::Replaced
        );
        assert_eq!(store.len(), 1);
        let topic = topic_name("a/b", &TopicLimits::MQTT).unwrap();
        assert_eq!(&store.get(&topic, now).unwrap().payload[..], b"2");
    }

    #[test]
    fn retained_message_is_cleared_by_an_empty_payload() {
        let now = Instant::now();
        let mut store = RetainedStore::new();
        store.retain(&msg("a/b", b"1", None, now));
        assert_eq!(
            store.retain(&msg("a/b", b"", None, now)),
            RetainOutcome::Cleared
        );
        assert_eq!(
            store.retain(&msg("a/b", b"", None, now)),
            RetainOutcome::Unchanged
        );
        assert!(store.is_empty());
        assert_eq!(
            store.nodes.len() - store.free.len(),
            1,
            "the trie is pruned"
        );
    }

    #[test]
    fn the_stored_copy_carries_the_retain_flag() {
        let now = Instant::now();
        let mut store = RetainedStore::new();
        let mut m = msg("a", b"1", None, now);
        m.make_mut().retain = false;
        store.retain(&m);
        let topic = topic_name("a", &TopicLimits::MQTT).unwrap();
        assert!(store.get(&topic, now).unwrap().retain);
    }

    #[test]
    fn wildcard_filters_find_retained_messages_including_the_parent_of_hash() {
        let now = Instant::now();
        let mut store = RetainedStore::new();
        for t in ["a", "a/b", "a/b/c", "a/c", "b", "$SYS/x", "/x"] {
            store.retain(&msg(t, b"1", None, now));
        }
        assert_eq!(topics(&store, "a/#", now), ["a", "a/b", "a/b/c", "a/c"]);
        assert_eq!(topics(&store, "a/+", now), ["a/b", "a/c"]);
        assert_eq!(topics(&store, "+/+", now), ["/x", "a/b", "a/c"]);
        assert_eq!(
            topics(&store, "#", now),
            ["/x", "a", "a/b", "a/b/c", "a/c", "b"]
        );
        assert_eq!(topics(&store, "$SYS/#", now), ["$SYS/x"]);
        assert_eq!(topics(&store, "a/b", now), ["a/b"]);
        assert!(topics(&store, "a/b/c/d", now).is_empty());
    }

    #[test]
    fn expired_retained_messages_are_not_returned_and_can_be_purged() {
        let now = Instant::now();
        let mut store = RetainedStore::new();
        store.retain(&msg("a/1", b"1", Some(10), now));
        store.retain(&msg("a/2", b"1", None, now));
        let later = now + Duration::from_secs(10);
        assert_eq!(topics(&store, "a/+", later), ["a/2"]);
        let topic = topic_name("a/1", &TopicLimits::MQTT).unwrap();
        assert!(store.get(&topic, later).is_none());
        assert_eq!(store.remove_expired(later), 1);
        assert_eq!(store.len(), 1);
    }

    proptest! {
        #[test]
        fn filter_lookup_agrees_with_matching_each_topic(
            topics in prop::collection::vec(
                prop::collection::vec(prop::sample::select(vec!["a", "b", "", "$s"]), 1..4), 0..20),
            filter in prop::collection::vec(prop::sample::select(vec!["a", "b", "", "$s", "+", "#"]), 1..4),
        ) {
            let now = Instant::now();
            let mut store = RetainedStore::new();
            let mut model = BTreeMap::new();
            for levels in topics {
                let t = levels.join("/");
                if t.is_empty() { continue; }
                store.retain(&msg(&t, b"1", None, now));
                model.insert(t, ());
            }
            let Ok(filter) = TopicFilter::new(&filter.join("/"), &TopicLimits::MQTT) else {
                return Ok(());
            };
            let mut out = Vec::new();
            store.matching(&filter, now, &mut out);
            let mut got: Vec<String> = out.iter().map(|m| m.topic.to_string()).collect();
            got.sort();
            let expected: Vec<String> = model
                .keys()
                .filter(|t| filter.matches(&topic_name(t, &TopicLimits::MQTT).unwrap()))
                .cloned()
                .collect();
            prop_assert_eq!(got, expected);
        }
    }
}
