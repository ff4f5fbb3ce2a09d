//! Distinguished names (subject and issuer) with typed attributes, as policy variables and
//! JITP template parameters read them.

use std::fmt;

use x509_parser::asn1_rs::Tag;
use x509_parser::x509::{AttributeTypeAndValue, X509Name};

/// The attribute types AWS IoT exposes (policy variables, JITP parameters), plus any other by OID.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AttributeType {
    /// C, 2.5.4.6.
    Country,
    /// ST, 2.5.4.8.
    StateOrProvince,
    /// L, 2.5.4.7.
    Locality,
    /// O, 2.5.4.10.
    Organization,
    /// OU, 2.5.4.11.
    OrganizationalUnit,
    /// CN, 2.5.4.3.
    CommonName,
    /// dnQualifier, 2.5.4.46.
    DnQualifier,
    /// serialNumber, 2.5.4.5 (the subject attribute, not the certificate serial).
    SerialNumber,
    /// title, 2.5.4.12.
    Title,
    /// SN (surname), 2.5.4.4.
    Surname,
    /// GN (givenName), 2.5.4.42.
    GivenName,
    /// initials, 2.5.4.43.
    Initials,
    /// pseudonym, 2.5.4.65.
    Pseudonym,
    /// generationQualifier, 2.5.4.44.
    GenerationQualifier,
    /// emailAddress, 1.2.840.113549.1.9.1 (PKCS#9).
    EmailAddress,
    /// Any other attribute, by dotted OID.
    Other(String),
}

const KNOWN: &[(AttributeType, &str, &str)] = &[
    (AttributeType::Country, "2.5.4.6", "C"),
    (AttributeType::StateOrProvince, "2.5.4.8", "ST"),
    (AttributeType::Locality, "2.5.4.7", "L"),
    (AttributeType::Organization, "2.5.4.10", "O"),
    (AttributeType::OrganizationalUnit, "2.5.4.11", "OU"),
    (AttributeType::CommonName, "2.5.4.3", "CN"),
    (AttributeType::DnQualifier, "2.5.4.46", "dnQualifier"),
    (AttributeType::SerialNumber, "2.5.4.5", "serialNumber"),
    (AttributeType::Title, "2.5.4.12", "title"),
    (AttributeType::Surname, "2.5.4.4", "SN"),
    (AttributeType::GivenName, "2.5.4.42", "GN"),
    (AttributeType::Initials, "2.5.4.43", "initials"),
    (AttributeType::Pseudonym, "2.5.4.65", "pseudonym"),
    (
        AttributeType::GenerationQualifier,
        "2.5.4.44",
        "generationQualifier",
    ),
    (
        AttributeType::EmailAddress,
        "1.2.840.113549.1.9.1",
        "emailAddress",
    ),
];

impl AttributeType {
    /// The type for dotted OID `oid`.
    pub fn from_oid(oid: &str) -> Self {
        KNOWN
            .iter()
            .find(|(_, o, _)| *o == oid)
            .map(|(t, _, _)| t.clone())
            .unwrap_or_else(|| AttributeType::Other(oid.to_owned()))
    }

    /// The dotted OID, e.g. `2.5.4.3`.
    pub fn oid(&self) -> &str {
        match self {
            AttributeType::Other(oid) => oid,
            known => KNOWN
                .iter()
                .find(|(t, _, _)| t == known)
                .map_or("", |(_, o, _)| o),
        }
    }

    /// The short name OpenSSL prints (`CN`, `OU`, `dnQualifier`…), or the dotted OID.
    pub fn short_name(&self) -> &str {
        match self {
            AttributeType::Other(oid) => oid,
            known => KNOWN
                .iter()
                .find(|(t, _, _)| t == known)
                .map_or("", |(_, _, n)| n),
        }
    }

    /// The OID as integer arcs (for rcgen's `DnType::CustomDnType`); `None` if malformed.
    pub(crate) fn oid_arcs(&self) -> Option<Vec<u64>> {
        self.oid().split('.').map(|a| a.parse().ok()).collect()
    }
}

/// One attribute of a name, its value decoded to text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameAttribute {
    /// The attribute type.
    pub kind: AttributeType,
    /// The value; strings of any ASN.1 string type are decoded, anything else is `#` + hex.
    pub value: String,
}

/// An ordered distinguished name, as encoded (RDN order; attributes of a multi-valued RDN in
/// set order). Several values of one type (two OUs) are kept in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DistinguishedName {
    attributes: Vec<NameAttribute>,
    /// Whether some RDN holds more than one attribute (`CN=a+O=b`).
    multi_valued_rdn: bool,
}

impl DistinguishedName {
    /// A name from attributes, in order (each in its own RDN).
    pub fn from_attributes(attributes: Vec<NameAttribute>) -> Self {
        Self {
            attributes,
            multi_valued_rdn: false,
        }
    }

