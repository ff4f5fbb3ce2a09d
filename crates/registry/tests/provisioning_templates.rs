//! Provisioning templates and their versions, the registration configs that name them,
//! RegisterThing's plan applier (every certificate form, failures that change nothing, override
//! conflicts) and bulk registration task records, against a fresh SQLite registry per test.

use roost_pki::testing;
use roost_pki::{CertificateAuthority, KeyKind};
use roost_registry::model::{
    CertificateMode, CertificateStatus, RegistrationConfig, Tag, ThingPrincipalType,
};
use roost_registry::{
    Arns, CaCertificateUpdate, CertificateSource, NewCaCertificate, NewCertificate,
    NewProvisioningTemplate, NewRegistrationTask, PageRequest, ProvisioningHook,
    ProvisioningTemplateUpdate, RegistrationTaskStatus, Registry, RegistryError, StoreOptions,
    TemplateType,
};
use roost_template::{Parameters, Plan, Template};

#[path = "registry/postgres.rs"]
mod postgres;
use postgres::TestDatabase;

const ROLE: &str = "arn:aws:iam::123456789012:role/Provisioning";

/// A registry on a fresh SQLite file, or with `ROOST_TEST_DATABASE_URL=postgres://…` on a fresh
/// database of that server (as the main registry suite does); the storage lives as long as the
/// value (fields drop in order: the registry, then the database, then the directory).
struct Fixture {
    registry: Registry,
    url: String,
    _database: Option<TestDatabase>,
    _dir: tempfile::TempDir,
}

impl std::ops::Deref for Fixture {
    type Target = Registry;

    fn deref(&self) -> &Registry {
        &self.registry
    }
}

async fn open(url: &str) -> Registry {
    Registry::open(
        &StoreOptions {
            url: url.to_owned(),
            max_readers: 2,
        },
        Arns::new("us-east-1", "123456789012"),
    )
    .await
    .expect("the registry opens")
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let database = match postgres::server_url() {
        Some(server) => Some(TestDatabase::create(&server).await),
        None => None,
    };
    let url = match &database {
        Some(database) => database.url.clone(),
        None => format!("sqlite://{}", dir.path().join("registry.db").display()),
    };
    Fixture {
        registry: open(&url).await,
        url,
        _database: database,
        _dir: dir,
    }
}

impl Fixture {
    /// Closes the registry and opens the same storage again (a restart).
    async fn restart(self) -> Self {
        self.registry.close().await;
        Fixture {
            registry: open(&self.url).await,
            url: self.url,
            _database: self._database,
            _dir: self._dir,
        }
    }
}

/// Asserts `$result` is `Err(RegistryError::$variant…)` and returns its message.
macro_rules! assert_err {
    ($result:expr, $variant:ident) => {{
        match $result {
            Err(error @ RegistryError::$variant { .. }) => error.to_string(),
            other => panic!(
                "expected RegistryError::{}, got {:?}",
                stringify!($variant),
                other
            ),
        }
    }};
}

const THING_TEMPLATE: &str = r#"{
  "Parameters": {"ThingName": {"Type": "String"}},
  "Resources": {"thing": {"Type": "AWS::IoT::Thing", "Properties": {"ThingName": {"Ref": "ThingName"}}}}
}"#;

fn new_template(name: &str) -> NewProvisioningTemplate {
    NewProvisioningTemplate {
        name: name.to_owned(),
        body: THING_TEMPLATE.to_owned(),
        provisioning_role_arn: ROLE.to_owned(),
        ..NewProvisioningTemplate::default()
    }
}

fn jitp_template(name: &str) -> NewProvisioningTemplate {
    NewProvisioningTemplate {
        template_type: TemplateType::Jitp,
        ..new_template(name)
    }
}

fn policy_document() -> String {
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":"*"}]}"#.to_owned()
}

fn ca(name: &str) -> CertificateAuthority {
    testing::ca(name).expect("a test CA")
}

fn leaf(ca: &CertificateAuthority, cn: &str) -> String {
    ca.issue_with_new_key(KeyKind::EcP256, cn, testing::validity())
        .expect("a device certificate")
        .certificate_pem
}

fn id_of(pem: &str) -> String {
    roost_pki::CertificateInfo::from_pem(pem)
        .expect("a certificate")
        .id
}

