//! AWS IoT Device Shadow documents: what the shadow service decides, without doing any I/O.
//!
//! [`ShadowTopic::parse`] recognises `$aws/things/<thing>/shadow[/name/<shadow>]/<op>` topics
//! and [`shadow_topic`] builds the answers' topics. [`UpdateRequest::parse`] and
//! [`GetOrDeleteRequest::parse`] validate request payloads against AWS's rules and
//! [`ShadowLimits`] (8 KB of state, nesting depth 6, 64-byte `clientToken`).
//! [`ShadowDocument`] holds one shadow: [`ShadowDocument::create`] and
//! [`ShadowDocument::apply_update`] merge an update as AWS does (recursive merge, `null`
//! deletes, arrays replaced, per-leaf metadata, optimistic versioning) and return an
//! [`UpdateOutcome`] with the `/update/accepted`, `/update/delta` and `/update/documents`
//! documents to publish; [`ShadowDocument::get`] and [`ShadowDocument::delete`] make the other
//! answers. Every failure is a [`ShadowError`], which knows its `/rejected` document, HTTP
//! status and iot-data error type.
//!
//! Time is passed in as epoch seconds; nothing here reads a clock. The crate does not store
//! documents, keep deleted shadows' versions, authorize, count in-flight requests, or publish:
//! the broker and the HTTP API do that around it.

mod delta;
mod document;
mod error;
mod name;
mod request;
mod response;
mod topic;

pub use document::ShadowDocument;
pub use error::{RejectedResponse, ShadowError};
pub use name::{MAX_SHADOW_NAME_CHARS, MAX_THING_NAME_CHARS, NameViolation, ShadowName, ThingName};
pub use request::{
    ClientToken, GetOrDeleteRequest, MAX_CLIENT_TOKEN_BYTES, SectionUpdate, ShadowLimits,
    UpdateRequest, recover_client_token,
};
pub use response::{
    DeleteAccepted, DocumentSnapshot, GetAccepted, ListNamedShadows, Sections, StateWithDelta,
    UpdateAccepted, UpdateDelta, UpdateDocuments, UpdateOutcome, to_payload,
};
pub use topic::{ShadowOperation, ShadowTopic, ShadowTopicKind, shadow_topic};
