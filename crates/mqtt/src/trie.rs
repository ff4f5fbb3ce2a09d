//! The subscription trie: which sessions want a message published on a topic.
//!
//! Filters are stored level by level; `+` is its own edge and `a/#` is kept on the node of `a`,
//! so one walk of the topic's levels finds every matching filter without looking at
//! non-matching ones. Each node keeps its subscribers in ordered maps so that the output is
//! deterministic and inserting or removing one of a thousand subscribers stays cheap.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::QoS;
use crate::topic::{ShareName, SubscriptionFilter, TopicFilter, TopicName};

/// A session's identity in the router: a small copyable id the caller chooses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionKey(pub u64);

/// What the trie keeps for one subscription: what matching and delivery need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubscriptionEntry {
    /// Maximum QoS granted for this subscription.
    pub qos: QoS,
    /// Do not deliver messages the subscribing session published itself (v5).
    pub no_local: bool,
    /// Keep the RETAIN flag of forwarded messages as published (v5); otherwise it is cleared.
    pub retain_as_published: bool,
    /// Subscription identifier to attach to deliveries (v5, 1..=268,435,455).
    pub id: Option<NonZeroU32>,
}

/// One session that should receive a message: the union of its matching non-shared
/// subscriptions ([MQTT-3.3.4-2], [MQTT-3.3.4-3]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match {
    /// The receiving session.
    pub session: SessionKey,
    /// Maximum QoS over the matching subscriptions; deliver at min(publish QoS, this).
    pub qos: QoS,
    /// Whether any matching subscription asked for Retain As Published.
    pub retain_as_published: bool,
    /// The identifiers of all matching subscriptions that have one ([MQTT-3.3.4-4]).
    pub subscription_ids: Vec<NonZeroU32>,
}

impl Match {
    fn from_subscription(session: SessionKey, sub: &SubscriptionEntry) -> Self {
        Self {
            session,
            qos: sub.qos,
            retain_as_published: sub.retain_as_published,
            subscription_ids: sub.id.into_iter().collect(),
        }
    }

    fn absorb(&mut self, other: &mut Self) {
        self.qos = self.qos.max(other.qos);
        self.retain_as_published |= other.retain_as_published;
        self.subscription_ids.append(&mut other.subscription_ids);
    }
}

/// One shared-subscription group that matched: exactly one of its members should get the message.
///
/// Members may be offline persistent sessions, so the trie does not choose: [`SharedMatch::pick`]
/// takes the caller's view of which members are online and walks round-robin from a cursor the
/// trie advances on every match.
#[derive(Debug, Clone)]
pub struct SharedMatch {
    /// The group's share name.
    pub group: ShareName,
    /// The group's filter (two groups with the same name but different filters are distinct).
    pub filter: TopicFilter,
    /// Every member and its subscription, in session order.
    pub members: Arc<[(SessionKey, SubscriptionEntry)]>,
    start: usize,
}

impl SharedMatch {
    /// The first member, round-robin, for which `eligible` is true (typically: online and not
    /// over its inflight window), as a [`Match`]; `None` if no member is eligible.
    pub fn pick(&self, mut eligible: impl FnMut(SessionKey) -> bool) -> Option<Match> {
        let n = self.members.len();
        (0..n)
            .map(|i| &self.members[(self.start + i) % n])
            .find(|(session, _)| eligible(*session))
            .map(|(session, sub)| Match::from_subscription(*session, sub))
    }
}

/// The result buffer of [`SubscriptionTrie::matches`], reused across calls to avoid allocating.
#[derive(Debug, Default)]
pub struct MatchSet {
    /// Sessions receiving the message through ordinary subscriptions, one entry per session.
    pub sessions: Vec<Match>,
    /// Shared groups that matched, one entry per (group, filter).
    pub shared: Vec<SharedMatch>,
    stack: Vec<(NodeId, Option<usize>)>,
}

impl MatchSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Empties the set, keeping its capacity.
    pub fn clear(&mut self) {
        self.sessions.clear();
        self.shared.clear();
        self.stack.clear();
    }
}

type NodeId = u32;
const ROOT: NodeId = 0;

