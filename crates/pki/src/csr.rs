//! Certificate signing requests, and turning names into rcgen names for issuing.

use rcgen::string::{BmpString, Ia5String, PrintableString, TeletexString, UniversalString};
use rcgen::{DnType, DnValue};
use x509_parser::asn1_rs::Tag;
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::prelude::FromDer;
use x509_parser::x509::{AttributeTypeAndValue, X509Name};

use crate::certificate::{EcCurve, KeyAlgorithm};
use crate::error::PkiError;
use crate::name::{AttributeType, DistinguishedName};
use crate::signature::{SignatureFailure, verify};

/// A CSR that passed every check, ready to be signed.
#[derive(Debug)]
pub(crate) struct CheckedCsr {
    pub(crate) subject: rcgen::DistinguishedName,
    pub(crate) public_key: rcgen::SubjectPublicKeyInfo,
    pub(crate) key_algorithm: KeyAlgorithm,
    pub(crate) spki_der: Vec<u8>,
}

/// Parses a DER CSR, requires an RSA ≥ 2048 or EC P-256/P-384/P-521 key and verifies its
/// self-signature (AWS CreateCertificateFromCsr's rule). Requested extensions are ignored.
pub(crate) fn check_csr(der: &[u8]) -> Result<CheckedCsr, PkiError> {
    let malformed = |reason: String| PkiError::MalformedCsr { reason };
    let (rest, csr) =
        X509CertificationRequest::from_der(der).map_err(|e| malformed(e.to_string()))?;
    if !rest.is_empty() {
        return Err(malformed("trailing bytes after the request".into()));
    }
    let info = &csr.certification_request_info;
    let key_algorithm = KeyAlgorithm::of(&info.subject_pki);
    let acceptable = match &key_algorithm {
        KeyAlgorithm::Rsa { bits } => *bits >= 2048,
        KeyAlgorithm::Ec { curve } => {
            matches!(curve, EcCurve::P256 | EcCurve::P384 | EcCurve::P521)
        }
        _ => false,
    };
    if !acceptable {
        return Err(PkiError::UnsupportedKey {
            key: key_algorithm.to_string(),
        });
    }
    // The key is judged first: aws-lc-rs will not even check a signature by a weak RSA key.
    verify(
        &info.subject_pki,
        &csr.signature_algorithm,
        &csr.signature_value,
        info.raw,
    )
    .map_err(|f| match f {
        SignatureFailure::Invalid => PkiError::CsrSignatureInvalid,
        SignatureFailure::Unsupported(algorithm) => PkiError::UnsupportedSignatureAlgorithm {
            subject: DistinguishedName::from_x509(&info.subject).to_string(),
            algorithm,
        },
    })?;
    let public_key = rcgen::SubjectPublicKeyInfo::from_der(info.subject_pki.raw).map_err(|_| {
        PkiError::UnsupportedKey {
            key: key_algorithm.to_string(),
        }
    })?;
    Ok(CheckedCsr {
        subject: rcgen_name_from_x509(&info.subject)?,
        public_key,
        key_algorithm,
        spki_der: info.subject_pki.raw.to_vec(),
    })
}

/// Builds an rcgen name attribute by attribute.
///
/// rcgen keys its names by attribute type, so a type can appear once; for the six types rcgen
/// names (C, ST, L, O, OU, CN) a second value is added as a custom type with the same OID, which
/// encodes identically. A third value, or a second of any other type, cannot be expressed.
#[derive(Default)]
struct NameBuilder {
    name: rcgen::DistinguishedName,
    seen: Vec<Vec<u64>>,
}

impl NameBuilder {
    fn push(&mut self, arcs: Vec<u64>, value: DnValue) -> Result<(), PkiError> {
        let standard = DnType::from_oid(&arcs);
        let ty = match self.seen.iter().filter(|a| **a == arcs).count() {
            0 => standard,
            1 if !matches!(standard, DnType::CustomDnType(_)) => DnType::CustomDnType(arcs.clone()),
            _ => {
                let oid = arcs
                    .iter()
                    .map(u64::to_string)
                    .collect::<Vec<_>>()
                    .join(".");
                return Err(PkiError::UnsupportedSubject {
                    reason: format!(
                        "too many values of attribute {oid} (at most two of C, ST, L, O, OU, CN; one of others)"
                    ),
                });
            }
        };
        self.name.push(ty, value);
        self.seen.push(arcs);
        Ok(())
    }
}

