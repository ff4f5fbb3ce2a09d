//! Registry records and their enumerations, in AWS's vocabulary.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::RegistryError;

macro_rules! wire_enum {
    ($(#[$meta:meta])* $name:ident, $field:literal { $($variant:ident = $wire:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),+ }

        impl $name {
            /// Every value, in the model's order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The wire spelling.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $wire),+ }
            }

            /// Parses the wire spelling; `field` names the API member in the error.
            pub fn parse(field: &str, value: &str) -> Result<Self, RegistryError> {
                match value {
                    $($wire => Ok($name::$variant),)+
                    _ => Err(RegistryError::constraint(
                        field,
                        value,
                        ::roost_validation::Constraint::OneOf(&[$($wire),+]),
                    )),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

wire_enum!(
    /// A device certificate's status.
    CertificateStatus, "status" {
        Active = "ACTIVE",
        Inactive = "INACTIVE",
        Revoked = "REVOKED",
        PendingTransfer = "PENDING_TRANSFER",
        RegisterInactive = "REGISTER_INACTIVE",
        PendingActivation = "PENDING_ACTIVATION",
    }
);

wire_enum!(
    /// A CA certificate's status.
    CaStatus, "status" { Active = "ACTIVE", Inactive = "INACTIVE" }
);

wire_enum!(
    /// Whether a CA registers unknown device certificates it signed (JITR/JITP).
    AutoRegistrationStatus, "autoRegistrationStatus" { Enable = "ENABLE", Disable = "DISABLE" }
);

wire_enum!(
    /// Whether devices must send SNI to be matched with the certificate.
    CertificateMode, "certificateMode" { Default = "DEFAULT", SniOnly = "SNI_ONLY" }
);

wire_enum!(
    /// How a principal is attached to a thing.
    ThingPrincipalType, "thingPrincipalType" {
        ExclusiveThing = "EXCLUSIVE_THING",
        NonExclusiveThing = "NON_EXCLUSIVE_THING",
    }
);

/// A CA's provisioning configuration (JITP): an inline template or a template's name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistrationConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_body: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_name: Option<String>,
}

/// A certificate's validity window, in epoch milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    pub not_before_ms: i64,
    pub not_after_ms: i64,
}

impl From<roost_pki::Validity> for Validity {
    /// The registry keeps milliseconds, as AWS's API answers; X.509 has seconds.
    fn from(validity: roost_pki::Validity) -> Self {
        Self {
            not_before_ms: validity.not_before * 1000,
            not_after_ms: validity.not_after * 1000,
        }
    }
}

/// A registered CA certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaCertificate {
    pub id: String,
    pub pem: String,
    pub status: CaStatus,
    pub auto_registration: AutoRegistrationStatus,
    pub registration_config: Option<RegistrationConfig>,
    pub mode: CertificateMode,
    pub validity: Validity,
    pub customer_version: i64,
    pub generation_id: String,
    pub created_ms: i64,
    pub modified_ms: i64,
}

/// A registered device certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate {
    pub id: String,
    pub pem: String,
    pub ca_id: Option<String>,
    pub status: CertificateStatus,
    pub mode: CertificateMode,
    pub validity: Validity,
    pub customer_version: i64,
    pub generation_id: String,
    pub created_ms: i64,
    pub modified_ms: i64,
}

/// A certificate in a list (ListCertificates, ListCertificatesByCA, ListCACertificates).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateSummary {
    pub id: String,
    pub status: String,
    pub mode: CertificateMode,
    pub created_ms: i64,
}

/// Attribute name → value.
pub type Attributes = BTreeMap<String, String>;

/// A thing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thing {
    pub name: String,
    pub id: String,
    pub type_name: Option<String>,
    pub attributes: Attributes,
    pub version: i64,
    pub billing_group: Option<String>,
    pub created_ms: i64,
}

/// A thing type.
#[derive(Debug, Clone, PartialEq)]
pub struct ThingType {
    pub name: String,
    pub id: String,
    /// `ThingTypeProperties` as given (description, searchable attributes, MQTT 5 configuration).
    pub properties: serde_json::Value,
    pub deprecated: bool,
    pub deprecated_ms: Option<i64>,
    pub created_ms: i64,
}

/// A static thing group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThingGroup {
    pub name: String,
    pub id: String,
    pub parent: Option<String>,
    pub description: Option<String>,
    pub attributes: Attributes,
    pub version: i64,
    pub created_ms: i64,
    /// Ancestors from the root down to the parent.
    pub root_to_parent: Vec<String>,
}

/// A billing group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BillingGroup {
    pub name: String,
    pub id: String,
    pub description: Option<String>,
    pub version: i64,
    pub created_ms: i64,
}

/// A policy with its default version's document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub name: String,
    pub document: String,
    pub default_version: i64,
    pub generation_id: String,
    pub created_ms: i64,
    pub modified_ms: i64,
}

/// One version of a policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyVersion {
    pub policy_name: String,
    pub version: i64,
    pub document: String,
    pub is_default: bool,
    pub created_ms: i64,
    pub generation_id: String,
    pub modified_ms: i64,
}

/// A thing–principal attachment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThingPrincipal {
    pub thing_name: String,
    pub principal: String,
    pub kind: ThingPrincipalType,
}

/// A resource tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    #[serde(rename = "Key")]
    pub key: String,
    #[serde(rename = "Value", default)]
    pub value: String,
}
