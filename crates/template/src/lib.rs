//! AWS IoT provisioning templates, as used by just-in-time provisioning (a CA's
//! `registrationConfig`), fleet provisioning and `RegisterThing`.
//!
//! [`Template::parse`] reads a template body and validates everything that does not depend on
//! parameter values: sections, resource types and properties, `OverrideSettings`, intrinsic
//! functions (`Ref`, `Fn::Join`, `Fn::Select`, `Fn::Split`, `Fn::Sub`, `Fn::FindInMap`, and the
//! CloudFormation extensions `Fn::If` and `Conditions` with `Fn::Equals`/`And`/`Or`/`Not`) and
//! every reference to a parameter, mapping or condition. A [`TemplateError`]'s `Display` starts
//! with the path of the problem (`Resources.thing.Properties.ThingName: Ref to undefined
//! parameter "Foo"`), ready to be returned as an API error message.
//!
//! [`Template::evaluate`] turns a template and [`Parameters`] into a [`Plan`]: plain data
//! describing the thing, certificate and policies, which the registry applies in one
//! transaction. It is pure and deterministic.
//!
//! This crate does no I/O and knows nothing of the registry: it does not check that thing types,
//! groups or named policies exist, does not validate names against the registry's rules, and
//! does not check a policy document as an IoT policy (only that it is a JSON object).

mod body;
mod condition;
mod error;
mod evaluation;
mod intrinsic;
mod mapping;
mod parameter;
mod plan;
mod resource;
mod template;

pub use error::{FieldPath, TemplateError};
pub use parameter::{PSEUDO_PARAMETER_PREFIXES, Parameters, is_pseudo_parameter};
pub use plan::{
    CertificatePlan, CertificateSource, CertificateStatus, OverrideAction, Plan, PolicyPlan,
    ThingOverrides, ThingPlan,
};
pub use template::Template;

/// The longest template body accepted, in characters (AWS's `templateBody` limit).
pub const MAX_TEMPLATE_CHARS: usize = 10_240;

/// The most bytes of strings one evaluation may build. Parameter values are small (certificate
/// subject fields, a CSR); the cap stops templates whose output grows exponentially.
pub const MAX_EVALUATED_BYTES: usize = 1 << 20;
