//! The per-client MQTT state machine: [`Connection`] for one network connection, holding the
//! [`SessionState`] that outlives it.

mod connection;
mod settings;
mod state;

pub use connection::{
    AllowAll, Authorizer, Connection, Ended, Event, PendingWill, Refused, Subscribed,
    validate_connect,
};
pub use settings::{BrokerSettings, KeepAlivePolicy, QueueLimit};
pub use state::{ClientId, DropCounts, OutgoingStage, SessionState, StoredSubscription};

#[cfg(test)]
mod harness;
#[cfg(test)]
mod tests;
