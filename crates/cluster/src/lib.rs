//! Roost as a cluster: N nodes sharing one PostgreSQL registry, with messages between them
//! over NATS core.
//!
//! The registry side (a cluster-wide order of commits, followed by every node) lives in
//! `roost-registry`; this crate carries MQTT messages. Each node:
//!
//! - publishes each message its clients (and its services) publish that a filter held on
//!   another node matches ([`interest`]: nodes announce their filters to each other) on the NATS
//!   subject of the message's topic ([`subject`]), once; a retained one, wanted or not, on a
//!   subject every node follows, so that each node's retained store holds it;
//! - subscribes to the subjects of the filters its sessions hold, and only those: NATS itself
//!   sends a node only what someone on it wants (interest-based routing);
//! - serves shared subscriptions (`$share/<group>/<filter>`) through NATS queue groups, one per
//!   (group, filter), so that each message goes to one member cluster-wide;
//! - routes what arrives to its own subscribers only, dropping the second copy of a message that
//!   two of its overlapping subscriptions received ([`dedup`]).
//!
//! Delivery between nodes is NATS core's: at most once. A QoS 1 message crosses while the
//! nodes and NATS stay up; one in flight when a node or NATS fails may be lost.

pub mod dedup;
pub mod envelope;
pub mod interest;
mod link;
pub mod subject;

pub use link::{ClusterError, ClusterLink, ClusterOptions};
