//! Fleet-provisioning ownership tokens are stored as digests (the database never holds one)
//! and spent in the transaction that provisions their device.

use std::sync::Arc;

use roost_pki::{CertificateInfo, KeyKind, testing};
use roost_registry::model::CertificateStatus;
use roost_registry::{OwnershipTokenError, RegistryError};
use roost_template::{Parameters, Plan, Template};

use crate::support::Harness;

/// A fleet template's plan: a thing named `thing` and the certificate ACTIVE.
fn plan_for(certificate_id: &str, thing: &str) -> Plan {
    let template = r#"{"Parameters": {"Name": {"Type": "String"}, "Id": {"Type": "String"}},
      "Resources": {"thing": {"Type": "AWS::IoT::Thing", "Properties": {"ThingName": {"Ref": "Name"}}},
        "certificate": {"Type": "AWS::IoT::Certificate",
          "Properties": {"CertificateId": {"Ref": "Id"}, "Status": "ACTIVE"}}}}"#;
    let mut parameters = Parameters::new();
    parameters.insert("Name".into(), thing.into());
    parameters.insert("Id".into(), certificate_id.into());
    Template::parse(template)
        .unwrap()
        .evaluate(&parameters)
        .unwrap()
}

#[tokio::test]
async fn a_token_is_spent_by_the_provisioning_it_allows_and_only_once() {
    let h = Harness::new().await;
    let ca = testing::ca("Fleet Issuer").unwrap();
    let mut pending = Vec::new();
    for name in ["first", "second"] {
        let issued = ca
            .issue_with_new_key(KeyKind::EcP256, name, testing::validity())
            .unwrap();
        let (certificate, token) = h
            .register_pending_with_token(&issued.certificate_pem, 60_000)
            .await
            .unwrap();
        let info = Arc::new(CertificateInfo::from_pem(&issued.certificate_pem).unwrap());
        pending.push((certificate, token, info));
    }
    let (first, first_token, first_info) = &pending[0];
    let (second, _, second_info) = &pending[1];

    // Another certificate's token provisions nothing.
    let refused = h
        .provision_with_ownership_token(
            second_info.clone(),
            first_token,
            plan_for(&second.id, "second-thing"),
        )
        .await
        .unwrap();
    assert_eq!(refused.err(), Some(OwnershipTokenError::Unknown));
    assert!(matches!(
        h.describe_thing("second-thing").await,
        Err(RegistryError::NotFound(_))
    ));

    let provisioned = h
        .provision_with_ownership_token(
            first_info.clone(),
            first_token,
            plan_for(&first.id, "first-thing"),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(provisioned.certificate.status, CertificateStatus::Active);
    assert_eq!(provisioned.thing_name.as_deref(), Some("first-thing"));
    assert!(
        h.ownership_token_certificate(first_token)
            .await
            .unwrap()
            .is_err()
    );

    // Spent: presenting it again changes nothing, though the plan names a new thing.
    let again = h
        .provision_with_ownership_token(
            first_info.clone(),
            first_token,
            plan_for(&first.id, "another-thing"),
        )
        .await
        .unwrap();
    assert_eq!(again.err(), Some(OwnershipTokenError::Unknown));
    assert!(matches!(
        h.describe_thing("another-thing").await,
        Err(RegistryError::NotFound(_))
    ));
}

#[tokio::test]
async fn an_ownership_token_works_but_is_not_stored_in_the_database_files() {
    let h = Harness::new().await;
    let Some(sqlite) = h.url.strip_prefix("sqlite://").map(str::to_owned) else {
        return; // The file check applies to the embedded SQLite registry.
    };
    let ca = testing::ca("Fleet Issuer").unwrap();
    let issued = ca
        .issue_with_new_key(KeyKind::EcP256, "device", testing::validity())
        .unwrap();
    let (certificate, token) = h
        .register_pending_with_token(&issued.certificate_pem, 60_000)
        .await
        .unwrap();
    let found = h
        .ownership_token_certificate(&token)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, certificate.id);
    for suffix in ["", "-wal"] {
        let bytes = std::fs::read(format!("{sqlite}{suffix}")).unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains(&token),
            "the token is in registry.db{suffix}"
        );
    }
    let info = Arc::new(CertificateInfo::from_pem(&issued.certificate_pem).unwrap());
    h.provision_with_ownership_token(info, &token, plan_for(&certificate.id, "fleet-device"))
        .await
        .unwrap()
        .unwrap();
    assert!(
        h.ownership_token_certificate(&token)
            .await
            .unwrap()
            .is_err()
    );
}
