//! Just-in-time provisioning and registration of unknown certificates under an
//! auto-registering CA.

use roost_pki::CertificateInfo;
use rustls::pki_types::CertificateDer;

use crate::BrokerCore;
use crate::identity::principal::Principal;
use crate::identity::trust::TrustedCa;

/// What the first connection of a just-provisioned device gets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ProvisioningMode {
    /// Provision in-line and let the first connection through (Roost's default).
    #[default]
    Inline,
    /// Provision, then refuse the first connection as AWS IoT does; the device reconnects.
    AwsCompatible,
}

#[derive(Debug)]
pub(crate) struct Provisioner {
    mode: ProvisioningMode,
}

impl Provisioner {
    pub(crate) fn new(mode: ProvisioningMode) -> Self {
        Self { mode }
    }
}

impl BrokerCore {
    /// Registers (JITR) or provisions (JITP) `certificate`, signed by `ca`.
    pub(crate) async fn provision(
        &self,
        certificate: &CertificateInfo,
        ca: &TrustedCa,
        _chain: &[CertificateDer<'static>],
    ) -> Result<Principal, String> {
        let _ = self.provisioning.mode;
        Err(format!(
            "the certificate {} is not registered; automatic registration under CA {} is not available yet",
            certificate.id, ca.record.id
        ))
    }
}
