//! What the broker knows about a connection: the values policy variables and condition keys
//! resolve to.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

/// Per-connection facts, filled by the broker once at CONNECT and bound with
/// [`crate::PolicySet::bind`]. Absent facts make their variables unresolvable.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context {
    /// AWS region the server presents, e.g. `us-east-1`; used in resource ARNs.
    pub region: String,
    /// 12-digit account id the server presents; used in resource ARNs.
    pub account: String,
    /// MQTT client id (`iot:ClientId`).
    pub client_id: Option<String>,
    /// Peer address (`aws:SourceIp`).
    pub source_ip: Option<IpAddr>,
    /// TLS SNI / endpoint domain the client connected to (`iot:DomainName`).
    pub domain_name: Option<String>,
    /// Features the CONNECT uses (`iot:ConnectAttributes`): `"PersistentConnect"`, `"LastWill"`.
    pub connect_attributes: Vec<String>,
    /// The thing the connection is associated with (`iot:Connection.Thing.*`).
    pub thing: Option<ThingContext>,
    /// The client certificate (`iot:Certificate.*`).
    pub certificate: Option<CertificateContext>,
}

impl Context {
    /// A context with only the ARN parts set; fill the other fields as they become known.
    pub fn new(region: impl Into<String>, account: impl Into<String>) -> Self {
        Self {
            region: region.into(),
            account: account.into(),
            ..Self::default()
        }
    }

    /// The ARN partition of [`Context::region`]: `aws-cn` for `cn-*`, `aws-us-gov` for
    /// `us-gov-*`, `aws` otherwise.
    pub fn partition(&self) -> &'static str {
        if self.region.starts_with("cn-") {
            "aws-cn"
        } else if self.region.starts_with("us-gov-") {
            "aws-us-gov"
        } else {
            "aws"
        }
    }
}

/// The registry thing of a connection.
///
/// AWS picks the thing named like the client id and attached to the certificate (or the
/// certificate's exclusively attached thing). The broker may also pass a thing named like the
/// client id that is *not* attached: then only `iot:Connection.Thing.IsAttached` resolves
/// (to `"false"`), so that a device cannot borrow another thing's name to gain its topics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ThingContext {
    /// Thing name (`iot:Connection.Thing.ThingName`).
    pub name: String,
    /// Thing type (`iot:Connection.Thing.ThingTypeName`), if it has one.
    pub type_name: Option<String>,
    /// Thing attributes (`iot:Connection.Thing.Attributes[<name>]`).
    pub attributes: BTreeMap<String, String>,
    /// Whether the thing is attached to the connecting principal (`…IsAttached`).
    pub is_attached: bool,
}

/// The client certificate's fields that `iot:Certificate.*` variables read.
///
/// Multi-valued attributes keep certificate order; AWS reads at most the first five values of
/// each, and so do we.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CertificateContext {
    /// AWS certificate id (SHA-256 of the DER, hex); informational, no variable reads it.
    pub id: String,
    /// X.509 serial number as the caller renders it (`iot:Certificate.SerialNumber`).
    pub serial_number: String,
    /// Subject DN attributes in certificate order (`iot:Certificate.Subject.*`).
    pub subject: Vec<(DnAttribute, String)>,
    /// Issuer DN attributes in certificate order (`iot:Certificate.Issuer.*`).
    pub issuer: Vec<(DnAttribute, String)>,
    /// Subject alternative names (`iot:Certificate.Subject.AlternativeName.*`).
    pub subject_alt_names: Vec<(AltNameKind, String)>,
    /// Issuer alternative names (`iot:Certificate.Issuer.AlternativeName.*`).
    pub issuer_alt_names: Vec<(AltNameKind, String)>,
}

/// A distinguished-name attribute AWS IoT exposes as a certificate policy variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DnAttribute {
    /// `dnQualifier` (2.5.4.46).
    DistinguishedNameQualifier,
    /// `C` (2.5.4.6).
    Country,
    /// `O` (2.5.4.10).
    Organization,
    /// `OU` (2.5.4.11).
    OrganizationalUnit,
    /// `ST` (2.5.4.8).
    State,
    /// `CN` (2.5.4.3).
    CommonName,
    /// `serialNumber` (2.5.4.5), not the certificate serial.
    SerialNumber,
    /// `title` (2.5.4.12).
    Title,
    /// `SN` (2.5.4.4).
    Surname,
    /// `GN` (2.5.4.42).
    GivenName,
    /// `initials` (2.5.4.43).
    Initials,
    /// `pseudonym` (2.5.4.65).
    Pseudonym,
    /// `generationQualifier` (2.5.4.44).
    GenerationQualifier,
}

impl DnAttribute {
    /// Every attribute.
    pub const ALL: [Self; 13] = [
        Self::DistinguishedNameQualifier,
        Self::Country,
        Self::Organization,
        Self::OrganizationalUnit,
        Self::State,
        Self::CommonName,
        Self::SerialNumber,
        Self::Title,
        Self::Surname,
        Self::GivenName,
        Self::Initials,
        Self::Pseudonym,
        Self::GenerationQualifier,
    ];

    /// The name used in policy variables, e.g. `CommonName`.
    pub fn name(self) -> &'static str {
        match self {
            Self::DistinguishedNameQualifier => "DistinguishedNameQualifier",
            Self::Country => "Country",
            Self::Organization => "Organization",
            Self::OrganizationalUnit => "OrganizationalUnit",
            Self::State => "State",
            Self::CommonName => "CommonName",
            Self::SerialNumber => "SerialNumber",
            Self::Title => "Title",
            Self::Surname => "Surname",
            Self::GivenName => "GivenName",
            Self::Initials => "Initials",
            Self::Pseudonym => "Pseudonym",
            Self::GenerationQualifier => "GenerationQualifier",
        }
    }
}

impl fmt::Display for DnAttribute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A kind of X.509 alternative name AWS IoT exposes as a certificate policy variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AltNameKind {
    /// E-mail address.
    Rfc822Name,
    /// DNS name.
    DnsName,
    /// Directory name (a DN, as text).
    DirectoryName,
    /// URI.
    UniformResourceIdentifier,
    /// IP address, as text.
    IpAddress,
}

impl AltNameKind {
    /// Every kind.
    pub const ALL: [Self; 5] = [
        Self::Rfc822Name,
        Self::DnsName,
        Self::DirectoryName,
        Self::UniformResourceIdentifier,
        Self::IpAddress,
    ];

    /// The name used in policy variables, e.g. `DNSName`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Rfc822Name => "RFC822Name",
            Self::DnsName => "DNSName",
            Self::DirectoryName => "DirectoryName",
            Self::UniformResourceIdentifier => "UniformResourceIdentifier",
            Self::IpAddress => "IPAddress",
        }
    }
}

impl fmt::Display for AltNameKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_partition_follows_the_region() {
        assert_eq!(Context::new("us-east-1", "1").partition(), "aws");
        assert_eq!(Context::new("cn-north-1", "1").partition(), "aws-cn");
        assert_eq!(Context::new("us-gov-west-1", "1").partition(), "aws-us-gov");
    }
}
