//! What the other nodes want: a node forwards a message to the bus only when some filter held
//! elsewhere matches its topic (or it is retained, which every node stores).
//!
//! NATS already sends a node only what it subscribed to, but a publishing node does not know
//! whether anyone subscribed: without this, a node would encode and send every message its
//! clients publish, and NATS would receive and drop the ones nobody wants — most of a lone
//! node's traffic. So each node announces its filters on `<prefix>.interest` as they gain their
//! first subscriber or lose their last, and keeps the others' in an [`InterestTrie`].
//!
//! Announcements are numbered per node. A receiver that sees a gap (a notice lost while NATS
//! was unreachable), or hears from a node it does not know, asks that node for a snapshot of
//! all its filters (sent on `<prefix>.interest.to.<its origin>`, to it alone); a heartbeat
//! every [`HEARTBEAT`] carries the last number, so a lost last change is found too; a node not
//! heard from for [`FORGET_AFTER`] is forgotten. Until a change arrives, the other node may
//! miss messages published here: a subscription reaches the other nodes within a NATS round
//! trip of its SUBACK.
//!
//! Wire format (every integer big-endian):
//! `0x01 | origin u64 | sequence u64 | kind u8 | body`, where the body is, by kind:
//! `1` changes: `{added u8 | length u16 | filter}+`;
//! `2` heartbeat: empty;
//! `3` snapshot chunk: `first u8 | last u8 | {count u32 | length u16 | filter}*`;
//! `4` sync request: `target origin u64` (0: every node).

use std::collections::HashMap;
use std::time::Duration;

/// How often a node says it is there, with the number of its last change.
pub const HEARTBEAT: Duration = Duration::from_secs(2);
/// A node not heard from for this long is forgotten (its filters no longer draw messages).
pub const FORGET_AFTER: Duration = Duration::from_secs(15);
/// Largest body of one snapshot chunk (NATS's default maximum payload is 1 MiB).
const SNAPSHOT_CHUNK: usize = 256 * 1024;
const VERSION: u8 = 1;

/// Filters held anywhere else, counted, matched against topics by MQTT's rules.
#[derive(Debug, Default)]
pub struct InterestTrie {
    root: Level,
    filters: usize,
}

#[derive(Debug, Default)]
struct Level {
    children: HashMap<Box<str>, Level>,
    /// Filters that end at this level.
    ending: usize,
}

impl InterestTrie {
    pub fn new() -> Self {
        Self::default()
    }

    /// How many filters are held (a filter held twice counts twice).
    pub fn len(&self) -> usize {
        self.filters
    }

    pub fn is_empty(&self) -> bool {
        self.filters == 0
    }

    pub fn add(&mut self, filter: &str) {
        self.add_many(filter, 1);
    }

    /// Adds `count` holders of `filter`.
    pub fn add_many(&mut self, filter: &str, count: usize) {
        if count == 0 {
            return;
        }
        let mut level = &mut self.root;
        for part in filter.split('/') {
            level = level.children.entry(part.into()).or_default();
        }
        level.ending = level.ending.saturating_add(count);
        self.filters = self.filters.saturating_add(count);
    }

    /// Removes one count of `filter`; `false` if it was not held.
    pub fn remove(&mut self, filter: &str) -> bool {
        self.remove_many(filter, 1) == 1
    }

    /// Removes up to `count` holders of `filter`; how many were removed.
    pub fn remove_many(&mut self, filter: &str, count: usize) -> usize {
        let parts: Vec<&str> = filter.split('/').collect();
        let removed = remove_from(&mut self.root, &parts, count);
        self.filters -= removed;
        removed
    }

    /// Whether some filter matches `topic` (`+` one level, `#` the rest including none, and no
    /// wildcard at the first level matches a topic that starts with `$`).
    pub fn wants(&self, topic: &str) -> bool {
        if self.filters == 0 {
            return false;
        }
        wants_from(&self.root, Some(topic), topic.starts_with('$'))
    }
}

fn remove_from(level: &mut Level, parts: &[&str], count: usize) -> usize {
    let Some((first, rest)) = parts.split_first() else {
        let removed = level.ending.min(count);
        level.ending -= removed;
        return removed;
    };
    let Some(child) = level.children.get_mut(*first) else {
        return 0;
    };
    let removed = remove_from(child, rest, count);
    if child.ending == 0 && child.children.is_empty() {
        level.children.remove(*first);
    }
    removed
}

