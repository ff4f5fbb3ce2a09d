//! Issuing with rcgen: Roost's CA, server and client certificates, CreateKeysAndCertificate,
//! CreateCertificateFromCsr — each checked with our own verifier and with `openssl verify`.

mod common;

use std::net::IpAddr;

use common::{NOW, REGISTRATION_CODE, cert, fixture, openssl_verify};
use roost_pki::pem::parse_private_key;
use roost_pki::testing::{name, validity};
use roost_pki::{
    AttributeType, CertificateAuthority, CertificateInfo, EcCurve, GeneralName, KeyAlgorithm,
    KeyKind, PkiError, Validity, check_ca_certificate, verify_chain_to, verify_registration_proof,
    verify_signed_by,
};
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject;

const CLIENT_AUTH: &str = "1.3.6.1.5.5.7.3.2";
const SERVER_AUTH: &str = "1.3.6.1.5.5.7.3.1";

fn roost_ca() -> CertificateAuthority {
    CertificateAuthority::generate("Roost Test CA", validity()).expect("CA")
}

fn info(pem: &str) -> CertificateInfo {
    CertificateInfo::from_pem(pem).expect("issued certificate parses")
}

fn assert_openssl_accepts(ca: &CertificateAuthority, leaf_pem: &str) {
    if let Some((ok, out)) = openssl_verify(ca.cert_pem(), None, leaf_pem) {
        assert!(ok, "openssl verify refused: {out}");
    }
}

#[test]
fn a_generated_ca_is_a_self_signed_ec_ca_with_key_identifiers() {
    let ca = roost_ca();
    let c = ca.certificate();
    assert_eq!(c.version, 3);
    assert!(c.is_ca && c.is_self_issued());
    assert_eq!(c.key_cert_sign, Some(true));
    assert_eq!(
        c.key_algorithm,
        KeyAlgorithm::Ec {
            curve: EcCurve::P256
        }
    );
    assert_eq!(c.subject.to_string(), "CN=Roost Test CA");
    assert_eq!(c.validity, validity());
    assert!(c.subject_key_id.is_some());
    assert_eq!(c.authority_key_id, c.subject_key_id);
    assert_eq!(c.serial_hex.len(), 40, "20-byte serial");
    verify_signed_by(c, c).expect("self-signed");
    check_ca_certificate(c, NOW).expect("acceptable CA");
}

#[test]
fn a_certificate_read_with_its_known_id_is_the_one_read_from_scratch() {
    let ca = roost_ca();
    let der = ca.certificate().der.to_vec();
    let read = CertificateInfo::from_der(&der).expect("parses");
    assert_eq!(read.id.len(), 64, "hex SHA-256");
    assert_eq!(
        CertificateInfo::from_der_with_id(&der, read.id.clone()).expect("parses"),
        read
    );
}

#[test]
fn two_generated_cas_get_different_serials() {
    assert_ne!(
        roost_ca().certificate().serial_hex,
        roost_ca().certificate().serial_hex
    );
}

#[test]
fn a_ca_survives_a_round_trip_through_pem() {
    let ca = roost_ca();
    let reloaded = CertificateAuthority::from_pem(ca.cert_pem(), &ca.key_pem()).expect("reloads");
    assert_eq!(reloaded.certificate(), ca.certificate());
    let issued = reloaded
        .issue_with_new_key(KeyKind::EcP256, "thing", validity())
        .expect("issues");
    let leaf = info(&issued.certificate_pem);
    verify_chain_to(&leaf, &[], ca.certificate(), NOW).expect("chains to the original");
    assert_eq!(leaf.authority_key_id, ca.certificate().subject_key_id);
}

#[test]
fn a_ca_refuses_a_key_that_is_not_its_own() {
    let (a, b) = (roost_ca(), roost_ca());
    assert_eq!(
        CertificateAuthority::from_pem(a.cert_pem(), &b.key_pem()).expect_err("mismatch"),
        PkiError::KeyMismatch
    );
}