#[derive(Debug)]
struct Group {
    filter: TopicFilter,
    members: BTreeMap<SessionKey, SubscriptionEntry>,
    snapshot: Arc<[(SessionKey, SubscriptionEntry)]>,
    cursor: AtomicUsize,
}

impl Group {
    fn new(filter: TopicFilter) -> Self {
        Self {
            filter,
            members: BTreeMap::new(),
            snapshot: Arc::from([]),
            cursor: AtomicUsize::new(0),
        }
    }

    fn refresh(&mut self) {
        self.snapshot = self.members.iter().map(|(k, s)| (*k, *s)).collect();
    }
}

#[derive(Debug, Default)]
struct Subscribers {
    plain: BTreeMap<SessionKey, SubscriptionEntry>,
    shared: BTreeMap<ShareName, Group>,
}

impl Subscribers {
    fn is_empty(&self) -> bool {
        self.plain.is_empty() && self.shared.is_empty()
    }

    fn insert(
        &mut self,
        session: SessionKey,
        filter: &SubscriptionFilter,
        sub: SubscriptionEntry,
    ) -> Option<SubscriptionEntry> {
        match filter {
            SubscriptionFilter::Plain(_) => self.plain.insert(session, sub),
            SubscriptionFilter::Shared(shared) => {
                let group = self
                    .shared
                    .entry(shared.group.clone())
                    .or_insert_with(|| Group::new(shared.filter.clone()));
                let previous = group.members.insert(session, sub);
                group.refresh();
                previous
            }
        }
    }

    fn remove(
        &mut self,
        session: SessionKey,
        group: Option<&ShareName>,
    ) -> Option<SubscriptionEntry> {
        match group {
            None => self.plain.remove(&session),
            Some(name) => {
                let entry = self.shared.get_mut(name)?;
                let removed = entry.members.remove(&session)?;
                if entry.members.is_empty() {
                    self.shared.remove(name);
                } else {
                    entry.refresh();
                }
                Some(removed)
            }
        }
    }

    /// Appends this set's matches; returns whether any plain subscriber was added.
    fn collect(&self, publisher: Option<SessionKey>, out: &mut MatchSet) -> bool {
        let before = out.sessions.len();
        out.sessions.extend(
            self.plain
                .iter()
                .filter(|(session, sub)| !(sub.no_local && Some(**session) == publisher))
                .map(|(session, sub)| Match::from_subscription(*session, sub)),
        );
        for (name, group) in &self.shared {
            let len = group.snapshot.len();
            let start = group.cursor.fetch_add(1, Ordering::Relaxed) % len.max(1);
            out.shared.push(SharedMatch {
                group: name.clone(),
                filter: group.filter.clone(),
                members: Arc::clone(&group.snapshot),
                start,
            });
        }
        out.sessions.len() > before
    }
}

#[derive(Debug)]
enum Edge {
    Level(Box<str>),
    Plus,
}

#[derive(Debug, Default)]
struct Node {
    children: HashMap<Box<str>, NodeId>,
    plus: Option<NodeId>,
    /// Subscribers of the filter that ends at this node.
    exact: Option<Box<Subscribers>>,
    /// Subscribers of this node's filter followed by `/#` (or of `#` at the root).
    hash: Option<Box<Subscribers>>,
    parent: Option<(NodeId, Edge)>,
}

impl Node {
    fn is_unused(&self) -> bool {
        self.children.is_empty()
            && self.plus.is_none()
            && self.exact.is_none()
            && self.hash.is_none()
    }
}

/// Subscriptions of all sessions, indexed by filter levels.
///
/// A session has at most one subscription per [`SubscriptionFilter`]; subscribing again replaces
/// its options ([MQTT-3.8.4-3]).
#[derive(Debug)]
pub struct SubscriptionTrie {
    nodes: Vec<Node>,
    free: Vec<NodeId>,
    by_session: HashMap<SessionKey, HashSet<SubscriptionFilter>>,
    len: usize,
    /// Distinct filters and their subscriber counts, kept only once asked for
    /// ([`SubscriptionTrie::track_interest`]): a cluster node subscribes to what its clients want.
    interest: Option<Interest>,
}

