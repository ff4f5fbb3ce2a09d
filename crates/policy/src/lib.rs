//! AWS IoT policies: validation of policy documents and their evaluation for MQTT and data-API
//! requests, with IAM semantics (default deny, any Allow grants, any explicit Deny wins).
//!
//! Pure and deterministic: no I/O, no clock, no registry. The caller passes the documents (the
//! default version of each attached policy) and a [`Context`] describing the connection.
//!
//! - [`PolicyDocument::parse`] validates a document; its [`PolicyError`] is the
//!   `MalformedPolicyException` message, naming the element to fix.
//! - [`PolicySet::bind`] binds a principal's policies to one connection: variables are
//!   substituted, conditions decided and patterns compiled once. [`BoundPolicy::authorize`] is
//!   the per-packet check (CONNECT, PUBLISH, SUBSCRIBE and every delivery); it does not allocate.
//! - [`Decision`] names the policy and statement that decided.
//!
//! Not here: storing policies and versions, attachment and thing-group inheritance, policy name
//! validation, and time-dependent condition keys (`aws:CurrentTime`, `aws:EpochTime`), which a
//! per-connection binding cannot honour and are therefore refused at parse time rather than
//! silently ignored.

mod action;
mod bound;
mod condition;
mod context;
mod document;
mod error;
mod json;
mod pattern;
mod variables;

#[cfg(test)]
mod examples;
#[cfg(test)]
mod laws;

pub use action::{Action, UnknownAction};
pub use bound::{BoundPolicy, Decision, PolicySet, Resource};
pub use context::{AltNameKind, CertificateContext, Context, DnAttribute, ThingContext};
pub use document::{Effect, PolicyDocument, PolicyVersion, Statement};
pub use error::{JsonPath, PolicyError, Problem};
pub use variables::{MAX_ATTRIBUTE_VALUES, MAX_SUBSTITUTED_LENGTH};
