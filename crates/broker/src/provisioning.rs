//! Just-in-time provisioning (JITP) and registration (JITR) of unknown certificates signed by
//! an auto-registering CA, at their first CONNECT, through the provisioning service.
//!
//! JITP evaluates the CA's template against the certificate and applies the plan in one
//! registry transaction; by default the same connection then proceeds (AWS instead drops it and
//! makes the device reconnect — [`ProvisioningMode::AwsCompatible`] does that too). JITR
//! registers the certificate as PENDING_ACTIVATION, announces it on
//! `$aws/events/certificates/registered/<caId>` and refuses the connection until an operator
//! activates it.

use std::sync::Arc;

use roost_pki::CertificateInfo;
use roost_provisioning::{JustInTime, ProvisioningError};
use roost_registry::ProvisionedGrants;
use roost_registry::model::CertificateStatus;

use crate::BrokerCore;
use crate::identity::principal::Principal;
use crate::identity::trust::TrustedCa;
use crate::lifecycle;

/// What the first connection of a just-provisioned device gets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ProvisioningMode {
    /// Provision in-line and let the first connection through (Roost's default).
    #[default]
    Inline,
    /// Provision, then refuse the first connection as AWS IoT does; the device reconnects.
    AwsCompatible,
}

/// Why a first connect did not get through provisioning.
#[derive(Debug, thiserror::Error)]
pub enum ProvisioningRefusal {
    /// Provisioning failed; nothing was written.
    #[error("{}", .0.device_reason())]
    Failed(#[from] ProvisioningError),
    /// JITR registered the certificate; it connects once an operator activates it.
    #[error(
        "the certificate was registered as {0} by just-in-time registration; it can connect \
         once activated (UpdateCertificate --new-status ACTIVE) and given a policy"
    )]
    Registered(CertificateStatus),
    /// Provisioned, and closed as AWS IoT closes a first connection.
    #[error("provisioned; as AWS IoT does, the first connection is closed (reconnect)")]
    Reconnect,
}

impl ProvisioningRefusal {
    /// The server failed, not the device or its CA's template.
    pub fn is_internal(&self) -> bool {
        matches!(self, Self::Failed(error) if error.is_internal())
    }
}

impl BrokerCore {
    /// Registers (JITR) or provisions (JITP) `certificate`, signed by `ca`. `Ok` lets the
    /// connection proceed, with what is attached to the certificate when provisioning made all
    /// of it.
    pub(crate) async fn provision(
        &self,
        certificate: &Arc<CertificateInfo>,
        ca: &TrustedCa,
    ) -> Result<(Principal, Option<ProvisionedGrants>), ProvisioningRefusal> {
        let outcome = self
            .provisioning
            .just_in_time(certificate, &ca.record)
            .await
            .inspect_err(|error| {
                if error.is_internal() {
                    tracing::error!(%error, "provisioning failed in the server");
                }
            })?;
        let provisioned = match outcome {
            JustInTime::Registered {
                certificate: registered,
                new,
            } => {
                if new {
                    metrics::counter!("roost_jitr_registered_total").increment(1);
                }
                self.publish_event(lifecycle::certificate_registered(
                    &registered.id,
                    &ca.record.id,
                    &self.config.account,
                    registered.created_ms,
                ));
                return Err(ProvisioningRefusal::Registered(registered.status));
            }
            JustInTime::Provisioned(provisioned) => *provisioned,
        };
        // The trust view learns of the certificate from the registry's change events, its one
        // writer; this connection goes on with what provisioning returned.
        let status = provisioned.certificate.status;
        if provisioned.created {
            metrics::counter!("roost_jitp_provisioned_total").increment(1);
            tracing::info!(
                certificate = %certificate.id,
                ca = %ca.record.id,
                thing = provisioned.thing_name.as_deref().unwrap_or("-"),
                "provisioned just in time"
            );
        }
        if status != CertificateStatus::Active {
            return Err(ProvisioningError::NotActive(status).into());
        }
        if self.config.provisioning == ProvisioningMode::AwsCompatible && provisioned.created {
            return Err(ProvisioningRefusal::Reconnect);
        }
        let principal = Principal {
            certificate_id: certificate.id.clone(),
            certificate: certificate.clone(),
            ca_id: Some(ca.record.id.clone()),
            claim_template: None,
        };
        Ok((principal, provisioned.grants))
    }
}