/// A filter that gained its first subscriber (`added`) or lost its last one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterestChange {
    /// The filter (shared filters keep their group).
    pub filter: SubscriptionFilter,
    /// Whether the trie now has it (true) or no longer has it (false).
    pub added: bool,
}

#[derive(Debug, Default)]
struct Interest {
    counts: HashMap<SubscriptionFilter, usize>,
    changes: Vec<InterestChange>,
}

impl Interest {
    fn add(&mut self, filter: &SubscriptionFilter) {
        let count = self.counts.entry(filter.clone()).or_insert(0);
        *count += 1;
        if *count == 1 {
            self.changes.push(InterestChange {
                filter: filter.clone(),
                added: true,
            });
        }
    }

    fn remove(&mut self, filter: &SubscriptionFilter) {
        if let Some(count) = self.counts.get_mut(filter) {
            *count -= 1;
            if *count == 0 {
                self.counts.remove(filter);
                self.changes.push(InterestChange {
                    filter: filter.clone(),
                    added: false,
                });
            }
        }
    }
}

impl Default for SubscriptionTrie {
    fn default() -> Self {
        Self::new()
    }
}

impl SubscriptionTrie {
    /// An empty trie.
    pub fn new() -> Self {
        Self {
            nodes: vec![Node::default()],
            free: Vec::new(),
            by_session: HashMap::new(),
            len: 0,
            interest: None,
        }
    }

    /// Starts keeping the distinct filters: every filter already held is reported as added by
    /// the next [`SubscriptionTrie::take_interest_changes`], and from then on each filter's
    /// first subscriber and last unsubscriber.
    pub fn track_interest(&mut self) {
        if self.interest.is_some() {
            return;
        }
        let mut interest = Interest::default();
        for filters in self.by_session.values() {
            for filter in filters {
                interest.add(filter);
            }
        }
        self.interest = Some(interest);
    }

    /// The interest changes since the last call, in order (empty unless tracked).
    pub fn take_interest_changes(&mut self) -> Vec<InterestChange> {
        self.interest
            .as_mut()
            .map(|interest| std::mem::take(&mut interest.changes))
            .unwrap_or_default()
    }

    /// Number of subscriptions (plain and shared memberships).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no subscriptions.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The filters `session` is subscribed to, in no particular order.
    pub fn filters_of(&self, session: SessionKey) -> impl Iterator<Item = &SubscriptionFilter> {
        self.by_session.get(&session).into_iter().flatten()
    }

    /// Adds or replaces `session`'s subscription to `filter`; returns the replaced options.
    pub fn insert(
        &mut self,
        session: SessionKey,
        filter: &SubscriptionFilter,
        sub: SubscriptionEntry,
    ) -> Option<SubscriptionEntry> {
        let mut node = ROOT;
        let mut hash = false;
        for level in filter.filter().levels() {
            match level {
                "#" => hash = true,
                "+" => node = self.plus_child(node),
                _ => node = self.level_child(node, level),
            }
        }
        let n = &mut self.nodes[node as usize];
        let slot = if hash { &mut n.hash } else { &mut n.exact };
        let previous = slot
            .get_or_insert_with(Box::default)
            .insert(session, filter, sub);
        if previous.is_none() {
            self.len += 1;
            if let Some(interest) = &mut self.interest {
                interest.add(filter);
            }
            self.by_session
                .entry(session)
                .or_default()
                .insert(filter.clone());
        }
        previous
    }

    /// Removes `session`'s subscription to `filter`; returns its options if it existed.
    pub fn remove(
        &mut self,
        session: SessionKey,
        filter: &SubscriptionFilter,
    ) -> Option<SubscriptionEntry> {
        let removed = self.detach(session, filter)?;
        if let Some(interest) = &mut self.interest {
            interest.remove(filter);
        }
        if let Some(filters) = self.by_session.get_mut(&session) {
            filters.remove(filter);
            if filters.is_empty() {
                self.by_session.remove(&session);
            }
        }
        Some(removed)
    }

