//! Who is connecting: admission of a TLS peer at MQTT CONNECT from its certificate's registry
//! status, and the policy context of an admitted principal.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use roost_pki::{AttributeType, CertificateInfo, DistinguishedName, GeneralName};
use roost_policy::{AltNameKind, CertificateContext, Context, DnAttribute, ThingContext};
use roost_registry::ConnectionThing;
use roost_registry::model::CertificateStatus;
use rustls::pki_types::CertificateDer;

use crate::identity::trust::{TrustStore, TrustedCa};
use crate::identity::verifier::{certificate_id, signing_ca};

/// An authenticated device: its certificate, registered and ACTIVE.
#[derive(Debug, Clone)]
pub struct Principal {
    pub certificate_id: String,
    pub certificate: Arc<CertificateInfo>,
    pub ca_id: Option<String>,
    /// For a trusted-user claim certificate: the template it may provision with. Its only
    /// permissions are that template's fleet-provisioning topics.
    pub claim_template: Option<String>,
}

/// Why a certificate may not connect; logged and carried in `connect_failed` events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The certificate is registered but not ACTIVE.
    NotActive(CertificateStatus),
    /// Outside its validity window.
    Expired,
    NotYetValid,
    /// Signed by a registered CA that does not auto-register (INACTIVE or auto-registration
    /// off) and not registered itself.
    NotRegistered {
        ca_id: String,
    },
    /// The chain could not be read (the verifier accepted it, so this is a race with a
    /// deregistration).
    Unknown,
    /// No client certificate on a listener that requires one.
    NoCertificate,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::NotActive(status) => write!(f, "the certificate is {status}, not ACTIVE"),
            Refusal::Expired => f.write_str("the certificate has expired"),
            Refusal::NotYetValid => f.write_str("the certificate is not valid yet"),
            Refusal::NotRegistered { ca_id } => write!(
                f,
                "the certificate is not registered and its CA {ca_id} does not auto-register \
                 certificates (it is INACTIVE or auto-registration is DISABLED)"
            ),
            Refusal::Unknown => f.write_str("the certificate is not known to the registry"),
            Refusal::NoCertificate => f.write_str("no client certificate was presented"),
        }
    }
}

/// The outcome of looking at a peer's certificate at CONNECT.
#[derive(Debug)]
pub enum Admission {
    /// Registered and ACTIVE.
    Admitted(Principal),
    /// Signed by a registered CA that auto-registers, and not registered yet: the
    /// provisioning flow (JITP or JITR) decides.
    Unregistered {
        certificate: Arc<CertificateInfo>,
        ca: Arc<TrustedCa>,
    },
    /// May not connect.
    Refused {
        certificate_id: Option<String>,
        refusal: Refusal,
    },
}

