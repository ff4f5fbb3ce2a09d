//! X.509 for Roost: the facts the broker and control plane need from certificates, the chain
//! checks behind device authentication and CA registration, and issuing (Roost's server CA,
//! CreateKeysAndCertificate, CreateCertificateFromCsr).
//!
//! Parsing and signature checks use x509-parser, so X.509 v1 certificates (what the AWS JITP
//! walkthrough's `openssl x509 -req` makes, and what webpki refuses) verify like any other.
//! Issuing uses rcgen on aws-lc-rs. The crate does no I/O and reads no clock: time is passed in
//! as Unix seconds; only key generation and serial numbers draw randomness. It does not do TLS,
//! CRLs or OCSP, and it does not decide what a certificate may do (that is the registry's status
//! and the policies).
//!
//! Types that matter: [`CertificateInfo`] (with [`DistinguishedName`], [`GeneralName`],
//! [`KeyAlgorithm`], [`Validity`]), [`verify_signed_by`] and [`verify_chain_to`],
//! [`CertificateAuthority`] and [`IssuedCertificate`], [`check_ca_certificate`] and
//! [`verify_registration_proof`], the [`pem`] helpers, and [`PkiError`].

mod authority;
mod certificate;
mod chain;
mod csr;
mod error;
mod key;
mod name;
pub mod pem;
mod registration;
mod signature;
pub mod testing;

pub use authority::{CertificateAuthority, IssuedCertificate};
pub use certificate::{CertificateInfo, EcCurve, GeneralName, KeyAlgorithm, Validity};
pub use chain::{MAX_CHAIN_LENGTH, verify_chain_to, verify_signed_by};
pub use error::PkiError;
pub use key::KeyKind;
pub use name::{AttributeType, DistinguishedName, NameAttribute};
pub use registration::{
    check_ca_capability, check_ca_certificate, check_ca_validity, verify_registration_proof,
};
