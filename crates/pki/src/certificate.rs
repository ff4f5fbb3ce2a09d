//! The facts Roost needs from one X.509 certificate, read once.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use rustls_pki_types::CertificateDer;
use sha2::{Digest, Sha256};
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::{GeneralName as X509GeneralName, ParsedExtension};
use x509_parser::prelude::FromDer;
use x509_parser::public_key::PublicKey;
use x509_parser::x509::SubjectPublicKeyInfo;

use crate::error::PkiError;
use crate::name::DistinguishedName;
use crate::pem::{encode_pem, parse_certificate};

/// A validity window in Unix seconds, both ends inclusive (as X.509 defines it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Validity {
    /// First valid second.
    pub not_before: i64,
    /// Last valid second.
    pub not_after: i64,
}

/// Latest instant X.509 can encode: 9999-12-31T23:59:59Z.
const MAX_X509_TIME: i64 = 253_402_300_799;

impl Validity {
    /// A window from `not_before` to `not_after` (Unix seconds); it must not be empty and must lie
    /// between 1950 and 9999.
    pub fn new(not_before: i64, not_after: i64) -> Result<Self, PkiError> {
        // 1950-01-01, the earliest UTCTime.
        const MIN_X509_TIME: i64 = -631_152_000;
        if not_after <= not_before || not_before < MIN_X509_TIME || not_after > MAX_X509_TIME {
            return Err(PkiError::InvalidValidity {
                not_before,
                not_after,
            });
        }
        Ok(Self {
            not_before,
            not_after,
        })
    }

    /// A window of `lifetime` starting at `now` (Unix seconds).
    pub fn starting_at(now: i64, lifetime: Duration) -> Result<Self, PkiError> {
        let secs = i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX);
        Self::new(now, now.saturating_add(secs).min(MAX_X509_TIME))
    }

    /// Whether `t` (Unix seconds) lies inside the window.
    pub fn contains(&self, t: i64) -> bool {
        self.not_before <= t && t <= self.not_after
    }
}

/// A subject or issuer alternative name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GeneralName {
    /// dNSName.
    Dns(String),
    /// uniformResourceIdentifier.
    Uri(String),
    /// rfc822Name (e-mail).
    Email(String),
    /// iPAddress.
    Ip(IpAddr),
    /// directoryName, in [`DistinguishedName`]'s one-line form.
    DirectoryName(String),
    /// Any other kind (otherName, registeredID…), described as text.
    Other(String),
}

impl fmt::Display for GeneralName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GeneralName::Dns(s)
            | GeneralName::Uri(s)
            | GeneralName::Email(s)
            | GeneralName::DirectoryName(s)
            | GeneralName::Other(s) => f.write_str(s),
            GeneralName::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

/// An elliptic curve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EcCurve {
    /// NIST P-256 (prime256v1).
    P256,
    /// NIST P-384 (secp384r1).
    P384,
    /// NIST P-521 (secp521r1).
    P521,
    /// Another curve, by dotted OID.
    Other(String),
}

/// The subject public key's algorithm and size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyAlgorithm {
    /// RSA with a modulus of `bits` bits.
    Rsa {
        /// Modulus length in bits.
        bits: u32,
    },
    /// ECDSA / ECDH on `curve`.
    Ec {
        /// The named curve.
        curve: EcCurve,
    },
    /// Ed25519.
    Ed25519,
    /// Anything else, by dotted OID.
    Other {
        /// The SPKI algorithm OID.
        oid: String,
    },
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyAlgorithm::Rsa { bits } => write!(f, "RSA {bits}"),
            KeyAlgorithm::Ec {
                curve: EcCurve::P256,
            } => f.write_str("EC P-256"),
            KeyAlgorithm::Ec {
                curve: EcCurve::P384,
            } => f.write_str("EC P-384"),
            KeyAlgorithm::Ec {
                curve: EcCurve::P521,
            } => f.write_str("EC P-521"),
            KeyAlgorithm::Ec {
                curve: EcCurve::Other(oid),
            } => write!(f, "EC curve {oid}"),
            KeyAlgorithm::Ed25519 => f.write_str("Ed25519"),
            KeyAlgorithm::Other { oid } => write!(f, "key algorithm {oid}"),
        }
    }
}

