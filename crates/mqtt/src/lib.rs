//! The MQTT broker core of Roost, without I/O: what happens between a decoded packet coming in
//! and packets going out, for MQTT 3.1, 3.1.1 and 5.0.
//!
//! - [`session::Connection`] is the per-client state machine, in the style of quinn-proto:
//!   packets and time go in (`handle_packet`, `handle_delivery`, `handle_timeout`), packets,
//!   events and the next deadline come out (`poll_transmit`, `poll_event`, `poll_timeout`).
//!   The [`session::SessionState`] it holds outlives it for persistent sessions.
//! - [`trie::SubscriptionTrie`] finds the sessions and shared groups a topic matches;
//!   [`retained::RetainedStore`] keeps one retained message per topic.
//! - [`topic`] holds filters, shared filters and the broker's topic limits; [`message`] the
//!   cheap-to-clone [`message::Message`] that the router fans out as [`message::Delivery`]s.
//!
//! Time is the caller's `std::time::Instant`, passed into every call that needs it: the crate
//! never reads a clock, so a test can drive hours of keep-alive and expiry in microseconds, and
//! an `Instant` cannot be mistaken for a wall-clock timestamp. (A persistent store would record
//! expiry as wall-clock time; that conversion belongs to the shell.)
//!
//! Not here: sockets, TLS, the codec (`roost-codec`), authorization decisions (asked through
//! [`session::Authorizer`]), client-id takeover, timers for session expiry and will delay, and
//! the locking around the shared trie and retained store; the broker shell owns those.

pub mod error;
pub mod message;
pub mod retained;
pub mod session;
pub mod topic;
pub mod trie;

pub use error::{ProtocolViolation, TopicError};
pub use message::{Delivery, Message, MessageData};
pub use retained::{RetainOutcome, RetainedLimits, RetainedStore};
pub use roost_codec::QoS;
pub use session::{
    AllowAll, Authorizer, BrokerSettings, ClientId, Connection, Ended, Event, KeepAlivePolicy,
    PendingWill, QueueLimit, Refused, SessionState, StoredSubscription, Subscribed,
    validate_connect,
};
pub use topic::{ShareName, SharedFilter, SubscriptionFilter, TopicFilter, TopicLimits, TopicName};
pub use trie::{
    InterestChange, Match, MatchSet, SessionKey, SharedMatch, SubscriptionEntry, SubscriptionTrie,
};
