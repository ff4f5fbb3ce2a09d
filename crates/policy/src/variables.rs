//! Policy variables (`${iot:ClientId}`) and condition keys: their names and their values for a
//! connection.
//!
//! Names compare case-insensitively, like IAM condition keys, except a thing attribute's name
//! inside `Attributes[…]`, which is data. Substitution follows AWS IoT's limits: a value holding
//! a wildcard character (`*`, `$`, `+`, `?`, `#`) or longer than 1024 characters is not
//! substituted. AWS documents that rule for certificate variables; we apply it to every variable,
//! which also closes the documented hole where a client id of `+` widens
//! `topicfilter/my/${iot:ClientId}` to every client's filter.

use std::borrow::Cow;

use crate::context::{AltNameKind, CertificateContext, Context, DnAttribute};

/// Longest value that is substituted, in characters.
pub const MAX_SUBSTITUTED_LENGTH: usize = 1024;

/// Values AWS reads from one multi-valued certificate attribute; later ones are ignored.
pub const MAX_ATTRIBUTE_VALUES: usize = 5;

/// Which of an attribute's values a name selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Selector {
    /// The plain name: the first value.
    First,
    /// `.N`: value number N counting from 0 (`.1` is the second value, as AWS documents).
    Index(usize),
    /// `.List`: every value (condition keys only).
    All,
}

/// Subject or issuer side of a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Party {
    Subject,
    Issuer,
}

impl Party {
    fn name(self) -> &'static str {
        match self {
            Self::Subject => "Subject",
            Self::Issuer => "Issuer",
        }
    }
}

/// A known variable or condition key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Key {
    ClientId,
    SourceIp,
    DomainName,
    /// Multi-valued; a condition key only.
    ConnectAttributes,
    ThingName,
    ThingTypeName,
    ThingAttribute(String),
    ThingIsAttached,
    CertificateSerialNumber,
    CertificateAvailableKeys(Selector),
    CertificateName(Party, DnAttribute, Selector),
    CertificateAltName(Party, AltNameKind, Selector),
}

const THING_ATTRIBUTES: &str = "iot:connection.thing.attributes[";

impl Key {
    /// Parses a name as written inside `${…}` or as a condition key; `None` if unknown.
    pub(crate) fn parse(name: &str) -> Option<Self> {
        let lower = name.to_ascii_lowercase();
        if let Some(rest) = lower.strip_prefix(THING_ATTRIBUTES) {
            let attribute = &name[name.len() - rest.len()..];
            let attribute = attribute.strip_suffix(']')?;
            let valid = !attribute.is_empty()
                && attribute
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_.,@/:#-".contains(c));
            return valid.then(|| Self::ThingAttribute(attribute.to_owned()));
        }
        let key = match lower.as_str() {
            "iot:clientid" => Self::ClientId,
            "aws:sourceip" => Self::SourceIp,
            "iot:domainname" => Self::DomainName,
            "iot:connectattributes" => Self::ConnectAttributes,
            "iot:connection.thing.thingname" => Self::ThingName,
            "iot:connection.thing.thingtypename" => Self::ThingTypeName,
            "iot:connection.thing.isattached" => Self::ThingIsAttached,
            "iot:certificate.serialnumber" => Self::CertificateSerialNumber,
            _ => return Self::parse_certificate(lower.strip_prefix("iot:certificate.")?),
        };
        Some(key)
    }