#[test]
fn a_leaf_certificate_cannot_be_loaded_as_a_ca() {
    let ca = roost_ca();
    let leaf = ca
        .issue_with_new_key(KeyKind::EcP256, "thing", validity())
        .expect("issues");
    let err = CertificateAuthority::from_pem(&leaf.certificate_pem, &leaf.private_key_pem)
        .expect_err("not a CA");
    assert!(matches!(err, PkiError::NotACa { .. }), "{err:?}");
}

#[test]
fn openssl_made_cas_load_with_pkcs8_and_sec1_keys_and_issue_into_their_chain() {
    for (ca_cert, ca_key) in [
        ("rootCA.pem", "rootCA.key"),
        ("ecRootCA.pem", "ecRootCA.key"),
        ("v1RootCA.pem", "v1RootCA.key"),
    ] {
        let ca = CertificateAuthority::from_pem(&fixture(ca_cert), &fixture(ca_key))
            .unwrap_or_else(|e| panic!("{ca_cert}: {e}"));
        let issued = ca
            .issue_with_new_key(KeyKind::EcP256, "thing", validity())
            .expect("issues");
        let leaf = info(&issued.certificate_pem);
        assert_eq!(leaf.issuer_der, cert(ca_cert).subject_der, "{ca_cert}");
        verify_chain_to(&leaf, &[], &cert(ca_cert), NOW)
            .unwrap_or_else(|e| panic!("{ca_cert}: {e}"));
        assert_openssl_accepts(&ca, &issued.certificate_pem);
    }
    assert!(matches!(
        parse_private_key(&fixture("ecRootCA.key")),
        Ok(PrivateKeyDer::Sec1(_))
    ));
}

#[test]
fn a_server_certificate_carries_its_names_and_server_auth() {
    let ca = roost_ca();
    let sans = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    let issued = ca
        .issue_server_certificate(&sans, validity())
        .expect("issues");
    let c = info(&issued.certificate_pem);
    assert_eq!(c.subject.common_name(), Some("localhost"));
    assert_eq!(
        c.subject_alt_names,
        [
            GeneralName::Dns("localhost".into()),
            GeneralName::Ip("127.0.0.1".parse::<IpAddr>().expect("ip")),
            GeneralName::Ip("::1".parse::<IpAddr>().expect("ip")),
        ]
    );
    assert_eq!(c.extended_key_usage, Some(vec![SERVER_AUTH.to_owned()]));
    assert!(!c.is_ca && !c.allows_client_auth());
    assert!(
        issued
            .private_key_pem
            .starts_with("-----BEGIN PRIVATE KEY-----")
    );
    verify_chain_to(&c, &[], ca.certificate(), NOW).expect("chains");
    assert_openssl_accepts(&ca, &issued.certificate_pem);
}

#[test]
fn a_server_certificate_needs_valid_names() {
    let ca = roost_ca();
    assert!(matches!(
        ca.issue_server_certificate(&[], validity()),
        Err(PkiError::InvalidSubjectAltName { .. })
    ));
    assert_eq!(
        ca.issue_server_certificate(&["not a host".into()], validity())
            .expect_err("bad name"),
        PkiError::InvalidSubjectAltName {
            name: "not a host".into()
        }
    );
}

#[test]
fn create_keys_and_certificate_returns_pkcs1_rsa_and_an_spki_public_key() {
    let ca = roost_ca();
    let issued = ca
        .issue_with_new_key(KeyKind::Rsa2048, "AWS IoT Certificate", validity())
        .expect("issues");
    assert!(
        issued
            .private_key_pem
            .starts_with("-----BEGIN RSA PRIVATE KEY-----\n")
    );
    assert!(
        issued
            .public_key_pem
            .starts_with("-----BEGIN PUBLIC KEY-----")
    );
    assert!(matches!(
        parse_private_key(&issued.private_key_pem),
        Ok(PrivateKeyDer::Pkcs1(_))
    ));
    let c = info(&issued.certificate_pem);
    assert_eq!(c.key_algorithm, KeyAlgorithm::Rsa { bits: 2048 });
    assert_eq!(c.subject.to_string(), "CN=AWS IoT Certificate");
    assert_eq!(c.extended_key_usage, Some(vec![CLIENT_AUTH.to_owned()]));
    let public =
        rustls_pki_types::SubjectPublicKeyInfoDer::from_pem_slice(issued.public_key_pem.as_bytes())
            .expect("SPKI PEM");
    assert_eq!(public.as_ref(), c.spki_der.as_slice());
    // The private key belongs to the certificate: a CA loaded from them accepts the pair.
    verify_chain_to(&c, &[], ca.certificate(), NOW).expect("chains");
    assert_openssl_accepts(&ca, &issued.certificate_pem);
}

