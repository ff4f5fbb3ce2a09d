//! Change events: what a committed write changed, for the in-memory views (TLS verifier,
//! per-connection policies) and for live enforcement (cutting revoked connections).

/// One committed change. Listeners re-read what they cache; the event says what to re-read.
///
/// In a cluster, each commit's events are also written, in the same transaction, to the
/// `registry_events` log that the other nodes follow; that is what the serde form is for.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "event")]
pub enum RegistryEvent {
    /// A CA certificate was registered, updated or deleted.
    CaCertificateChanged { ca_id: String },
    /// A device certificate was registered, changed status, or was deleted.
    CertificateChanged { certificate_id: String },
    /// A policy's default version changed, or the policy was created or deleted.
    PolicyChanged { policy_name: String },
    /// A policy was attached to or detached from a target ARN.
    PolicyAttachmentChanged { policy_name: String, target: String },
    /// A thing was created, updated or deleted.
    ThingChanged { thing_name: String },
    /// A principal was attached to or detached from a thing.
    ThingPrincipalChanged {
        thing_name: String,
        principal: String,
    },
    /// A thing group was created, updated or deleted, or its membership changed.
    ThingGroupChanged { group_name: String },
    /// A topic rule was created, replaced, enabled, disabled or deleted.
    TopicRuleChanged { rule_name: String },
    /// A topic rule destination was created, changed status (confirmed, re-challenged,
    /// enabled, disabled, failed its confirmation) or was deleted.
    TopicRuleDestinationChanged { arn: String },
}

/// Receives the events of each commit, in commit order, on the writer task: keep it quick.
pub trait ChangeListener: Send + Sync {
    /// Called once per commit that changed something, with every event of that commit and
    /// the commit's sequence number (see [`crate::Registry::committed`]).
    fn on_commit(&self, commit: u64, events: &[RegistryEvent]);
}