    fn parse_certificate(rest: &str) -> Option<Self> {
        let (base, selector) = split_selector(rest);
        if base == "availablekeys" {
            return Some(Self::CertificateAvailableKeys(selector));
        }
        let (party, attribute) = if let Some(attribute) = base.strip_prefix("subject.") {
            (Party::Subject, attribute)
        } else {
            (Party::Issuer, base.strip_prefix("issuer.")?)
        };
        if let Some(kind) = attribute.strip_prefix("alternativename.") {
            let kind = AltNameKind::ALL
                .into_iter()
                .find(|k| k.name().eq_ignore_ascii_case(kind))?;
            return Some(Self::CertificateAltName(party, kind, selector));
        }
        let attribute = DnAttribute::ALL
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(attribute))?;
        Some(Self::CertificateName(party, attribute, selector))
    }

    /// Whether the key can hold several values at once (so cannot be substituted).
    pub(crate) fn is_multi_valued(&self) -> bool {
        matches!(
            self,
            Self::ConnectAttributes
                | Self::CertificateAvailableKeys(Selector::All)
                | Self::CertificateName(_, _, Selector::All)
                | Self::CertificateAltName(_, _, Selector::All)
        )
    }

    /// The values of this key for `ctx`, for condition evaluation; empty if absent.
    pub(crate) fn values<'c>(&self, ctx: &'c Context) -> Vec<Cow<'c, str>> {
        let one = |value: Option<Cow<'c, str>>| value.into_iter().collect();
        let attached_thing = ctx.thing.as_ref().filter(|thing| thing.is_attached);
        match self {
            Self::ClientId => one(ctx.client_id.as_deref().map(Cow::Borrowed)),
            Self::SourceIp => one(ctx
                .source_ip
                .map(|ip| Cow::Owned(ip.to_canonical().to_string()))),
            Self::DomainName => one(ctx.domain_name.as_deref().map(Cow::Borrowed)),
            Self::ConnectAttributes => ctx
                .connect_attributes
                .iter()
                .map(|attribute| Cow::Borrowed(attribute.as_str()))
                .collect(),
            Self::ThingName => one(attached_thing.map(|thing| Cow::Borrowed(thing.name.as_str()))),
            Self::ThingTypeName => {
                one(attached_thing.and_then(|thing| thing.type_name.as_deref().map(Cow::Borrowed)))
            }
            Self::ThingAttribute(name) => one(attached_thing
                .and_then(|thing| thing.attributes.get(name))
                .map(|value| Cow::Borrowed(value.as_str()))),
            Self::ThingIsAttached => one(ctx
                .thing
                .as_ref()
                .map(|thing| Cow::Borrowed(if thing.is_attached { "true" } else { "false" }))),
            Self::CertificateSerialNumber => one(ctx
                .certificate
                .as_ref()
                .map(|cert| cert.serial_number.as_str())
                .filter(|serial| !serial.is_empty())
                .map(Cow::Borrowed)),
            Self::CertificateAvailableKeys(selector) => select(
                ctx.certificate
                    .as_ref()
                    .map(available_keys)
                    .unwrap_or_default()
                    .into_iter()
                    .map(Cow::Owned),
                *selector,
            ),
            Self::CertificateName(party, attribute, selector) => {
                let names = ctx
                    .certificate
                    .as_ref()
                    .map_or(&[][..], |cert| match party {
                        Party::Subject => &cert.subject,
                        Party::Issuer => &cert.issuer,
                    });
                select(
                    names
                        .iter()
                        .filter(|(a, _)| a == attribute)
                        .map(|(_, value)| Cow::Borrowed(value.as_str())),
                    *selector,
                )
            }
            Self::CertificateAltName(party, kind, selector) => {
                let names = ctx
                    .certificate
                    .as_ref()
                    .map_or(&[][..], |cert| match party {
                        Party::Subject => &cert.subject_alt_names,
                        Party::Issuer => &cert.issuer_alt_names,
                    });
                select(
                    names
                        .iter()
                        .filter(|(k, _)| k == kind)
                        .map(|(_, value)| Cow::Borrowed(value.as_str())),
                    *selector,
                )
            }
        }
    }

    /// The value `${key}` is replaced by, or `None` when AWS would not substitute it.
    pub(crate) fn substitute<'c>(&self, ctx: &'c Context) -> Option<Cow<'c, str>> {
        if self.is_multi_valued() {
            return None;
        }
        let value = self.values(ctx).into_iter().next()?;
        substitutable(&value).then_some(value)
    }
}