impl KeyAlgorithm {
    pub(crate) fn of(spki: &SubjectPublicKeyInfo<'_>) -> Self {
        match spki.algorithm.algorithm.to_id_string().as_str() {
            "1.2.840.113549.1.1.1" => match spki.parsed() {
                Ok(PublicKey::RSA(rsa)) => KeyAlgorithm::Rsa {
                    bits: unsigned_bits(rsa.modulus),
                },
                _ => KeyAlgorithm::Rsa { bits: 0 },
            },
            "1.2.840.10045.2.1" => {
                let curve = spki
                    .algorithm
                    .parameters
                    .as_ref()
                    .and_then(|p| p.as_oid().ok())
                    .map(|o| o.to_id_string())
                    .unwrap_or_default();
                let curve = match curve.as_str() {
                    "1.2.840.10045.3.1.7" => EcCurve::P256,
                    "1.3.132.0.34" => EcCurve::P384,
                    "1.3.132.0.35" => EcCurve::P521,
                    _ => EcCurve::Other(curve),
                };
                KeyAlgorithm::Ec { curve }
            }
            "1.3.101.112" => KeyAlgorithm::Ed25519,
            oid => KeyAlgorithm::Other {
                oid: oid.to_owned(),
            },
        }
    }
}

/// Bit length of a big-endian unsigned integer (DER INTEGER content, maybe 0x00-padded).
fn unsigned_bits(bytes: &[u8]) -> u32 {
    let trimmed: &[u8] = match bytes.iter().position(|&b| b != 0) {
        Some(i) => &bytes[i..],
        None => &[],
    };
    match trimmed.first() {
        Some(&first) => (trimmed.len() as u32 - 1) * 8 + (8 - first.leading_zeros()),
        None => 0,
    }
}

/// id-kp-serverAuth.
pub(crate) const SERVER_AUTH: &str = "1.3.6.1.5.5.7.3.1";
/// id-kp-clientAuth.
pub(crate) const CLIENT_AUTH: &str = "1.3.6.1.5.5.7.3.2";
/// anyExtendedKeyUsage.
const ANY_EKU: &str = "2.5.29.37.0";

/// What Roost knows about a certificate, read once from its DER.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateInfo {
    /// Lowercase hex SHA-256 of the DER: AWS's certificateId (and caCertificateId).
    pub id: String,
    /// X.509 version: 1 (no extensions, as `openssl x509 -req` makes them), 2 or 3.
    pub version: u8,
    /// The X.509 serial number as lowercase hex without leading zero bytes.
    pub serial_hex: String,
    /// Subject name, attributes in encoded order.
    pub subject: DistinguishedName,
    /// Issuer name, attributes in encoded order.
    pub issuer: DistinguishedName,
    /// Raw DER of the subject name: the registry key for "which CA has this name".
    pub subject_der: Vec<u8>,
    /// Raw DER of the issuer name: looked up among CA subjects.
    pub issuer_der: Vec<u8>,
    /// notBefore..notAfter in Unix seconds.
    pub validity: Validity,
    /// basicConstraints cA.
    pub is_ca: bool,
    /// basicConstraints pathLenConstraint, if set.
    pub path_len_constraint: Option<u32>,
    /// keyUsage keyCertSign; `None` when the certificate has no keyUsage extension.
    pub key_cert_sign: Option<bool>,
    /// extendedKeyUsage purposes as dotted OIDs (`1.3.6.1.5.5.7.3.2` is clientAuth); `None`
    /// when the certificate has no such extension, which means "any purpose".
    pub extended_key_usage: Option<Vec<String>>,
    /// Subject alternative names, in order.
    pub subject_alt_names: Vec<GeneralName>,
    /// Issuer alternative names, in order.
    pub issuer_alt_names: Vec<GeneralName>,
    /// DER of the SubjectPublicKeyInfo.
    pub spki_der: Vec<u8>,
    /// The public key's algorithm and size.
    pub key_algorithm: KeyAlgorithm,
    /// Dotted OID of the signature algorithm (e.g. `1.2.840.113549.1.1.11`, sha256WithRSA).
    pub signature_algorithm: String,
    /// authorityKeyIdentifier keyIdentifier, if present.
    pub authority_key_id: Option<Vec<u8>>,
    /// subjectKeyIdentifier, if present.
    pub subject_key_id: Option<Vec<u8>>,
    /// The certificate DER.
    pub der: CertificateDer<'static>,
    /// The certificate as one PEM block.
    pub pem: String,
}

impl CertificateInfo {
    /// Reads a DER certificate; trailing bytes or a broken known extension are errors.
    pub fn from_der(der: &[u8]) -> Result<Self, PkiError> {
        Self::from_der_with_id(der, hex::encode(Sha256::digest(der)))
    }

