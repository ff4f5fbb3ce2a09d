//! A certificate authority that issues certificates: Roost's own server CA, a CA loaded from
//! PEM, and the profiles for CreateKeysAndCertificate and CreateCertificateFromCsr.

use std::net::IpAddr;

use rcgen::string::Ia5String;
use rcgen::{
    BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PublicKeyData, SanType,
};
use time::OffsetDateTime;
use x509_parser::prelude::FromDer;
use x509_parser::x509::SubjectPublicKeyInfo;

use crate::certificate::{CertificateInfo, EcCurve, GeneralName, KeyAlgorithm, Validity};
use crate::csr::{check_csr, rcgen_name};
use crate::error::PkiError;
use crate::key::{KeyKind, random_serial};
use crate::name::{AttributeType, DistinguishedName, NameAttribute};
use crate::pem::parse_csr;

/// A certificate with the key pair generated for it.
#[derive(Clone, PartialEq, Eq)]
pub struct IssuedCertificate {
    /// The certificate, one PEM block.
    pub certificate_pem: String,
    /// The public key as SPKI `-----BEGIN PUBLIC KEY-----`.
    pub public_key_pem: String,
    /// The private key: PKCS#1 `RSA PRIVATE KEY` for RSA, PKCS#8 `PRIVATE KEY` for EC.
    pub private_key_pem: String,
}

impl std::fmt::Debug for IssuedCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedCertificate")
            .field("certificate_pem", &self.certificate_pem)
            .field("public_key_pem", &self.public_key_pem)
            .field("private_key_pem", &"<redacted>")
            .finish()
    }
}

/// A CA certificate together with its private key.
#[derive(Debug)]
pub struct CertificateAuthority {
    info: CertificateInfo,
    issuer: Issuer<'static, KeyPair>,
}

impl CertificateAuthority {
    /// A new self-signed CA with an EC P-256 key and subject `CN=<common_name>`.
    pub fn generate(common_name: &str, validity: Validity) -> Result<Self, PkiError> {
        Self::generate_with_key(common_name, KeyKind::EcP256, validity)
    }

    /// A new self-signed CA with a key of `kind`: basicConstraints cA (no path length limit),
    /// keyUsage keyCertSign + cRLSign + digitalSignature, subject and authority key ids.
    pub fn generate_with_key(
        common_name: &str,
        kind: KeyKind,
        validity: Validity,
    ) -> Result<Self, PkiError> {
        let key = kind.generate()?;
        let params = ca_params(common_name, None, validity)?;
        let cert = params.self_signed(&key)?;
        Ok(Self {
            info: CertificateInfo::from_der(cert.der())?,
            issuer: Issuer::new(params, key),
        })
    }

    /// Loads a CA from its certificate and private key PEM (PKCS#8, PKCS#1 or SEC1). The key
    /// must match the certificate, which must be a CA (basicConstraints cA) or X.509 v1.
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Self, PkiError> {
        let info = CertificateInfo::from_pem(cert_pem)?;
        if !info.is_ca && info.version != 1 {
            return Err(PkiError::NotACa {
                subject: info.subject.to_string(),
                reason: "basicConstraints does not mark it as a CA",
            });
        }
        let key = KeyPair::from_pem(key_pem).map_err(|e| PkiError::MalformedPrivateKey {
            reason: e.to_string(),
        })?;
        let (_, spki) = SubjectPublicKeyInfo::from_der(&info.spki_der).map_err(|e| {
            PkiError::MalformedCertificate {
                index: 1,
                reason: e.to_string(),
            }
        })?;
        if *spki.subject_public_key.data != *key.public_key_raw() {
            return Err(PkiError::KeyMismatch);
        }
        let issuer = Issuer::from_ca_cert_der(&info.der, key)?;
        Ok(Self { info, issuer })
    }

    /// A subordinate CA signed by this one, with a new key of `kind` and subject
    /// `CN=<common_name>`; `path_len` limits the CAs allowed below it (`None`: no limit).
    pub fn issue_subordinate_ca(
        &self,
        common_name: &str,
        kind: KeyKind,
        path_len: Option<u8>,
        validity: Validity,
    ) -> Result<CertificateAuthority, PkiError> {
        let key = kind.generate()?;
        let params = ca_params(common_name, path_len, validity)?;
        let info = self.sign(&params, &key)?;
        Ok(Self {
            info,
            issuer: Issuer::new(params, key),
        })
    }

    /// The CA certificate's facts.
    pub fn certificate(&self) -> &CertificateInfo {
        &self.info
    }

