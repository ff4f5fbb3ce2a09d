//! Registry operations, one module per resource family.

mod billing_groups;
mod ca_certificates;
mod certificates;
mod fleet;
mod identity;
mod policies;
mod principals;
mod provisioning;
mod provisioning_templates;
mod registration_tasks;
mod retained;
mod revocation;
mod sessions;
mod settings;
mod shadows;
mod tags;
mod thing_groups;
mod thing_types;
mod things;
mod topic_rule_destinations;
mod topic_rules;

pub use ca_certificates::*;
pub use certificates::*;
pub use fleet::*;
pub use identity::*;
pub use policies::*;
pub use provisioning::*;
pub use provisioning_templates::*;
pub use registration_tasks::*;
pub use retained::*;
pub use sessions::*;
pub use tags::*;
pub use thing_groups::*;
pub use thing_types::*;
pub use things::*;
pub use topic_rule_destinations::*;
pub use topic_rules::*;

use crate::error::RegistryError;

/// The optimistic-locking check of the Update/Delete operations that take an
/// `expectedVersion`: `kind` is how AWS names the resource in the message ("thing group").
fn check_expected_version(
    kind: &str,
    name: &str,
    expected: Option<i64>,
    actual: i64,
) -> Result<(), RegistryError> {
    match expected {
        Some(expected) if expected != actual => Err(RegistryError::VersionConflict(format!(
            "The version for {kind} {name} does not match the expected version."
        ))),
        _ => Ok(()),
    }
}
