//! AWS IoT topic rules as data: the `TopicRulePayload` the control plane receives and echoes
//! ([`TopicRulePayload`], [`Action`]), its validation into a [`CompiledRule`] that the rules
//! engine runs ([`compile`]), and the small pieces of AWS's behaviour around rules that need no
//! I/O: the errorAction's input ([`error_action_payload`]), Basic Ingest topics
//! ([`basic_ingest`]) and topic rule destinations ([`DestinationStatus`],
//! [`confirmation_body`], [`http_action_enabled`]).
//!
//! Roost runs two actions, `republish` and `http`; a rule naming any other action is refused
//! at create time with the action's name, rather than stored and silently never run.
//!
//! Not here: storing rules (the registry), matching topics against the FROM filter and running
//! actions (the broker), evaluating SQL and templates (`roost-sql`).

mod compile;
mod destination;
mod error;
mod error_action;
mod ingest;
mod payload;
mod url;

pub use compile::{
    CompiledAction, CompiledHttp, CompiledMqttHeaders, CompiledRepublish, CompiledRule,
    MAX_ACTIONS, check_rule_name, compile, sql_version,
};
pub use destination::{
    DestinationStatus, UnknownDestinationStatus, check_destination_url, confirmation_body,
    destination_covers, destination_target, http_action_enabled,
};
pub use error::RuleError;
pub use error_action::{ActionFailure, error_action_payload};
pub use ingest::basic_ingest;
pub use payload::{
    Action, BatchConfig, HttpAction, HttpAuthorization, HttpHeader, RepublishAction,
    RepublishHeaders, SigV4Authorization, TopicRulePayload, UserProperty,
};
pub use roost_sql::SqlVersion;
