//! Checking an X.509 signature (certificate or CSR) with a given public key.

use aws_lc_rs::signature::{self as lc, UnparsedPublicKey, VerificationAlgorithm};
use x509_parser::asn1_rs::BitString;
use x509_parser::error::X509Error;
use x509_parser::x509::{AlgorithmIdentifier, SubjectPublicKeyInfo};

/// Why a signature did not verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SignatureFailure {
    /// The signature is wrong for this key and data.
    Invalid,
    /// Neither x509-parser nor the fallback table knows the algorithm (dotted OID).
    Unsupported(String),
}

const ECDSA_SHA256: &str = "1.2.840.10045.4.3.2";
const ECDSA_SHA384: &str = "1.2.840.10045.4.3.3";
const ECDSA_SHA512: &str = "1.2.840.10045.4.3.4";
const EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
const P256: &str = "1.2.840.10045.3.1.7";
const P384: &str = "1.3.132.0.34";
const P521: &str = "1.3.132.0.35";

/// Verifies `signature` over `data` with `spki` under `algorithm`.
///
/// x509-parser covers RSA PKCS#1 and PSS, ECDSA P-256/P-384 with SHA-256/384 and Ed25519; the
/// ECDSA combinations AWS IoT also accepts (SHA-512, P-521) are checked here with aws-lc-rs.
pub(crate) fn verify(
    spki: &SubjectPublicKeyInfo<'_>,
    algorithm: &AlgorithmIdentifier<'_>,
    signature: &BitString<'_>,
    data: &[u8],
) -> Result<(), SignatureFailure> {
    match x509_parser::verify::verify_signature(spki, algorithm, signature, data) {
        Ok(()) => Ok(()),
        Err(X509Error::SignatureUnsupportedAlgorithm) => {
            let fallback = fallback_algorithm(spki, &algorithm.algorithm.to_id_string())?;
            UnparsedPublicKey::new(fallback, &*spki.subject_public_key.data)
                .verify(data, &signature.data)
                .map_err(|_| SignatureFailure::Invalid)
        }
        Err(_) => Err(SignatureFailure::Invalid),
    }
}

/// The aws-lc-rs algorithm for an ECDSA signature x509-parser declined. An ECDSA signature
/// checked against a key that is not EC cannot be valid.
fn fallback_algorithm(
    spki: &SubjectPublicKeyInfo<'_>,
    alg_oid: &str,
) -> Result<&'static dyn VerificationAlgorithm, SignatureFailure> {
    let unsupported = || SignatureFailure::Unsupported(alg_oid.to_owned());
    if ![ECDSA_SHA256, ECDSA_SHA384, ECDSA_SHA512].contains(&alg_oid) {
        return Err(unsupported());
    }
    if spki.algorithm.algorithm.to_id_string() != EC_PUBLIC_KEY {
        return Err(SignatureFailure::Invalid);
    }
    let curve = spki
        .algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.as_oid().ok())
        .map(|o| o.to_id_string())
        .ok_or_else(unsupported)?;
    Ok(match (curve.as_str(), alg_oid) {
        (P256, ECDSA_SHA512) => &lc::ECDSA_P256_SHA512_ASN1,
        (P384, ECDSA_SHA512) => &lc::ECDSA_P384_SHA512_ASN1,
        (P521, ECDSA_SHA256) => &lc::ECDSA_P521_SHA256_ASN1,
        (P521, ECDSA_SHA384) => &lc::ECDSA_P521_SHA384_ASN1,
        (P521, ECDSA_SHA512) => &lc::ECDSA_P521_SHA512_ASN1,
        _ => return Err(unsupported()),
    })
}