#[test]
fn an_issued_key_pair_matches_its_certificate() {
    let ca = roost_ca();
    for kind in [KeyKind::Rsa2048, KeyKind::EcP256] {
        let issued = ca
            .issue_with_new_key(kind, "thing", validity())
            .expect("issues");
        let key = rcgen::KeyPair::from_pem(&issued.private_key_pem).expect("key reads back");
        assert_eq!(key.public_key_pem(), issued.public_key_pem, "{kind:?}");
    }
}

#[test]
fn a_client_certificate_carries_arbitrary_subject_fields_and_sans() {
    let ca = CertificateAuthority::generate_with_key("Roost RSA CA", KeyKind::Rsa2048, validity())
        .expect("RSA CA");
    let subject = name(&[
        (AttributeType::Country, "US"),
        (AttributeType::Organization, "Acme"),
        (AttributeType::OrganizationalUnit, "Devices"),
        (AttributeType::OrganizationalUnit, "Sensors"),
        (AttributeType::CommonName, "thing-1"),
        (AttributeType::DnQualifier, "dnq"),
        (AttributeType::SerialNumber, "SN-1"),
        (AttributeType::Title, "sensor"),
        (AttributeType::Surname, "Doe"),
        (AttributeType::GivenName, "Jane"),
        (AttributeType::Initials, "JD"),
        (AttributeType::Pseudonym, "jd"),
        (AttributeType::GenerationQualifier, "III"),
        (AttributeType::EmailAddress, "jd@example.com"),
    ]);
    let sans = [
        GeneralName::Dns("thing-1.example.com".into()),
        GeneralName::Uri("urn:thing:1".into()),
        GeneralName::Email("thing@example.com".into()),
        GeneralName::Ip("10.0.0.1".parse::<IpAddr>().expect("ip")),
    ];
    let issued = ca
        .issue_client_certificate(&subject, &sans, KeyKind::EcP256, validity())
        .expect("issues");
    let c = info(&issued.certificate_pem);
    assert_eq!(c.subject, subject);
    assert_eq!(c.subject_alt_names, sans);
    assert_eq!(c.issuer.common_name(), Some("Roost RSA CA"));
    assert_eq!(
        c.signature_algorithm, "1.2.840.113549.1.1.11",
        "sha256WithRSAEncryption"
    );
    verify_chain_to(&c, &[], ca.certificate(), NOW).expect("chains");
    assert_openssl_accepts(&ca, &issued.certificate_pem);
}

#[test]
fn a_third_value_of_one_attribute_cannot_be_issued() {
    let subject = name(&[
        (AttributeType::OrganizationalUnit, "a"),
        (AttributeType::OrganizationalUnit, "b"),
        (AttributeType::OrganizationalUnit, "c"),
    ]);
    let err = roost_ca()
        .issue_client_certificate(&subject, &[], KeyKind::EcP256, validity())
        .expect_err("3 OUs");
    assert!(
        matches!(err, PkiError::UnsupportedSubject { .. }),
        "{err:?}"
    );
}

#[test]
fn an_openssl_csr_is_signed_keeping_its_subject_byte_for_byte() {
    let ca = roost_ca();
    let pem = ca
        .issue_from_csr(&fixture("deviceCert.csr"), validity())
        .expect("signs");
    let c = info(&pem);
    // openssl signed the same CSR into deviceCert.pem: the subjects must be identical DER.
    assert_eq!(c.subject_der, cert("deviceCert.pem").subject_der);
    assert_eq!(c.spki_der, cert("deviceCert.pem").spki_der);
    assert_eq!(c.extended_key_usage, Some(vec![CLIENT_AUTH.to_owned()]));
    assert_eq!(c.version, 3);
    verify_chain_to(&c, &[], ca.certificate(), NOW).expect("chains");
    assert_openssl_accepts(&ca, &pem);
}

