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
    /// The certificate or an intermediate is signed with SHA-1.
    WeakSignature(String),
    /// The CA that signed the certificate is outside its validity period or cannot sign
    /// certificates, so it vouches for no new device.
    CaUnusable {
        ca_id: String,
        reason: String,
    },
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
            Refusal::WeakSignature(reason) => f.write_str(reason),
            Refusal::CaUnusable { ca_id, reason } => {
                write!(f, "the certificate's CA {ca_id} cannot be used: {reason}")
            }
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

/// Broker-wide rules admission applies besides each certificate's registry status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AdmissionRules {
    /// Whether certificates registered under a CA stay refused once that CA has expired (or
    /// cannot sign). Off by default: one expired CA must not take a fleet offline; it only
    /// stops new devices from being registered under it.
    pub expired_ca_refuses_all: bool,
}

/// `Err` if a presented intermediate (not a self-issued root) is signed with SHA-1.
fn check_intermediates(chain: &[CertificateDer<'_>]) -> Result<(), String> {
    for der in chain.iter().skip(1) {
        // An intermediate that does not parse cannot have helped the handshake; ignore it.
        if let Ok(info) = roost_pki::CertificateInfo::from_der(der)
            && !info.is_self_issued()
        {
            info.check_not_sha1_signed().map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

/// Decides what a peer presenting `chain` (leaf first) may do at `now` (Unix seconds).
pub fn admit(
    trust: &TrustStore,
    chain: &[CertificateDer<'_>],
    now: i64,
    rules: AdmissionRules,
) -> Admission {
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
    if let Err(weak) = info.check_not_sha1_signed() {
        return refused(Refusal::WeakSignature(weak.to_string()));
    }
    if let Err(weak) = check_intermediates(chain) {
        return refused(Refusal::WeakSignature(weak));
    }
    let unusable = |ca: &TrustedCa| {
        ca.check_usable_at(now)
            .err()
            .map(|reason| Refusal::CaUnusable {
                ca_id: ca.record.id.clone(),
                reason,
            })
    };
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
            if let Some(refusal) = unusable(&ca) {
                return refused(refusal);
            }
            return Admission::Unregistered {
                certificate: info,
                ca,
            };
        }
        if registered.status != CertificateStatus::Active {
            return refused(Refusal::NotActive(registered.status));
        }
        if rules.expired_ca_refuses_all
            && let Some(ca) = registered.ca_id.as_deref().and_then(|ca| trust.ca(ca))
            && let Some(refusal) = unusable(&ca)
        {
            return refused(refusal);
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
        Some(ca) if ca.auto_registers() => match unusable(&ca) {
            Some(refusal) => refused(refusal),
            None => Admission::Unregistered {
                certificate: info,
                ca,
            },
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
    use crate::identity::trust::{TrustedCa, VerifiedLeaf};

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
        assert_eq!(
            signer_of(admit(&trust, &chain, now, AdmissionRules::default())),
            ca.certificate().id
        );
        // With one, it is used once.
        remember_signed_by(&ca);
        assert_eq!(
            signer_of(admit(&trust, &chain, now, AdmissionRules::default())),
            ca.certificate().id
        );
        assert!(trust.take_verified(&info.id).is_none());
        // A memo naming a CA no longer registered is not trusted: the signature decides.
        remember_signed_by(&other);
        assert_eq!(
            signer_of(admit(&trust, &chain, now, AdmissionRules::default())),
            ca.certificate().id
        );
        trust.remove_ca(&ca.certificate().id);
        assert!(matches!(
            admit(&trust, &chain, now, AdmissionRules::default()),
            Admission::Refused {
                refusal: Refusal::Unknown,
                ..
            }
        ));
    }

    #[test]
    fn a_ca_past_its_validity_provisions_no_new_device_but_keeps_registered_ones_by_default() {
        let now = 1_700_000_000;
        let ca = roost_pki::CertificateAuthority::generate(
            "Expired CA",
            roost_pki::Validity {
                not_before: now - 1000,
                not_after: now - 10,
            },
        )
        .unwrap();
        let issue = |cn: &str| {
            let pem = ca
                .issue_client_certificate(
                    &testing::name(&[(AttributeType::CommonName, cn)]),
                    &[],
                    KeyKind::EcP256,
                    testing::validity(),
                )
                .unwrap()
                .certificate_pem;
            CertificateInfo::from_pem(&pem).unwrap()
        };
        let trust = TrustStore::default();
        trust.put_ca(registered(&ca));

        let new_device = issue("new");
        let admission = admit(
            &trust,
            std::slice::from_ref(&new_device.der),
            now,
            AdmissionRules::default(),
        );
        let Admission::Refused {
            refusal: Refusal::CaUnusable { ca_id, reason },
            ..
        } = admission
        else {
            panic!("an expired CA provisioned a device: {admission:?}");
        };
        assert_eq!(ca_id, ca.certificate().id);
        assert!(reason.contains("outside its validity period"), "{reason}");

        let known = issue("known");
        trust.put_certificate(roost_registry::CertificateTrust {
            id: known.id.clone(),
            status: CertificateStatus::Active,
            ca_id: Some(ca.certificate().id.clone()),
            not_after_ms: i64::MAX,
        });
        let chain = [known.der.clone()];
        assert!(matches!(
            admit(&trust, &chain, now, AdmissionRules::default()),
            Admission::Admitted(_)
        ));
        let strict = AdmissionRules {
            expired_ca_refuses_all: true,
        };
        assert!(matches!(
            admit(&trust, &chain, now, strict),
            Admission::Refused {
                refusal: Refusal::CaUnusable { .. },
                ..
            }
        ));
    }

    #[test]
    fn a_ca_whose_key_usage_forbids_certificate_signing_provisions_no_new_device() {
        let now = 1_700_000_000;
        // A leaf certificate registered as if it were a CA: not marked CA, not a v1 root.
        let root = testing::ca("Root").unwrap();
        let not_a_ca = root
            .issue_client_certificate(
                &testing::name(&[(AttributeType::CommonName, "Not a CA")]),
                &[],
                KeyKind::EcP256,
                testing::validity(),
            )
            .unwrap();
        let info = CertificateInfo::from_pem(&not_a_ca.certificate_pem).unwrap();
        let record = CaCertificate {
            id: info.id.clone(),
            pem: not_a_ca.certificate_pem,
            ..registered(&root)
        };
        let ca = TrustedCa::new(record, info);
        let reason = ca.check_usable_at(now).unwrap_err();
        assert!(reason.contains("not a CA"), "{reason}");
    }
}
