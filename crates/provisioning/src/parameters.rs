//! The template parameters a certificate supplies: AWS's `AWS::IoT::Certificate::*` and
//! Roost's own `Roost::Certificate::*` (documented in README.md).

use std::collections::HashMap;

use roost_pki::{AttributeType, CertificateInfo, DistinguishedName, GeneralName};
use roost_template::Parameters;

/// The AWS names of the subject attributes JITP passes to templates.
const AWS_SUBJECT_PARAMETERS: &[(AttributeType, &str)] = &[
    (AttributeType::Country, "Country"),
    (AttributeType::Organization, "Organization"),
    (AttributeType::OrganizationalUnit, "OrganizationalUnit"),
    (AttributeType::DnQualifier, "DistinguishedNameQualifier"),
    (AttributeType::StateOrProvince, "StateName"),
    (AttributeType::CommonName, "CommonName"),
    (AttributeType::SerialNumber, "SerialNumber"),
];

/// Every name attribute Roost's own `Roost::Certificate::Subject::*` and `…::Issuer::*`
/// parameters cover.
const ROOST_NAME_PARAMETERS: &[(AttributeType, &str)] = &[
    (AttributeType::Country, "Country"),
    (AttributeType::StateOrProvince, "StateName"),
    (AttributeType::Locality, "Locality"),
    (AttributeType::Organization, "Organization"),
    (AttributeType::OrganizationalUnit, "OrganizationalUnit"),
    (AttributeType::CommonName, "CommonName"),
    (AttributeType::DnQualifier, "DistinguishedNameQualifier"),
    (AttributeType::SerialNumber, "SerialNumber"),
    (AttributeType::Title, "Title"),
    (AttributeType::Surname, "Surname"),
    (AttributeType::GivenName, "GivenName"),
    (AttributeType::Initials, "Initials"),
    (AttributeType::Pseudonym, "Pseudonym"),
    (AttributeType::GenerationQualifier, "GenerationQualifier"),
    (AttributeType::EmailAddress, "EmailAddress"),
];

fn name_parameters(parameters: &mut Parameters, prefix: &str, name: &DistinguishedName) {
    for (kind, label) in ROOST_NAME_PARAMETERS {
        if let Some(value) = name.first(kind) {
            parameters.insert(format!("{prefix}::{label}"), value.to_owned());
        }
    }
}

fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// The template parameters JITP supplies for `certificate`, signed by registered CA `ca_id`:
/// those of [`certificate_parameters`] and `Roost::Certificate::CACertificateId`.
pub fn jitp_parameters(certificate: &CertificateInfo, ca_id: &str) -> Parameters {
    let mut parameters = certificate_parameters(certificate);
    parameters.insert(
        "Roost::Certificate::CACertificateId".to_owned(),
        ca_id.to_owned(),
    );
    parameters
}

/// The template parameters read from `certificate` itself: AWS's eight
/// (`AWS::IoT::Certificate::*`, from the subject, and the certificate id) and Roost's own,
/// documented in README.md (`Roost::Certificate::*`: every subject and issuer attribute, the
/// subject alternative names, the validity window, the X.509 serial and the fingerprint).
/// Fleet provisioning supplies these for the certificate it issued.
pub fn certificate_parameters(certificate: &CertificateInfo) -> Parameters {
    let mut parameters = Parameters::new();
    for (kind, label) in AWS_SUBJECT_PARAMETERS {
        if let Some(value) = certificate.subject.first(kind) {
            parameters.insert(format!("AWS::IoT::Certificate::{label}"), value.to_owned());
        }
    }
    parameters.insert(
        "AWS::IoT::Certificate::Id".to_owned(),
        certificate.id.clone(),
    );

    name_parameters(
        &mut parameters,
        "Roost::Certificate::Subject",
        &certificate.subject,
    );
    name_parameters(
        &mut parameters,
        "Roost::Certificate::Issuer",
        &certificate.issuer,
    );
    let mut alt_names: HashMap<&str, Vec<String>> = HashMap::new();
    for name in &certificate.subject_alt_names {
        let (kind, value) = match name {
            GeneralName::Dns(v) => ("DNSName", v.clone()),
            GeneralName::Uri(v) => ("URI", v.clone()),
            GeneralName::Email(v) => ("Email", v.clone()),
            GeneralName::Ip(ip) => ("IPAddress", ip.to_string()),
            GeneralName::DirectoryName(_) | GeneralName::Other(_) => continue,
        };
        alt_names.entry(kind).or_default().push(value);
    }
    for (kind, values) in alt_names {
        let prefix = "Roost::Certificate::SubjectAlternativeName";
        parameters.insert(format!("{prefix}::{kind}"), values[0].clone());
        parameters.insert(format!("{prefix}::{kind}List"), values.join(","));
    }
    parameters.insert(
        "Roost::Certificate::NotBefore".to_owned(),
        rfc3339(certificate.validity.not_before),
    );
    parameters.insert(
        "Roost::Certificate::NotAfter".to_owned(),
        rfc3339(certificate.validity.not_after),
    );
    parameters.insert(
        "Roost::Certificate::SerialNumber".to_owned(),
        certificate.serial_hex.clone(),
    );
    parameters.insert(
        "Roost::Certificate::Fingerprint".to_owned(),
        certificate.id.clone(),
    );
    parameters
}

#[cfg(test)]
mod tests {
    use super::*;
    use roost_pki::testing;

    #[test]
    fn jitp_parameters_carry_the_aws_names_and_roost_extensions() {
        let ca = testing::ca("Factory CA").unwrap();
        let subject = testing::name(&[
            (AttributeType::Country, "US"),
            (AttributeType::CommonName, "device-1"),
            (AttributeType::Locality, "Seattle"),
        ]);
        let issued = ca
            .issue_client_certificate(
                &subject,
                &[
                    GeneralName::Dns("d1.example".into()),
                    GeneralName::Dns("d1.local".into()),
                ],
                roost_pki::KeyKind::EcP256,
                testing::validity(),
            )
            .unwrap();
        let info = CertificateInfo::from_pem(&issued.certificate_pem).unwrap();
        let p = jitp_parameters(&info, "ca1");
        assert_eq!(p["AWS::IoT::Certificate::Country"], "US");
        assert_eq!(p["AWS::IoT::Certificate::CommonName"], "device-1");
        assert_eq!(p["AWS::IoT::Certificate::Id"], info.id);
        assert!(!p.contains_key("AWS::IoT::Certificate::Organization"));
        assert_eq!(p["Roost::Certificate::Subject::Locality"], "Seattle");
        assert_eq!(p["Roost::Certificate::Issuer::CommonName"], "Factory CA");
        assert_eq!(
            p["Roost::Certificate::SubjectAlternativeName::DNSName"],
            "d1.example"
        );
        assert_eq!(
            p["Roost::Certificate::SubjectAlternativeName::DNSNameList"],
            "d1.example,d1.local"
        );
        assert_eq!(p["Roost::Certificate::NotBefore"], "2020-01-01T00:00:00Z");
        assert_eq!(p["Roost::Certificate::CACertificateId"], "ca1");
    }
}
