//! The result of evaluating a template: plain data that the registry applies in one transaction.

use std::collections::BTreeMap;

/// What one provisioning run must create, update or attach. Same template and parameters give
/// an identical plan.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    /// The thing, unless the template has none or its `Condition` is false.
    pub thing: Option<ThingPlan>,
    /// The certificate, unless the template has none or its `Condition` is false.
    pub certificate: Option<CertificatePlan>,
    /// The policies to create if missing and attach to the certificate, ordered by logical id.
    pub policies: Vec<PolicyPlan>,
    /// The evaluated `DeviceConfiguration`, returned to the device by fleet provisioning.
    pub device_configuration: BTreeMap<String, String>,
}

/// An `AWS::IoT::Thing` resource, evaluated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThingPlan {
    /// The resource's key in `Resources`.
    pub logical_id: String,
    /// `ThingName`, not yet checked against the registry's naming rules.
    pub name: String,
    /// `AttributePayload`: `None` when absent, `Some(empty)` when given as `{}`.
    pub attributes: Option<BTreeMap<String, String>>,
    /// `ThingTypeName`; the thing type must already exist.
    pub thing_type: Option<String>,
    /// `ThingGroups`, empty when absent; the groups must already exist.
    pub thing_groups: Vec<String>,
    /// `BillingGroup`.
    pub billing_group: Option<String>,
    /// What to do with each property when the thing already exists.
    pub overrides: ThingOverrides,
}

/// A thing's `OverrideSettings`; `None` means the template says nothing for that property.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ThingOverrides {
    /// For `AttributePayload`; may be [`OverrideAction::Merge`].
    pub attribute_payload: Option<OverrideAction>,
    /// For `ThingTypeName`; never [`OverrideAction::Merge`].
    pub thing_type_name: Option<OverrideAction>,
    /// For `ThingGroups`; may be [`OverrideAction::Merge`].
    pub thing_groups: Option<OverrideAction>,
}

/// What to do when a resource the template describes already exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OverrideAction {
    /// `DO_NOTHING`: leave the existing value.
    DoNothing,
    /// `REPLACE`: overwrite with the template's value.
    Replace,
    /// `FAIL`: fail the provisioning run.
    Fail,
    /// `MERGE`: union of existing and template values (attributes and thing groups only).
    Merge,
}

impl OverrideAction {
    /// The template spelling: `DO_NOTHING`, `REPLACE`, `FAIL` or `MERGE`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DoNothing => "DO_NOTHING",
            Self::Replace => "REPLACE",
            Self::Fail => "FAIL",
            Self::Merge => "MERGE",
        }
    }
}

/// An `AWS::IoT::Certificate` resource, evaluated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificatePlan {
    /// The resource's key in `Resources`.
    pub logical_id: String,
    /// Which certificate: an existing one by id, one to issue from a CSR, or one to register.
    pub source: CertificateSource,
    /// The status to set; `Active` when the template gives none.
    pub status: CertificateStatus,
    /// `OverrideSettings.Status`: what to do when the certificate already has a status.
    pub status_override: Option<OverrideAction>,
}

/// How a template names its certificate (exactly one way per template).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertificateSource {
    /// `CertificateId`: an existing certificate, the only form JITP and fleet provisioning use.
    Id(String),
    /// `CertificateSigningRequest`: a PEM CSR to issue a certificate from.
    Csr(String),
    /// `CertificatePem`, with `CACertificatePem` when several registered CAs share a subject.
    Pem { pem: String, ca_pem: Option<String> },
}

/// The certificate status a template may set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum CertificateStatus {
    /// `ACTIVE`, the default.
    #[default]
    Active,
    /// `INACTIVE`.
    Inactive,
}

impl CertificateStatus {
    /// Reads `ACTIVE` or `INACTIVE` in any letter case (AWS's own example writes `Active`).
    pub fn parse(text: &str) -> Option<Self> {
        if text.eq_ignore_ascii_case("ACTIVE") {
            Some(Self::Active)
        } else if text.eq_ignore_ascii_case("INACTIVE") {
            Some(Self::Inactive)
        } else {
            None
        }
    }

    /// The API spelling: `ACTIVE` or `INACTIVE`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "ACTIVE",
            Self::Inactive => "INACTIVE",
        }
    }
}

/// An `AWS::IoT::Policy` resource, evaluated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyPlan {
    /// The resource's key in `Resources`.
    pub logical_id: String,
    /// `PolicyName`, or with only a `PolicyDocument` the lowercase hex SHA-256 of the document
    /// text, so that every device provisioned from one template shares one policy.
    pub name: String,
    /// The document to create the policy from when it does not exist; `None` when the template
    /// names an existing policy. Valid JSON, not yet checked as an IoT policy.
    pub document: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_status_is_read_in_any_case() {
        assert_eq!(
            CertificateStatus::parse("Active"),
            Some(CertificateStatus::Active)
        );
        assert_eq!(
            CertificateStatus::parse("inactive"),
            Some(CertificateStatus::Inactive)
        );
        assert_eq!(CertificateStatus::parse("REVOKED"), None);
        assert_eq!(CertificateStatus::default().as_str(), "ACTIVE");
    }

    #[test]
    fn override_actions_spell_as_in_templates() {
        let spelled = [
            OverrideAction::DoNothing,
            OverrideAction::Replace,
            OverrideAction::Fail,
            OverrideAction::Merge,
        ]
        .map(OverrideAction::as_str);
        assert_eq!(spelled, ["DO_NOTHING", "REPLACE", "FAIL", "MERGE"]);
    }
}
