//! Why provisioning did not happen, typed once for every entry point: the device's CONNACK and
//! lifecycle reason, fleet provisioning's `/rejected` answer and the API's error type all come
//! from it.

use roost_registry::model::CertificateStatus;
use roost_registry::{OwnershipTokenError, RegistryError};
use roost_template::TemplateError;

#[derive(Debug, thiserror::Error)]
pub enum ProvisioningError {
    /// The CA has neither an inline nor a named template (only the dry run asks for one:
    /// provisioning registers such a CA's devices instead).
    #[error(
        "CA {ca_id} has no provisioning template: a device it signed would be registered as \
         PENDING_ACTIVATION (just-in-time registration) instead"
    )]
    NoTemplate { ca_id: String },
    /// The CA names a template that cannot be read.
    #[error("the JITP template {name} of CA {ca_id} is unavailable: {source}")]
    TemplateUnavailable {
        ca_id: String,
        name: String,
        #[source]
        source: RegistryError,
    },
    #[error("the template {name} named by CA {ca_id} is not a JITP template")]
    NotJitpTemplate { ca_id: String, name: String },
    #[error(
        "The provisioning template {name} is a JITP template, not a fleet provisioning template"
    )]
    NotFleetTemplate { name: String },
    #[error("The provisioning template {name} is disabled")]
    TemplateDisabled { name: String },
    /// `what` says which text, and that it is invalid.
    #[error("{what}: {source}")]
    InvalidTemplate {
        what: String,
        #[source]
        source: TemplateError,
    },
    /// The template did not evaluate with the parameters given.
    #[error("The provisioning template failed: {0}")]
    Evaluation(#[source] TemplateError),
    /// The device's parameters are not what the API takes.
    #[error("{0}")]
    InvalidParameters(String),
    #[error("certificateSigningRequest: {0}")]
    CertificateSigningRequest(#[source] roost_pki::PkiError),
    #[error("certificate issuing is not configured")]
    NoIssuer,
    /// Signing a certificate failed in the server.
    #[error("issuing a certificate failed: {0}")]
    Issuance(String),
    #[error(transparent)]
    OwnershipToken(#[from] OwnershipTokenError),
    /// The token's certificate was provisioned, or changed, since the token was issued.
    #[error("The certificate of this ownership token is {0}, not awaiting provisioning")]
    TokenCertificateNotPending(CertificateStatus),
    /// The pre-provisioning hook said no, with its reason.
    #[error("The pre-provisioning hook refused provisioning: {0}")]
    HookRefused(String),
    /// The hook could not be asked. The cause (often an internal address) is logged where it
    /// happened, never told to the device.
    #[error("The pre-provisioning hook is unavailable")]
    HookUnavailable,
    /// JITP applied a template that leaves the certificate unusable.
    #[error("the provisioning template set the certificate {0}, not ACTIVE")]
    NotActive(CertificateStatus),
    /// The registry refused the plan (or failed).
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

impl ProvisioningError {
    /// A failure of the server rather than of the request.
    pub fn is_internal(&self) -> bool {
        matches!(
            self,
            Self::Registry(RegistryError::Storage(_)) | Self::Issuance(_)
        )
    }

    /// What a device refused at connect is told (CONNACK log and lifecycle reason): the
    /// reason, except for a server failure, whose details are logged instead.
    pub fn device_reason(&self) -> String {
        if self.is_internal() {
            "provisioning failed (server error)".to_owned()
        } else {
            format!("provisioning failed: {self}")
        }
    }

    /// Fleet provisioning's `/rejected` answer: `statusCode` and `errorCode`.
    pub fn fleet_status(&self) -> (u16, &'static str) {
        match self {
            Self::OwnershipToken(_) | Self::TokenCertificateNotPending(_) => {
                (400, "InvalidCertificateOwnershipToken")
            }
            Self::HookRefused(_) | Self::HookUnavailable => (403, "AccessDenied"),
            Self::NoIssuer => (503, "ServiceUnavailable"),
            Self::Registry(RegistryError::NotFound(_)) => (404, "ResourceNotFound"),
            _ if self.is_internal() => (500, "InternalFailure"),
            _ => (400, "InvalidRequest"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_failures_are_not_told_to_the_device() {
        let storage = ProvisioningError::Registry(RegistryError::storage("disk on fire"));
        assert!(storage.is_internal());
        assert_eq!(
            storage.device_reason(),
            "provisioning failed (server error)"
        );
        assert_eq!(storage.fleet_status(), (500, "InternalFailure"));
        let refused = ProvisioningError::HookRefused("not in the allow list".into());
        assert_eq!(
            refused.device_reason(),
            "provisioning failed: The pre-provisioning hook refused provisioning: not in the \
             allow list"
        );
    }

    #[test]
    fn fleet_answers_use_aws_error_codes() {
        let token = ProvisioningError::OwnershipToken(OwnershipTokenError::Expired);
        assert_eq!(
            token.fleet_status(),
            (400, "InvalidCertificateOwnershipToken")
        );
        assert_eq!(
            ProvisioningError::HookUnavailable.fleet_status(),
            (403, "AccessDenied")
        );
        let missing = ProvisioningError::Registry(RegistryError::NotFound("no template".into()));
        assert_eq!(missing.fleet_status(), (404, "ResourceNotFound"));
        let disabled = ProvisioningError::TemplateDisabled { name: "t".into() };
        assert_eq!(disabled.fleet_status(), (400, "InvalidRequest"));
    }
}