    /// Like [`CertificateInfo::from_der`], for a caller that has hashed `der` already: `id`
    /// must be its lowercase hex SHA-256 (a TLS handshake looks the id up before it parses).
    pub fn from_der_with_id(der: &[u8], id: String) -> Result<Self, PkiError> {
        debug_assert_eq!(
            id,
            hex::encode(Sha256::digest(der)),
            "not this certificate's id"
        );
        let malformed = |reason: String| PkiError::MalformedCertificate { index: 1, reason };
        let (rest, cert) = X509Certificate::from_der(der).map_err(|e| malformed(e.to_string()))?;
        if !rest.is_empty() {
            return Err(malformed("trailing bytes after the certificate".into()));
        }
        let mut info = Self {
            id,
            version: u8::try_from(cert.version().0 + 1).unwrap_or(u8::MAX),
            serial_hex: serial_hex(cert.raw_serial()),
            subject: DistinguishedName::from_x509(cert.subject()),
            issuer: DistinguishedName::from_x509(cert.issuer()),
            subject_der: cert.subject().as_raw().to_vec(),
            issuer_der: cert.issuer().as_raw().to_vec(),
            validity: Validity {
                not_before: cert.validity().not_before.timestamp(),
                not_after: cert.validity().not_after.timestamp(),
            },
            is_ca: false,
            path_len_constraint: None,
            key_cert_sign: None,
            extended_key_usage: None,
            subject_alt_names: Vec::new(),
            issuer_alt_names: Vec::new(),
            spki_der: cert.public_key().raw.to_vec(),
            key_algorithm: KeyAlgorithm::of(cert.public_key()),
            signature_algorithm: cert.signature_algorithm.algorithm.to_id_string(),
            authority_key_id: None,
            subject_key_id: None,
            der: CertificateDer::from(der.to_vec()),
            pem: encode_pem("CERTIFICATE", der),
        };
        for ext in cert.extensions() {
            match ext.parsed_extension() {
                ParsedExtension::BasicConstraints(bc) => {
                    info.is_ca = bc.ca;
                    info.path_len_constraint = bc.path_len_constraint;
                }
                ParsedExtension::KeyUsage(ku) => info.key_cert_sign = Some(ku.key_cert_sign()),
                ParsedExtension::ExtendedKeyUsage(eku) => {
                    let named = [
                        (eku.any, ANY_EKU),
                        (eku.server_auth, SERVER_AUTH),
                        (eku.client_auth, CLIENT_AUTH),
                        (eku.code_signing, "1.3.6.1.5.5.7.3.3"),
                        (eku.email_protection, "1.3.6.1.5.5.7.3.4"),
                        (eku.time_stamping, "1.3.6.1.5.5.7.3.8"),
                        (eku.ocsp_signing, "1.3.6.1.5.5.7.3.9"),
                    ];
                    let mut purposes: Vec<String> = named
                        .iter()
                        .filter(|(set, _)| *set)
                        .map(|(_, oid)| (*oid).to_owned())
                        .collect();
                    purposes.extend(eku.other.iter().map(|oid| oid.to_id_string()));
                    info.extended_key_usage = Some(purposes);
                }
                ParsedExtension::SubjectAlternativeName(san) => {
                    info.subject_alt_names = san.general_names.iter().map(general_name).collect();
                }
                ParsedExtension::IssuerAlternativeName(ian) => {
                    info.issuer_alt_names = ian.general_names.iter().map(general_name).collect();
                }
                ParsedExtension::AuthorityKeyIdentifier(aki) => {
                    info.authority_key_id = aki.key_identifier.as_ref().map(|k| k.0.to_vec());
                }
                ParsedExtension::SubjectKeyIdentifier(ski) => {
                    info.subject_key_id = Some(ski.0.to_vec())
                }
                ParsedExtension::ParseError { error } => {
                    return Err(malformed(format!(
                        "extension {} is malformed: {error}",
                        ext.oid.to_id_string()
                    )));
                }
                _ => {}
            }
        }
        Ok(info)
    }

    /// Reads the first certificate of a PEM text.
    pub fn from_pem(pem: &str) -> Result<Self, PkiError> {
        Self::from_der(&parse_certificate(pem)?)
    }

    /// Whether the certificate may authenticate a TLS client: no extendedKeyUsage, or one that
    /// lists clientAuth or anyExtendedKeyUsage (webpki's and AWS's reading).
    pub fn allows_client_auth(&self) -> bool {
        self.extended_key_usage
            .as_ref()
            .is_none_or(|p| p.iter().any(|o| o == CLIENT_AUTH || o == ANY_EKU))
    }