/// Registers `ca` in SNI_ONLY mode (no proof needed), active, with `config`; returns its id.
async fn register_ca(
    registry: &Registry,
    ca: &CertificateAuthority,
    config: Option<RegistrationConfig>,
) -> Result<String, RegistryError> {
    registry
        .register_ca_certificate(NewCaCertificate {
            ca_pem: ca.cert_pem().to_owned(),
            verification_pem: None,
            set_as_active: true,
            allow_auto_registration: true,
            registration_config: config,
            mode: CertificateMode::SniOnly,
            tags: Vec::new(),
        })
        .await
        .map(|ca| ca.id)
}

fn naming(template: &str) -> RegistrationConfig {
    RegistrationConfig {
        template_name: Some(template.to_owned()),
        ..RegistrationConfig::default()
    }
}

/// Evaluates `template` with `parameters` into a plan.
fn plan(template: &str, parameters: &[(&str, &str)]) -> Plan {
    let parameters: Parameters = parameters
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    Template::parse(template)
        .expect("a valid template")
        .evaluate(&parameters)
        .expect("the template evaluates")
}

// -- templates ---------------------------------------------------------------------------------

#[tokio::test]
async fn a_template_is_created_disabled_as_fleet_provisioning_with_version_1_as_default() {
    let r = fixture().await;
    let created = r
        .create_provisioning_template(NewProvisioningTemplate {
            description: Some("Factory line 3".into()),
            tags: vec![Tag {
                key: "line".into(),
                value: "3".into(),
            }],
            ..new_template("factory")
        })
        .await
        .unwrap();
    assert_eq!(
        created.arn,
        "arn:aws:iot:us-east-1:123456789012:provisioningtemplate/factory"
    );
    assert_eq!(created.template_type, TemplateType::FleetProvisioning);
    assert!(!created.enabled);
    assert_eq!(created.default_version, 1);

    let described = r.provisioning_template("factory").await.unwrap();
    assert_eq!(described, created);
    assert_eq!(described.body, THING_TEMPLATE);
    assert_eq!(described.provisioning_role_arn, ROLE);
    assert_eq!(described.description.as_deref(), Some("Factory line 3"));

    let tags = r
        .list_tags_for_resource(&created.arn, &PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(tags.items.len(), 1);
    r.tag_resource(
        &created.arn,
        vec![Tag {
            key: "site".into(),
            value: "eu".into(),
        }],
    )
    .await
    .unwrap();
    assert_eq!(
        r.list_tags_for_resource(&created.arn, &PageRequest::first(10))
            .await
            .unwrap()
            .items
            .len(),
        2
    );

    let again = assert_err!(
        r.create_provisioning_template(new_template("factory"))
            .await,
        AlreadyExists
    );
    assert!(again.contains("factory"), "{again}");
}

#[tokio::test]
async fn an_invalid_template_body_is_refused_with_the_place_of_the_problem() {
    let r = fixture().await;
    let body = r#"{"Resources": {"thing": {"Type": "AWS::IoT::Thing", "Properties": {"ThingName": {"Ref": "Nope"}}}}}"#;
    let message = assert_err!(
        r.create_provisioning_template(NewProvisioningTemplate {
            body: body.into(),
            ..new_template("broken")
        })
        .await,
        InvalidRequest
    );
    assert!(
        message.contains("Resources.thing.Properties.ThingName"),
        "{message}"
    );
    assert_err!(r.provisioning_template("broken").await, NotFound);
}

#[tokio::test]
async fn a_hook_is_allowed_only_on_fleet_provisioning_templates() {
    let r = fixture().await;
    let hook = ProvisioningHook {
        target_arn: "https://hooks.example.com/provision".into(),
        payload_version: Some("2020-04-01".into()),
    };
    assert_err!(
        r.create_provisioning_template(NewProvisioningTemplate {
            pre_provisioning_hook: Some(hook.clone()),
            ..jitp_template("jitp")
        })
        .await,
        InvalidRequest
    );
    let created = r
        .create_provisioning_template(NewProvisioningTemplate {
            pre_provisioning_hook: Some(hook.clone()),
            ..new_template("hooked")
        })
        .await
        .unwrap();
    assert_eq!(created.pre_provisioning_hook, Some(hook));

    r.create_provisioning_template(jitp_template("jitp"))
        .await
        .unwrap();
    assert_err!(
        r.update_provisioning_template(
            "jitp",
            ProvisioningTemplateUpdate {
                pre_provisioning_hook: created.pre_provisioning_hook.clone(),
                ..Default::default()
            },
        )
        .await,
        InvalidRequest
    );
}

#[tokio::test]
async fn update_changes_description_enabled_role_and_hook() {
    let r = fixture().await;
    r.create_provisioning_template(new_template("t"))
        .await
        .unwrap();
    let hook = ProvisioningHook {
        target_arn: "arn:aws:lambda:us-east-1:123456789012:function:check".into(),
        payload_version: None,
    };
    r.update_provisioning_template(
        "t",
        ProvisioningTemplateUpdate {
            description: Some("now enabled".into()),
            enabled: Some(true),
            provisioning_role_arn: Some("arn:aws:iam::123456789012:role/Other".into()),
            pre_provisioning_hook: Some(hook.clone()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let t = r.provisioning_template("t").await.unwrap();
    assert!(t.enabled);
    assert_eq!(t.description.as_deref(), Some("now enabled"));
    assert_eq!(
        t.provisioning_role_arn,
        "arn:aws:iam::123456789012:role/Other"
    );
    assert_eq!(t.pre_provisioning_hook, Some(hook));
    assert!(t.modified_ms >= t.created_ms);

    r.update_provisioning_template(
        "t",
        ProvisioningTemplateUpdate {
            remove_pre_provisioning_hook: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let t = r.provisioning_template("t").await.unwrap();
    assert_eq!(t.pre_provisioning_hook, None);
    assert!(t.enabled, "fields not given are kept");

    assert_err!(
        r.update_provisioning_template("missing", ProvisioningTemplateUpdate::default())
            .await,
        NotFound
    );
    assert_err!(
        r.update_provisioning_template(
            "t",
            ProvisioningTemplateUpdate {
                default_version: Some(9),
                ..Default::default()
            },
        )
        .await,
        NotFound
    );
}

#[tokio::test]
async fn templates_are_listed_by_name_a_page_at_a_time() {
    let r = fixture().await;
    for name in ["c", "a", "b"] {
        r.create_provisioning_template(new_template(name))
            .await
            .unwrap();
    }
    let first = r
        .list_provisioning_templates(&PageRequest::first(2))
        .await
        .unwrap();
    let names: Vec<_> = first.items.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["a", "b"]);
    let rest = r
        .list_provisioning_templates(&PageRequest {
            after: first
                .next
                .map(|token| String::from_utf8(hex_decode(&token)).expect("a text token")),
            ..PageRequest::first(2)
        })
        .await
        .unwrap();
    let names: Vec<_> = rest.items.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["c"]);
    assert_eq!(rest.next, None);
}

fn hex_decode(token: &str) -> Vec<u8> {
    (0..token.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&token[i..i + 2], 16).expect("hex"))
        .collect()
}

// -- versions ----------------------------------------------------------------------------------

#[tokio::test]
async fn a_template_has_at_most_five_versions_and_ids_are_never_reused() {
    let r = fixture().await;
    r.create_provisioning_template(new_template("t"))
        .await
        .unwrap();
    for expected in 2..=5 {
        let v = r
            .create_provisioning_template_version("t", THING_TEMPLATE, false)
            .await
            .unwrap();
        assert_eq!(v.version, expected);
        assert!(!v.is_default);
    }
    let message = assert_err!(
        r.create_provisioning_template_version("t", THING_TEMPLATE, false)
            .await,
        VersionsLimitExceeded
    );
    assert!(message.contains("(5)"), "{message}");

    r.delete_provisioning_template_version("t", 5)
        .await
        .unwrap();
    let v = r
        .create_provisioning_template_version("t", THING_TEMPLATE, true)
        .await
        .unwrap();
    assert_eq!(v.version, 6, "version ids are not reused");
    assert!(v.is_default);
    assert_eq!(
        r.provisioning_template("t").await.unwrap().default_version,
        6
    );

    let listed = r
        .list_provisioning_template_versions("t", &PageRequest::first(10))
        .await
        .unwrap();
    let ids: Vec<_> = listed
        .items
        .iter()
        .map(|v| (v.version, v.is_default))
        .collect();
    assert_eq!(
        ids,
        [(1, false), (2, false), (3, false), (4, false), (6, true)]
    );
}

#[tokio::test]
async fn the_default_version_cannot_be_deleted_and_gives_the_template_its_body() {
    let r = fixture().await;
    r.create_provisioning_template(new_template("t"))
        .await
        .unwrap();
    let other = THING_TEMPLATE.replace("ThingName\"}}}}", "ThingName\"}}}}\n");
    r.create_provisioning_template_version("t", &other, false)
        .await
        .unwrap();
    assert_err!(
        r.delete_provisioning_template_version("t", 1).await,
        DeleteConflict
    );
    r.update_provisioning_template(
        "t",
        ProvisioningTemplateUpdate {
            default_version: Some(2),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(r.provisioning_template("t").await.unwrap().body, other);
    let v1 = r.provisioning_template_version("t", 1).await.unwrap();
    assert!(!v1.is_default);
    assert_eq!(v1.body, THING_TEMPLATE);
    r.delete_provisioning_template_version("t", 1)
        .await
        .unwrap();
    assert_err!(r.provisioning_template_version("t", 1).await, NotFound);
    assert_err!(
        r.delete_provisioning_template_version("t", 1).await,
        NotFound
    );
    assert_err!(
        r.create_provisioning_template_version("t", "{not json", false)
            .await,
        InvalidRequest
    );
}

// -- registration configs that name templates ----------------------------------------------------

#[tokio::test]
async fn a_ca_may_name_only_an_existing_jitp_template() {
    let r = fixture().await;
    let factory = ca("Named Template CA");
    let missing = assert_err!(
        register_ca(&r, &factory, Some(naming("jitp"))).await,
        InvalidRequest
    );
    assert!(missing.contains("does not exist"), "{missing}");

    r.create_provisioning_template(new_template("fleet"))
        .await
        .unwrap();
    let wrong_type = assert_err!(
        register_ca(&r, &factory, Some(naming("fleet"))).await,
        InvalidRequest
    );
    assert!(wrong_type.contains("JITP"), "{wrong_type}");

    r.create_provisioning_template(jitp_template("jitp"))
        .await
        .unwrap();
    let ca_id = register_ca(&r, &factory, Some(naming("jitp")))
        .await
        .unwrap();
    assert_err!(
        r.update_ca_certificate(
            &ca_id,
            CaCertificateUpdate {
                registration_config: Some(naming("fleet")),
                ..Default::default()
            },
        )
        .await,
        InvalidRequest
    );
    let named = r
        .list_ca_certificates(Some("jitp"), &PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(named.items.len(), 1);
}

#[tokio::test]
async fn a_template_a_ca_names_cannot_be_deleted_until_the_ca_lets_go() {
    let r = fixture().await;
    r.create_provisioning_template(jitp_template("jitp"))
        .await
        .unwrap();
    let ca_id = register_ca(&r, &ca("Holding CA"), Some(naming("jitp")))
        .await
        .unwrap();
    let message = assert_err!(r.delete_provisioning_template("jitp").await, DeleteConflict);
    assert!(message.contains(&ca_id), "{message}");

    r.update_ca_certificate(
        &ca_id,
        CaCertificateUpdate {
            remove_auto_registration: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    r.delete_provisioning_template("jitp").await.unwrap();
    assert_err!(r.provisioning_template("jitp").await, NotFound);
    assert_err!(r.provisioning_template_version("jitp", 1).await, NotFound);
    assert_err!(
        r.list_tags_for_resource(
            "arn:aws:iot:us-east-1:123456789012:provisioningtemplate/jitp",
            &PageRequest::first(10)
        )
        .await,
        NotFound
    );
}

// -- RegisterThing -----------------------------------------------------------------------------

const CSR_TEMPLATE: &str = r#"{
  "Parameters": {"ThingName": {"Type": "String"}, "CSR": {"Type": "String"}},
  "Resources": {
    "thing": {"Type": "AWS::IoT::Thing", "Properties": {"ThingName": {"Ref": "ThingName"},
              "AttributePayload": {"line": "3"}}},
    "certificate": {"Type": "AWS::IoT::Certificate",
                    "Properties": {"CertificateSigningRequest": {"Ref": "CSR"}, "Status": "ACTIVE"}},
    "devicePolicy": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyName": "device-policy"}}
  }
}"#;

#[tokio::test]
async fn register_thing_with_an_issued_certificate_makes_and_attaches_everything() {
    let r = fixture().await;
    r.create_policy("device-policy", &policy_document())
        .await
        .unwrap();
    let issued = leaf(&ca("Roost Device Issuer"), "AWS IoT Certificate");
    let plan = plan(CSR_TEMPLATE, &[("ThingName", "sensor-1"), ("CSR", "csr")]);
    let registered = r.register_thing(plan, Some(&issued)).await.unwrap();

    let id = id_of(&issued);
    let cert_arn = format!("arn:aws:iot:us-east-1:123456789012:cert/{id}");
    assert_eq!(registered.certificate_pem.as_deref(), Some(issued.as_str()));
    assert_eq!(registered.thing_name.as_deref(), Some("sensor-1"));
    let keys: Vec<_> = registered
        .resource_arns
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["certificate", "devicePolicy", "thing"]);
    assert_eq!(registered.resource_arns["certificate"], cert_arn);
    assert_eq!(
        registered.resource_arns["devicePolicy"],
        "arn:aws:iot:us-east-1:123456789012:policy/device-policy"
    );
    assert_eq!(
        registered.resource_arns["thing"],
        "arn:aws:iot:us-east-1:123456789012:thing/sensor-1"
    );

    let cert = r.describe_certificate(&id).await.unwrap();
    assert_eq!(cert.status, CertificateStatus::Active);
    assert_eq!(cert.ca_id, None);
    let thing = r.describe_thing("sensor-1").await.unwrap();
    assert_eq!(thing.attributes["line"], "3");
    let principals = r
        .list_thing_principals("sensor-1", None, &PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(principals.items.len(), 1);
    assert_eq!(principals.items[0].principal, cert_arn);
    assert_eq!(
        principals.items[0].kind,
        ThingPrincipalType::NonExclusiveThing
    );
    let attached = r
        .list_attached_policies(&cert_arn, false, &PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(attached.items.len(), 1);
}

#[tokio::test]
async fn a_plan_that_cannot_be_applied_fails_as_registration_failure_and_changes_nothing() {
    let r = fixture().await;
    let template = r#"{
      "Parameters": {"ThingName": {"Type": "String"}, "CSR": {"Type": "String"}},
      "Resources": {
        "thing": {"Type": "AWS::IoT::Thing", "Properties": {"ThingName": {"Ref": "ThingName"},
                  "ThingTypeName": "vehicle"}},
        "certificate": {"Type": "AWS::IoT::Certificate",
                        "Properties": {"CertificateSigningRequest": {"Ref": "CSR"}}}
      }
    }"#;
    let issued = leaf(&ca("Issuer"), "device");
    let message = assert_err!(
        r.register_thing(
            plan(template, &[("ThingName", "bus-1"), ("CSR", "x")]),
            Some(&issued)
        )
        .await,
        ResourceRegistrationFailure
    );
    assert!(message.contains("vehicle"), "{message}");
    assert_err!(r.describe_thing("bus-1").await, NotFound);
    assert_err!(r.describe_certificate(&id_of(&issued)).await, NotFound);

    let missing_policy = r#"{"Resources": {
        "thing": {"Type": "AWS::IoT::Thing", "Properties": {"ThingName": "made-then-undone"}},
        "p": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyName": "nope"}}}}"#;
    let message = assert_err!(
        r.register_thing(plan(missing_policy, &[]), None).await,
        ResourceRegistrationFailure
    );
    assert!(message.contains("nope"), "{message}");
    assert_err!(r.describe_thing("made-then-undone").await, NotFound);
    let unknown_certificate = r#"{"Resources": {"c": {"Type": "AWS::IoT::Certificate",
        "Properties": {"CertificateId": "0000000000000000000000000000000000000000000000000000000000000000"}}}}"#;
    assert_err!(
        r.register_thing(plan(unknown_certificate, &[]), None).await,
        ResourceRegistrationFailure
    );
}

#[tokio::test]
async fn register_thing_names_an_existing_certificate_by_id_and_honours_its_status_override() {
    let r = fixture().await;
    let pem = testing::self_signed_pem("registered").unwrap();
    let id = r
        .register_certificate(NewCertificate {
            pem: pem.clone(),
            source: CertificateSource::WithoutCa,
            status: CertificateStatus::Inactive,
        })
        .await
        .unwrap()
        .id;
    let template = |override_setting: &str| {
        format!(
            r#"{{"Parameters": {{"Id": {{"Type": "String"}}}},
               "Resources": {{"c": {{"Type": "AWS::IoT::Certificate",
                 "Properties": {{"CertificateId": {{"Ref": "Id"}}, "Status": "ACTIVE"}}
                 {override_setting}}}}}}}"#
        )
    };
    let keep = template(r#", "OverrideSettings": {"Status": "DO_NOTHING"}"#);
    let registered = r
        .register_thing(plan(&keep, &[("Id", &id)]), None)
        .await
        .unwrap();
    assert_eq!(registered.certificate_pem.as_deref(), Some(pem.as_str()));
    assert_eq!(
        r.describe_certificate(&id).await.unwrap().status,
        CertificateStatus::Inactive
    );

    let fail = template(r#", "OverrideSettings": {"Status": "FAIL"}"#);
    assert_err!(
        r.register_thing(plan(&fail, &[("Id", &id)]), None).await,
        ConflictingResourceUpdate
    );

    r.register_thing(plan(&template(""), &[("Id", &id)]), None)
        .await
        .unwrap();
    assert_eq!(
        r.describe_certificate(&id).await.unwrap().status,
        CertificateStatus::Active
    );

    r.update_certificate(&id, CertificateStatus::Revoked)
        .await
        .unwrap();
    assert_err!(
        r.register_thing(plan(&template(""), &[("Id", &id)]), None)
            .await,
        ResourceRegistrationFailure
    );
}

#[tokio::test]
async fn register_thing_registers_a_pem_under_its_registered_ca_or_without_one() {
    let r = fixture().await;
    let template = r#"{"Parameters": {"Pem": {"Type": "String"}},
      "Resources": {"c": {"Type": "AWS::IoT::Certificate", "Properties": {"CertificatePem": {"Ref": "Pem"}}}}}"#;
    let factory = ca("Factory CA");
    let ca_id = register_ca(&r, &factory, None).await.unwrap();
    let signed = leaf(&factory, "signed-device");
    r.register_thing(plan(template, &[("Pem", &signed)]), None)
        .await
        .unwrap();
    let described = r.describe_certificate(&id_of(&signed)).await.unwrap();
    assert_eq!(described.ca_id.as_deref(), Some(ca_id.as_str()));
    assert_eq!(described.status, CertificateStatus::Active);

    let stray = leaf(&ca("Unregistered CA"), "stray-device");
    r.register_thing(plan(template, &[("Pem", &stray)]), None)
        .await
        .unwrap();
    assert_eq!(
        r.describe_certificate(&id_of(&stray)).await.unwrap().ca_id,
        None
    );

    // The same PEM again reuses the registered certificate.
    r.register_thing(plan(template, &[("Pem", &signed)]), None)
        .await
        .unwrap();
}

#[tokio::test]
async fn an_existing_thing_with_override_fail_is_a_conflict_and_changes_nothing() {
    let r = fixture().await;
    let template = r#"{"Parameters": {"Line": {"Type": "String"}},
      "Resources": {"thing": {"Type": "AWS::IoT::Thing", "Properties": {"ThingName": "press-1",
        "AttributePayload": {"line": {"Ref": "Line"}}},
        "OverrideSettings": {"AttributePayload": "FAIL"}}}}"#;
    r.register_thing(plan(template, &[("Line", "1")]), None)
        .await
        .unwrap();
    r.register_thing(plan(template, &[("Line", "1")]), None)
        .await
        .expect("the same attributes are no conflict");
    let message = assert_err!(
        r.register_thing(plan(template, &[("Line", "2")]), None)
            .await,
        ConflictingResourceUpdate
    );
    assert!(message.contains("AttributePayload"), "{message}");
    assert_eq!(
        r.describe_thing("press-1").await.unwrap().attributes["line"],
        "1"
    );
}

/// The events of every commit since it subscribed.
#[derive(Default)]
struct Events(std::sync::Mutex<Vec<roost_registry::RegistryEvent>>);

impl roost_registry::ChangeListener for Events {
    fn on_commit(&self, _commit: u64, events: &[roost_registry::RegistryEvent]) {
        self.0.lock().unwrap().extend_from_slice(events);
    }
}

#[tokio::test]
async fn just_in_time_provisioning_still_registers_activates_and_is_idempotent() {
    let r = fixture().await;
    let factory = ca("JITP CA");
    let ca_id = register_ca(&r, &factory, None).await.unwrap();
    let device = leaf(&factory, "jitp-device");
    r.create_policy("fleet-wide", &policy_document())
        .await
        .unwrap();
    let template = r#"{"Parameters": {"AWS::IoT::Certificate::CommonName": {"Type": "String"},
        "AWS::IoT::Certificate::Id": {"Type": "String"}},
      "Resources": {"thing": {"Type": "AWS::IoT::Thing", "Properties": {"ThingName": {"Ref": "AWS::IoT::Certificate::CommonName"},
          "AttributePayload": {"model": "m1"}}},
        "certificate": {"Type": "AWS::IoT::Certificate", "Properties": {"CertificateId": {"Ref": "AWS::IoT::Certificate::Id"}, "Status": "ACTIVE"}},
        "named": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyName": "fleet-wide"}},
        "own": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyDocument": "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"iot:Publish\",\"Resource\":\"*\"}]}"}}}}"#;
    let info = roost_pki::CertificateInfo::from_pem(&device).unwrap();
    let parameters = roost_provisioning::jitp_parameters(&info, &ca_id);
    let plan = Template::parse(template)
        .unwrap()
        .evaluate(&parameters)
        .unwrap();
    let first = r
        .provision_certificate(std::sync::Arc::new(info.clone()), &ca_id, plan.clone())
        .await
        .unwrap();
    assert!(first.created);
    assert_eq!(first.certificate.status, CertificateStatus::Active);
    assert_eq!(first.certificate.ca_id.as_deref(), Some(ca_id.as_str()));
    assert_eq!(first.thing_name.as_deref(), Some("jitp-device"));
    // What provisioning says is attached is what the registry reads back, for a client named
    // like the thing and for one that is not.
    let known = first
        .grants
        .clone()
        .expect("a fresh provisioning knows its grants");
    assert_eq!(known.policies.len(), 2);
    // As of the commit that provisioned it, which is the latest one here.
    assert_eq!(known.as_of_commit, r.committed());
    for client_id in ["jitp-device", "someone-else"] {
        let mut read = r.principal_grants(&info.id, client_id).await.unwrap();
        let mut provisioned = known.for_client(client_id);
        read.policies.sort();
        provisioned.policies.sort();
        assert_eq!(provisioned, read, "client id {client_id}");
    }
    let second = r
        .provision_certificate(std::sync::Arc::new(info.clone()), &ca_id, plan)
        .await
        .unwrap();
    assert!(!second.created);
    assert!(second.grants.is_none());

    // The next device finds both policies made: the plan is applied by inserts alone, with the
    // same outcome and the same events as the general path.
    let events = std::sync::Arc::new(Events::default());
    r.subscribe(events.clone());
    let next = leaf(&factory, "jitp-device-2");
    let info = roost_pki::CertificateInfo::from_pem(&next).unwrap();
    let plan = Template::parse(template)
        .unwrap()
        .evaluate(&roost_provisioning::jitp_parameters(&info, &ca_id))
        .unwrap();
    let own_policy = plan.policies[1].name.clone();
    let provisioned = r
        .provision_certificate(std::sync::Arc::new(info.clone()), &ca_id, plan)
        .await
        .unwrap();
    assert!(provisioned.created);
    assert_eq!(provisioned.certificate.status, CertificateStatus::Active);
    let mut read = r.principal_grants(&info.id, "jitp-device-2").await.unwrap();
    let mut known = provisioned.grants.unwrap().for_client("jitp-device-2");
    read.policies.sort();
    known.policies.sort();
    assert_eq!(known, read);
    assert_eq!(read.thing.unwrap().thing.attributes["model"], "m1");
    let principal = r.arns().certificate(&info.id);
    use roost_registry::RegistryEvent::*;
    assert_eq!(
        *events.0.lock().unwrap(),
        [
            ThingChanged {
                thing_name: "jitp-device-2".into()
            },
            PolicyAttachmentChanged {
                policy_name: "fleet-wide".into(),
                target: principal.clone()
            },
            PolicyAttachmentChanged {
                policy_name: own_policy,
                target: principal.clone()
            },
            ThingPrincipalChanged {
                thing_name: "jitp-device-2".into(),
                principal
            },
            CertificateChanged {
                certificate_id: info.id.clone()
            },
        ]
    );

    // A thing that existed before may be in groups with policies of their own: provisioning
    // does not claim to know what applies then.
    let other = leaf(&factory, "prior-thing");
    r.create_thing(roost_registry::NewThing {
        name: "prior-thing".into(),
        type_name: None,
        attributes: Default::default(),
        billing_group: None,
    })
    .await
    .unwrap();
    let info = roost_pki::CertificateInfo::from_pem(&other).unwrap();
    let plan = Template::parse(template)
        .unwrap()
        .evaluate(&roost_provisioning::jitp_parameters(&info, &ca_id))
        .unwrap();
    let provisioned = r
        .provision_certificate(std::sync::Arc::new(info.clone()), &ca_id, plan)
        .await
        .unwrap();
    assert!(provisioned.created);
    assert!(provisioned.grants.is_none());
}

