//! Checks for AWS RegisterCACertificate: is it a usable CA, and does the caller hold its key.

use crate::certificate::CertificateInfo;
use crate::chain::verify_signed_by;
use crate::error::PkiError;

/// `Ok` if `ca` can be registered as a CA at `now` (Unix seconds): valid now, and either marked
/// CA by basicConstraints (with keyUsage, if any, allowing certificate signing) or an X.509 v1
/// self-signed root as `openssl x509 -req -signkey` makes it (AWS accepts those).
pub fn check_ca_certificate(ca: &CertificateInfo, now: i64) -> Result<(), PkiError> {
    check_ca_validity(ca, now)?;
    check_ca_capability(ca)
}

/// `Ok` if `now` (Unix seconds) lies within the CA's validity period.
pub fn check_ca_validity(ca: &CertificateInfo, now: i64) -> Result<(), PkiError> {
    if !ca.validity.contains(now) {
        return Err(PkiError::CaOutsideValidity {
            subject: ca.subject.to_string(),
            not_before: ca.validity.not_before,
            not_after: ca.validity.not_after,
            now,
        });
    }
    Ok(())
}

/// `Ok` if `ca` may sign certificates, whatever the time: marked CA by basicConstraints (with
/// keyUsage, if any, allowing certificate signing) or a self-signed X.509 v1 root. It verifies
/// a v1 root's self-signature, so callers on a hot path compute it once per CA.
pub fn check_ca_capability(ca: &CertificateInfo) -> Result<(), PkiError> {
    let not_a_ca = |reason| PkiError::NotACa {
        subject: ca.subject.to_string(),
        reason,
    };
    if ca.is_ca {
        return match ca.key_cert_sign {
            Some(false) => Err(not_a_ca("its keyUsage does not allow certificate signing")),
            _ => Ok(()),
        };
    }
    if ca.version != 1 {
        return Err(not_a_ca("basicConstraints does not mark it as a CA"));
    }
    if !ca.is_self_issued() || verify_signed_by(ca, ca).is_err() {
        return Err(not_a_ca(
            "an X.509 v1 certificate is accepted as a CA only if it is self-signed",
        ));
    }
    Ok(())
}

/// AWS's proof of possession for RegisterCACertificate: `verification`'s subject CN is the
/// registration `code` and `verification` is signed by `ca`'s key.
pub fn verify_registration_proof(
    ca: &CertificateInfo,
    verification: &CertificateInfo,
    code: &str,
) -> Result<(), PkiError> {
    let cn = verification.subject.common_name();
    if cn != Some(code) {
        return Err(PkiError::RegistrationCodeMismatch {
            found: cn.map(str::to_owned),
        });
    }
    verify_signed_by(verification, ca).map_err(|e| match e {
        PkiError::BadSignature { .. } => PkiError::NotSignedByCa,
        other => other,
    })
}