#[test]
fn ec_p256_p384_and_p521_csrs_are_accepted() {
    let ca = roost_ca();
    for (csr, curve) in [
        ("ecDeviceCert.csr", EcCurve::P256),
        ("p384.csr", EcCurve::P384),
        ("p521.csr", EcCurve::P521),
    ] {
        let pem = ca
            .issue_from_csr(&fixture(csr), validity())
            .unwrap_or_else(|e| panic!("{csr}: {e}"));
        assert_eq!(
            info(&pem).key_algorithm,
            KeyAlgorithm::Ec { curve },
            "{csr}"
        );
        assert_openssl_accepts(&ca, &pem);
    }
}

#[test]
fn requested_extensions_are_ignored_in_favour_of_roosts_profile() {
    let ca = roost_ca();
    let c = info(
        &ca.issue_from_csr(&fixture("withExtensions.csr"), validity())
            .expect("signs"),
    );
    assert!(!c.is_ca, "the CSR asked for CA:TRUE");
    assert!(c.subject_alt_names.is_empty());
    assert_eq!(c.extended_key_usage, Some(vec![CLIENT_AUTH.to_owned()]));
}

#[test]
fn a_csr_with_a_weak_key_is_refused() {
    let err = roost_ca()
        .issue_from_csr(&fixture("weak.csr"), validity())
        .expect_err("RSA 1024");
    assert_eq!(
        err,
        PkiError::UnsupportedKey {
            key: "RSA 1024".into()
        }
    );
    assert_eq!(
        err.to_string(),
        "the public key must be RSA of at least 2048 bits or EC P-256, P-384 or P-521; got RSA 1024"
    );
}

#[test]
fn a_tampered_csr_is_refused() {
    let der = roost_pki::pem::parse_csr(&fixture("deviceCert.csr"))
        .expect("CSR")
        .as_ref()
        .to_vec();
    // Change one byte of the subject ("thing-1" → "thing-2"): the self-signature breaks.
    let at = der
        .windows(7)
        .position(|w| w == b"thing-1")
        .expect("CN in DER")
        + 6;
    let mut tampered = der;
    tampered[at] = b'2';
    let pem = roost_pki::pem::encode_pem("CERTIFICATE REQUEST", &tampered);
    assert_eq!(
        roost_ca()
            .issue_from_csr(&pem, validity())
            .expect_err("tampered"),
        PkiError::CsrSignatureInvalid
    );
}

#[test]
fn text_that_is_not_a_csr_is_refused() {
    let err = roost_ca()
        .issue_from_csr(&fixture("rootCA.pem"), validity())
        .expect_err("a certificate");
    assert_eq!(
        err,
        PkiError::NoPemBlock {
            label: "CERTIFICATE REQUEST"
        }
    );
}

#[test]
fn roost_can_make_the_verification_certificate_itself() {
    // `roost ca register` proves possession with the local CA key in one step.
    let ca = roost_ca();
    let verification = ca
        .issue_with_new_key(KeyKind::EcP256, REGISTRATION_CODE, validity())
        .expect("issues");
    verify_registration_proof(
        ca.certificate(),
        &info(&verification.certificate_pem),
        REGISTRATION_CODE,
    )
    .expect("proof");
    let other = roost_ca();
    assert_eq!(
        verify_registration_proof(
            other.certificate(),
            &info(&verification.certificate_pem),
            REGISTRATION_CODE
        ),
        Err(PkiError::NotSignedByCa)
    );
}

#[test]
fn an_expired_ca_is_refused_for_registration_with_its_dates() {
    let ca = CertificateAuthority::generate(
        "Old CA",
        Validity::new(1_000_000_000, 1_500_000_000).expect("window"),
    )
    .expect("CA");
    let err = check_ca_certificate(ca.certificate(), NOW).expect_err("expired");
    assert_eq!(
        err.to_string(),
        "the CA certificate 'CN=Old CA' is outside its validity period (1000000000..1500000000, now 1800000000, Unix seconds)"
    );
}