fn unsupported(reason: impl Into<String>) -> PkiError {
    PkiError::UnsupportedSubject {
        reason: reason.into(),
    }
}

/// Copies an X.509 name with its string types.
pub(crate) fn rcgen_name_from_x509(
    name: &X509Name<'_>,
) -> Result<rcgen::DistinguishedName, PkiError> {
    let mut builder = NameBuilder::default();
    for rdn in name.iter() {
        if rdn.iter().count() > 1 {
            return Err(unsupported("multi-valued RDNs (A=x+B=y) cannot be copied"));
        }
        for attr in rdn.iter() {
            let arcs: Vec<u64> = attr
                .attr_type()
                .iter()
                .ok_or_else(|| unsupported("attribute OID too large"))?
                .collect();
            builder.push(arcs, dn_value(attr)?)?;
        }
    }
    Ok(builder.name)
}

/// An rcgen name for a typed name: C, dnQualifier and serialNumber as PrintableString (as
/// RFC 5280 asks) when they fit, emailAddress as IA5String, the rest UTF8String.
pub(crate) fn rcgen_name(name: &DistinguishedName) -> Result<rcgen::DistinguishedName, PkiError> {
    let mut builder = NameBuilder::default();
    for attr in name.attributes() {
        let arcs = attr
            .kind
            .oid_arcs()
            .ok_or_else(|| unsupported(format!("bad OID {}", attr.kind.oid())))?;
        let value = match attr.kind {
            AttributeType::Country | AttributeType::DnQualifier | AttributeType::SerialNumber => {
                PrintableString::try_from(attr.value.as_str())
                    .map(DnValue::PrintableString)
                    .unwrap_or_else(|_| DnValue::Utf8String(attr.value.clone()))
            }
            AttributeType::EmailAddress => DnValue::Ia5String(
                Ia5String::try_from(attr.value.as_str())
                    .map_err(|_| unsupported("emailAddress must be ASCII"))?,
            ),
            _ => DnValue::Utf8String(attr.value.clone()),
        };
        builder.push(arcs, value)?;
    }
    Ok(builder.name)
}

fn dn_value(attr: &AttributeTypeAndValue<'_>) -> Result<DnValue, PkiError> {
    let data = attr.as_slice();
    let text =
        || std::str::from_utf8(data).map_err(|_| unsupported("attribute value is not valid text"));
    let invalid = |_| unsupported("attribute value does not fit its string type");
    Ok(match attr.attr_value().tag() {
        Tag::Utf8String => DnValue::Utf8String(text()?.to_owned()),
        Tag::PrintableString => {
            DnValue::PrintableString(PrintableString::try_from(text()?).map_err(invalid)?)
        }
        Tag::Ia5String => DnValue::Ia5String(Ia5String::try_from(text()?).map_err(invalid)?),
        Tag::TeletexString => {
            DnValue::TeletexString(TeletexString::try_from(text()?).map_err(invalid)?)
        }
        Tag::BmpString => {
            DnValue::BmpString(BmpString::from_utf16be(data.to_vec()).map_err(invalid)?)
        }
        Tag::UniversalString => {
            DnValue::UniversalString(UniversalString::from_utf32be(data.to_vec()).map_err(invalid)?)
        }
        // rcgen cannot write these string types; the nearest equivalent keeps the text.
        Tag::NumericString | Tag::VisibleString => match PrintableString::try_from(text()?) {
            Ok(s) => DnValue::PrintableString(s),
            Err(_) => DnValue::Utf8String(text()?.to_owned()),
        },
        tag => {
            return Err(unsupported(format!(
                "attribute value has non-string type {tag}"
            )));
        }
    })
}