/// Decides what a peer presenting `chain` (leaf first) may do at `now` (Unix seconds).
pub fn admit(trust: &TrustStore, chain: &[CertificateDer<'_>], now: i64) -> Admission {
    let Some(leaf_der) = chain.first() else {
        return Admission::Refused {
            certificate_id: None,
            refusal: Refusal::NoCertificate,
        };
    };
    let id = certificate_id(leaf_der);
    let refused = |refusal| Admission::Refused {
        certificate_id: Some(id.clone()),
        refusal,
    };
    let verified = trust.take_verified(&id);
    let info = match &verified {
        Some(verified) => verified.certificate.clone(),
        None => match CertificateInfo::from_der(leaf_der) {
            Ok(info) => Arc::new(info),
            Err(_) => return refused(Refusal::Unknown),
        },
    };
    if now < info.validity.not_before {
        return refused(Refusal::NotYetValid);
    }
    if now > info.validity.not_after {
        return refused(Refusal::Expired);
    }
    if let Some(claim) = trust.claim(&id) {
        if claim.expires_ms <= now.saturating_mul(1000) {
            return refused(Refusal::Expired);
        }
        return Admission::Admitted(Principal {
            certificate_id: id,
            certificate: info,
            ca_id: None,
            claim_template: Some(claim.template_name),
        });
    }
    if let Some(registered) = trust.certificate(&id) {
        if registered.status == CertificateStatus::PendingActivation
            && let Some(ca) = registered.ca_id.as_deref().and_then(|ca| trust.ca(ca))
            && ca.auto_registers()
        {
            // Registered by an earlier first connect that did not complete (JITR, or a JITP
            // CA whose template was added since): provisioning decides again.
            return Admission::Unregistered {
                certificate: info,
                ca,
            };
        }
        if registered.status != CertificateStatus::Active {
            return refused(Refusal::NotActive(registered.status));
        }
        return Admission::Admitted(Principal {
            certificate_id: id,
            certificate: info,
            ca_id: registered.ca_id,
            claim_template: None,
        });
    }
    // The CA as registered now (its settings may have changed since the handshake).
    let signer = verified
        .and_then(|v| trust.ca(&v.ca_id))
        .or_else(|| signing_ca(trust, &info));
    match signer {
        Some(ca) if ca.auto_registers() => Admission::Unregistered {
            certificate: info,
            ca,
        },
        Some(ca) => refused(Refusal::NotRegistered {
            ca_id: ca.record.id.clone(),
        }),
        None => refused(Refusal::Unknown),
    }
}

/// The implicit policy of a trusted-user claim certificate: connect, and use `template`'s
/// fleet-provisioning topics (AWS attaches no policy to these claims and allows only that).
pub fn claim_policy(region: &str, account: &str, template: &str) -> String {
    let arn = format!("arn:aws:iot:{region}:{account}");
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "iot:Connect", "Resource": "*"},
            {"Effect": "Allow", "Action": ["iot:Publish", "iot:Receive"], "Resource": [
                format!("{arn}:topic/$aws/certificates/create/*"),
                format!("{arn}:topic/$aws/certificates/create-from-csr/*"),
                format!("{arn}:topic/$aws/provisioning-templates/{template}/provision/*")]},
            {"Effect": "Allow", "Action": "iot:Subscribe", "Resource": [
                format!("{arn}:topicfilter/$aws/certificates/create/*"),
                format!("{arn}:topicfilter/$aws/certificates/create-from-csr/*"),
                format!("{arn}:topicfilter/$aws/provisioning-templates/{template}/provision/*")]}
        ]
    })
    .to_string()
}

/// The policy-variable context of a connection.
pub fn policy_context(
    region: &str,
    account: &str,
    client_id: &str,
    source_ip: Option<IpAddr>,
    principal: Option<&Principal>,
    thing: Option<&ConnectionThing>,
    connect_attributes: Vec<String>,
) -> Context {
    let mut context = Context::new(region, account);
    context.client_id = Some(client_id.to_owned());
    context.source_ip = source_ip;
    context.connect_attributes = connect_attributes;
    context.thing = thing.map(|t| ThingContext {
        name: t.thing.name.clone(),
        type_name: t.thing.type_name.clone(),
        attributes: t.thing.attributes.clone(),
        is_attached: true,
    });
    context.certificate = principal.map(|p| {
        let cert = &p.certificate;
        CertificateContext {
            id: p.certificate_id.clone(),
            serial_number: cert.serial_hex.clone(),
            subject: dn_attributes(&cert.subject),
            issuer: dn_attributes(&cert.issuer),
            subject_alt_names: alt_names(&cert.subject_alt_names),
            issuer_alt_names: alt_names(&cert.issuer_alt_names),
        }
    });
    context
}

fn dn_attributes(name: &DistinguishedName) -> Vec<(DnAttribute, String)> {
    name.attributes()
        .iter()
        .filter_map(|a| {
            let kind = match a.kind {
                AttributeType::DnQualifier => DnAttribute::DistinguishedNameQualifier,
                AttributeType::Country => DnAttribute::Country,
                AttributeType::Organization => DnAttribute::Organization,
                AttributeType::OrganizationalUnit => DnAttribute::OrganizationalUnit,
                AttributeType::StateOrProvince => DnAttribute::State,
                AttributeType::CommonName => DnAttribute::CommonName,
                AttributeType::SerialNumber => DnAttribute::SerialNumber,
                AttributeType::Title => DnAttribute::Title,
                AttributeType::Surname => DnAttribute::Surname,
                AttributeType::GivenName => DnAttribute::GivenName,
                AttributeType::Initials => DnAttribute::Initials,
                AttributeType::Pseudonym => DnAttribute::Pseudonym,
                AttributeType::GenerationQualifier => DnAttribute::GenerationQualifier,
                _ => return None,
            };
            Some((kind, a.value.clone()))
        })
        .collect()
}

