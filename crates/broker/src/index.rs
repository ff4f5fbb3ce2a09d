//! Live connections by what they depend on, so that a registry change reaches exactly the
//! connections it affects: a revoked certificate's connections are closed, a changed policy's
//! connections re-read their policies.

use std::collections::HashMap;
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

/// The index of live connections.
#[derive(Debug, Default)]
pub struct ConnectionIndex {
    entries: Mutex<HashMap<u64, Entry>>,
}

impl ConnectionIndex {
    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn insert(
        &self,
        id: u64,
        dependencies: Dependencies,
        control: mpsc::UnboundedSender<Control>,
    ) {
        self.entries().insert(
            id,
            Entry {
                dependencies,
                control,
            },
        );
    }

    /// Records what a connection depends on after its policies were re-read.
    pub fn update(&self, id: u64, dependencies: Dependencies) {
        if let Some(entry) = self.entries().get_mut(&id) {
            entry.dependencies = dependencies;
        }
    }

    pub fn remove(&self, id: u64) {
        self.entries().remove(&id);
    }

    pub fn len(&self) -> usize {
        self.entries().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Closes every connection of certificate `id`; returns how many.
    pub fn close_certificate(
        &self,
        id: &str,
        reason: ReasonCode,
        lifecycle: &'static str,
    ) -> usize {
        self.send_where(
            |d| d.certificate_id.as_deref() == Some(id),
            || Control::Close {
                reason,
                lifecycle,
                done: None,
            },
        )
    }

    /// Asks the connections selected by `filter` to re-read their policies.
    pub fn refresh_where(&self, filter: impl Fn(&Dependencies) -> bool) -> usize {
        self.send_where(filter, || Control::RefreshPolicy)
    }

    fn send_where(
        &self,
        filter: impl Fn(&Dependencies) -> bool,
        order: impl Fn() -> Control,
    ) -> usize {
        let entries = self.entries();
        let mut sent = 0;
        for entry in entries.values().filter(|e| filter(&e.dependencies)) {
            if entry.control.send(order()).is_ok() {
                sent += 1;
            }
        }
        sent
    }
}
