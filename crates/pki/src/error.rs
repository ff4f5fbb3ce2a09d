//! What can go wrong with certificates, keys and CSRs.

/// An X.509, key or CSR problem. Messages are written for the API caller who sent the PEM.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PkiError {
    /// The text holds no PEM block with this label (e.g. `CERTIFICATE`).
    #[error("no {label} block found")]
    NoPemBlock {
        /// The PEM label looked for.
        label: &'static str,
    },

    /// A PEM block is broken (bad base64, missing END line).
    #[error("the PEM text is malformed: {reason}")]
    MalformedPem {
        /// What the PEM reader reported.
        reason: String,
    },

    /// A certificate's DER could not be parsed.
    #[error("certificate {index} in the chain is not valid DER: {reason}")]
    MalformedCertificate {
        /// 1-based position in the PEM text (1 for a lone certificate).
        index: usize,
        /// What the parser reported.
        reason: String,
    },

    /// A certificate signing request could not be parsed.
    #[error("the certificate signing request is not valid: {reason}")]
    MalformedCsr {
        /// What the parser reported.
        reason: String,
    },

    /// A private key could not be read or used.
    #[error("the private key is not valid: {reason}")]
    MalformedPrivateKey {
        /// What was wrong.
        reason: String,
    },

    /// The private key does not belong to the certificate.
    #[error("the private key does not match the certificate's public key")]
    KeyMismatch,

    /// A validity window is empty or outside what X.509 can encode.
    #[error(
        "invalid validity period: not before {not_before}, not after {not_after} (Unix seconds)"
    )]
    InvalidValidity {
        /// Start, Unix seconds.
        not_before: i64,
        /// End, Unix seconds.
        not_after: i64,
    },

    /// The certificate is not valid yet.
    #[error("certificate '{subject}' is not valid before {not_before} (now {now}, Unix seconds)")]
    NotYetValid {
        /// The certificate's subject.
        subject: String,
        /// Start of validity, Unix seconds.
        not_before: i64,
        /// The time checked, Unix seconds.
        now: i64,
    },

    /// The certificate has expired.
    #[error("certificate '{subject}' expired at {not_after} (now {now}, Unix seconds)")]
    Expired {
        /// The certificate's subject.
        subject: String,
        /// End of validity, Unix seconds.
        not_after: i64,
        /// The time checked, Unix seconds.
        now: i64,
    },

    /// The signature does not verify with the issuer's public key.
    #[error("certificate '{subject}' is not signed by the key of '{issuer}'")]
    BadSignature {
        /// The signed certificate's subject.
        subject: String,
        /// The subject of the certificate whose key was tried.
        issuer: String,
    },

    /// The signature algorithm (or its key) is not supported.
    #[error("unsupported signature algorithm {algorithm} on '{subject}'")]
    UnsupportedSignatureAlgorithm {
        /// The certificate or CSR subject.
        subject: String,
        /// Dotted OID of the signature algorithm.
        algorithm: String,
    },

    /// The certificate is signed with SHA-1, whose collisions are practical: a forged
    /// certificate could carry the same signature.
    #[error(
        "certificate '{subject}' is signed with SHA-1 ({algorithm}), which is no longer \
         accepted; reissue it with SHA-256 or stronger"
    )]
    WeakSignatureAlgorithm {
        /// The certificate's subject.
        subject: String,
        /// Dotted OID of the signature algorithm.
        algorithm: String,
    },

    /// No certificate in the chain or the anchor is named as the issuer.
    #[error("no certificate in the chain or trust anchor is the issuer '{issuer}' of '{subject}'")]
    IssuerNotFound {
        /// The certificate whose issuer is missing.
        subject: String,
        /// Its issuer's name.
        issuer: String,
    },

    /// A certificate used to sign others is not a CA.
    #[error("certificate '{subject}' is not a CA: {reason}")]
    NotACa {
        /// The certificate's subject.
        subject: String,
        /// Why it does not qualify.
        reason: &'static str,
    },

    /// A CA's path length constraint is exceeded.
    #[error("CA '{subject}' allows {limit} intermediate CA(s) below it; the chain has more")]
    PathLengthExceeded {
        /// The constraining CA.
        subject: String,
        /// Its pathLenConstraint.
        limit: u32,
    },

    /// The chain is longer than this crate will follow.
    #[error("certificate chain is longer than {max} certificates")]
    ChainTooLong {
        /// The limit.
        max: usize,
    },

    /// A CA certificate offered for registration has expired or is not valid yet.
    #[error(
        "the CA certificate '{subject}' is outside its validity period ({not_before}..{not_after}, now {now}, Unix seconds)"
    )]
    CaOutsideValidity {
        /// The CA's subject.
        subject: String,
        /// Start of validity, Unix seconds.
        not_before: i64,
        /// End of validity, Unix seconds.
        not_after: i64,
        /// The time checked, Unix seconds.
        now: i64,
    },

    /// The verification certificate's common name is not the registration code.
    #[error(
        "the verification certificate's common name {} is not the registration code",
        found.as_deref().map_or_else(|| "(none)".to_owned(), |cn| format!("'{cn}'"))
    )]
    RegistrationCodeMismatch {
        /// The CN found, if any.
        found: Option<String>,
    },

    /// The verification certificate is not signed by the CA being registered.
    #[error("the verification certificate is not signed by the CA certificate's private key")]
    NotSignedByCa,

    /// A CSR's public key is too weak or of an unsupported kind.
    #[error(
        "the public key must be RSA of at least 2048 bits or EC P-256, P-384 or P-521; got {key}"
    )]
    UnsupportedKey {
        /// The key found, e.g. `RSA 1024`.
        key: String,
    },

    /// A CSR's self-signature does not verify.
    #[error("the certificate signing request's signature does not verify with its own public key")]
    CsrSignatureInvalid,

    /// A subject name cannot be reproduced in an issued certificate.
    #[error("cannot copy the subject name: {reason}")]
    UnsupportedSubject {
        /// What is not supported.
        reason: String,
    },

    /// A subject alternative name is not a valid DNS name or IP address.
    #[error("invalid subject alternative name {name:?}")]
    InvalidSubjectAltName {
        /// The name as given.
        name: String,
    },

    /// Key generation or signing failed inside the crypto library.
    #[error("certificate issuing failed: {reason}")]
    Issuing {
        /// What the library reported.
        reason: String,
    },
}

impl From<rcgen::Error> for PkiError {
    fn from(e: rcgen::Error) -> Self {
        PkiError::Issuing {
            reason: e.to_string(),
        }
    }
}
