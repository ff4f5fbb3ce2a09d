//! Registration code, CA certificates and device certificates.

use roost_pki::testing::validity;
use roost_pki::{KeyKind, Validity};
use roost_registry::model::{
    AutoRegistrationStatus, CaStatus, CertificateMode, CertificateStatus, RegistrationConfig, Tag,
};
use roost_registry::{
    CaCertificateUpdate, CertificateSource, MAX_CAS_PER_SUBJECT, NewCaCertificate, NewCertificate,
    NewProvisioningTemplate, NewThing, PageRequest, RegistryEvent, TemplateType,
};

use crate::assert_err;
use crate::support::{
    Harness, ca, certificate, id_of, leaf, policy_document, register_ca, sni_only_ca, verification,
};

const ROLE: &str = "arn:aws:iam::123456789012:role/JITPRole";
/// The JITP walkthrough's template, reduced to the thing and the certificate.
const JITP_TEMPLATE: &str = r#"{"Parameters":{"AWS::IoT::Certificate::Id":{"Type":"String"}},"Resources":{"thing":{"Type":"AWS::IoT::Thing","Properties":{"ThingName":{"Ref":"AWS::IoT::Certificate::Id"}}},"certificate":{"Type":"AWS::IoT::Certificate","Properties":{"CertificateId":{"Ref":"AWS::IoT::Certificate::Id"},"Status":"ACTIVE"}}}}"#;