/// `topic` is what is left of the topic after this level (`None` once every level is matched);
/// it is cut level by level rather than split up front, to allocate nothing per message.
fn wants_from(level: &Level, topic: Option<&str>, dollar: bool) -> bool {
    if !dollar && level.children.get("#").is_some_and(|h| h.ending > 0) {
        return true;
    }
    let Some(topic) = topic else {
        return level.ending > 0;
    };
    let (first, rest) = match topic.split_once('/') {
        Some((first, rest)) => (first, Some(rest)),
        None => (topic, None),
    };
    if level
        .children
        .get(first)
        .is_some_and(|child| wants_from(child, rest, false))
    {
        return true;
    }
    !dollar
        && level
            .children
            .get("+")
            .is_some_and(|child| wants_from(child, rest, false))
}

/// One announcement on the interest subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub origin: u64,
    /// The number of the sender's last change (changes number from 1).
    pub sequence: u64,
    pub body: NoticeBody,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoticeBody {
    /// Filters that gained their first subscriber on the sender (`true`) or lost their last.
    Changes(Vec<(bool, String)>),
    Heartbeat,
    /// Part of all the sender's filters, with how many of its subscriptions hold each.
    Snapshot {
        first: bool,
        last: bool,
        filters: Vec<(u32, String)>,
    },
    /// Asks `target` (every node, for 0) for a snapshot.
    SyncRequest {
        target: u64,
    },
}

/// Why an announcement could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NoticeError {
    #[error("interest notice is cut short")]
    Truncated,
    #[error("unknown interest notice version {0}")]
    Version(u8),
    #[error("unknown interest notice kind {0}")]
    Kind(u8),
    #[error("a filter in an interest notice is not UTF-8")]
    NotUtf8,
}

impl Notice {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(32);
        out.push(VERSION);
        out.extend_from_slice(&self.origin.to_be_bytes());
        out.extend_from_slice(&self.sequence.to_be_bytes());
        match &self.body {
            NoticeBody::Changes(changes) => {
                out.push(1);
                for (added, filter) in changes {
                    out.push(u8::from(*added));
                    put_filter(&mut out, filter);
                }
            }
            NoticeBody::Heartbeat => out.push(2),
            NoticeBody::Snapshot {
                first,
                last,
                filters,
            } => {
                out.push(3);
                out.push(u8::from(*first));
                out.push(u8::from(*last));
                for (count, filter) in filters {
                    out.extend_from_slice(&count.to_be_bytes());
                    put_filter(&mut out, filter);
                }
            }
            NoticeBody::SyncRequest { target } => {
                out.push(4);
                out.extend_from_slice(&target.to_be_bytes());
            }
        }
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Notice, NoticeError> {
        let mut reader = Reader(bytes);
        let version = reader.u8()?;
        if version != VERSION {
            return Err(NoticeError::Version(version));
        }
        let origin = reader.u64()?;
        let sequence = reader.u64()?;
        let body = match reader.u8()? {
            1 => {
                let mut changes = Vec::new();
                while !reader.0.is_empty() {
                    let added = reader.u8()? != 0;
                    changes.push((added, reader.filter()?));
                }
                NoticeBody::Changes(changes)
            }
            2 => NoticeBody::Heartbeat,
            3 => {
                let first = reader.u8()? != 0;
                let last = reader.u8()? != 0;
                let mut filters = Vec::new();
                while !reader.0.is_empty() {
                    let count = reader.u32()?;
                    filters.push((count, reader.filter()?));
                }
                NoticeBody::Snapshot {
                    first,
                    last,
                    filters,
                }
            }
            4 => NoticeBody::SyncRequest {
                target: reader.u64()?,
            },
            kind => return Err(NoticeError::Kind(kind)),
        };
        Ok(Notice {
            origin,
            sequence,
            body,
        })
    }
}

/// Cuts a node's filters into snapshot chunks (at least one, so that an empty set is sent).
pub fn snapshot(origin: u64, sequence: u64, filters: &HashMap<String, u32>) -> Vec<Notice> {
    let mut chunks: Vec<Vec<(u32, String)>> = vec![Vec::new()];
    let mut size = 0;
    for (filter, count) in filters {
        if size + filter.len() + 6 > SNAPSHOT_CHUNK && size > 0 {
            chunks.push(Vec::new());
            size = 0;
        }
        size += filter.len() + 6;
        chunks
            .last_mut()
            .expect("one chunk at least")
            .push((*count, filter.clone()));
    }
    let total = chunks.len();
    chunks
        .into_iter()
        .enumerate()
        .map(|(index, filters)| Notice {
            origin,
            sequence,
            body: NoticeBody::Snapshot {
                first: index == 0,
                last: index + 1 == total,
                filters,
            },
        })
        .collect()
}