    /// The CA certificate as PEM.
    pub fn cert_pem(&self) -> &str {
        &self.info.pem
    }

    /// The CA certificate as DER.
    pub fn cert_der(&self) -> &[u8] {
        &self.info.der
    }

    /// The CA private key as PKCS#8 PEM. Secret: write it with restrictive permissions.
    pub fn key_pem(&self) -> String {
        self.issuer.key().serialize_pem()
    }

    /// A TLS server certificate for `sans` (DNS names or IP addresses; at least one) with a new
    /// EC P-256 key: subject `CN=<first SAN>`, EKU serverAuth.
    pub fn issue_server_certificate(
        &self,
        sans: &[String],
        validity: Validity,
    ) -> Result<IssuedCertificate, PkiError> {
        let first = sans
            .first()
            .ok_or_else(|| PkiError::InvalidSubjectAltName {
                name: String::new(),
            })?;
        let names = sans
            .iter()
            .map(|s| match s.parse::<IpAddr>() {
                Ok(ip) => Ok(GeneralName::Ip(ip)),
                Err(_) if is_dns_name(s) => Ok(GeneralName::Dns(s.clone())),
                Err(_) => Err(PkiError::InvalidSubjectAltName { name: s.clone() }),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let subject = DistinguishedName::from_attributes(vec![NameAttribute {
            kind: AttributeType::CommonName,
            value: first.clone(),
        }]);
        self.issue_with_profile(
            &subject,
            &names,
            KeyKind::EcP256,
            ExtendedKeyUsagePurpose::ServerAuth,
            validity,
        )
    }

    /// A client certificate with a new key of `kind` and subject `CN=<common_name>`, EKU
    /// clientAuth: AWS CreateKeysAndCertificate (which uses RSA-2048 and `CN=AWS IoT Certificate`).
    pub fn issue_with_new_key(
        &self,
        kind: KeyKind,
        common_name: &str,
        validity: Validity,
    ) -> Result<IssuedCertificate, PkiError> {
        let subject = DistinguishedName::from_attributes(vec![NameAttribute {
            kind: AttributeType::CommonName,
            value: common_name.to_owned(),
        }]);
        self.issue_client_certificate(&subject, &[], kind, validity)
    }

    /// A client certificate (EKU clientAuth) with a new key of `kind`, any `subject` and
    /// subject alternative names (DNS, URI, e-mail, IP). A subject may hold at most two values
    /// of C, ST, L, O, OU or CN and one of any other attribute (an rcgen limit).
    pub fn issue_client_certificate(
        &self,
        subject: &DistinguishedName,
        sans: &[GeneralName],
        kind: KeyKind,
        validity: Validity,
    ) -> Result<IssuedCertificate, PkiError> {
        self.issue_with_profile(
            subject,
            sans,
            kind,
            ExtendedKeyUsagePurpose::ClientAuth,
            validity,
        )
    }

    /// Signs a PEM CSR (AWS CreateCertificateFromCsr): checks its signature and key (RSA ≥ 2048
    /// or EC P-256/P-384/P-521), keeps its subject and public key, and applies Roost's client
    /// profile (EKU clientAuth) instead of any requested extensions. Returns the certificate PEM.
    pub fn issue_from_csr(&self, csr_pem: &str, validity: Validity) -> Result<String, PkiError> {
        let csr = check_csr(&parse_csr(csr_pem)?)?;
        let mut params = base_params(validity)?;
        params.distinguished_name = csr.subject;
        params.key_usages = client_key_usages(&csr.key_algorithm);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let issued = self.sign(&params, &csr.public_key)?;
        if issued.spki_der != csr.spki_der {
            return Err(PkiError::Issuing {
                reason: "the issued public key differs from the CSR's".into(),
            });
        }
        Ok(issued.pem)
    }

    fn issue_with_profile(
        &self,
        subject: &DistinguishedName,
        sans: &[GeneralName],
        kind: KeyKind,
        purpose: ExtendedKeyUsagePurpose,
        validity: Validity,
    ) -> Result<IssuedCertificate, PkiError> {
        let key = kind.generate()?;
        let mut params = base_params(validity)?;
        params.distinguished_name = rcgen_name(subject)?;
        params.subject_alt_names = sans.iter().map(san_type).collect::<Result<_, _>>()?;
        params.key_usages = client_key_usages(&key_algorithm_of(kind));
        params.extended_key_usages = vec![purpose];
        let issued = self.sign(&params, &key)?;
        Ok(IssuedCertificate {
            certificate_pem: issued.pem,
            public_key_pem: key.public_key_pem(),
            private_key_pem: kind.private_key_pem(&key)?,
        })
    }

    /// Signs `params` for `public_key` and checks that the issuer name came out exactly as
    /// this CA's subject (rcgen re-encodes it; chain lookups compare raw names).
    fn sign(
        &self,
        params: &CertificateParams,
        public_key: &impl PublicKeyData,
    ) -> Result<CertificateInfo, PkiError> {
        let cert = params.signed_by(public_key, &self.issuer)?;
        let info = CertificateInfo::from_der(cert.der())?;
        if info.issuer_der != self.info.subject_der {
            return Err(PkiError::UnsupportedSubject {
                reason: format!(
                    "the CA name '{}' cannot be reproduced exactly as an issuer name",
                    self.info.subject
                ),
            });
        }
        Ok(info)
    }
}

fn key_algorithm_of(kind: KeyKind) -> KeyAlgorithm {
    match kind {
        KeyKind::Rsa2048 => KeyAlgorithm::Rsa { bits: 2048 },
        KeyKind::EcP256 => KeyAlgorithm::Ec {
            curve: EcCurve::P256,
        },
    }
}

/// Parameters every issued certificate shares: explicit validity, a random serial, AKI.
fn base_params(validity: Validity) -> Result<CertificateParams, PkiError> {
    let invalid = || PkiError::InvalidValidity {
        not_before: validity.not_before,
        not_after: validity.not_after,
    };
    let mut params = CertificateParams::default();
    params.not_before =
        OffsetDateTime::from_unix_timestamp(validity.not_before).map_err(|_| invalid())?;
    params.not_after =
        OffsetDateTime::from_unix_timestamp(validity.not_after).map_err(|_| invalid())?;
    params.serial_number = Some(random_serial()?);
    params.use_authority_key_identifier_extension = true;
    Ok(params)
}

/// A CA profile: `CN=<common_name>`, basicConstraints cA with `path_len`, keyUsage keyCertSign +
/// cRLSign + digitalSignature (rcgen adds the subject key id to CA certificates).
fn ca_params(
    common_name: &str,
    path_len: Option<u8>,
    validity: Validity,
) -> Result<CertificateParams, PkiError> {
    let mut params = base_params(validity)?;
    params.distinguished_name =
        rcgen_name(&DistinguishedName::from_attributes(vec![NameAttribute {
            kind: AttributeType::CommonName,
            value: common_name.to_owned(),
        }]))?;
    params.is_ca = IsCa::Ca(match path_len {
        Some(n) => BasicConstraints::Constrained(n),
        None => BasicConstraints::Unconstrained,
    });
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    Ok(params)
}

/// digitalSignature, plus keyEncipherment for RSA (RSA key exchange in TLS 1.2).
fn client_key_usages(key: &KeyAlgorithm) -> Vec<KeyUsagePurpose> {
    match key {
        KeyAlgorithm::Rsa { .. } => vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ],
        _ => vec![KeyUsagePurpose::DigitalSignature],
    }
}

fn san_type(name: &GeneralName) -> Result<SanType, PkiError> {
    let ia5 = |s: &str| {
        Ia5String::try_from(s).map_err(|_| PkiError::InvalidSubjectAltName { name: s.to_owned() })
    };
    Ok(match name {
        GeneralName::Dns(s) => SanType::DnsName(ia5(s)?),
        GeneralName::Uri(s) => SanType::URI(ia5(s)?),
        GeneralName::Email(s) => SanType::Rfc822Name(ia5(s)?),
        GeneralName::Ip(ip) => SanType::IpAddress(*ip),
        other => {
            return Err(PkiError::InvalidSubjectAltName {
                name: other.to_string(),
            });
        }
    })
}

/// A DNS name as a server certificate may carry it: ASCII labels of letters, digits and `-`,
/// optionally a leading `*.` wildcard label.
fn is_dns_name(s: &str) -> bool {
    let s = s.strip_prefix("*.").unwrap_or(s);
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_names_are_checked() {
        assert!(is_dns_name("localhost"));
        assert!(is_dns_name("iot.example.com"));
        assert!(is_dns_name("*.example.com"));
        assert!(!is_dns_name("bad name"));
        assert!(!is_dns_name("-x.example"));
        assert!(!is_dns_name("a..b"));
        assert!(!is_dns_name(""));
    }
}