// -- bulk registration task records ------------------------------------------------------------

fn new_task(id: &str) -> NewRegistrationTask {
    NewRegistrationTask {
        id: id.to_owned(),
        template_body: THING_TEMPLATE.to_owned(),
        input_bucket: "batches".into(),
        input_key: "line-3.jsonl".into(),
        role_arn: ROLE.into(),
        total_count: 4,
        results_link: Some("file:///batches/t.results.jsonl".into()),
        errors_link: Some("file:///batches/t.errors.jsonl".into()),
    }
}

#[tokio::test]
async fn a_task_records_its_progress_and_ends_once() {
    let r = fixture().await;
    let task = r.create_registration_task(new_task("t1")).await.unwrap();
    assert_eq!(task.status, RegistrationTaskStatus::InProgress);
    assert_eq!(task.percentage_progress(), 0);

    r.record_registration_progress("t1", 1, 1).await.unwrap();
    let task = r.registration_task("t1").await.unwrap();
    assert_eq!((task.success_count, task.failure_count), (1, 1));
    assert_eq!(task.percentage_progress(), 50);

    assert!(
        r.finish_registration_task("t1", RegistrationTaskStatus::Completed, None)
            .await
            .unwrap()
    );
    assert!(
        !r.finish_registration_task("t1", RegistrationTaskStatus::Failed, Some("late"))
            .await
            .unwrap(),
        "an ended task stays as it ended"
    );
    r.record_registration_progress("t1", 4, 0).await.unwrap();
    let task = r.registration_task("t1").await.unwrap();
    assert_eq!(task.status, RegistrationTaskStatus::Completed);
    assert_eq!(task.success_count, 1, "an ended task's counts are final");
    assert_err!(r.stop_registration_task("t1").await, InvalidRequest);
    assert_err!(r.registration_task("none").await, NotFound);
}