fn alt_names(names: &[GeneralName]) -> Vec<(AltNameKind, String)> {
    names
        .iter()
        .filter_map(|n| match n {
            GeneralName::Dns(v) => Some((AltNameKind::DnsName, v.clone())),
            GeneralName::Uri(v) => Some((AltNameKind::UniformResourceIdentifier, v.clone())),
            GeneralName::Email(v) => Some((AltNameKind::Rfc822Name, v.clone())),
            GeneralName::Ip(ip) => Some((AltNameKind::IpAddress, ip.to_string())),
            GeneralName::DirectoryName(v) => Some((AltNameKind::DirectoryName, v.clone())),
            GeneralName::Other(_) => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use roost_pki::{AttributeType, KeyKind, testing};
    use roost_registry::model::{
        AutoRegistrationStatus, CaCertificate, CaStatus, CertificateMode, Validity,
    };

    use super::*;
    use crate::identity::trust::VerifiedLeaf;

    fn registered(ca: &roost_pki::CertificateAuthority) -> CaCertificate {
        CaCertificate {
            id: ca.certificate().id.clone(),
            pem: ca.cert_pem().to_owned(),
            status: CaStatus::Active,
            auto_registration: AutoRegistrationStatus::Enable,
            registration_config: None,
            mode: CertificateMode::Default,
            validity: Validity {
                not_before_ms: 0,
                not_after_ms: i64::MAX,
            },
            customer_version: 1,
            generation_id: "g".into(),
            created_ms: 0,
            modified_ms: 0,
        }
    }

    #[test]
    fn an_unregistered_leaf_is_admitted_for_provisioning_with_or_without_its_handshake_memo() {
        let ca = testing::ca("Memo CA").unwrap();
        let other = testing::ca("Other CA").unwrap();
        let leaf = ca
            .issue_client_certificate(
                &testing::name(&[(AttributeType::CommonName, "d1")]),
                &[],
                KeyKind::EcP256,
                testing::validity(),
            )
            .unwrap();
        let info = CertificateInfo::from_pem(&leaf.certificate_pem).unwrap();
        let chain = [info.der.clone()];
        let trust = TrustStore::default();
        trust.put_ca(registered(&ca));
        let now = 1_700_000_000;
        let signer_of = |admission: Admission| match admission {
            Admission::Unregistered { ca, certificate } => {
                assert_eq!(certificate.id, info.id);
                ca.record.id.clone()
            }
            other => panic!("not admitted for provisioning: {other:?}"),
        };

        let remember_signed_by = |signer: &roost_pki::CertificateAuthority| {
            trust.remember_verified(
                info.id.clone(),
                VerifiedLeaf {
                    certificate: Arc::new(info.clone()),
                    ca_id: signer.certificate().id.clone(),
                },
            )
        };

        // Without a memo the signature is checked here.
        assert_eq!(signer_of(admit(&trust, &chain, now)), ca.certificate().id);
        // With one, it is used once.
        remember_signed_by(&ca);
        assert_eq!(signer_of(admit(&trust, &chain, now)), ca.certificate().id);
        assert!(trust.take_verified(&info.id).is_none());
        // A memo naming a CA no longer registered is not trusted: the signature decides.
        remember_signed_by(&other);
        assert_eq!(signer_of(admit(&trust, &chain, now)), ca.certificate().id);
        trust.remove_ca(&ca.certificate().id);
        assert!(matches!(
            admit(&trust, &chain, now),
            Admission::Refused {
                refusal: Refusal::Unknown,
                ..
            }
        ));
    }
}