/// Whether AWS (and we) substitute a value: no wildcard characters, at most 1024 characters.
///
/// Control characters are refused too: Roost's patterns use two of them as wildcard markers, and
/// no legitimate identifier contains one.
pub(crate) fn substitutable(value: &str) -> bool {
    value.chars().count() <= MAX_SUBSTITUTED_LENGTH
        && !value
            .chars()
            .any(|c| matches!(c, '*' | '$' | '+' | '?' | '#') || c.is_control())
}

fn split_selector(rest: &str) -> (&str, Selector) {
    if let Some(base) = rest.strip_suffix(".list") {
        return (base, Selector::All);
    }
    if let Some((base, digits)) = rest.rsplit_once('.')
        && !digits.is_empty()
        && digits.chars().all(|c| c.is_ascii_digit())
    {
        // An index too large for usize selects nothing, like any index past the end.
        return (base, Selector::Index(digits.parse().unwrap_or(usize::MAX)));
    }
    (rest, Selector::First)
}

fn select<'c>(values: impl Iterator<Item = Cow<'c, str>>, selector: Selector) -> Vec<Cow<'c, str>> {
    let mut values = values.take(MAX_ATTRIBUTE_VALUES);
    match selector {
        Selector::First => values.next().into_iter().collect(),
        Selector::Index(index) => values.nth(index).into_iter().collect(),
        Selector::All => values.collect(),
    }
}

