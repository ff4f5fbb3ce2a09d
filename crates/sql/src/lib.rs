//! AWS IoT SQL, the language of topic rules: parsing and evaluation, with no I/O.
//!
//! [`parse`] reads a statement (`[SET @v = …] SELECT … [FROM '<filter>'] [WHERE …]`) under one
//! of the two [`SqlVersion`]s and reports syntax errors with a line and column, ready for
//! `SqlParseException`; syntax only 2016-03-23 has is refused under 2015-10-08.
//! [`Statement::evaluate`] runs it against a [`MessageContext`] (topic, payload, client id, MQTT 5
//! properties, an injected clock and UUID source) and yields the JSON (or raw bytes) an action
//! would receive, or nothing when WHERE does not hold. [`SubstitutionTemplate`] parses and
//! renders the `${expr}` strings of action fields.
//!
//! Values follow AWS's type system ([`Value`]): Int, Decimal (34 significant digits, see
//! [`Decimal`]), Boolean, String, Array, Object, Null and Undefined, with AWS's conversion rules;
//! a missing field or a type mismatch is Undefined, never an error, and evaluation never panics.
//!
//! The parser is hand-written (recursive descent with precedence climbing) rather than built
//! with a parser crate: it needs no new dependency, gives exact positions for every error, and
//! AWS's grammar (quoted topic filters, version-gated syntax, contextual `VALUE`) is small.
//!
//! Not here: matching topics against the FROM filter (the caller's job), running actions, hash
//! functions (refused at parse time), named time zones in `parse_time` and `time_to_epoch`
//! (Undefined), and functions that call other services (`get_thing_shadow`, `aws_lambda`,
//! `get_dynamodb`, `get_secret`, `machinelearning_predict`: accepted, always Undefined).

mod ast;
mod context;
mod decimal;
mod error;
mod eval;
mod functions;
mod lexer;
mod members;
mod parser;
#[cfg(test)]
mod properties;
mod statement;
mod template;
mod time_format;
mod value;
mod version;

pub use context::{
    Environment, FixedEnvironment, MessageContext, MqttProperties, SystemEnvironment,
};
pub use decimal::{Decimal, InvalidDecimal};
pub use error::{EvalError, ParseError, ParseErrorKind, Position};
pub use eval::Variables;
pub use statement::{Evaluation, Output, Statement, parse};
pub use template::SubstitutionTemplate;
pub use value::Value;
pub use version::{SqlVersion, UnknownSqlVersion};