fn template_config() -> RegistrationConfig {
    RegistrationConfig {
        template_body: Some(r#"{"Resources":{}}"#.into()),
        role_arn: Some(ROLE.into()),
        template_name: None,
    }
}

fn with_ca(ca_pem: Option<String>) -> CertificateSource {
    CertificateSource::WithCa { ca_pem }
}

#[tokio::test]
async fn the_registration_code_is_stable_until_deleted_and_then_renewed() {
    let h = Harness::new().await;
    let first = h.get_registration_code().await.unwrap();
    assert_eq!(first.len(), 64);
    assert!(first.chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(h.get_registration_code().await.unwrap(), first);

    h.delete_registration_code().await.unwrap();
    let second = h.get_registration_code().await.unwrap();
    assert_ne!(second, first);
    assert!(
        h.events.take().is_empty(),
        "the code is no resource anyone caches"
    );
}

#[tokio::test]
async fn deleting_a_registration_code_that_does_not_exist_is_not_found() {
    let h = Harness::new().await;
    assert_err!(h.delete_registration_code().await, NotFound);
}

#[tokio::test]
async fn a_ca_registers_with_a_verification_certificate_for_the_current_code() {
    let h = Harness::new().await;
    let authority = ca("Proven CA");
    let code = h.get_registration_code().await.unwrap();
    let registered = h
        .register_ca_certificate(NewCaCertificate {
            ca_pem: authority.cert_pem().to_owned(),
            verification_pem: Some(verification(&authority, &code)),
            set_as_active: true,
            allow_auto_registration: true,
            registration_config: Some(template_config()),
            mode: CertificateMode::Default,
            tags: vec![Tag {
                key: "owner".into(),
                value: "ops".into(),
            }],
        })
        .await
        .unwrap();
    assert_eq!(registered.id, id_of(authority.cert_pem()));
    assert_eq!(
        h.events.take(),
        vec![RegistryEvent::CaCertificateChanged {
            ca_id: registered.id.clone()
        }]
    );

    let described = h.describe_ca_certificate(&registered.id).await.unwrap();
    assert_eq!(described, registered);
    assert_eq!(described.status, CaStatus::Active);
    assert_eq!(described.auto_registration, AutoRegistrationStatus::Enable);
    assert_eq!(described.mode, CertificateMode::Default);
    assert_eq!(described.registration_config, Some(template_config()));
    assert_eq!(described.customer_version, 1);
    assert!(described.validity.not_before_ms < described.validity.not_after_ms);
    let tags = h
        .list_tags_for_resource(
            &h.arns().ca_certificate(&registered.id),
            &PageRequest::first(10),
        )
        .await
        .unwrap();
    assert_eq!(tags.items.len(), 1);
}

#[tokio::test]
async fn a_ca_is_inactive_without_auto_registration_unless_asked() {
    let h = Harness::new().await;
    let id = register_ca(&h, &ca("Quiet CA"), false).await;
    let described = h.describe_ca_certificate(&id).await.unwrap();
    assert_eq!(described.status, CaStatus::Inactive);
    assert_eq!(described.auto_registration, AutoRegistrationStatus::Disable);
    assert_eq!(described.registration_config, None);
}

#[tokio::test]
async fn a_verification_certificate_with_another_common_name_is_refused() {
    let h = Harness::new().await;
    let authority = ca("Wrong Name CA");
    h.get_registration_code().await.unwrap();
    let mut input = sni_only_ca(&authority);
    input.mode = CertificateMode::Default;
    input.verification_pem = Some(verification(&authority, "not-the-code"));
    assert_err!(
        h.register_ca_certificate(input).await,
        RegistrationCodeValidation
    );
    let listed = h
        .list_ca_certificates(None, &PageRequest::first(10))
        .await
        .unwrap();
    assert!(listed.items.is_empty());
    assert!(h.events.take().is_empty());
}

#[tokio::test]
async fn a_verification_certificate_signed_by_another_key_is_refused() {
    let h = Harness::new().await;
    let authority = ca("Possessed CA");
    let impostor = ca("Possessed CA");
    let code = h.get_registration_code().await.unwrap();
    let mut input = sni_only_ca(&authority);
    input.mode = CertificateMode::Default;
    input.verification_pem = Some(verification(&impostor, &code));
    assert_err!(
        h.register_ca_certificate(input).await,
        RegistrationCodeValidation
    );
}

#[tokio::test]
async fn without_a_registration_code_there_is_nothing_to_prove() {
    let h = Harness::new().await;
    let authority = ca("Early CA");
    let mut input = sni_only_ca(&authority);
    input.mode = CertificateMode::Default;
    input.verification_pem = Some(verification(&authority, &"0".repeat(64)));
    assert_err!(
        h.register_ca_certificate(input).await,
        RegistrationCodeValidation
    );
}

#[tokio::test]
async fn the_mode_and_the_verification_certificate_must_agree() {
    let h = Harness::new().await;
    let authority = ca("Mode CA");
    let code = h.get_registration_code().await.unwrap();

    let mut default_without = sni_only_ca(&authority);
    default_without.mode = CertificateMode::Default;
    let message = assert_err!(
        h.register_ca_certificate(default_without).await,
        InvalidRequest
    );
    assert!(message.contains("verificationCertificate"), "{message}");

    let mut sni_with = sni_only_ca(&authority);
    sni_with.verification_pem = Some(verification(&authority, &code));
    let message = assert_err!(h.register_ca_certificate(sni_with).await, InvalidRequest);
    assert!(message.contains("verificationCertificate"), "{message}");
}

#[tokio::test]
async fn a_certificate_that_is_not_a_ca_cannot_be_registered_as_one() {
    let h = Harness::new().await;
    let authority = ca("Parent");
    let mut input = sni_only_ca(&authority);
    input.ca_pem = leaf(&authority, "just-a-device");
    let message = assert_err!(
        h.register_ca_certificate(input).await,
        CertificateValidation
    );
    assert!(message.contains("caCertificate"), "{message}");

    let mut garbage = sni_only_ca(&authority);
    garbage.ca_pem = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".into();
    assert_err!(
        h.register_ca_certificate(garbage).await,
        CertificateValidation
    );
}

#[tokio::test]
async fn the_same_ca_twice_is_already_exists_with_its_id_and_arn() {
    let h = Harness::new().await;
    let authority = ca("Twice CA");
    let first = h
        .register_ca_certificate(sni_only_ca(&authority))
        .await
        .unwrap();
    match h.register_ca_certificate(sni_only_ca(&authority)).await {
        Err(roost_registry::RegistryError::AlreadyExists {
            resource_id,
            resource_arn,
            ..
        }) => {
            assert_eq!(resource_id, first.id);
            assert_eq!(resource_arn, h.arns().ca_certificate(&first.id));
        }
        other => panic!("expected AlreadyExists, got {other:?}"),
    }
}

#[tokio::test]
async fn at_most_ten_cas_share_a_subject() {
    let h = Harness::new().await;
    for _ in 0..MAX_CAS_PER_SUBJECT {
        h.register_ca_certificate(sni_only_ca(&ca("Popular Subject")))
            .await
            .unwrap();
    }
    assert_err!(
        h.register_ca_certificate(sni_only_ca(&ca("Popular Subject")))
            .await,
        LimitExceeded
    );
    h.register_ca_certificate(sni_only_ca(&ca("Another Subject")))
        .await
        .unwrap();
}

#[tokio::test]
async fn registration_configs_outside_the_model_are_refused_naming_the_member() {
    let h = Harness::new().await;
    let cases = [
        (
            RegistrationConfig {
                template_body: Some("{not json".into()),
                role_arn: Some(ROLE.into()),
                template_name: None,
            },
            "templateBody",
        ),
        (
            RegistrationConfig {
                template_body: Some(format!("\"{}\"", "x".repeat(10_300))),
                role_arn: Some(ROLE.into()),
                template_name: None,
            },
            "templateBody",
        ),
        (
            RegistrationConfig {
                template_body: None,
                role_arn: Some("arn:short".into()),
                template_name: None,
            },
            "roleArn",
        ),
        (
            RegistrationConfig {
                template_body: None,
                role_arn: None,
                template_name: Some("bad name".into()),
            },
            "templateName",
        ),
        (
            RegistrationConfig {
                template_body: Some("{}".into()),
                role_arn: Some(ROLE.into()),
                template_name: Some("both".into()),
            },
            "registrationConfig",
        ),
    ];
    let authority = ca("Configured CA");
    for (config, member) in cases {
        let mut input = sni_only_ca(&authority);
        input.registration_config = Some(config);
        let message = assert_err!(h.register_ca_certificate(input).await, InvalidRequest);
        assert!(message.contains(member), "{message} should name {member}");
    }
    assert!(
        h.list_ca_certificates(None, &PageRequest::first(10))
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

#[tokio::test]
async fn update_ca_certificate_changes_status_auto_registration_and_config() {
    let h = Harness::new().await;
    let mut input = sni_only_ca(&ca("Updated CA"));
    input.registration_config = Some(template_config());
    let id = h.register_ca_certificate(input).await.unwrap().id;
    h.events.take();

    h.update_ca_certificate(
        &id,
        CaCertificateUpdate {
            new_status: Some(CaStatus::Inactive),
            new_auto_registration: Some(AutoRegistrationStatus::Enable),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let updated = h.describe_ca_certificate(&id).await.unwrap();
    assert_eq!(updated.status, CaStatus::Inactive);
    assert_eq!(updated.auto_registration, AutoRegistrationStatus::Enable);
    assert_eq!(updated.registration_config, Some(template_config()));
    assert_eq!(updated.customer_version, 2);
    assert_eq!(
        h.events.take(),
        vec![RegistryEvent::CaCertificateChanged { ca_id: id.clone() }]
    );

    h.update_ca_certificate(
        &id,
        CaCertificateUpdate {
            remove_auto_registration: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        h.describe_ca_certificate(&id)
            .await
            .unwrap()
            .registration_config,
        None
    );

    // A CA may only name an existing JITP template.
    let named = RegistrationConfig {
        template_name: Some("fleet".into()),
        ..Default::default()
    };
    assert_err!(
        h.update_ca_certificate(
            &id,
            CaCertificateUpdate {
                registration_config: Some(named.clone()),
                ..Default::default()
            },
        )
        .await,
        InvalidRequest
    );
    h.create_provisioning_template(NewProvisioningTemplate {
        name: "fleet".into(),
        body: JITP_TEMPLATE.into(),
        provisioning_role_arn: ROLE.into(),
        template_type: TemplateType::Jitp,
        ..Default::default()
    })
    .await
    .unwrap();
    h.update_ca_certificate(
        &id,
        CaCertificateUpdate {
            registration_config: Some(named.clone()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        h.describe_ca_certificate(&id)
            .await
            .unwrap()
            .registration_config,
        Some(named.clone())
    );
    let by_template = h
        .list_ca_certificates(Some("fleet"), &PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(by_template.items.len(), 1);
    assert!(
        h.list_ca_certificates(Some("other"), &PageRequest::first(10))
            .await
            .unwrap()
            .items
            .is_empty()
    );

    assert_err!(
        h.update_ca_certificate(
            &id,
            CaCertificateUpdate {
                registration_config: Some(named),
                remove_auto_registration: true,
                ..Default::default()
            },
        )
        .await,
        InvalidRequest
    );
    assert_err!(
        h.update_ca_certificate(&"0".repeat(64), CaCertificateUpdate::default())
            .await,
        NotFound
    );
    assert_err!(
        h.update_ca_certificate("nope", CaCertificateUpdate::default())
            .await,
        InvalidRequest
    );
}

#[tokio::test]
async fn an_active_ca_cannot_be_deleted_but_its_certificates_outlive_it() {
    let h = Harness::new().await;
    let authority = ca("Mortal CA");
    let ca_id = register_ca(&h, &authority, true).await;
    let device = h
        .register_certificate(NewCertificate {
            pem: leaf(&authority, "device"),
            source: with_ca(None),
            status: CertificateStatus::Active,
        })
        .await
        .unwrap();
    h.events.take();

    assert_err!(h.delete_ca_certificate(&ca_id).await, CertificateState);
    h.update_ca_certificate(
        &ca_id,
        CaCertificateUpdate {
            new_status: Some(CaStatus::Inactive),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    h.events.take();
    h.delete_ca_certificate(&ca_id).await.unwrap();
    assert_eq!(
        h.events.take(),
        vec![RegistryEvent::CaCertificateChanged {
            ca_id: ca_id.clone()
        }]
    );
    assert_err!(h.describe_ca_certificate(&ca_id).await, NotFound);
    assert_err!(h.delete_ca_certificate(&ca_id).await, NotFound);
    let kept = h.describe_certificate(&device.id).await.unwrap();
    assert_eq!(kept.ca_id.as_deref(), Some(ca_id.as_str()));
}

#[tokio::test]
async fn register_certificate_finds_its_ca_by_issuer_name_or_takes_it_explicitly() {
    let h = Harness::new().await;
    let authority = ca("Issuer CA");
    let ca_id = register_ca(&h, &authority, true).await;
    h.events.take();

    let found = h
        .register_certificate(NewCertificate {
            pem: leaf(&authority, "found"),
            source: with_ca(None),
            status: CertificateStatus::Inactive,
        })
        .await
        .unwrap();
    assert_eq!(found.ca_id.as_deref(), Some(ca_id.as_str()));
    assert_eq!(found.mode, CertificateMode::Default);
    assert_eq!(found.status, CertificateStatus::Inactive);
    assert_eq!(found.customer_version, 1);
    assert_eq!(
        h.events.take(),
        vec![RegistryEvent::CertificateChanged {
            certificate_id: found.id.clone()
        }]
    );

    let given = h
        .register_certificate(NewCertificate {
            pem: leaf(&authority, "given"),
            source: with_ca(Some(authority.cert_pem().to_owned())),
            status: CertificateStatus::Active,
        })
        .await
        .unwrap();
    assert_eq!(given.ca_id.as_deref(), Some(ca_id.as_str()));

    let by_ca = h
        .list_certificates_by_ca(&ca_id, &PageRequest::first(10))
        .await
        .unwrap();
    let mut ids: Vec<_> = by_ca.items.iter().map(|c| c.id.clone()).collect();
    ids.sort();
    let mut expected = vec![found.id.clone(), given.id.clone()];
    expected.sort();
    assert_eq!(ids, expected);
    assert_eq!(h.describe_certificate(&found.id).await.unwrap(), found);
}

#[tokio::test]
async fn certificates_take_the_mode_of_their_ca() {
    let h = Harness::new().await;
    let authority = ca("SNI CA");
    h.register_ca_certificate(sni_only_ca(&authority))
        .await
        .unwrap();
    let device = h
        .register_certificate(NewCertificate {
            pem: leaf(&authority, "sni-device"),
            source: with_ca(None),
            status: CertificateStatus::Active,
        })
        .await
        .unwrap();
    assert_eq!(device.mode, CertificateMode::SniOnly);
}

#[tokio::test]
async fn a_certificate_no_registered_ca_signed_is_refused() {
    let h = Harness::new().await;
    let registered = ca("Shared Name");
    register_ca(&h, &registered, true).await;
    let twin = ca("Shared Name");
    let stranger = ca("Unregistered");

    for pem in [leaf(&twin, "forged"), leaf(&stranger, "stranger")] {
        assert_err!(
            h.register_certificate(NewCertificate {
                pem,
                source: with_ca(None),
                status: CertificateStatus::Active,
            })
            .await,
            CertificateValidation
        );
    }
    let message = assert_err!(
        h.register_certificate(NewCertificate {
            pem: leaf(&stranger, "explicit"),
            source: with_ca(Some(stranger.cert_pem().to_owned())),
            status: CertificateStatus::Active,
        })
        .await,
        CertificateValidation
    );
    assert!(message.contains("caCertificatePem"), "{message}");
    assert_err!(
        h.register_certificate(NewCertificate {
            pem: leaf(&twin, "explicit-twin"),
            source: with_ca(Some(registered.cert_pem().to_owned())),
            status: CertificateStatus::Active,
        })
        .await,
        CertificateValidation
    );
    assert!(
        h.list_certificates(&PageRequest::first(10))
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

#[tokio::test]
async fn a_certificate_under_an_inactive_ca_is_refused() {
    let h = Harness::new().await;
    let authority = ca("Dormant CA");
    register_ca(&h, &authority, false).await;
    assert_err!(
        h.register_certificate(NewCertificate {
            pem: leaf(&authority, "device"),
            source: with_ca(None),
            status: CertificateStatus::Active,
        })
        .await,
        CertificateState
    );
}

#[tokio::test]
async fn certificates_without_a_ca_and_issued_ones_have_no_ca_and_their_own_mode() {
    let h = Harness::new().await;
    let stranger = ca("Anyone");
    let without = h
        .register_certificate(NewCertificate {
            pem: leaf(&stranger, "no-ca"),
            source: CertificateSource::WithoutCa,
            status: CertificateStatus::Inactive,
        })
        .await
        .unwrap();
    assert_eq!(without.ca_id, None);
    assert_eq!(without.mode, CertificateMode::SniOnly);

    let issued = h
        .register_certificate(NewCertificate {
            pem: leaf(&stranger, "issued"),
            source: CertificateSource::Issued,
            status: CertificateStatus::Active,
        })
        .await
        .unwrap();
    assert_eq!(issued.ca_id, None);
    assert_eq!(issued.mode, CertificateMode::Default);
}

#[tokio::test]
async fn a_certificate_registers_once() {
    let h = Harness::new().await;
    let pem = leaf(&ca("Once"), "once");
    let input = NewCertificate {
        pem,
        source: CertificateSource::WithoutCa,
        status: CertificateStatus::Active,
    };
    let first = h.register_certificate(input.clone()).await.unwrap();
    match h.register_certificate(input).await {
        Err(roost_registry::RegistryError::AlreadyExists {
            resource_id,
            resource_arn,
            ..
        }) => {
            assert_eq!(resource_id, first.id);
            assert_eq!(resource_arn, h.arns().certificate(&first.id));
        }
        other => panic!("expected AlreadyExists, got {other:?}"),
    }
}

#[tokio::test]
async fn pending_statuses_expired_and_malformed_certificates_are_refused() {
    let h = Harness::new().await;
    let authority = ca("Strict");
    for status in [
        CertificateStatus::PendingActivation,
        CertificateStatus::PendingTransfer,
        CertificateStatus::RegisterInactive,
    ] {
        assert_err!(
            h.register_certificate(NewCertificate {
                pem: leaf(&authority, "pending"),
                source: CertificateSource::WithoutCa,
                status,
            })
            .await,
            InvalidRequest
        );
    }
    let expired = authority
        .issue_with_new_key(
            KeyKind::EcP256,
            "expired",
            Validity::new(1_500_000_000, 1_600_000_000).unwrap(),
        )
        .unwrap()
        .certificate_pem;
    let message = assert_err!(
        h.register_certificate(NewCertificate {
            pem: expired,
            source: CertificateSource::WithoutCa,
            status: CertificateStatus::Active,
        })
        .await,
        CertificateValidation
    );
    assert!(message.contains("certificatePem"), "{message}");
    assert_err!(
        h.register_certificate(NewCertificate {
            pem: "not a pem".into(),
            source: CertificateSource::WithoutCa,
            status: CertificateStatus::Active,
        })
        .await,
        CertificateValidation
    );
}

#[tokio::test]
async fn certificate_status_moves_freely_until_revoked() {
    let h = Harness::new().await;
    let id = certificate(&h, CertificateStatus::Active).await;
    h.events.take();

    h.update_certificate(&id, CertificateStatus::Inactive)
        .await
        .unwrap();
    let inactive = h.describe_certificate(&id).await.unwrap();
    assert_eq!(inactive.status, CertificateStatus::Inactive);
    assert_eq!(inactive.customer_version, 2);
    assert_eq!(
        h.events.take(),
        vec![RegistryEvent::CertificateChanged {
            certificate_id: id.clone()
        }]
    );

    h.update_certificate(&id, CertificateStatus::Inactive)
        .await
        .unwrap();
    assert!(
        h.events.take().is_empty(),
        "the same status again changes nothing"
    );
    assert_eq!(h.describe_certificate(&id).await.unwrap(), inactive);

    for status in [
        CertificateStatus::PendingActivation,
        CertificateStatus::PendingTransfer,
        CertificateStatus::RegisterInactive,
    ] {
        assert_err!(h.update_certificate(&id, status).await, InvalidRequest);
    }
    h.update_certificate(&id, CertificateStatus::Revoked)
        .await
        .unwrap();
    for status in [CertificateStatus::Active, CertificateStatus::Inactive] {
        assert_err!(h.update_certificate(&id, status).await, CertificateState);
    }
    assert_eq!(
        h.describe_certificate(&id).await.unwrap().status,
        CertificateStatus::Revoked
    );
    assert_err!(
        h.update_certificate(&"f".repeat(64), CertificateStatus::Active)
            .await,
        NotFound
    );
}

#[tokio::test]
async fn certificate_ids_are_accepted_in_any_case_with_an_optional_prefix() {
    let h = Harness::new().await;
    let id = certificate(&h, CertificateStatus::Active).await;
    let upper = format!("0x{}", id.to_ascii_uppercase());
    assert_eq!(h.describe_certificate(&upper).await.unwrap().id, id);
    let message = assert_err!(h.describe_certificate("abc").await, InvalidRequest);
    assert!(message.contains("certificateId"), "{message}");
}

#[tokio::test]
async fn delete_certificate_follows_the_status_and_attachment_rules() {
    let h = Harness::new().await;
    let id = certificate(&h, CertificateStatus::Active).await;
    let arn = h.arns().certificate(&id);
    h.create_thing(NewThing {
        name: "holder".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    h.create_policy("p", &policy_document("iot:Connect"))
        .await
        .unwrap();
    h.attach_thing_principal(
        "holder",
        &arn,
        roost_registry::model::ThingPrincipalType::NonExclusiveThing,
    )
    .await
    .unwrap();
    h.attach_policy("p", &arn).await.unwrap();
    h.tag_resource(
        &arn,
        vec![Tag {
            key: "k".into(),
            value: "v".into(),
        }],
    )
    .await
    .unwrap();

    assert_err!(h.delete_certificate(&id, true).await, CertificateState);
    h.update_certificate(&id, CertificateStatus::Inactive)
        .await
        .unwrap();
    assert_err!(h.delete_certificate(&id, true).await, DeleteConflict);
    h.detach_thing_principal("holder", &arn).await.unwrap();
    assert_err!(h.delete_certificate(&id, false).await, DeleteConflict);
    h.events.take();

    h.delete_certificate(&id, true).await.unwrap();
    assert_eq!(
        h.events.take(),
        vec![
            RegistryEvent::PolicyAttachmentChanged {
                policy_name: "p".into(),
                target: arn.clone()
            },
            RegistryEvent::CertificateChanged {
                certificate_id: id.clone()
            },
        ]
    );
    assert_err!(h.describe_certificate(&id).await, NotFound);
    assert!(
        h.list_targets_for_policy("p", false, &PageRequest::first(10))
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert!(
        h.list_certificates(&PageRequest::first(10))
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert_err!(h.delete_certificate(&id, false).await, NotFound);
}

#[tokio::test]
async fn a_certificate_registered_again_after_deletion_has_no_old_tags() {
    let h = Harness::new().await;
    let pem = leaf(&ca("Recycler"), "recycled");
    let input = NewCertificate {
        pem,
        source: CertificateSource::WithoutCa,
        status: CertificateStatus::Inactive,
    };
    let id = h.register_certificate(input.clone()).await.unwrap().id;
    let arn = h.arns().certificate(&id);
    h.tag_resource(
        &arn,
        vec![Tag {
            key: "old".into(),
            value: "tag".into(),
        }],
    )
    .await
    .unwrap();
    h.delete_certificate(&id, false).await.unwrap();
    h.register_certificate(input).await.unwrap();
    assert!(
        h.list_tags_for_resource(&arn, &PageRequest::first(10))
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

#[tokio::test]
async fn validity_windows_are_kept_in_milliseconds() {
    let h = Harness::new().await;
    let authority = ca("Clock");
    let window = validity();
    let pem = authority
        .issue_with_new_key(KeyKind::EcP256, "timed", window)
        .unwrap()
        .certificate_pem;
    let cert = h
        .register_certificate(NewCertificate {
            pem,
            source: CertificateSource::WithoutCa,
            status: CertificateStatus::Active,
        })
        .await
        .unwrap();
    assert_eq!(cert.validity.not_before_ms, window.not_before * 1000);
    assert_eq!(cert.validity.not_after_ms, window.not_after * 1000);
}

#[tokio::test]
async fn revoking_a_cas_certificates_revokes_each_once_in_one_commit() {
    let h = Harness::new().await;
    let authority = ca("Compromised CA");
    let ca_id = register_ca(&h, &authority, true).await;
    let other = ca("Bystander CA");
    register_ca(&h, &other, true).await;
    // More than one statement's worth, in every status.
    let statuses = [
        CertificateStatus::Active,
        CertificateStatus::Inactive,
        CertificateStatus::Revoked,
    ];
    let mut devices = Vec::new();
    for i in 0..510 {
        let device = h
            .register_certificate(NewCertificate {
                pem: leaf(&authority, &format!("device-{i}")),
                source: with_ca(None),
                status: statuses[i % 3],
            })
            .await
            .unwrap();
        devices.push(device);
    }
    let bystander = h
        .register_certificate(NewCertificate {
            pem: leaf(&other, "bystander"),
            source: with_ca(None),
            status: CertificateStatus::Active,
        })
        .await
        .unwrap();
    h.events.take_commits();

    assert_eq!(h.revoke_certificates_of_ca(&ca_id).await.unwrap(), 340);
    let commits = h.events.take_commits();
    assert_eq!(commits.len(), 1, "one transaction");
    let changed: std::collections::BTreeSet<_> = commits[0]
        .iter()
        .map(|event| match event {
            RegistryEvent::CertificateChanged { certificate_id } => certificate_id.clone(),
            other => panic!("unexpected event {other:?}"),
        })
        .collect();
    let mut generations = std::collections::BTreeSet::new();
    for (i, before) in devices.iter().enumerate() {
        let after = h.describe_certificate(&before.id).await.unwrap();
        assert_eq!(after.status, CertificateStatus::Revoked);
        let was_revoked = statuses[i % 3] == CertificateStatus::Revoked;
        assert_eq!(changed.contains(&before.id), !was_revoked);
        if was_revoked {
            assert_eq!(
                after, *before,
                "an already revoked certificate is left alone"
            );
        } else {
            assert_eq!(after.customer_version, before.customer_version + 1);
            assert_ne!(after.generation_id, before.generation_id);
            assert!(
                generations.insert(after.generation_id.clone()),
                "one generation id each"
            );
        }
    }
    let untouched = h.describe_certificate(&bystander.id).await.unwrap();
    assert_eq!(untouched.status, CertificateStatus::Active);
    assert_eq!(h.revoke_certificates_of_ca(&ca_id).await.unwrap(), 0);
    assert_err!(h.revoke_certificates_of_ca(&"0".repeat(64)).await, NotFound);
}
