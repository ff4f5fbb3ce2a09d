//! Whether this node takes new connections, and if not, why: a cluster node that lost
//! PostgreSQL or NATS refuses CONNECTs with the reason (CONNACK "server unavailable") rather
//! than half-working, and takes them again once both are back. Whoever watches those
//! dependencies sets it; a standalone node is always available.

use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, Ordering};

/// Shared by the admission pipeline (which reads it per CONNECT) and a watcher.
#[derive(Debug, Default)]
pub struct Availability {
    down: AtomicBool,
    reason: RwLock<Option<String>>,
}

impl Availability {
    /// Why new connections are refused now; `None` when they are taken.
    pub fn unavailable(&self) -> Option<String> {
        if !self.down.load(Ordering::Acquire) {
            return None;
        }
        self.reason
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Sets the reason to refuse new connections, or clears it; returns whether that changed
    /// anything.
    pub fn set(&self, reason: Option<String>) -> bool {
        let mut current = self
            .reason
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if *current == reason {
            return false;
        }
        self.down.store(reason.is_some(), Ordering::Release);
        *current = reason;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reason_refuses_until_cleared() {
        let availability = Availability::default();
        assert_eq!(availability.unavailable(), None);
        assert!(availability.set(Some("NATS is unreachable".into())));
        assert!(!availability.set(Some("NATS is unreachable".into())));
        assert_eq!(
            availability.unavailable().as_deref(),
            Some("NATS is unreachable")
        );
        assert!(availability.set(None));
        assert_eq!(availability.unavailable(), None);
    }
}
