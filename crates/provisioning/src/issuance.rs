//! How Roost issues the certificates it signs for devices (fleet provisioning's
//! CreateKeysAndCertificate and CreateCertificateFromCsr, and a template's
//! CertificateSigningRequest): as AWS does, valid until the end of 2049 from a minute ago, and
//! with a new RSA 2048 key when Roost makes the key.

use std::sync::{Arc, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use roost_pki::{CertificateAuthority, IssuedCertificate, KeyKind, Validity};
use tokio::sync::Semaphore;

use crate::error::ProvisioningError;

/// Not-after of issued certificates: 2049-12-31T23:59:59Z, as AWS issues them.
pub const ISSUED_NOT_AFTER: i64 = 2_524_607_999;
/// Issued certificates are valid from this long before now, for devices whose clocks lag.
const BACKDATE_SECS: i64 = 60;
/// The subject of certificates issued with a new key, as AWS names them.
const ISSUED_COMMON_NAME: &str = "AWS IoT Certificate";

/// The validity of a certificate issued now.
pub fn issued_validity() -> Result<Validity, ProvisioningError> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    Validity::new(now - BACKDATE_SECS, ISSUED_NOT_AFTER)
        .map_err(|e| ProvisioningError::Issuance(e.to_string()))
}

/// A certificate and a new RSA 2048 key. Key generation is CPU work: it runs off the async
/// workers.
pub async fn issue_with_new_key(
    issuer: Arc<CertificateAuthority>,
) -> Result<IssuedCertificate, ProvisioningError> {
    let validity = issued_validity()?;
    off_the_workers(move || {
        issuer.issue_with_new_key(KeyKind::Rsa2048, ISSUED_COMMON_NAME, validity)
    })
    .await?
    .map_err(|e| ProvisioningError::Issuance(e.to_string()))
}

/// A certificate for `csr` (PEM), signed on the calling thread: for callers that issue many at
/// once (bulk registration), where handing each to a blocking thread costs more than it frees.
pub fn issue_from_csr_here(
    issuer: &CertificateAuthority,
    csr: &str,
) -> Result<String, ProvisioningError> {
    issuer
        .issue_from_csr(csr, issued_validity()?)
        .map_err(ProvisioningError::CertificateSigningRequest)
}

/// A certificate for `csr` (PEM), off the async workers (verifying and signing are CPU work).
pub async fn issue_from_csr(
    issuer: Arc<CertificateAuthority>,
    csr: String,
) -> Result<String, ProvisioningError> {
    let validity = issued_validity()?;
    off_the_workers(move || issuer.issue_from_csr(&csr, validity))
        .await?
        .map_err(ProvisioningError::CertificateSigningRequest)
}

/// Runs `job` on a blocking thread once one of the issuance slots is free: one slot per core.
/// Handing every request of a storm to its own blocking thread would start as many threads,
/// all time-slicing the same cores; with the slots, requests wait in arrival order and each is
/// signed at full speed, while the async workers stay free for connections and the registry
/// (with RSA keys made inline, a 200-device CreateKeysAndCertificate storm held other devices'
/// CONNACKs up to 3 s; off the workers, 79 ms at p99).
async fn off_the_workers<T: Send + 'static>(
    job: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ProvisioningError> {
    static SLOTS: OnceLock<Semaphore> = OnceLock::new();
    let slots = SLOTS.get_or_init(|| {
        Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get()))
    });
    let _slot = slots
        .acquire()
        .await
        .map_err(|e| ProvisioningError::Issuance(e.to_string()))?;
    tokio::task::spawn_blocking(job)
        .await
        .map_err(|e| ProvisioningError::Issuance(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_certificates_run_from_a_minute_ago_to_the_end_of_2049() {
        let validity = issued_validity().unwrap();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        assert!((now - 61..=now - 59).contains(&validity.not_before));
        assert_eq!(validity.not_after, ISSUED_NOT_AFTER);
    }

    #[tokio::test]
    async fn a_bad_csr_is_the_requests_fault_and_a_good_one_is_signed() {
        let issuer = Arc::new(roost_pki::testing::ca("Issuer").unwrap());
        let refused = issue_from_csr(issuer.clone(), "not a CSR".into())
            .await
            .unwrap_err();
        assert!(matches!(
            refused,
            ProvisioningError::CertificateSigningRequest(_)
        ));
        let issued = issue_with_new_key(issuer).await.unwrap();
        let info = roost_pki::CertificateInfo::from_pem(&issued.certificate_pem).unwrap();
        assert_eq!(info.validity.not_after, ISSUED_NOT_AFTER);
    }
}
