//! Roost's provisioning service. Every way a device comes to exist — just-in-time provisioning
//! (JITP) and registration (JITR) at its first connect, fleet provisioning over MQTT,
//! RegisterThing and bulk registration over the API, and the dry run — goes through
//! [`Provisioning`], which owns:
//!
//! - which template applies ([`templates`]): a CA's inline or named JITP template, a fleet
//!   template and its state, each parsed once per text and shared;
//! - the parameters a certificate supplies ([`parameters`]);
//! - the issuance policy for certificates Roost signs ([`issuance`]);
//! - the pre-provisioning hook's contract ([`hook`]; the transport is the caller's);
//! - applying the plan, which the registry does in one transaction (with a fleet device's
//!   ownership token spent in it).
//!
//! Failures are one typed [`ProvisioningError`], which says what the device is told and which
//! AWS error it is.

pub mod error;
pub mod hook;
pub mod issuance;
pub mod parameters;
mod service;
pub mod templates;

pub use error::ProvisioningError;
pub use hook::{HookDecision, PreProvisioningHook};
pub use parameters::{certificate_parameters, jitp_parameters};
pub use service::{
    DryRun, FleetCertificate, FleetRegisterThing, FleetRegistration, JustInTime, Provisioning,
};
