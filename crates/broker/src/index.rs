//! Live connections by what they depend on, so that a registry change reaches exactly the
//! connections it affects: a revoked certificate's connections are closed, a changed policy's
//! connections re-read their policies.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use roost_codec::ReasonCode;
use tokio::sync::mpsc;

use crate::lifecycle::DisconnectReason;
use crate::router::Control;

/// What a live connection depends on.
#[derive(Debug, Clone)]
pub struct Dependencies {
    pub certificate_id: Option<String>,
    pub thing: Option<String>,
    pub policies: Vec<String>,
}

/// Which connections a policy refresh is for.
#[derive(Debug, Default)]
pub struct RefreshScope {
    pub all: bool,
    pub certificates: BTreeSet<String>,
    pub things: BTreeSet<String>,
    pub policies: BTreeSet<String>,
}

impl RefreshScope {
    pub fn is_empty(&self) -> bool {
        !self.all
            && self.certificates.is_empty()
            && self.things.is_empty()
            && self.policies.is_empty()
    }

    pub fn covers(&self, dependencies: &Dependencies) -> bool {
        self.all
            || dependencies
                .certificate_id
                .as_ref()
                .is_some_and(|c| self.certificates.contains(c))
            || dependencies
                .thing
                .as_ref()
                .is_some_and(|t| self.things.contains(t))
            || dependencies
                .policies
                .iter()
                .any(|p| self.policies.contains(p))
    }
}

/// How many recent refreshes are remembered for connections still being admitted.
const RECENT_REFRESHES: usize = 256;

#[derive(Debug)]
struct Entry {
    dependencies: Dependencies,
    /// The registry commit its policies reflect: refreshes for commits up to it are moot.
    as_of: u64,
    control: mpsc::UnboundedSender<Control>,
}

/// Live connections by one kind of dependency.
type Dependents = HashMap<String, HashSet<u64>>;

fn link(map: &mut Dependents, key: &str, id: u64) {
    map.entry(key.to_owned()).or_default().insert(id);
}

fn unlink(map: &mut Dependents, key: &str, id: u64) {
    if let Some(set) = map.get_mut(key) {
        set.remove(&id);
        if set.is_empty() {
            map.remove(key);
        }
    }
}

#[derive(Debug, Default)]
struct Entries {
    by_id: HashMap<u64, Entry>,
    /// Certificate id → its live connections (revocation of thousands at once stays cheap).
    by_certificate: Dependents,
    /// Thing name and policy name → the live connections that depend on it, so that a refresh
    /// reaches its connections without scanning every live one (a provisioning storm refreshes
    /// after every commit while the rest of the fleet stays connected).
    by_thing: Dependents,
    by_policy: Dependents,
    /// The latest refreshes, by the registry commit (the highest, for merged commits) that
    /// caused them, so that a connection that read its policies before it was indexed can tell
    /// whether it missed one that concerns it.
    recent: VecDeque<(u64, Arc<RefreshScope>)>,
    /// The highest commit of the refreshes no longer in `recent`.
    forgotten_through: u64,
}

impl Entries {
    /// Indexes what a connection's policies were resolved from: its thing and policies.
    fn link_grants(&mut self, id: u64, dependencies: &Dependencies) {
        if let Some(thing) = &dependencies.thing {
            link(&mut self.by_thing, thing, id);
        }
        for policy in &dependencies.policies {
            link(&mut self.by_policy, policy, id);
        }
    }

    fn unlink_grants(&mut self, id: u64, dependencies: &Dependencies) {
        if let Some(thing) = &dependencies.thing {
            unlink(&mut self.by_thing, thing, id);
        }
        for policy in &dependencies.policies {
            unlink(&mut self.by_policy, policy, id);
        }
    }
}

/// The index of live connections.
#[derive(Debug, Default)]
pub struct ConnectionIndex {
    entries: Mutex<Entries>,
}