    /// Removes every subscription of `session`; returns how many there were.
    pub fn remove_all(&mut self, session: SessionKey) -> usize {
        let Some(filters) = self.by_session.remove(&session) else {
            return 0;
        };
        for filter in &filters {
            if self.detach(session, filter).is_some()
                && let Some(interest) = &mut self.interest
            {
                interest.remove(filter);
            }
        }
        filters.len()
    }

    /// Collects into `out` (cleared first) the subscriptions matching `topic`: one [`Match`] per
    /// session for ordinary subscriptions, merged across overlapping filters, and one
    /// [`SharedMatch`] per matching shared group. `publisher` is the session that published,
    /// whose No Local subscriptions are skipped ([MQTT-3.8.3-3]).
    pub fn matches(&self, topic: &TopicName, publisher: Option<SessionKey>, out: &mut MatchSet) {
        out.clear();
        let name = topic.as_str();
        let system = topic.is_system();
        let mut contributing_sets = 0usize;
        let mut stack = std::mem::take(&mut out.stack);
        stack.push((ROOT, Some(0)));
        while let Some((id, rest)) = stack.pop() {
            let node = &self.nodes[id as usize];
            let at_root = id == ROOT;
            // [MQTT-4.7.2-1]: a wildcard first level never matches a `$` topic.
            let wildcards_allowed = !(at_root && system);
            if let (Some(subs), true) = (&node.hash, wildcards_allowed) {
                contributing_sets += usize::from(subs.collect(publisher, out));
            }
            let Some(start) = rest else {
                if let Some(subs) = &node.exact {
                    contributing_sets += usize::from(subs.collect(publisher, out));
                }
                continue;
            };
            let (level, next) = match name[start..].find('/') {
                Some(i) => (&name[start..start + i], Some(start + i + 1)),
                None => (&name[start..], None),
            };
            if let (Some(plus), true) = (node.plus, wildcards_allowed) {
                stack.push((plus, next));
            }
            if let Some(&child) = node.children.get(level) {
                stack.push((child, next));
            }
        }
        out.stack = stack;
        if contributing_sets > 1 {
            merge_per_session(&mut out.sessions);
        }
    }

    /// Removes the subscription from its node, leaving the per-session index alone.
    fn detach(
        &mut self,
        session: SessionKey,
        filter: &SubscriptionFilter,
    ) -> Option<SubscriptionEntry> {
        let mut node = ROOT;
        let mut hash = false;
        for level in filter.filter().levels() {
            node = match level {
                "#" => {
                    hash = true;
                    node
                }
                "+" => self.nodes[node as usize].plus?,
                _ => *self.nodes[node as usize].children.get(level)?,
            };
        }
        let n = &mut self.nodes[node as usize];
        let slot = if hash { &mut n.hash } else { &mut n.exact };
        let subscribers = slot.as_mut()?;
        let removed = subscribers.remove(session, filter.group())?;
        if subscribers.is_empty() {
            *slot = None;
        }
        self.len -= 1;
        self.prune(node);
        Some(removed)
    }

    fn plus_child(&mut self, parent: NodeId) -> NodeId {
        if let Some(id) = self.nodes[parent as usize].plus {
            return id;
        }
        let id = self.alloc(parent, Edge::Plus);
        self.nodes[parent as usize].plus = Some(id);
        id
    }

    fn level_child(&mut self, parent: NodeId, level: &str) -> NodeId {
        if let Some(&id) = self.nodes[parent as usize].children.get(level) {
            return id;
        }
        let id = self.alloc(parent, Edge::Level(level.into()));
        self.nodes[parent as usize]
            .children
            .insert(level.into(), id);
        id
    }

    fn alloc(&mut self, parent: NodeId, edge: Edge) -> NodeId {
        let node = Node {
            parent: Some((parent, edge)),
            ..Node::default()
        };
        match self.free.pop() {
            Some(id) => {
                self.nodes[id as usize] = node;
                id
            }
            None => {
                self.nodes.push(node);
                (self.nodes.len() - 1) as NodeId
            }
        }
    }

