//! Live connections by what they depend on, so that a registry change reaches exactly the
//! connections it affects: a revoked certificate's connections are closed, a changed policy's
//! connections re-read their policies.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use roost_codec::ReasonCode;
use tokio::sync::mpsc;

use crate::router::Control;

/// What a live connection depends on.
#[derive(Debug, Clone)]
pub struct Dependencies {
    pub certificate_id: Option<String>,
    pub thing: Option<String>,
    pub policies: Vec<String>,
}

#[derive(Debug)]
struct Entry {
    dependencies: Dependencies,
    control: mpsc::UnboundedSender<Control>,
}

#[derive(Debug, Default)]
struct Entries {
    by_id: HashMap<u64, Entry>,
    /// Certificate id → its live connections (revocation of thousands at once stays cheap).
    by_certificate: HashMap<String, HashSet<u64>>,
    /// How many policy refreshes were sent out, so that a connection that read its policies
    /// before it was indexed can tell whether it missed one.
    refreshes: u64,
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

    pub fn insert(
        &self,
        id: u64,
        dependencies: Dependencies,
        control: mpsc::UnboundedSender<Control>,
    ) {
        let mut entries = self.entries();
        if let Some(certificate) = &dependencies.certificate_id {
            entries
                .by_certificate
                .entry(certificate.clone())
                .or_default()
                .insert(id);
        }
        entries.by_id.insert(
            id,
            Entry {
                dependencies,
                control,
            },
        );
    }

    /// Records what a connection depends on after its policies were re-read (its certificate
    /// does not change).
    pub fn update(&self, id: u64, dependencies: Dependencies) {
        if let Some(entry) = self.entries().by_id.get_mut(&id) {
            entry.dependencies = dependencies;
        }
    }

    pub fn remove(&self, id: u64) {
        let mut entries = self.entries();
        let Some(entry) = entries.by_id.remove(&id) else {
            return;
        };
        if let Some(certificate) = entry.dependencies.certificate_id
            && let Some(set) = entries.by_certificate.get_mut(&certificate)
        {
            set.remove(&id);
            if set.is_empty() {
                entries.by_certificate.remove(&certificate);
            }
        }
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
        lifecycle: &'static str,
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

    /// The number of policy refreshes so far (see [`ConnectionIndex::refresh_where`]).
    pub fn refreshes(&self) -> u64 {
        self.entries().refreshes
    }

    /// Asks the connections selected by `filter` to re-read their policies.
    pub fn refresh_where(&self, filter: impl Fn(&Dependencies) -> bool) -> usize {
        let mut entries = self.entries();
        entries.refreshes += 1;
        let mut sent = 0;
        for entry in entries.by_id.values().filter(|e| filter(&e.dependencies)) {
            if entry.control.send(Control::RefreshPolicy).is_ok() {
                sent += 1;
            }
        }
        sent
    }
}