    /// `Err` if the certificate's own signature uses SHA-1 (sha1WithRSAEncryption or
    /// ecdsa-with-SHA1). Only device certificates and intermediates are held to this: a CA's
    /// self-signature proves nothing a registration did not already.
    pub fn check_not_sha1_signed(&self) -> Result<(), PkiError> {
        const SHA1_WITH_RSA: &str = "1.2.840.113549.1.1.5";
        const ECDSA_WITH_SHA1: &str = "1.2.840.10045.4.1";
        if matches!(
            self.signature_algorithm.as_str(),
            SHA1_WITH_RSA | ECDSA_WITH_SHA1
        ) {
            return Err(PkiError::WeakSignatureAlgorithm {
                subject: self.subject.to_string(),
                algorithm: self.signature_algorithm.clone(),
            });
        }
        Ok(())
    }

    /// Whether subject and issuer are the same name (a root, or a self-issued certificate).
    pub fn is_self_issued(&self) -> bool {
        self.subject_der == self.issuer_der
    }

    /// `Ok` if `now` (Unix seconds) lies within the validity period.
    pub fn check_validity_at(&self, now: i64) -> Result<(), PkiError> {
        if now < self.validity.not_before {
            return Err(PkiError::NotYetValid {
                subject: self.subject.to_string(),
                not_before: self.validity.not_before,
                now,
            });
        }
        if now > self.validity.not_after {
            return Err(PkiError::Expired {
                subject: self.subject.to_string(),
                not_after: self.validity.not_after,
                now,
            });
        }
        Ok(())
    }
}

fn serial_hex(raw: &[u8]) -> String {
    let start = raw
        .iter()
        .position(|&b| b != 0)
        .unwrap_or(raw.len().saturating_sub(1));
    hex::encode(&raw[start..])
}

fn general_name(name: &X509GeneralName<'_>) -> GeneralName {
    match name {
        X509GeneralName::DNSName(s) => GeneralName::Dns((*s).to_owned()),
        X509GeneralName::URI(s) => GeneralName::Uri((*s).to_owned()),
        X509GeneralName::RFC822Name(s) => GeneralName::Email((*s).to_owned()),
        X509GeneralName::IPAddress(bytes) => match *bytes {
            [a, b, c, d] => GeneralName::Ip(IpAddr::from([*a, *b, *c, *d])),
            b if b.len() == 16 => {
                let mut octets = [0u8; 16];
                octets.copy_from_slice(b);
                GeneralName::Ip(IpAddr::from(octets))
            }
            b => GeneralName::Other(format!("IP:#{}", hex::encode(b))),
        },
        X509GeneralName::DirectoryName(dn) => {
            GeneralName::DirectoryName(DistinguishedName::from_x509(dn).to_string())
        }
        X509GeneralName::RegisteredID(oid) => {
            GeneralName::Other(format!("RID:{}", oid.to_id_string()))
        }
        X509GeneralName::OtherName(oid, value) => GeneralName::Other(format!(
            "othername:{}:#{}",
            oid.to_id_string(),
            hex::encode(value)
        )),
        other => GeneralName::Other(format!("{other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rsa_modulus_bits_ignore_the_sign_byte() {
        let mut modulus = vec![0x00, 0x80];
        modulus.extend([0u8; 255]);
        assert_eq!(unsigned_bits(&modulus), 2048);
        assert_eq!(unsigned_bits(&[0x01, 0x00]), 9);
        assert_eq!(unsigned_bits(&[]), 0);
    }

    #[test]
    fn serial_drops_the_padding_byte() {
        assert_eq!(serial_hex(&[0x00, 0x9f, 0x01]), "9f01");
        assert_eq!(serial_hex(&[0x00]), "00");
        assert_eq!(serial_hex(&[0x01]), "01");
    }

    #[test]
    fn validity_must_not_be_empty() {
        assert!(Validity::new(10, 10).is_err());
        assert!(Validity::new(10, 9).is_err());
        assert!(Validity::new(0, MAX_X509_TIME + 1).is_err());
        let v = Validity::starting_at(100, Duration::from_secs(50)).expect("valid");
        assert_eq!(
            v,
            Validity {
                not_before: 100,
                not_after: 150
            }
        );
        assert!(v.contains(100) && v.contains(150) && !v.contains(151));
    }
}