    /// Frees `id` and its ancestors while they hold nothing.
    fn prune(&mut self, mut id: NodeId) {
        while id != ROOT && self.nodes[id as usize].is_unused() {
            let Some((parent, edge)) = self.nodes[id as usize].parent.take() else {
                return;
            };
            let p = &mut self.nodes[parent as usize];
            match edge {
                Edge::Plus => p.plus = None,
                Edge::Level(level) => {
                    p.children.remove(&level);
                }
            }
            self.nodes[id as usize] = Node::default();
            self.free.push(id);
            id = parent;
        }
    }
}

/// Merges entries of the same session into one (sorted by session afterwards).
fn merge_per_session(sessions: &mut Vec<Match>) {
    sessions.sort_unstable_by_key(|m| m.session);
    sessions.dedup_by(|later, kept| {
        if later.session == kept.session {
            kept.absorb(later);
            true
        } else {
            false
        }
    });
    for m in sessions.iter_mut() {
        m.subscription_ids.sort_unstable();
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use proptest::prelude::*;

    use super::*;
    use crate::topic::TopicLimits;

    fn sub(qos: QoS) -> SubscriptionEntry {
        SubscriptionEntry {
            qos,
            no_local: false,
            retain_as_published: false,
            id: None,
        }
    }

    fn with_id(qos: QoS, id: u32) -> SubscriptionEntry {
        SubscriptionEntry {
            id: NonZeroU32::new(id),
            ..sub(qos)
        }
    }

    fn f(s: &str) -> SubscriptionFilter {
        SubscriptionFilter::parse(s, &TopicLimits::MQTT).unwrap()
    }

    fn t(s: &str) -> TopicName {
        crate::topic::topic_name(s, &TopicLimits::MQTT).unwrap()
    }

    fn sessions(trie: &SubscriptionTrie, topic: &str) -> Vec<u64> {
        let mut out = MatchSet::new();
        trie.matches(&t(topic), None, &mut out);
        let mut keys: Vec<u64> = out.sessions.iter().map(|m| m.session.0).collect();
        keys.sort_unstable();
        keys
    }

    const A: SessionKey = SessionKey(1);
    const B: SessionKey = SessionKey(2);
    const C: SessionKey = SessionKey(3);

    #[test]
    fn tracked_interest_reports_each_filters_first_subscriber_and_last_unsubscriber() {
        let mut trie = SubscriptionTrie::new();
        trie.insert(A, &f("a/#"), sub(QoS::AtMostOnce));
        assert!(trie.take_interest_changes().is_empty(), "not tracked yet");
        trie.track_interest();
        let added = |s: &str| InterestChange {
            filter: f(s),
            added: true,
        };
        let removed = |s: &str| InterestChange {
            filter: f(s),
            added: false,
        };
        assert_eq!(trie.take_interest_changes(), [added("a/#")]);
        trie.insert(B, &f("a/#"), sub(QoS::AtLeastOnce));
        trie.insert(B, &f("a/#"), sub(QoS::AtMostOnce)); // a replacement, not a new one
        trie.insert(B, &f("$share/g/x"), sub(QoS::AtMostOnce));
        assert_eq!(trie.take_interest_changes(), [added("$share/g/x")]);
        trie.remove(A, &f("a/#"));
        trie.remove(A, &f("a/#")); // absent: changes nothing
        assert!(trie.take_interest_changes().is_empty(), "B still holds a/#");
        trie.remove_all(B);
        let mut changes = trie.take_interest_changes();
        changes.sort_by_key(|c| c.filter.filter().as_str().to_owned());
        assert_eq!(changes, [removed("a/#"), removed("$share/g/x")]);
    }

    #[test]
    fn exact_plus_and_hash_filters_match_the_topics_the_spec_says() {
        let mut trie = SubscriptionTrie::new();
        trie.insert(A, &f("sport/tennis/player1"), sub(QoS::AtMostOnce));
        trie.insert(B, &f("sport/+/player1"), sub(QoS::AtMostOnce));
        trie.insert(C, &f("sport/#"), sub(QoS::AtMostOnce));
        assert_eq!(sessions(&trie, "sport/tennis/player1"), [1, 2, 3]);
        assert_eq!(sessions(&trie, "sport/golf/player1"), [2, 3]);
        assert_eq!(sessions(&trie, "sport"), [3]);
        assert_eq!(sessions(&trie, "sports"), Vec::<u64>::new());
    }

    #[test]
    fn leading_wildcards_in_the_trie_skip_dollar_topics() {
        let mut trie = SubscriptionTrie::new();
        trie.insert(A, &f("#"), sub(QoS::AtMostOnce));
        trie.insert(B, &f("+/monitor/Clients"), sub(QoS::AtMostOnce));
        trie.insert(C, &f("$SYS/#"), sub(QoS::AtMostOnce));
        assert_eq!(sessions(&trie, "$SYS/monitor/Clients"), [3]);
        assert_eq!(sessions(&trie, "x/monitor/Clients"), [1, 2]);
    }

    #[test]
    fn overlapping_subscriptions_yield_one_match_with_max_qos_and_all_identifiers() {
        let mut trie = SubscriptionTrie::new();
        trie.insert(A, &f("a/+"), with_id(QoS::AtMostOnce, 7));
        trie.insert(A, &f("a/#"), with_id(QoS::ExactlyOnce, 3));
        trie.insert(A, &f("a/b"), sub(QoS::AtLeastOnce));
        let mut out = MatchSet::new();
        trie.matches(&t("a/b"), None, &mut out);
        assert_eq!(
            out.sessions,
            [Match {
                session: A,
                qos: QoS::ExactlyOnce,
                retain_as_published: false,
                subscription_ids: vec![NonZeroU32::new(3).unwrap(), NonZeroU32::new(7).unwrap()],
            }]
        );
    }

    #[test]
    fn subscribing_again_to_the_same_filter_replaces_the_options() {
        let mut trie = SubscriptionTrie::new();
        assert_eq!(trie.insert(A, &f("a"), sub(QoS::AtMostOnce)), None);
        assert_eq!(
            trie.insert(A, &f("a"), sub(QoS::AtLeastOnce)),
            Some(sub(QoS::AtMostOnce))
        );
        assert_eq!(trie.len(), 1);
        let mut out = MatchSet::new();
        trie.matches(&t("a"), None, &mut out);
        assert_eq!(out.sessions[0].qos, QoS::AtLeastOnce);
    }

    #[test]
    fn no_local_skips_only_the_publishers_own_no_local_subscriptions() {
        let mut trie = SubscriptionTrie::new();
        let no_local = SubscriptionEntry {
            no_local: true,
            ..with_id(QoS::AtLeastOnce, 1)
        };
        trie.insert(A, &f("a/#"), no_local);
        trie.insert(A, &f("a/b"), with_id(QoS::AtMostOnce, 2));
        trie.insert(B, &f("a/#"), no_local);
        let mut out = MatchSet::new();
        trie.matches(&t("a/b"), Some(A), &mut out);
        assert_eq!(out.sessions.len(), 2);
        let a = out.sessions.iter().find(|m| m.session == A).unwrap();
        assert_eq!(a.qos, QoS::AtMostOnce);
        assert_eq!(a.subscription_ids, [NonZeroU32::new(2).unwrap()]);
    }

    #[test]
    fn removing_subscriptions_prunes_the_trie_back_to_empty() {
        let mut trie = SubscriptionTrie::new();
        for filter in ["a/b/c", "a/+/c", "a/#", "#", "+", "$share/g/a/b"] {
            trie.insert(A, &f(filter), sub(QoS::AtMostOnce));
            trie.insert(B, &f(filter), sub(QoS::AtMostOnce));
        }
        assert_eq!(trie.len(), 12);
        assert_eq!(trie.remove(A, &f("a/b/c")), Some(sub(QoS::AtMostOnce)));
        assert_eq!(trie.remove(A, &f("a/b/c")), None);
        assert_eq!(trie.remove_all(A), 5);
        assert_eq!(trie.remove_all(A), 0);
        assert_eq!(sessions(&trie, "a/b/c"), [2]);
        assert_eq!(trie.remove_all(B), 6);
        assert!(trie.is_empty());
        assert_eq!(
            trie.nodes.len() - trie.free.len(),
            1,
            "only the root is left"
        );
    }

    #[test]
    fn a_shared_group_matches_once_and_picks_members_round_robin() {
        let mut trie = SubscriptionTrie::new();
        for s in [A, B, C] {
            trie.insert(s, &f("$share/g/a/+"), sub(QoS::AtLeastOnce));
        }
        trie.insert(A, &f("$share/h/a/+"), sub(QoS::AtLeastOnce));
        let mut out = MatchSet::new();
        let mut picked = Vec::new();
        for _ in 0..6 {
            trie.matches(&t("a/x"), None, &mut out);
            assert!(out.sessions.is_empty());
            assert_eq!(out.shared.len(), 2);
            let g = out.shared.iter().find(|m| m.group.as_str() == "g").unwrap();
            assert_eq!(g.filter.as_str(), "a/+");
            picked.push(g.pick(|_| true).unwrap().session.0);
        }
        assert_eq!(picked, [1, 2, 3, 1, 2, 3]);
    }

    #[test]
    fn a_shared_group_skips_members_the_caller_says_are_offline() {
        let mut trie = SubscriptionTrie::new();
        for s in [A, B, C] {
            trie.insert(s, &f("$share/g/a"), sub(QoS::AtLeastOnce));
        }
        let mut out = MatchSet::new();
        for _ in 0..3 {
            trie.matches(&t("a"), None, &mut out);
            assert_eq!(out.shared[0].pick(|s| s == C).unwrap().session, C);
        }
        assert!(out.shared[0].pick(|_| false).is_none());
        assert_eq!(out.shared[0].members.len(), 3);
    }

    #[test]
    fn a_session_in_a_group_and_with_a_plain_subscription_gets_both() {
        let mut trie = SubscriptionTrie::new();
        trie.insert(A, &f("$share/g/a"), sub(QoS::AtLeastOnce));
        trie.insert(A, &f("a"), sub(QoS::AtMostOnce));
        let mut out = MatchSet::new();
        trie.matches(&t("a"), None, &mut out);
        assert_eq!(out.sessions.len(), 1);
        assert_eq!(out.shared.len(), 1);
    }

    #[test]
    fn a_thousand_subscribers_on_one_topic_and_many_filters_match_quickly() {
        let mut trie = SubscriptionTrie::new();
        for i in 0..100_000u64 {
            let filter = f(&format!("dev/{}/+/{}", i % 1000, i));
            trie.insert(SessionKey(i), &filter, sub(QoS::AtLeastOnce));
        }
        for i in 0..1000u64 {
            trie.insert(SessionKey(i), &f("fleet/telemetry"), sub(QoS::AtMostOnce));
        }
        let mut out = MatchSet::new();
        trie.matches(&t("fleet/telemetry"), None, &mut out);
        assert_eq!(out.sessions.len(), 1000);
        trie.matches(&t("dev/7/x/5007"), None, &mut out);
        assert_eq!(out.sessions.len(), 1);
        assert_eq!(trie.len(), 101_000);
    }

    // --- property test against the naive matcher -------------------------------------------

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u64, String, SubscriptionEntry),
        Remove(u64, String),
        RemoveAll(u64),
    }

    fn level() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec!["a", "b", "", "$s", "+", "#"])
    }

    fn filter_string() -> impl Strategy<Value = String> {
        (
            prop::option::of(prop::sample::select(vec!["g", "h"])),
            prop::collection::vec(level(), 1..5),
        )
            .prop_filter_map("valid filter", |(group, levels)| {
                let mut s = levels.join("/");
                if let Some(g) = group {
                    s = format!("$share/{g}/{s}");
                }
                SubscriptionFilter::parse(&s, &TopicLimits::MQTT)
                    .ok()
                    .map(|_| s)
            })
    }

    fn topic_string() -> impl Strategy<Value = String> {
        prop::collection::vec(prop::sample::select(vec!["a", "b", "", "$s"]), 1..5)
            .prop_map(|levels| levels.join("/"))
            .prop_filter("topic names are not empty", |s| !s.is_empty())
    }

    fn subscription() -> impl Strategy<Value = SubscriptionEntry> {
        (0u8..3, any::<bool>(), any::<bool>(), 0u32..4).prop_map(|(q, nl, rap, id)| {
            SubscriptionEntry {
                qos: [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce][q as usize],
                no_local: nl,
                retain_as_published: rap,
                id: NonZeroU32::new(id),
            }
        })
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (0u64..4, filter_string(), subscription()).prop_map(|(s, f, o)| Op::Insert(s, f, o)),
            2 => (0u64..4, filter_string()).prop_map(|(s, f)| Op::Remove(s, f)),
            1 => (0u64..4).prop_map(Op::RemoveAll),
        ]
    }

    /// Per session: (max qos, any rap, sorted ids) from the plain subscriptions that match.
    fn naive(
        model: &BTreeMap<(u64, SubscriptionFilter), SubscriptionEntry>,
        topic: &TopicName,
        publisher: Option<u64>,
    ) -> (Vec<Match>, BTreeSet<(String, String)>) {
        let mut per_session: BTreeMap<u64, Match> = BTreeMap::new();
        let mut groups = BTreeSet::new();
        for ((session, filter), sub) in model {
            if !filter.filter().matches(topic) {
                continue;
            }
            if let Some(group) = filter.group() {
                groups.insert((group.as_str().to_owned(), filter.filter().to_string()));
                continue;
            }
            if sub.no_local && publisher == Some(*session) {
                continue;
            }
            let mut m = Match::from_subscription(SessionKey(*session), sub);
            match per_session.get_mut(session) {
                Some(kept) => kept.absorb(&mut m),
                None => {
                    per_session.insert(*session, m);
                }
            }
        }
        let mut sessions: Vec<Match> = per_session.into_values().collect();
        for m in &mut sessions {
            m.subscription_ids.sort_unstable();
        }
        (sessions, groups)
    }

    proptest! {
        #[test]
        fn trie_matches_agree_with_the_naive_matcher(
            ops in prop::collection::vec(op(), 1..40),
            topics in prop::collection::vec(topic_string(), 1..8),
            publisher in prop::option::of(0u64..4),
        ) {
            let mut trie = SubscriptionTrie::new();
            let mut model: BTreeMap<(u64, SubscriptionFilter), SubscriptionEntry> = BTreeMap::new();
            for op in ops {
                match op {
                    Op::Insert(s, filter, o) => {
                        let filter = f(&filter);
                        let expected = model.insert((s, filter.clone()), o);
                        prop_assert_eq!(trie.insert(SessionKey(s), &filter, o), expected);
                    }
                    Op::Remove(s, filter) => {
                        let filter = f(&filter);
                        let expected = model.remove(&(s, filter.clone()));
                        prop_assert_eq!(trie.remove(SessionKey(s), &filter), expected);
                    }
                    Op::RemoveAll(s) => {
                        let before = model.len();
                        model.retain(|(session, _), _| *session != s);
                        prop_assert_eq!(trie.remove_all(SessionKey(s)), before - model.len());
                    }
                }
                prop_assert_eq!(trie.len(), model.len());
            }
            let mut out = MatchSet::new();
            for topic in topics {
                let topic = t(&topic);
                trie.matches(&topic, publisher.map(SessionKey), &mut out);
                let (expected_sessions, expected_groups) = naive(&model, &topic, publisher);
                let mut got = out.sessions.clone();
                got.sort_by_key(|m| m.session);
                for m in &mut got {
                    m.subscription_ids.sort_unstable();
                }
                prop_assert_eq!(got, expected_sessions);
                let got_groups: BTreeSet<(String, String)> = out
                    .shared
                    .iter()
                    .map(|m| (m.group.as_str().to_owned(), m.filter.to_string()))
                    .collect();
                prop_assert_eq!(got_groups.len(), out.shared.len(), "one entry per group");
                prop_assert_eq!(got_groups, expected_groups);
            }
            for s in 0..4 {
                trie.remove_all(SessionKey(s));
            }
            prop_assert!(trie.is_empty());
            prop_assert_eq!(trie.nodes.len() - trie.free.len(), 1);
        }
    }
}