impl ConnectionIndex {
    fn entries(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Indexes connection `id`, whose policies were read as of registry commit `as_of`.
    pub fn insert(
        &self,
        id: u64,
        dependencies: Dependencies,
        as_of: u64,
        control: mpsc::UnboundedSender<Control>,
    ) {
        let mut entries = self.entries();
        if let Some(certificate) = &dependencies.certificate_id {
            link(&mut entries.by_certificate, certificate, id);
        }
        entries.link_grants(id, &dependencies);
        entries.by_id.insert(
            id,
            Entry {
                dependencies,
                as_of,
                control,
            },
        );
    }

    /// Records what a connection depends on after its policies were re-read as of registry
    /// commit `as_of` (its certificate does not change).
    pub fn update(&self, id: u64, dependencies: Dependencies, as_of: u64) {
        let mut entries = self.entries();
        let Some(entry) = entries.by_id.get_mut(&id) else {
            return;
        };
        entry.as_of = entry.as_of.max(as_of);
        let old = std::mem::replace(&mut entry.dependencies, dependencies.clone());
        entries.unlink_grants(id, &old);
        entries.link_grants(id, &dependencies);
    }

    pub fn remove(&self, id: u64) {
        let mut entries = self.entries();
        let Some(entry) = entries.by_id.remove(&id) else {
            return;
        };
        if let Some(certificate) = &entry.dependencies.certificate_id {
            unlink(&mut entries.by_certificate, certificate, id);
        }
        entries.unlink_grants(id, &entry.dependencies);
    }

    pub fn len(&self) -> usize {
        self.entries().by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Closes every connection of the certificates `ids`; returns how many.
    pub fn close_certificates(
        &self,
        ids: &[String],
        reason: ReasonCode,
        lifecycle: DisconnectReason,
    ) -> usize {
        let entries = self.entries();
        let mut sent = 0;
        for id in ids {
            let Some(connections) = entries.by_certificate.get(id) else {
                continue;
            };
            for connection in connections {
                if let Some(entry) = entries.by_id.get(connection)
                    && entry
                        .control
                        .send(Control::Close {
                            reason,
                            lifecycle,
                            done: None,
                        })
                        .is_ok()
                {
                    sent += 1;
                }
            }
        }
        sent
    }

    /// Asks the connections `scope` covers to re-read their policies, because of registry
    /// commits up to `commit`, unless what they read already reflects `commit` (a device just
    /// provisioned, say); returns how many were asked.
    pub fn refresh(&self, commit: u64, scope: RefreshScope) -> usize {
        let mut entries = self.entries();
        let mut sent = 0;
        if scope.all {
            for entry in entries.by_id.values().filter(|e| e.as_of < commit) {
                if entry.control.send(Control::RefreshPolicy).is_ok() {
                    sent += 1;
                }
            }
        } else {
            let dependents = |map: &Dependents, keys: &BTreeSet<String>| {
                keys.iter()
                    .filter_map(|key| map.get(key))
                    .flatten()
                    .copied()
                    .collect::<Vec<_>>()
            };
            let mut ids: HashSet<u64> = HashSet::new();
            ids.extend(dependents(&entries.by_certificate, &scope.certificates));
            ids.extend(dependents(&entries.by_thing, &scope.things));
            ids.extend(dependents(&entries.by_policy, &scope.policies));
            for id in ids {
                if let Some(entry) = entries.by_id.get(&id)
                    && entry.as_of < commit
                    && entry.control.send(Control::RefreshPolicy).is_ok()
                {
                    sent += 1;
                }
            }
        }
        if entries.recent.len() == RECENT_REFRESHES
            && let Some((forgotten, _)) = entries.recent.pop_front()
        {
            entries.forgotten_through = entries.forgotten_through.max(forgotten);
        }
        entries.recent.push_back((commit, Arc::new(scope)));
        sent
    }

    /// Whether a connection indexed just now, whose policies were read from the registry after
    /// commit `read_after` (see `Registry::committed`), missed a refresh that concerns it: one
    /// sent before it was indexed, for a later commit its read may not have seen.
    pub fn missed_refresh(&self, read_after: u64, dependencies: &Dependencies) -> bool {
        let entries = self.entries();
        entries.forgotten_through > read_after
            || entries
                .recent
                .iter()
                .rev()
                .take_while(|(commit, _)| *commit > read_after)
                .any(|(_, scope)| scope.covers(dependencies))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn depending_on(certificate: &str, thing: &str, policy: &str) -> Dependencies {
        Dependencies {
            certificate_id: Some(certificate.into()),
            thing: Some(thing.into()),
            policies: vec![policy.into()],
        }
    }

    fn scope(certificates: &[&str], policies: &[&str]) -> RefreshScope {
        RefreshScope {
            certificates: certificates.iter().map(|c| c.to_string()).collect(),
            policies: policies.iter().map(|p| p.to_string()).collect(),
            ..RefreshScope::default()
        }
    }

    #[test]
    fn refreshes_reach_the_connections_they_cover() {
        let index = ConnectionIndex::default();
        let (a_tx, mut a_rx) = mpsc::unbounded_channel();
        let (b_tx, mut b_rx) = mpsc::unbounded_channel();
        index.insert(1, depending_on("ca", "ta", "pa"), 0, a_tx);
        index.insert(2, depending_on("cb", "tb", "pb"), 0, b_tx);
        assert_eq!(index.refresh(1, scope(&[], &["pb"])), 1);
        assert!(a_rx.try_recv().is_err());
        assert!(matches!(b_rx.try_recv(), Ok(Control::RefreshPolicy)));
        assert_eq!(index.refresh(2, scope(&["ca"], &[])), 1);
        assert!(matches!(a_rx.try_recv(), Ok(Control::RefreshPolicy)));
        let by_thing = RefreshScope {
            things: ["tb".to_string()].into(),
            ..RefreshScope::default()
        };
        assert_eq!(index.refresh(3, by_thing), 1);
        assert!(matches!(b_rx.try_recv(), Ok(Control::RefreshPolicy)));
        // One refresh per connection, however many of its dependencies the scope names.
        assert_eq!(index.refresh(4, scope(&["cb"], &["pb"])), 1);
        assert!(matches!(b_rx.try_recv(), Ok(Control::RefreshPolicy)));
        assert!(b_rx.try_recv().is_err());
        let everyone = RefreshScope {
            all: true,
            ..RefreshScope::default()
        };
        assert_eq!(index.refresh(5, everyone), 2);
    }

    #[test]
    fn refreshes_follow_a_connection_s_dependencies_as_they_change_and_end() {
        let index = ConnectionIndex::default();
        let (tx, mut rx) = mpsc::unbounded_channel();
        index.insert(1, depending_on("c1", "t1", "old"), 0, tx);
        index.update(1, depending_on("c1", "t1", "new"), 0);
        assert_eq!(index.refresh(1, scope(&[], &["old"])), 0);
        assert_eq!(index.refresh(2, scope(&[], &["new"])), 1);
        assert!(matches!(rx.try_recv(), Ok(Control::RefreshPolicy)));
        index.remove(1);
        assert_eq!(index.refresh(3, scope(&["c1"], &["new"])), 0);
        assert!(index.is_empty());
        let entries = index.entries();
        assert!(entries.by_certificate.is_empty());
        assert!(entries.by_thing.is_empty() && entries.by_policy.is_empty());
    }

    #[test]
    fn a_connection_being_admitted_misses_only_later_refreshes_that_concern_it() {
        let index = ConnectionIndex::default();
        let mine = depending_on("c1", "t1", "p1");
        index.refresh(5, scope(&["c1"], &[]));
        index.refresh(6, scope(&["c2"], &["p2"]));
        // Its read came after commit 5: that refresh is reflected in what it read.
        assert!(!index.missed_refresh(5, &mine));
        // Read after commit 4: the refresh for commit 5 may not be.
        assert!(index.missed_refresh(4, &mine));
        index.refresh(7, scope(&[], &["p1"]));
        assert!(index.missed_refresh(6, &mine));
        assert!(!index.missed_refresh(7, &mine));
    }

    #[test]
    fn when_the_refreshes_since_a_read_are_forgotten_a_refresh_is_assumed_missed() {
        let index = ConnectionIndex::default();
        let mine = depending_on("c1", "t1", "p1");
        for commit in 1..=(RECENT_REFRESHES as u64 + 10) {
            index.refresh(commit, scope(&["other"], &[]));
        }
        assert!(index.missed_refresh(3, &mine));
        assert!(!index.missed_refresh(RECENT_REFRESHES as u64 + 10, &mine));
    }

    #[test]
    fn a_refresh_skips_connections_whose_policies_already_reflect_its_commit() {
        let index = ConnectionIndex::default();
        let (tx, mut rx) = mpsc::unbounded_channel();
        // Provisioned in commit 7, and read as of it.
        index.insert(1, depending_on("c1", "t1", "p1"), 7, tx);
        assert_eq!(index.refresh(7, scope(&["c1"], &["p1"])), 0);
        assert!(rx.try_recv().is_err());
        assert_eq!(index.refresh(8, scope(&["c1"], &[])), 1);
        assert!(matches!(rx.try_recv(), Ok(Control::RefreshPolicy)));
        // Re-read as of commit 9.
        index.update(1, depending_on("c1", "t1", "p1"), 9);
        let everyone = RefreshScope {
            all: true,
            ..RefreshScope::default()
        };
        assert_eq!(index.refresh(9, everyone), 0);
    }
}
