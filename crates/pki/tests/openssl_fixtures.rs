//! Certificates made by OpenSSL with the AWS JITP walkthrough's commands (see
//! `fixtures/openssl/make.sh`): X.509 v1 device and verification certificates, RSA and EC.

mod common;

use common::{NOW, REGISTRATION_CODE, cert, fixture, openssl_verify};
use proptest::prelude::*;
use roost_pki::CertificateInfo;
use roost_pki::pem::parse_certificates;
use roost_pki::{
    AttributeType, EcCurve, KeyAlgorithm, PkiError, check_ca_certificate, verify_chain_to,
    verify_registration_proof, verify_signed_by,
};

#[test]
fn a_walkthrough_device_certificate_is_read_completely() {
    let device = cert("deviceCert.pem");
    assert_eq!(device.version, 1);
    // `openssl x509 -noout -fingerprint -sha256`, lower-cased without colons.
    assert_eq!(
        device.id,
        "d16fa80fcf94d6b2354c00ff4c37fce5ed087237161e0122f348a86c4e64c032"
    );
    assert_eq!(
        device.serial_hex,
        "5799b4dfc2a44b82cd97634eb5ccf5a5d3a95eba"
    );
    assert_eq!(device.validity.not_before, 1_795_917_631);
    assert_eq!(device.validity.not_after, 4_949_517_631);
    assert_eq!(device.key_algorithm, KeyAlgorithm::Rsa { bits: 2048 });
    assert_eq!(device.signature_algorithm, "1.2.840.113549.1.1.11");
    assert!(!device.is_ca && device.key_cert_sign.is_none() && device.extended_key_usage.is_none());
    assert!(device.allows_client_auth());
    assert_eq!(
        (
            device.authority_key_id.as_ref(),
            device.subject_key_id.as_ref()
        ),
        (None, None)
    );
    assert!(device.subject_alt_names.is_empty());

    let s = &device.subject;
    assert_eq!(s.first(&AttributeType::Country), Some("US"));
    assert_eq!(s.first(&AttributeType::StateOrProvince), Some("WA"));
    assert_eq!(s.first(&AttributeType::Locality), Some("Seattle"));
    assert_eq!(s.first(&AttributeType::Organization), Some("Acme"));
    assert_eq!(
        s.values(&AttributeType::OrganizationalUnit)
            .collect::<Vec<_>>(),
        ["Devices", "Sensors"]
    );
    assert_eq!(s.common_name(), Some("thing-1"));
    assert_eq!(s.first(&AttributeType::DnQualifier), Some("dnq-1"));
    assert_eq!(s.first(&AttributeType::SerialNumber), Some("SN-0042"));
    assert_eq!(
        s.first(&AttributeType::EmailAddress),
        Some("dev@example.com")
    );
    assert_eq!(
        s.to_string(),
        "C=US, ST=WA, L=Seattle, O=Acme, OU=Devices, OU=Sensors, CN=thing-1, dnQualifier=dnq-1, \
         serialNumber=SN-0042, emailAddress=dev@example.com"
    );
    assert_eq!(device.issuer.to_string(), "C=US, O=Acme, CN=Acme Root CA");
    assert_eq!(device.pem, fixture("deviceCert.pem"));
}

#[test]
fn an_openssl_root_is_a_v3_ca_with_key_identifiers() {
    let root = cert("rootCA.pem");
    assert_eq!(root.version, 3);
    assert!(root.is_ca && root.is_self_issued());
    assert_eq!(
        root.subject_key_id.as_deref().map(hex::encode).as_deref(),
        Some("be35d4d54f2e7c5fc9c8393d202ca5db884c06f4")
    );
    assert_eq!(root.authority_key_id, root.subject_key_id);
    assert_eq!(cert("deviceCert.pem").issuer_der, root.subject_der);
}

#[test]
fn v1_device_certificates_verify_against_their_ca() {
    for (device, ca) in [
        ("deviceCert.pem", "rootCA.pem"),
        ("ecDeviceCert.pem", "ecRootCA.pem"),
        ("v1DeviceCert.pem", "v1RootCA.pem"),
    ] {
        let (device, ca) = (cert(device), cert(ca));
        assert_eq!(device.version, 1);
        verify_signed_by(&device, &ca).expect("signed by its CA");
        verify_chain_to(&device, &[], &ca, NOW).expect("chains to its CA");
    }
    assert_eq!(
        cert("ecDeviceCert.pem").key_algorithm,
        KeyAlgorithm::Ec {
            curve: EcCurve::P256
        }
    );
}

#[test]
fn ecdsa_with_sha512_signatures_verify() {
    // x509-parser lacks ecdsa-with-SHA512; the aws-lc-rs fallback covers it.
    let (device, ca) = (cert("sha512DeviceCert.pem"), cert("ecRootCA.pem"));
    assert_eq!(device.signature_algorithm, "1.2.840.10045.4.3.4");
    assert_eq!(
        device.key_algorithm,
        KeyAlgorithm::Ec {
            curve: EcCurve::P521
        }
    );
    verify_chain_to(&device, &[], &ca, NOW).expect("chains");
    let err = verify_signed_by(&device, &cert("rootCA.pem")).expect_err("RSA root did not sign it");
    assert!(matches!(err, PkiError::BadSignature { .. }), "{err:?}");
}