#[tokio::test]
async fn stopping_a_task_makes_it_cancelling_until_its_runner_ends_it() {
    let r = fixture().await;
    r.create_registration_task(new_task("t1")).await.unwrap();
    let stopped = r.stop_registration_task("t1").await.unwrap();
    assert_eq!(stopped.status, RegistrationTaskStatus::Cancelling);
    assert_eq!(
        r.stop_registration_task("t1").await.unwrap().status,
        RegistrationTaskStatus::Cancelling
    );
    r.finish_registration_task("t1", RegistrationTaskStatus::Cancelled, Some("stopped"))
        .await
        .unwrap();
    let task = r.registration_task("t1").await.unwrap();
    assert_eq!(task.status, RegistrationTaskStatus::Cancelled);
    assert_eq!(task.message.as_deref(), Some("stopped"));
}

#[tokio::test]
async fn tasks_are_listed_newest_first_and_filtered_by_status() {
    let r = fixture().await;
    for id in ["a", "b", "c"] {
        r.create_registration_task(new_task(id)).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    }
    r.finish_registration_task("b", RegistrationTaskStatus::Completed, None)
        .await
        .unwrap();
    let all = r
        .list_registration_tasks(None, &PageRequest::first(10))
        .await
        .unwrap();
    let ids: Vec<_> = all.items.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, ["c", "b", "a"]);
    let running = r
        .list_registration_tasks(
            Some(RegistrationTaskStatus::InProgress),
            &PageRequest::first(10),
        )
        .await
        .unwrap();
    let ids: Vec<_> = running.items.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, ["c", "a"]);
    let first = r
        .list_registration_tasks(None, &PageRequest::first(1))
        .await
        .unwrap();
    assert!(first.next.is_some());
}

#[tokio::test]
async fn a_task_running_when_the_server_stopped_is_failed_at_the_next_start() {
    let r = fixture().await;
    r.create_registration_task(new_task("cut")).await.unwrap();
    r.record_registration_progress("cut", 2, 0).await.unwrap();
    r.create_registration_task(new_task("done")).await.unwrap();
    r.finish_registration_task("done", RegistrationTaskStatus::Completed, None)
        .await
        .unwrap();
    let r = r.restart().await;
    let failed = r
        .fail_interrupted_registration_tasks("the server stopped")
        .await
        .unwrap();
    assert_eq!(failed, ["cut"]);
    let cut = r.registration_task("cut").await.unwrap();
    assert_eq!(cut.status, RegistrationTaskStatus::Failed);
    assert_eq!(cut.message.as_deref(), Some("the server stopped"));
    assert_eq!(cut.success_count, 2);
    assert_eq!(
        r.registration_task("done").await.unwrap().status,
        RegistrationTaskStatus::Completed
    );
}