    pub(crate) fn from_x509(name: &X509Name<'_>) -> Self {
        let mut attributes = Vec::new();
        let mut multi_valued_rdn = false;
        for rdn in name.iter() {
            multi_valued_rdn |= rdn.iter().count() > 1;
            for attr in rdn.iter() {
                attributes.push(NameAttribute {
                    kind: AttributeType::from_oid(&attr.attr_type().to_id_string()),
                    value: decode_value(attr),
                });
            }
        }
        Self {
            attributes,
            multi_valued_rdn,
        }
    }

    /// All attributes in order.
    pub fn attributes(&self) -> &[NameAttribute] {
        &self.attributes
    }

    /// Every value of `kind`, in order (policy variables' `.N` index into this).
    pub fn values<'a>(&'a self, kind: &'a AttributeType) -> impl Iterator<Item = &'a str> + 'a {
        self.attributes
            .iter()
            .filter(move |a| a.kind == *kind)
            .map(|a| a.value.as_str())
    }

    /// The first value of `kind` (what a plain policy variable or JITP parameter takes).
    pub fn first(&self, kind: &AttributeType) -> Option<&str> {
        self.attributes
            .iter()
            .find(|a| a.kind == *kind)
            .map(|a| a.value.as_str())
    }

    /// The first common name.
    pub fn common_name(&self) -> Option<&str> {
        self.first(&AttributeType::CommonName)
    }

    /// Whether the name has no attributes.
    pub fn is_empty(&self) -> bool {
        self.attributes.is_empty()
    }

    /// Whether some RDN holds several attributes (rare; such names cannot be re-issued).
    pub fn has_multi_valued_rdn(&self) -> bool {
        self.multi_valued_rdn
    }
}

impl fmt::Display for DistinguishedName {
    /// OpenSSL-style one-line form in encoded order, `C=US, O=Acme, CN=thing-1`, with RFC 4514
    /// escaping of special characters.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, a) in self.attributes.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}=", a.kind.short_name())?;
            let last = a.value.chars().count().saturating_sub(1);
            for (j, c) in a.value.chars().enumerate() {
                let escape = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
                    || (j == 0 && matches!(c, ' ' | '#'))
                    || (j == last && c == ' ');
                if escape {
                    f.write_str("\\")?;
                }
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}

fn decode_value(attr: &AttributeTypeAndValue<'_>) -> String {
    let data = attr.as_slice();
    match attr.attr_value().tag() {
        Tag::Utf8String
        | Tag::PrintableString
        | Tag::Ia5String
        | Tag::NumericString
        | Tag::VisibleString => String::from_utf8_lossy(data).into_owned(),
        Tag::BmpString => {
            let units: Vec<u16> = data
                .chunks(2)
                .map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]))
                .collect();
            String::from_utf16_lossy(&units)
        }
        Tag::UniversalString => data
            .chunks(4)
            .map(|c| {
                let mut b = [0u8; 4];
                b[..c.len()].copy_from_slice(c);
                char::from_u32(u32::from_be_bytes(b)).unwrap_or(char::REPLACEMENT_CHARACTER)
            })
            .collect(),
        // T.61 is close enough to Latin-1 for the names found in practice.
        Tag::TeletexString => data.iter().map(|&b| char::from(b)).collect(),
        _ => format!("#{}", hex::encode(data)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attr(kind: AttributeType, value: &str) -> NameAttribute {
        NameAttribute {
            kind,
            value: value.to_owned(),
        }
    }

    #[test]
    fn attribute_types_map_to_and_from_oids() {
        assert_eq!(
            AttributeType::from_oid("2.5.4.46"),
            AttributeType::DnQualifier
        );
        assert_eq!(
            AttributeType::from_oid("2.5.4.5"),
            AttributeType::SerialNumber
        );
        assert_eq!(AttributeType::EmailAddress.oid(), "1.2.840.113549.1.9.1");
        assert_eq!(
            AttributeType::from_oid("1.2.3.4"),
            AttributeType::Other("1.2.3.4".into())
        );
        assert_eq!(
            AttributeType::Other("1.2.3.4".into()).short_name(),
            "1.2.3.4"
        );
        assert_eq!(AttributeType::GivenName.oid_arcs(), Some(vec![2, 5, 4, 42]));
    }

    #[test]
    fn repeated_attributes_keep_their_order() {
        let dn = DistinguishedName::from_attributes(vec![
            attr(AttributeType::OrganizationalUnit, "first"),
            attr(AttributeType::CommonName, "thing"),
            attr(AttributeType::OrganizationalUnit, "second"),
        ]);
        assert_eq!(
            dn.values(&AttributeType::OrganizationalUnit)
                .collect::<Vec<_>>(),
            ["first", "second"]
        );
        assert_eq!(dn.first(&AttributeType::OrganizationalUnit), Some("first"));
        assert_eq!(dn.common_name(), Some("thing"));
        assert_eq!(dn.first(&AttributeType::Country), None);
    }

    #[test]
    fn display_escapes_special_characters() {
        let dn = DistinguishedName::from_attributes(vec![
            attr(AttributeType::Country, "US"),
            attr(AttributeType::Organization, "Acme, Inc."),
            attr(AttributeType::CommonName, " #lead+trail "),
        ]);
        assert_eq!(dn.to_string(), r"C=US, O=Acme\, Inc., CN=\ #lead\+trail\ ");
    }
}