fn put_filter(out: &mut Vec<u8>, filter: &str) {
    // A filter is at most 65,535 bytes by MQTT's own string encoding.
    let length = u16::try_from(filter.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(&filter.as_bytes()[..usize::from(length)]);
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], NoticeError> {
        if self.0.len() < n {
            return Err(NoticeError::Truncated);
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn u8(&mut self) -> Result<u8, NoticeError> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, NoticeError> {
        Ok(u32::from_be_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }
    fn u64(&mut self) -> Result<u64, NoticeError> {
        Ok(u64::from_be_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }
    fn filter(&mut self) -> Result<String, NoticeError> {
        let length = u16::from_be_bytes(self.take(2)?.try_into().expect("2 bytes"));
        let bytes = self.take(usize::from(length))?;
        String::from_utf8(bytes.to_vec()).map_err(|_| NoticeError::NotUtf8)
    }
}

/// What one other node holds, as far as this node knows.
#[derive(Debug, Default)]
struct Peer {
    filters: HashMap<String, u32>,
    /// The number of its last change applied.
    sequence: u64,
    /// Whether this view is complete (a snapshot or every change since one was applied).
    synced: bool,
    /// A snapshot being received.
    pending: Option<HashMap<String, u32>>,
    heard: Duration,
    /// When it was last asked for a snapshot (asked again after [`ASK_AGAIN`] at the soonest).
    asked: Option<Duration>,
}

/// How long a node waits for a snapshot it asked for before it asks again.
const ASK_AGAIN: Duration = Duration::from_secs(1);

impl Peer {
    /// Marks this view incomplete; the sender to ask for a snapshot, unless asked just now.
    fn incomplete(&mut self, origin: u64, now: Duration) -> Option<u64> {
        self.synced = false;
        if self
            .asked
            .is_some_and(|asked| now.saturating_sub(asked) < ASK_AGAIN)
        {
            return None;
        }
        self.asked = Some(now);
        Some(origin)
    }
}

/// The other nodes' interest, fed with their notices: keeps the trie and says when a node must
/// be asked for a snapshot. Free of I/O; `now` is any monotonic clock.
#[derive(Debug, Default)]
pub struct PeerInterest {
    peers: HashMap<u64, Peer>,
}

impl PeerInterest {
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies `notice` to `trie`; returns the node to ask for a snapshot, if this one showed
    /// that the view of its sender is incomplete. Requests are answered elsewhere.
    pub fn apply(&mut self, notice: Notice, trie: &mut InterestTrie, now: Duration) -> Option<u64> {
        let known = self.peers.contains_key(&notice.origin);
        let peer = self.peers.entry(notice.origin).or_default();
        peer.heard = now;
        match notice.body {
            NoticeBody::Changes(changes) => {
                let in_order = known && peer.synced && notice.sequence == peer.sequence + 1;
                for (added, filter) in changes {
                    // Applied even out of order: a view that errs towards forwarding too much
                    // costs bandwidth, not messages, until the snapshot corrects it.
                    let count = peer.filters.entry(filter.clone()).or_default();
                    if added {
                        *count = count.saturating_add(1);
                        trie.add(&filter);
                    } else if *count > 0 {
                        *count -= 1;
                        trie.remove(&filter);
                        if *count == 0 {
                            peer.filters.remove(&filter);
                        }
                    }
                }
                peer.sequence = notice.sequence;
                if in_order {
                    None
                } else {
                    peer.incomplete(notice.origin, now)
                }
            }
            NoticeBody::Heartbeat => {
                if known && peer.synced && notice.sequence == peer.sequence {
                    None
                } else {
                    peer.incomplete(notice.origin, now)
                }
            }
            NoticeBody::Snapshot {
                first,
                last,
                filters,
            } => {
                if first {
                    peer.pending = Some(HashMap::new());
                }
                let Some(pending) = peer.pending.as_mut() else {
                    // The first chunk was missed: wait for the next snapshot.
                    return None;
                };
                pending.extend(filters.into_iter().map(|(count, filter)| (filter, count)));
                if last {
                    let complete = peer.pending.take().unwrap_or_default();
                    for (filter, count) in peer.filters.drain() {
                        trie.remove_many(&filter, count as usize);
                    }
                    for (filter, count) in &complete {
                        trie.add_many(filter, *count as usize);
                    }
                    peer.filters = complete;
                    peer.sequence = notice.sequence;
                    peer.synced = true;
                    peer.asked = None;
                }
                None
            }
            NoticeBody::SyncRequest { .. } => None,
        }
    }

    /// Forgets the nodes not heard from since `now - FORGET_AFTER`; returns how many.
    pub fn forget_silent(&mut self, trie: &mut InterestTrie, now: Duration) -> usize {
        let silent: Vec<u64> = self
            .peers
            .iter()
            .filter(|(_, peer)| now.saturating_sub(peer.heard) > FORGET_AFTER)
            .map(|(origin, _)| *origin)
            .collect();
        for origin in &silent {
            if let Some(peer) = self.peers.remove(origin) {
                for (filter, count) in peer.filters {
                    trie.remove_many(&filter, count as usize);
                }
            }
        }
        silent.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trie(filters: &[&str]) -> InterestTrie {
        let mut trie = InterestTrie::new();
        for filter in filters {
            trie.add(filter);
        }
        trie
    }

    #[test]
    fn matches_as_mqtt_does() {
        let t = trie(&["a/b", "c/+/d", "e/#", "+/x"]);
        assert!(t.wants("a/b"));
        assert!(!t.wants("a/b/c"));
        assert!(!t.wants("a"));
        assert!(t.wants("c/any/d"));
        assert!(!t.wants("c/any/d/e"));
        assert!(t.wants("e"), "# matches its parent level");
        assert!(t.wants("e/f/g"));
        assert!(t.wants("q/x"));
        assert!(t.wants("/x"), "+ matches an empty level");
        assert!(!t.wants("q/y"));
        assert!(!trie(&[]).wants("a"));
    }

    #[test]
    fn wildcards_at_the_first_level_skip_dollar_topics() {
        let t = trie(&["#", "+/shadow"]);
        assert!(t.wants("a/shadow"));
        assert!(!t.wants("$aws/things/x"));
        assert!(!t.wants("$x/shadow"));
        let t = trie(&["$aws/things/+/shadow/#"]);
        assert!(t.wants("$aws/things/x/shadow/update"));
    }

    #[test]
    fn agrees_with_the_brokers_own_matching() {
        use roost_mqtt::topic::topic_name;
        use roost_mqtt::{TopicFilter, TopicLimits};
        let levels = ["a", "b", "$s", ""];
        let mut topics = Vec::new();
        for first in levels {
            topics.push(first.to_owned());
            for second in levels {
                topics.push(format!("{first}/{second}"));
                for third in ["a", ""] {
                    topics.push(format!("{first}/{second}/{third}"));
                }
            }
        }
        let filter_levels = ["a", "b", "+", "$s", ""];
        let mut filters = vec!["#".to_owned()];
        for first in filter_levels {
            filters.push(first.to_owned());
            filters.push(format!("{first}/#"));
            for second in filter_levels {
                filters.push(format!("{first}/{second}"));
                filters.push(format!("{first}/{second}/#"));
            }
        }
        for filter in &filters {
            // An empty filter or topic is not MQTT: the broker never has one to match.
            let Ok(parsed) = TopicFilter::new(filter, &TopicLimits::MQTT) else {
                continue;
            };
            let t = trie(&[filter]);
            for topic in &topics {
                let Ok(name) = topic_name(topic, &TopicLimits::MQTT) else {
                    continue;
                };
                assert_eq!(t.wants(topic), parsed.matches(&name), "{filter} on {topic}");
            }
        }
    }

    #[test]
    fn counts_and_prunes() {
        let mut t = trie(&["a/b", "a/b", "a/#"]);
        assert_eq!(t.len(), 3);
        assert!(t.remove("a/b"));
        assert!(t.wants("a/b"));
        assert!(t.remove("a/#"));
        assert!(t.wants("a/b"));
        assert!(!t.wants("a/c"));
        assert!(t.remove("a/b"));
        assert!(!t.remove("a/b"), "nothing left to remove");
        assert!(t.is_empty());
        assert!(t.root.children.is_empty(), "empty levels are pruned");
    }

    #[test]
    fn notices_round_trip() {
        let notices = [
            Notice {
                origin: 7,
                sequence: 3,
                body: NoticeBody::Changes(vec![(true, "a/+/b".into()), (false, "#".into())]),
            },
            Notice {
                origin: 7,
                sequence: 3,
                body: NoticeBody::Heartbeat,
            },
            Notice {
                origin: u64::MAX,
                sequence: 0,
                body: NoticeBody::Snapshot {
                    first: true,
                    last: false,
                    filters: vec![(2, "x".into()), (1, String::new())],
                },
            },
            Notice {
                origin: 1,
                sequence: 9,
                body: NoticeBody::SyncRequest { target: 0 },
            },
        ];
        for notice in notices {
            assert_eq!(Notice::decode(&notice.encode()), Ok(notice));
        }
    }

    #[test]
    fn bad_notices_are_refused() {
        assert_eq!(Notice::decode(&[]), Err(NoticeError::Truncated));
        assert_eq!(Notice::decode(&[9]), Err(NoticeError::Version(9)));
        let mut bytes = Notice {
            origin: 1,
            sequence: 1,
            body: NoticeBody::Heartbeat,
        }
        .encode();
        *bytes.last_mut().unwrap() = 99;
        assert_eq!(Notice::decode(&bytes), Err(NoticeError::Kind(99)));
        let mut changes = Notice {
            origin: 1,
            sequence: 1,
            body: NoticeBody::Changes(vec![(true, "ab".into())]),
        }
        .encode();
        changes.pop();
        assert_eq!(Notice::decode(&changes), Err(NoticeError::Truncated));
        let last = changes.len() - 1;
        changes[last] = 0xFF;
        changes.push(0xFE);
        assert_eq!(Notice::decode(&changes), Err(NoticeError::NotUtf8));
    }

    #[test]
    fn snapshots_are_chunked_and_reassembled() {
        let filters: HashMap<String, u32> = (0..20_000)
            .map(|i| (format!("devices/device-{i:08}/commands/#"), 1 + i % 2))
            .collect();
        let chunks = snapshot(5, 40, &filters);
        assert!(chunks.len() > 1, "{} chunk(s)", chunks.len());
        for chunk in &chunks {
            assert!(chunk.encode().len() <= SNAPSHOT_CHUNK + 32);
        }
        let (mut peers, mut trie) = (PeerInterest::new(), InterestTrie::new());
        for chunk in chunks {
            assert_eq!(peers.apply(chunk, &mut trie, Duration::ZERO), None);
        }
        assert_eq!(
            trie.len(),
            filters.values().map(|c| *c as usize).sum::<usize>()
        );
        assert!(trie.wants("devices/device-00000042/commands/reboot"));
        assert!(snapshot(5, 0, &HashMap::new()).len() == 1);
    }

    fn changes(origin: u64, sequence: u64, list: &[(bool, &str)]) -> Notice {
        Notice {
            origin,
            sequence,
            body: NoticeBody::Changes(list.iter().map(|(a, f)| (*a, (*f).to_owned())).collect()),
        }
    }

    #[test]
    fn a_gap_or_a_stranger_asks_for_a_snapshot() {
        let (mut peers, mut trie) = (PeerInterest::new(), InterestTrie::new());
        let now = Duration::ZERO;
        // A node never heard from is asked for everything, and its change still counts.
        assert_eq!(
            peers.apply(changes(1, 1, &[(true, "a")]), &mut trie, now),
            Some(1)
        );
        assert!(trie.wants("a"));
        let full = snapshot(1, 1, &HashMap::from([("a".to_owned(), 1)]));
        for chunk in full {
            peers.apply(chunk, &mut trie, now);
        }
        assert_eq!(trie.len(), 1, "the snapshot replaces, not adds");
        // In order: nothing to ask.
        assert_eq!(
            peers.apply(changes(1, 2, &[(true, "b")]), &mut trie, now),
            None
        );
        let heartbeat = |sequence| Notice {
            origin: 1,
            sequence,
            body: NoticeBody::Heartbeat,
        };
        assert_eq!(peers.apply(heartbeat(2), &mut trie, now), None);
        // Change 3 was lost: the heartbeat shows it.
        assert_eq!(peers.apply(heartbeat(3), &mut trie, now), Some(1));
        // Asked once: not again until the snapshot had time to come.
        assert_eq!(peers.apply(heartbeat(3), &mut trie, now), None);
        let later = now + Duration::from_secs(2);
        // A gap in the changes shows it too.
        assert_eq!(
            peers.apply(changes(1, 5, &[(false, "b")]), &mut trie, later),
            Some(1)
        );
        assert!(!trie.wants("b"));
    }

    #[test]
    fn silent_nodes_are_forgotten() {
        let (mut peers, mut trie) = (PeerInterest::new(), InterestTrie::new());
        peers.apply(changes(1, 1, &[(true, "a/#")]), &mut trie, Duration::ZERO);
        peers.apply(changes(2, 1, &[(true, "b")]), &mut trie, FORGET_AFTER);
        let later = FORGET_AFTER + Duration::from_secs(1);
        assert_eq!(peers.forget_silent(&mut trie, later), 1);
        assert!(!trie.wants("a/x"));
        assert!(trie.wants("b"));
    }
}
