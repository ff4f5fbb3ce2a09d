//! Signature and chain checks done with x509-parser, which (unlike webpki) accepts X.509 v1
//! certificates as openssl's `x509 -req` makes them.

use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer;
use x509_parser::x509::SubjectPublicKeyInfo;

use crate::certificate::CertificateInfo;
use crate::error::PkiError;
use crate::signature::{SignatureFailure, verify};

/// Longest chain followed, leaf and anchor included.
pub const MAX_CHAIN_LENGTH: usize = 8;

/// `Ok` if `child`'s signature verifies with `issuer`'s public key. Names are not compared.
pub fn verify_signed_by(child: &CertificateInfo, issuer: &CertificateInfo) -> Result<(), PkiError> {
    let malformed = |reason: String| PkiError::MalformedCertificate { index: 1, reason };
    let (_, cert) = X509Certificate::from_der(&child.der).map_err(|e| malformed(e.to_string()))?;
    let (_, spki) =
        SubjectPublicKeyInfo::from_der(&issuer.spki_der).map_err(|e| malformed(e.to_string()))?;
    verify(
        &spki,
        &cert.signature_algorithm,
        &cert.signature_value,
        cert.tbs_certificate.as_ref(),
    )
    .map_err(|f| match f {
        SignatureFailure::Invalid => PkiError::BadSignature {
            subject: child.subject.to_string(),
            issuer: issuer.subject.to_string(),
        },
        SignatureFailure::Unsupported(algorithm) => PkiError::UnsupportedSignatureAlgorithm {
            subject: child.subject.to_string(),
            algorithm,
        },
    })
}

/// Checks that `leaf` chains to `anchor` at `now` (Unix seconds), possibly through some of
/// `intermediates` (in any order, unused ones ignored).
///
/// Each link needs matching issuer/subject names and a valid signature; every certificate on
/// the path must be within its validity; intermediates must be CAs (basicConstraints cA) whose
/// keyUsage, if present, allows certificate signing and whose path length constraint holds.
/// The anchor may also be an X.509 v1 certificate, as a registered CA can be.
pub fn verify_chain_to(
    leaf: &CertificateInfo,
    intermediates: &[CertificateInfo],
    anchor: &CertificateInfo,
    now: i64,
) -> Result<(), PkiError> {
    leaf.check_validity_at(now)?;
    let mut used = vec![false; intermediates.len()];
    let mut current = leaf;
    for below in 0..MAX_CHAIN_LENGTH - 1 {
        let mut failure = None;
        if current.issuer_der == anchor.subject_der {
            match verify_signed_by(current, anchor) {
                Ok(()) => {
                    check_issuing_ca(anchor, below, true)?;
                    return anchor.check_validity_at(now);
                }
                Err(e) => failure = Some(e),
            }
        }
        let mut next = None;
        for (i, candidate) in intermediates.iter().enumerate() {
            if used[i] || candidate.subject_der != current.issuer_der {
                continue;
            }
            match verify_signed_by(current, candidate) {
                Ok(()) => {
                    next = Some(i);
                    break;
                }
                Err(e) => failure = Some(e),
            }
        }
        let Some(i) = next else {
            return Err(failure.unwrap_or_else(|| PkiError::IssuerNotFound {
                subject: current.subject.to_string(),
                issuer: current.issuer.to_string(),
            }));
        };
        used[i] = true;
        let issuer = &intermediates[i];
        check_issuing_ca(issuer, below, false)?;
        issuer.check_validity_at(now)?;
        current = issuer;
    }
    Err(PkiError::ChainTooLong {
        max: MAX_CHAIN_LENGTH,
    })
}

/// Whether `ca` may issue a certificate that has `below` intermediate CAs under it.
fn check_issuing_ca(ca: &CertificateInfo, below: usize, is_anchor: bool) -> Result<(), PkiError> {
    let not_a_ca = |reason| PkiError::NotACa {
        subject: ca.subject.to_string(),
        reason,
    };
    if !ca.is_ca {
        // A v1 certificate has no basicConstraints; like OpenSSL, trust it only as an anchor.
        if !(is_anchor && ca.version == 1) {
            return Err(not_a_ca("basicConstraints does not mark it as a CA"));
        }
    }
    if ca.key_cert_sign == Some(false) {
        return Err(not_a_ca("its keyUsage does not allow certificate signing"));
    }
    if let Some(limit) = ca.path_len_constraint
        && below > limit as usize
    {
        return Err(PkiError::PathLengthExceeded {
            subject: ca.subject.to_string(),
            limit,
        });
    }
    Ok(())
}