#[test]
fn a_certificate_from_another_key_with_the_same_ca_name_fails() {
    let (impostor, root) = (cert("impostorDeviceCert.pem"), cert("rootCA.pem"));
    assert_eq!(impostor.issuer_der, root.subject_der);
    let err = verify_signed_by(&impostor, &root).expect_err("other key");
    assert!(matches!(err, PkiError::BadSignature { .. }), "{err:?}");
    let err = verify_chain_to(&impostor, &[], &root, NOW).expect_err("other key");
    assert_eq!(
        err.to_string(),
        format!(
            "certificate '{}' is not signed by the key of 'C=US, O=Acme, CN=Acme Root CA'",
            impostor.subject
        )
    );
}

#[test]
fn a_certificate_under_another_ca_name_has_no_issuer() {
    let err = verify_chain_to(&cert("deviceCert.pem"), &[], &cert("ecRootCA.pem"), NOW)
        .expect_err("wrong CA");
    assert!(matches!(err, PkiError::IssuerNotFound { .. }), "{err:?}");
}

#[test]
fn a_chain_is_checked_at_the_given_time() {
    let (device, root) = (cert("deviceCert.pem"), cert("rootCA.pem"));
    let err = verify_chain_to(&device, &[], &root, device.validity.not_before - 1)
        .expect_err("too early");
    assert!(matches!(err, PkiError::NotYetValid { .. }), "{err:?}");
    let err =
        verify_chain_to(&device, &[], &root, device.validity.not_after + 1).expect_err("too late");
    assert!(matches!(err, PkiError::Expired { .. }), "{err:?}");
}

#[test]
fn the_device_and_ca_pem_concatenated_parse_as_a_chain() {
    let both = format!("{}{}", fixture("deviceCert.pem"), fixture("rootCA.pem"));
    let chain = parse_certificates(&both).expect("two certificates");
    assert_eq!(chain.len(), 2);
    assert_eq!(chain[1].as_ref(), cert("rootCA.pem").der.as_ref());
}

#[test]
fn the_walkthrough_verification_certificate_proves_possession() {
    let (root, verification) = (cert("rootCA.pem"), cert("verificationCert.pem"));
    assert_eq!(verification.version, 1);
    verify_registration_proof(&root, &verification, REGISTRATION_CODE).expect("valid proof");
}

#[test]
fn a_verification_certificate_with_another_code_is_refused() {
    let err = verify_registration_proof(&cert("rootCA.pem"), &cert("verificationCert.pem"), "0123")
        .expect_err("wrong code");
    assert_eq!(
        err,
        PkiError::RegistrationCodeMismatch {
            found: Some(REGISTRATION_CODE.into())
        }
    );
}

#[test]
fn a_verification_certificate_signed_by_another_ca_is_refused() {
    let err = verify_registration_proof(
        &cert("ecRootCA.pem"),
        &cert("verificationCert.pem"),
        REGISTRATION_CODE,
    )
    .expect_err("other CA");
    assert_eq!(err, PkiError::NotSignedByCa);
    let err = verify_registration_proof(
        &cert("impostorCA.pem"),
        &cert("verificationCert.pem"),
        REGISTRATION_CODE,
    )
    .expect_err("same name, other key");
    assert_eq!(err, PkiError::NotSignedByCa);
}

#[test]
fn openssl_roots_including_v1_self_signed_ones_are_acceptable_cas() {
    for name in ["rootCA.pem", "ecRootCA.pem", "v1RootCA.pem"] {
        check_ca_certificate(&cert(name), NOW).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    assert_eq!(cert("v1RootCA.pem").version, 1);
}

#[test]
fn a_v1_certificate_that_is_not_self_signed_is_not_a_ca() {
    let err = check_ca_certificate(&cert("deviceCert.pem"), NOW).expect_err("device");
    assert!(matches!(err, PkiError::NotACa { .. }), "{err:?}");
}

#[test]
fn openssl_itself_accepts_the_fixtures() {
    for (device, ca) in [
        ("deviceCert.pem", "rootCA.pem"),
        ("ecDeviceCert.pem", "ecRootCA.pem"),
        ("v1DeviceCert.pem", "v1RootCA.pem"),
    ] {
        if let Some((ok, out)) = openssl_verify(&fixture(ca), None, &fixture(device)) {
            assert!(ok, "{device}: {out}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn corrupted_certificates_are_errors_not_panics(
        index in any::<prop::sample::Index>(),
        byte in any::<u8>(),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut der = cert("deviceCert.pem").der.as_ref().to_vec();
        let i = index.index(der.len());
        der[i] = byte;
        if let Ok(info) = CertificateInfo::from_der(&der) {
            // A byte that still parses must at worst break the signature.
            let _ = verify_chain_to(&info, &[], &cert("rootCA.pem"), NOW);
        }
        let truncated = &der[..cut.index(der.len())];
        prop_assert!(CertificateInfo::from_der(truncated).is_err());
    }
}
