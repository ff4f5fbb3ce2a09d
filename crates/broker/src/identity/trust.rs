//! The in-memory view of the registry that device authentication reads: registered CAs by
//! subject, device certificates by id. Loaded once at start and kept current incrementally from
//! registry change events — never rebuilt whole, so a provisioning storm costs one map update
//! per certificate. Readers (the synchronous TLS verifier) take a read lock for a lookup.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use roost_pki::CertificateInfo;
use roost_registry::model::{AutoRegistrationStatus, CaCertificate, CaStatus};
use roost_registry::{CertificateTrust, ProvisioningClaim, Registry, RegistryError};

/// A registered CA, parsed once.
#[derive(Debug)]
pub struct TrustedCa {
    pub record: CaCertificate,
    pub info: CertificateInfo,
    /// Why the certificate cannot sign others at all (basicConstraints, keyUsage, a v1 root
    /// that is not self-signed), computed once: a v1 root's check verifies a signature.
    incapable: Option<String>,
}

impl TrustedCa {
    pub fn new(record: CaCertificate, info: CertificateInfo) -> Self {
        let incapable = roost_pki::check_ca_capability(&info)
            .err()
            .map(|e| e.to_string());
        Self {
            record,
            info,
            incapable,
        }
    }

    /// Whether unknown certificates it signed may be registered on first connect.
    pub fn auto_registers(&self) -> bool {
        self.record.status == CaStatus::Active
            && self.record.auto_registration == AutoRegistrationStatus::Enable
    }

    /// `Err` with the reason if the CA may not vouch for a certificate at `now` (Unix
    /// seconds): it is outside its validity period or cannot sign certificates.
    pub fn check_usable_at(&self, now: i64) -> Result<(), String> {
        if let Some(reason) = &self.incapable {
            return Err(reason.clone());
        }
        roost_pki::check_ca_validity(&self.info, now).map_err(|e| e.to_string())
    }
}

#[derive(Debug, Default)]
struct TrustState {
    cas: HashMap<String, Arc<TrustedCa>>,
    cas_by_subject: HashMap<Vec<u8>, Vec<Arc<TrustedCa>>>,
    certificates: HashMap<String, CertificateTrust>,
    /// Trusted-user claim certificates (fleet provisioning), by id.
    claims: HashMap<String, ProvisioningClaim>,
}

/// A certificate the TLS verifier found signed by a registered CA.
#[derive(Debug, Clone)]
pub struct VerifiedLeaf {
    pub certificate: Arc<CertificateInfo>,
    pub ca_id: String,
}

/// Most verified leaves kept waiting for their CONNECT (handshakes that never send one leave
/// theirs behind; the lot is dropped when full, which only costs a second verification).
const MAX_VERIFIED_LEAVES: usize = 4096;

/// Registered CAs and certificates, as the data plane sees them.
#[derive(Debug, Default)]
pub struct TrustStore {
    state: RwLock<TrustState>,
    /// Unregistered leaves verified during their handshake, by certificate id, so that
    /// admission at CONNECT neither parses them nor checks their signature again.
    verified: Mutex<HashMap<String, VerifiedLeaf>>,
}

impl TrustStore {
    /// Loads every CA and certificate from the registry.
    pub async fn load(registry: &Registry) -> Result<Self, RegistryError> {
        let store = Self::default();
        for ca in registry.all_ca_certificates().await? {
            store.put_ca(ca);
        }
        let certificates = registry.all_certificate_trust().await?;
        let claims = registry.all_provisioning_claims().await?;
        {
            let mut state = store.write();
            for trust in certificates {
                state.certificates.insert(trust.id.clone(), trust);
            }
            for claim in claims {
                state.claims.insert(claim.certificate_id.clone(), claim);
            }
        }
        Ok(store)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, TrustState> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, TrustState> {
        self.state.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds or replaces a CA; a CA whose PEM no longer parses is logged and left out.
    pub fn put_ca(&self, record: CaCertificate) {
        let info = match CertificateInfo::from_pem(&record.pem) {
            Ok(info) => info,
            Err(error) => {
                tracing::error!(ca = %record.id, %error, "a registered CA certificate does not parse");
                return;
            }
        };
        let ca = Arc::new(TrustedCa::new(record, info));
        let mut state = self.write();
        remove_ca_locked(&mut state, &ca.record.id);
        state
            .cas_by_subject
            .entry(ca.info.subject_der.clone())
            .or_default()
            .push(ca.clone());
        state.cas.insert(ca.record.id.clone(), ca);
    }

    pub fn remove_ca(&self, id: &str) {
        remove_ca_locked(&mut self.write(), id);
    }

    pub fn ca(&self, id: &str) -> Option<Arc<TrustedCa>> {
        self.read().cas.get(id).cloned()
    }

    /// The registered CAs whose subject is `issuer_der`.
    pub fn cas_with_subject(&self, issuer_der: &[u8]) -> Vec<Arc<TrustedCa>> {
        self.read()
            .cas_by_subject
            .get(issuer_der)
            .cloned()
            .unwrap_or_default()
    }

    pub fn put_certificate(&self, trust: CertificateTrust) {
        self.write().certificates.insert(trust.id.clone(), trust);
    }

    pub fn remove_certificate(&self, id: &str) {
        self.write().certificates.remove(id);
    }

    pub fn certificate(&self, id: &str) -> Option<CertificateTrust> {
        self.read().certificates.get(id).cloned()
    }

    /// Whether `id` is a registered certificate or a claim certificate.
    pub fn is_registered(&self, id: &str) -> bool {
        let state = self.read();
        state.certificates.contains_key(id) || state.claims.contains_key(id)
    }

    pub fn put_claim(&self, claim: ProvisioningClaim) {
        self.write()
            .claims
            .insert(claim.certificate_id.clone(), claim);
    }

    pub fn remove_claim(&self, id: &str) {
        self.write().claims.remove(id);
    }

    /// The claim certificate `id`, if there is one (expired or not).
    pub fn claim(&self, id: &str) -> Option<ProvisioningClaim> {
        self.read().claims.get(id).cloned()
    }

    /// Remembers that the handshake of certificate `id` verified it against `leaf.ca_id`.
    pub fn remember_verified(&self, id: String, leaf: VerifiedLeaf) {
        let mut verified = self.verified.lock().unwrap_or_else(|p| p.into_inner());
        if verified.len() >= MAX_VERIFIED_LEAVES {
            verified.clear();
        }
        verified.insert(id, leaf);
    }

    /// What the handshake of certificate `id` verified, once.
    pub fn take_verified(&self, id: &str) -> Option<VerifiedLeaf> {
        self.verified
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id)
    }

    /// Ids of the registered certificates that `ca_id` signed.
    pub fn certificates_of_ca(&self, ca_id: &str) -> Vec<String> {
        self.read()
            .certificates
            .values()
            .filter(|c| c.ca_id.as_deref() == Some(ca_id))
            .map(|c| c.id.clone())
            .collect()
    }
}

fn remove_ca_locked(state: &mut TrustState, id: &str) {
    if let Some(old) = state.cas.remove(id)
        && let Some(list) = state.cas_by_subject.get_mut(&old.info.subject_der)
    {
        list.retain(|ca| ca.record.id != id);
        if list.is_empty() {
            state.cas_by_subject.remove(&old.info.subject_der);
        }
    }
}