/// Names of the certificate variables that have a value (`iot:Certificate.AvailableKeys`).
fn available_keys(cert: &CertificateContext) -> Vec<String> {
    let mut keys = Vec::new();
    for (party, names, alt_names) in [
        (Party::Subject, &cert.subject, &cert.subject_alt_names),
        (Party::Issuer, &cert.issuer, &cert.issuer_alt_names),
    ] {
        for attribute in DnAttribute::ALL {
            if names.iter().any(|(a, _)| *a == attribute) {
                keys.push(format!("iot:Certificate.{}.{attribute}", party.name()));
            }
        }
        for kind in AltNameKind::ALL {
            if alt_names.iter().any(|(k, _)| *k == kind) {
                keys.push(format!(
                    "iot:Certificate.{}.AlternativeName.{kind}",
                    party.name()
                ));
            }
        }
    }
    if !cert.serial_number.is_empty() {
        keys.push("iot:Certificate.SerialNumber".to_owned());
    }
    keys
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    use super::*;
    use crate::context::ThingContext;

    fn context() -> Context {
        Context {
            client_id: Some("sensor-1".into()),
            source_ip: Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7))),
            domain_name: Some("iot.example.com".into()),
            connect_attributes: vec!["PersistentConnect".into(), "LastWill".into()],
            thing: Some(ThingContext {
                name: "sensor-1".into(),
                type_name: Some("thermometer".into()),
                attributes: [("floor".to_owned(), "3".to_owned())].into(),
                is_attached: true,
            }),
            certificate: Some(CertificateContext {
                id: "abc".into(),
                serial_number: "1234".into(),
                subject: vec![
                    (DnAttribute::CommonName, "sensor-1".into()),
                    (DnAttribute::Country, "US".into()),
                    (DnAttribute::OrganizationalUnit, "ou-0".into()),
                    (DnAttribute::OrganizationalUnit, "ou-1".into()),
                    (DnAttribute::OrganizationalUnit, "ou-2".into()),
                    (DnAttribute::OrganizationalUnit, "ou-3".into()),
                    (DnAttribute::OrganizationalUnit, "ou-4".into()),
                    (DnAttribute::OrganizationalUnit, "ou-5".into()),
                ],
                issuer: vec![(DnAttribute::Organization, "Example CA".into())],
                subject_alt_names: vec![
                    (AltNameKind::DnsName, "a.example.com".into()),
                    (AltNameKind::DnsName, "b.example.com".into()),
                ],
                issuer_alt_names: vec![(AltNameKind::Rfc822Name, "ca@example.com".into())],
            }),
            ..Context::new("us-east-1", "123456789012")
        }
    }

    fn substitute(name: &str, ctx: &Context) -> Option<String> {
        Key::parse(name)
            .unwrap_or_else(|| panic!("{name} should parse"))
            .substitute(ctx)
            .map(Cow::into_owned)
    }

    fn values(name: &str, ctx: &Context) -> Vec<String> {
        Key::parse(name)
            .unwrap_or_else(|| panic!("{name} should parse"))
            .values(ctx)
            .into_iter()
            .map(Cow::into_owned)
            .collect()
    }

    #[test]
    fn basic_variables_resolve_from_the_connection() {
        let ctx = context();
        assert_eq!(
            substitute("iot:ClientId", &ctx).as_deref(),
            Some("sensor-1")
        );
        assert_eq!(
            substitute("aws:SourceIp", &ctx).as_deref(),
            Some("192.0.2.7")
        );
        assert_eq!(
            substitute("iot:DomainName", &ctx).as_deref(),
            Some("iot.example.com")
        );
    }

    #[test]
    fn an_ipv4_mapped_source_address_reads_as_ipv4() {
        let ctx = Context {
            source_ip: Some(IpAddr::V6(Ipv4Addr::new(192, 0, 2, 7).to_ipv6_mapped())),
            ..context()
        };
        assert_eq!(
            substitute("aws:SourceIp", &ctx).as_deref(),
            Some("192.0.2.7")
        );
        let ctx = Context {
            source_ip: Some(IpAddr::V6(Ipv6Addr::LOCALHOST)),
            ..context()
        };
        assert_eq!(substitute("aws:SourceIp", &ctx).as_deref(), Some("::1"));
    }

    #[test]
    fn variable_names_compare_case_insensitively() {
        assert_eq!(
            substitute("IOT:clientid", &context()).as_deref(),
            Some("sensor-1")
        );
    }

    #[test]
    fn thing_variables_resolve_from_an_attached_thing() {
        let ctx = context();
        assert_eq!(
            substitute("iot:Connection.Thing.ThingName", &ctx).as_deref(),
            Some("sensor-1")
        );
        assert_eq!(
            substitute("iot:Connection.Thing.ThingTypeName", &ctx).as_deref(),
            Some("thermometer")
        );
        assert_eq!(
            substitute("iot:Connection.Thing.Attributes[floor]", &ctx).as_deref(),
            Some("3")
        );
        assert_eq!(
            substitute("iot:Connection.Thing.Attributes[Floor]", &ctx),
            None
        );
        assert_eq!(
            substitute("iot:Connection.Thing.IsAttached", &ctx).as_deref(),
            Some("true")
        );
    }

    #[test]
    fn an_unattached_thing_only_answers_is_attached() {
        let mut ctx = context();
        if let Some(thing) = ctx.thing.as_mut() {
            thing.is_attached = false;
        }
        assert_eq!(substitute("iot:Connection.Thing.ThingName", &ctx), None);
        assert_eq!(
            substitute("iot:Connection.Thing.Attributes[floor]", &ctx),
            None
        );
        assert_eq!(
            substitute("iot:Connection.Thing.IsAttached", &ctx).as_deref(),
            Some("false")
        );
    }

    #[test]
    fn without_a_thing_no_thing_variable_resolves() {
        let ctx = Context {
            thing: None,
            ..context()
        };
        assert_eq!(substitute("iot:Connection.Thing.ThingName", &ctx), None);
        assert_eq!(substitute("iot:Connection.Thing.IsAttached", &ctx), None);
    }

    #[test]
    fn certificate_name_variables_resolve_first_value_and_indexes() {
        let ctx = context();
        assert_eq!(
            substitute("iot:Certificate.Subject.CommonName", &ctx).as_deref(),
            Some("sensor-1")
        );
        assert_eq!(
            substitute("iot:Certificate.Subject.OrganizationalUnit", &ctx).as_deref(),
            Some("ou-0")
        );
        assert_eq!(
            substitute("iot:Certificate.Subject.OrganizationalUnit.1", &ctx).as_deref(),
            Some("ou-1")
        );
        assert_eq!(
            substitute("iot:Certificate.Subject.OrganizationalUnit.4", &ctx).as_deref(),
            Some("ou-4")
        );
        // Only five values are read, as on AWS.
        assert_eq!(
            substitute("iot:Certificate.Subject.OrganizationalUnit.5", &ctx),
            None
        );
        assert_eq!(substitute("iot:Certificate.Subject.Country.1", &ctx), None);
        assert_eq!(
            substitute("iot:Certificate.Issuer.Organization", &ctx).as_deref(),
            Some("Example CA")
        );
        assert_eq!(substitute("iot:Certificate.Issuer.CommonName", &ctx), None);
        assert_eq!(
            substitute("iot:Certificate.SerialNumber", &ctx).as_deref(),
            Some("1234")
        );
    }

    #[test]
    fn alternative_name_variables_resolve() {
        let ctx = context();
        assert_eq!(
            substitute("iot:Certificate.Subject.AlternativeName.DNSName.1", &ctx).as_deref(),
            Some("b.example.com")
        );
        assert_eq!(
            substitute("iot:Certificate.Issuer.AlternativeName.RFC822Name", &ctx).as_deref(),
            Some("ca@example.com")
        );
        assert_eq!(
            substitute("iot:Certificate.Subject.AlternativeName.IPAddress", &ctx),
            None
        );
    }

    #[test]
    fn list_keys_give_up_to_five_values_and_are_not_substituted() {
        let ctx = context();
        assert_eq!(
            values("iot:Certificate.Subject.OrganizationalUnit.List", &ctx),
            ["ou-0", "ou-1", "ou-2", "ou-3", "ou-4"]
        );
        assert_eq!(
            substitute("iot:Certificate.Subject.OrganizationalUnit.List", &ctx),
            None
        );
        assert_eq!(
            values("iot:ConnectAttributes", &ctx),
            ["PersistentConnect", "LastWill"]
        );
    }

    #[test]
    fn available_keys_name_the_certificate_variables_with_values() {
        let keys = values("iot:Certificate.AvailableKeys.List", &context());
        assert_eq!(
            keys,
            [
                "iot:Certificate.Subject.Country",
                "iot:Certificate.Subject.OrganizationalUnit",
                "iot:Certificate.Subject.CommonName",
                "iot:Certificate.Subject.AlternativeName.DNSName",
                "iot:Certificate.Issuer.Organization",
            ]
        );
    }

    #[test]
    fn values_with_wildcard_characters_are_not_substituted() {
        for client_id in ["a*", "a?", "$a", "a/+/b", "a/#", "a\u{1}b"] {
            let ctx = Context {
                client_id: Some(client_id.into()),
                ..context()
            };
            assert_eq!(substitute("iot:ClientId", &ctx), None, "{client_id:?}");
            // As a condition key the value is still visible.
            assert_eq!(values("iot:ClientId", &ctx), [client_id]);
        }
    }

    #[test]
    fn values_over_1024_characters_are_not_substituted() {
        let ctx = Context {
            client_id: Some("é".repeat(MAX_SUBSTITUTED_LENGTH)),
            ..context()
        };
        assert!(substitute("iot:ClientId", &ctx).is_some());
        let ctx = Context {
            client_id: Some("x".repeat(MAX_SUBSTITUTED_LENGTH + 1)),
            ..context()
        };
        assert_eq!(substitute("iot:ClientId", &ctx), None);
    }

    #[test]
    fn unknown_names_do_not_parse() {
        for name in [
            "iot:Connection.Thing.Foo",
            "iot:Certificate.Subject.Email",
            "iot:Certificate.Subject.AlternativeName.Foo",
            "iot:Connection.Thing.Attributes[]",
            "iot:Connection.Thing.Attributes[a b]",
            "iot:Connection.Thing.Attributes[a",
            "aws:CurrentTime",
            "iot:Certificate.Subject.CommonName.x",
            "",
        ] {
            assert_eq!(Key::parse(name), None, "{name}");
        }
    }
}