#[test]
fn a_leaf_is_not_an_acceptable_ca() {
    let ca = roost_ca();
    let leaf = info(
        &ca.issue_with_new_key(KeyKind::EcP256, "thing", validity())
            .expect("issues")
            .certificate_pem,
    );
    assert!(matches!(
        check_ca_certificate(&leaf, NOW),
        Err(PkiError::NotACa { .. })
    ));
}

#[test]
fn a_chain_through_an_intermediate_verifies_in_any_order() {
    let root = roost_ca();
    let intermediate = root
        .issue_subordinate_ca("Roost Intermediate", KeyKind::EcP256, None, validity())
        .expect("sub CA");
    let other = roost_ca()
        .issue_subordinate_ca("Unrelated", KeyKind::EcP256, None, validity())
        .expect("sub CA");
    let leaf = info(
        &intermediate
            .issue_with_new_key(KeyKind::EcP256, "thing", validity())
            .expect("leaf")
            .certificate_pem,
    );
    let chain = [
        other.certificate().clone(),
        intermediate.certificate().clone(),
    ];
    verify_chain_to(&leaf, &chain, root.certificate(), NOW)
        .expect("chains through the intermediate");
    let err =
        verify_chain_to(&leaf, &[], root.certificate(), NOW).expect_err("intermediate missing");
    assert!(matches!(err, PkiError::IssuerNotFound { .. }), "{err:?}");
    if let Some((ok, out)) =
        openssl_verify(root.cert_pem(), Some(intermediate.cert_pem()), &leaf.pem)
    {
        assert!(ok, "{out}");
    }
}

#[test]
fn a_path_length_constraint_is_enforced() {
    let root = roost_ca();
    let constrained = root
        .issue_subordinate_ca("Level 1", KeyKind::EcP256, Some(0), validity())
        .expect("sub CA");
    let below = constrained
        .issue_subordinate_ca("Level 2", KeyKind::EcP256, None, validity())
        .expect("sub-sub CA");
    let leaf = info(
        &below
            .issue_with_new_key(KeyKind::EcP256, "thing", validity())
            .expect("leaf")
            .certificate_pem,
    );
    let chain = [
        constrained.certificate().clone(),
        below.certificate().clone(),
    ];
    let err = verify_chain_to(&leaf, &chain, root.certificate(), NOW).expect_err("too deep");
    assert_eq!(
        err,
        PkiError::PathLengthExceeded {
            subject: "CN=Level 1".into(),
            limit: 0
        }
    );
}

#[test]
fn an_intermediate_that_is_not_a_ca_breaks_the_chain() {
    // Sign with a leaf's key directly through rcgen: our API never issues from a non-CA.
    let root = roost_ca();
    let fake = root
        .issue_with_new_key(KeyKind::EcP256, "Not A CA", validity())
        .expect("leaf");
    let fake_key = rcgen::KeyPair::from_pem(&fake.private_key_pem).expect("key");
    let issuer = rcgen::Issuer::from_ca_cert_pem(&fake.certificate_pem, fake_key).expect("issuer");
    let mut params = rcgen::CertificateParams::new(vec!["victim".to_owned()]).expect("params");
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(2040, 1, 1);
    let victim_key = rcgen::KeyPair::generate().expect("key");
    let victim = info(&params.signed_by(&victim_key, &issuer).expect("signs").pem());
    let err = verify_chain_to(
        &victim,
        &[info(&fake.certificate_pem)],
        root.certificate(),
        NOW,
    )
    .expect_err("not a CA");
    assert!(
        matches!(err, PkiError::NotACa { ref subject, .. } if subject == "CN=Not A CA"),
        "{err:?}"
    );
}

#[test]
fn certificates_are_issued_with_the_exact_validity_asked_for() {
    let window = Validity::new(1_800_000_000, 1_800_086_400).expect("one day");
    let c = info(
        &roost_ca()
            .issue_with_new_key(KeyKind::EcP256, "thing", window)
            .expect("issues")
            .certificate_pem,
    );
    assert_eq!(c.validity, window);
    assert!(c.check_validity_at(1_800_000_000).is_ok());
    assert!(matches!(
        c.check_validity_at(1_800_086_401),
        Err(PkiError::Expired { .. })
    ));
}
