//! IoT policies on the data plane: allow and deny for each action (Connect, Publish,
//! RetainPublish, Subscribe, Receive), with policy variables, thing-group policies, and the
//! reserved topics no policy can open.

mod common;

use anyhow::{Result, bail};
use common::*;
use roost_codec::{Packet, ProtocolVersion, QoS, ReasonCode};
use roost_pki::{AttributeType, KeyKind};
use roost_registry::NameOrArn;
use roost_registry::model::{CertificateStatus, ThingPrincipalType};

/// A registered ACTIVE device `CN=<common_name>` with `document` attached.
async fn device_named(server: &Server, common_name: &str, document: &str) -> Result<Device> {
    let device = server.issue_with(
        &[
            (AttributeType::CommonName, common_name),
            (AttributeType::Organization, "Acme"),
        ],
        &[],
        validity(),
    )?;
    server.register(&device, CertificateStatus::Active).await?;
    server.attach_policy(&device, document).await?;
    Ok(device)
}

/// Whether CONNECT as `client_id` is accepted (3.1.1), checking the refusal's form.
async fn may_connect(server: &Server, device: &Device, client_id: &str) -> Result<bool> {
    let mut raw = server.raw(device, ProtocolVersion::V3_1_1).await?;
    let connack = raw
        .connect(connect(ProtocolVersion::V3_1_1, client_id, true))
        .await?;
    match connack.reason_code {
        ReasonCode::Success => Ok(true),
        ReasonCode::NotAuthorized => {
            raw.closed().await?;
            Ok(false)
        }
        other => bail!("unexpected CONNACK {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_is_allowed_only_for_the_client_ids_the_policy_names() -> Result<()> {
    let server = Server::start().await?;
    let device = server
        .device(&allow(&[(&["iot:Connect"], &["client/sensor-*"])]))
        .await?;
    assert!(may_connect(&server, &device, "sensor-1").await?);
    assert!(!may_connect(&server, &device, "actuator-1").await?);
    let mut v5 = server.raw(&device, ProtocolVersion::V5).await?;
    let connack = v5
        .connect(connect(ProtocolVersion::V5, "actuator-2", true))
        .await?;
    assert_eq!(connack.reason_code, ReasonCode::NotAuthorized);
    assert!(connack.properties.reason_string.is_some());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_with_no_policy_may_not_connect() -> Result<()> {
    let server = Server::start().await?;
    let device = server.issue(&unique("bare"), KeyKind::EcP256)?;
    server.register(&device, CertificateStatus::Active).await?;
    assert!(!may_connect(&server, &device, "bare").await?);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_with_the_thing_name_variable_requires_the_client_id_to_be_the_attached_thing()
-> Result<()> {
    let server = Server::start().await?;
    let device = server
        .device(&allow(&[(
            &["iot:Connect"],
            &["client/${iot:Connection.Thing.ThingName}"],
        )]))
        .await?;
    server
        .thing(
            "thermostat-7",
            &[],
            &device,
            ThingPrincipalType::NonExclusiveThing,
        )
        .await?;
    assert!(may_connect(&server, &device, "thermostat-7").await?);
    // Another client id: no thing resolves, so the statement does not match.
    assert!(!may_connect(&server, &device, "thermostat-8").await?);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exclusive_thing_applies_whatever_the_client_id() -> Result<()> {
    let server = Server::start().await?;
    let topic_rule = "topic/things/${iot:Connection.Thing.ThingName}/*";
    let device = server
        .device(&allow(&[
            (&["iot:Connect"], &["*"]),
            (&["iot:Publish"], &[topic_rule]),
        ]))
        .await?;
    server
        .thing("pump-1", &[], &device, ThingPrincipalType::ExclusiveThing)
        .await?;
    let mut client = server
        .raw_connected(&device, ProtocolVersion::V5, "any-client-id")
        .await?;
    assert_eq!(
        client
            .publish("things/pump-1/telemetry", b"{}", QoS::AtLeastOnce, false)
            .await?,
        Some(ReasonCode::Success)
    );
    assert_eq!(
        client
            .publish("things/pump-2/telemetry", b"{}", QoS::AtLeastOnce, false)
            .await?,
        Some(ReasonCode::NotAuthorized)
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_is_allowed_by_client_id_variable_and_an_explicit_deny_wins() -> Result<()> {
    let server = Server::start().await?;
    let device = server
        .device(&policy(&[
            ("Allow", &["iot:Connect"], &["*"]),
            (
                "Allow",
                &["iot:Publish", "iot:Subscribe", "iot:Receive"],
                &[
                    "topic/devices/${iot:ClientId}/*",
                    "topicfilter/devices/${iot:ClientId}/#",
                ],
            ),
            (
                "Deny",
                &["iot:Publish"],
                &["topic/devices/${iot:ClientId}/secret"],
            ),
        ]))
        .await?;
    let mut client = server
        .raw_connected(&device, ProtocolVersion::V5, "dev-1")
        .await?;
    assert_eq!(
        client
            .subscribe("devices/dev-1/#", QoS::AtLeastOnce)
            .await?,
        ReasonCode::GrantedQoS1
    );
    assert_eq!(
        client
            .publish("devices/dev-1/status", b"ok", QoS::AtLeastOnce, false)
            .await?,
        Some(ReasonCode::Success)
    );
    assert_eq!(&client.next_publish().await?.payload[..], b"ok");
    for topic in ["devices/dev-1/secret", "devices/dev-2/status"] {
        assert_eq!(
            client
                .publish(topic, b"no", QoS::AtLeastOnce, false)
                .await?,
            Some(ReasonCode::NotAuthorized),
            "{topic}"
        );
    }
    // Denied QoS 0 and QoS 2 publishes are dropped too.
    client
        .publish("devices/dev-1/secret", b"no", QoS::AtMostOnce, false)
        .await?;
    client
        .send(publish(
            "devices/dev-1/secret",
            b"no",
            QoS::ExactlyOnce,
            false,
            900,
        ))
        .await?;
    match client.packet().await? {
        Packet::PubRec(rec) => assert_eq!(rec.reason_code, ReasonCode::NotAuthorized),
        other => bail!("expected PUBREC 0x87, got {other:?}"),
    }
    client.no_publish().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unauthorized_3_1_1_publish_closes_the_connection() -> Result<()> {
    let server = Server::start().await?;
    let device = server
        .device(&allow(&[
            (&["iot:Connect"], &["*"]),
            (&["iot:Publish"], &["topic/open/*"]),
        ]))
        .await?;
    let mut client = server
        .raw_connected(&device, ProtocolVersion::V3_1_1, &unique("c"))
        .await?;
    client
        .publish("open/1", b"fine", QoS::AtLeastOnce, false)
        .await?;
    client
        .send(publish("closed/1", b"no", QoS::AtLeastOnce, false, 5))
        .await?;
    let (packets, _) = client.closed().await?;
    assert!(
        packets.is_empty(),
        "no PUBACK for a refused publish: {packets:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retained_publish_needs_retain_publish_as_well() -> Result<()> {
    let server = Server::start().await?;
    let device = server
        .device(&allow(&[
            (&["iot:Connect"], &["*"]),
            (&["iot:Publish"], &["topic/state/*"]),
            (&["iot:RetainPublish"], &["topic/state/kept"]),
        ]))
        .await?;
    let mut client = server
        .raw_connected(&device, ProtocolVersion::V5, &unique("c"))
        .await?;
    assert_eq!(
        client
            .publish("state/kept", b"1", QoS::AtLeastOnce, true)
            .await?,
        Some(ReasonCode::Success)
    );
    assert_eq!(
        client
            .publish("state/other", b"1", QoS::AtLeastOnce, true)
            .await?,
        Some(ReasonCode::NotAuthorized)
    );
    assert_eq!(
        client
            .publish("state/other", b"1", QoS::AtLeastOnce, false)
            .await?,
        Some(ReasonCode::Success)
    );
    assert_eq!(server.broker.core().router.retained_count(), 1);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_is_checked_per_filter_as_written_with_plus_and_hash_literal() -> Result<()> {
    let server = Server::start().await?;
    let device = server
        .device(&allow(&[
            (&["iot:Connect"], &["*"]),
            (
                &["iot:Subscribe"],
                &["topicfilter/cmd/${iot:ClientId}/#", "topicfilter/a/+/b"],
            ),
        ]))
        .await?;
    let mut v5 = server
        .raw_connected(&device, ProtocolVersion::V5, "unit-9")
        .await?;
    assert_eq!(
        v5.subscribe("cmd/unit-9/#", QoS::AtLeastOnce).await?,
        ReasonCode::GrantedQoS1
    );
    assert_eq!(
        v5.subscribe("cmd/unit-8/#", QoS::AtLeastOnce).await?,
        ReasonCode::NotAuthorized
    );
    assert_eq!(
        v5.subscribe("a/+/b", QoS::AtMostOnce).await?,
        ReasonCode::Success
    );
    assert_eq!(
        v5.subscribe("a/x/b", QoS::AtMostOnce).await?,
        ReasonCode::NotAuthorized,
        "`+` in a policy is a literal character"
    );
    let mut v4 = server.v4(&device, "unit-9b").await?;
    let codes = v4
        .subscribe("cmd/unit-8/#", rumqttc::QoS::AtLeastOnce)
        .await?;
    assert_eq!(codes, vec![rumqttc::SubscribeReasonCode::Failure]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receive_is_checked_on_every_delivery_with_certificate_variables() -> Result<()> {
    let server = Server::start().await?;
    let document = allow(&[
        (&["iot:Connect"], &["*"]),
        (&["iot:Subscribe"], &["topicfilter/inbox/#"]),
        (
            &["iot:Receive"],
            &["topic/inbox/${iot:Certificate.Subject.CommonName}/*"],
        ),
    ]);
    let device = device_named(&server, "alice", &document).await?;
    let mut client = server
        .raw_connected(&device, ProtocolVersion::V5, &unique("c"))
        .await?;
    assert_eq!(
        client.subscribe("inbox/#", QoS::AtLeastOnce).await?,
        ReasonCode::GrantedQoS1
    );
    let sender = server.device(ALLOW_ALL).await?;
    let mut sender = server
        .raw_connected(&sender, ProtocolVersion::V5, &unique("s"))
        .await?;
    sender
        .publish("inbox/bob/1", b"for bob", QoS::AtLeastOnce, false)
        .await?;
    sender
        .publish("inbox/alice/1", b"for alice", QoS::AtLeastOnce, false)
        .await?;
    assert_eq!(&client.next_publish().await?.payload[..], b"for alice");
    client.no_publish().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thing_attribute_variables_resolve_from_the_connections_thing() -> Result<()> {
    let server = Server::start().await?;
    let device = server
        .device(&allow(&[
            (&["iot:Connect"], &["*"]),
            (
                &["iot:Publish"],
                &["topic/rooms/${iot:Connection.Thing.Attributes[room]}/*"],
            ),
        ]))
        .await?;
    server
        .thing(
            "lamp-3",
            &[("room", "kitchen")],
            &device,
            ThingPrincipalType::NonExclusiveThing,
        )
        .await?;
    let mut client = server
        .raw_connected(&device, ProtocolVersion::V5, "lamp-3")
        .await?;
    assert_eq!(
        client
            .publish("rooms/kitchen/light", b"on", QoS::AtLeastOnce, false)
            .await?,
        Some(ReasonCode::Success)
    );
    assert_eq!(
        client
            .publish("rooms/hall/light", b"on", QoS::AtLeastOnce, false)
            .await?,
        Some(ReasonCode::NotAuthorized)
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_attached_to_a_thing_group_applies_to_its_things_and_their_subgroups() -> Result<()>
{
    let server = Server::start().await?;
    let device = server.issue(&unique("grouped"), KeyKind::EcP256)?;
    server.register(&device, CertificateStatus::Active).await?;
    server
        .thing(
            "meter-1",
            &[],
            &device,
            ThingPrincipalType::NonExclusiveThing,
        )
        .await?;
    server
        .registry
        .create_thing_group(roost_registry::NewThingGroup {
            name: "fleet".into(),
            ..Default::default()
        })
        .await?;
    server
        .registry
        .create_thing_group(roost_registry::NewThingGroup {
            name: "fleet-east".into(),
            parent: Some("fleet".into()),
            ..Default::default()
        })
        .await?;
    server
        .registry
        .add_thing_to_thing_group(
            &NameOrArn {
                name: Some("fleet-east".into()),
                arn: None,
            },
            &NameOrArn {
                name: Some("meter-1".into()),
                arn: None,
            },
        )
        .await?;
    let name = unique("group-policy");
    server
        .registry
        .create_policy(
            &name,
            &allow(&[(
                &["iot:Connect"],
                &["client/${iot:Connection.Thing.ThingName}"],
            )]),
        )
        .await?;
    server
        .registry
        .attach_policy(&name, &server.registry.arns().thing_group("fleet"))
        .await?;
    assert!(may_connect(&server, &device, "meter-1").await?);
    // Group policies apply only when the client id names the thing.
    assert!(!may_connect(&server, &device, "meter-2").await?);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_will_the_policy_does_not_allow_refuses_the_connect() -> Result<()> {
    let server = Server::start().await?;
    let mut monitor = server.monitor().await?;
    let device = server
        .device(&allow(&[
            (&["iot:Connect"], &["*"]),
            (&["iot:Publish"], &["topic/wills/${iot:ClientId}"]),
        ]))
        .await?;
    let mut allowed = server.raw(&device, ProtocolVersion::V5).await?;
    let mut hello = connect(ProtocolVersion::V5, "w1", true);
    hello.will = Some(will("wills/w1", "x", QoS::AtLeastOnce, false));
    assert_eq!(
        allowed.connect(hello).await?.reason_code,
        ReasonCode::Success
    );

    let mut refused = server.raw(&device, ProtocolVersion::V5).await?;
    let mut hello = connect(ProtocolVersion::V5, "w2", true);
    hello.will = Some(will("wills/w1", "x", QoS::AtLeastOnce, false));
    assert_eq!(
        refused.connect(hello).await?.reason_code,
        ReasonCode::NotAuthorized
    );
    let event = monitor
        .event("$aws/events/presence/connect_failed/w2")
        .await?;
    assert_eq!(event["connectFailureReason"], "AUTHORIZATION_FAILED");

    // A retained will needs iot:RetainPublish too.
    let mut retained = server.raw(&device, ProtocolVersion::V3_1_1).await?;
    let mut hello = connect(ProtocolVersion::V3_1_1, "w3", true);
    hello.will = Some(will("wills/w3", "x", QoS::AtLeastOnce, true));
    assert_eq!(
        retained.connect(hello).await?.reason_code,
        ReasonCode::NotAuthorized
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_attributes_conditions_see_persistent_sessions_and_wills() -> Result<()> {
    let server = Server::start().await?;
    let document = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["iot:Connect", "iot:Publish"], "Resource": "*"},
            {"Effect": "Deny", "Action": "iot:Connect", "Resource": "*",
             "Condition": {"ForAnyValue:StringEquals": {"iot:ConnectAttributes": ["PersistentConnect"]}}}
        ]
    })
    .to_string();
    let device = server.device(&document).await?;
    assert!(may_connect(&server, &device, &unique("clean")).await?);
    let mut persistent = server.raw(&device, ProtocolVersion::V3_1_1).await?;
    let connack = persistent
        .connect(connect(ProtocolVersion::V3_1_1, &unique("p"), false))
        .await?;
    assert_eq!(connack.reason_code, ReasonCode::NotAuthorized);
    let mut with_will = server.raw(&device, ProtocolVersion::V5).await?;
    let mut hello = connect(ProtocolVersion::V5, &unique("w"), true);
    hello.will = Some(will("any/topic", "x", QoS::AtMostOnce, false));
    assert_eq!(
        with_will.connect(hello).await?.reason_code,
        ReasonCode::Success
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_policy_lets_a_client_publish_on_reserved_event_or_service_reply_topics() -> Result<()> {
    let server = Server::start().await?;
    let mut monitor = server.monitor().await?;
    let device = server.device(ALLOW_ALL).await?;
    let mut watcher = server
        .raw_connected(&device, ProtocolVersion::V5, &unique("watch"))
        .await?;
    watcher
        .subscribe("$aws/things/+/shadow/#", QoS::AtLeastOnce)
        .await?;
    watcher
        .subscribe("$aws/certificates/#", QoS::AtLeastOnce)
        .await?;
    let mut forger = server
        .raw_connected(&device, ProtocolVersion::V5, &unique("forger"))
        .await?;
    for topic in [
        "$aws/events/presence/connected/victim",
        "$aws/events/subscriptions/subscribed/victim",
        "$aws/things/t1/shadow/update/accepted",
        "$aws/things/t1/shadow/update/delta",
        "$aws/things/t1/shadow/name/n/update/documents",
        "$aws/things/t1/jobs/notify-next",
        "$aws/certificates/create/json/accepted",
        "$aws/provisioning-templates/t/provision/json/rejected",
    ] {
        assert_eq!(
            forger
                .publish(topic, b"{}", QoS::AtLeastOnce, false)
                .await?,
            Some(ReasonCode::NotAuthorized),
            "{topic}"
        );
    }
    // A shadow *request* is an ordinary topic that policies govern.
    assert_eq!(
        forger
            .publish(
                "$aws/things/t1/shadow/update",
                b"{}",
                QoS::AtLeastOnce,
                false
            )
            .await?,
        Some(ReasonCode::Success)
    );
    assert_eq!(
        watcher.next_publish().await?.topic.as_str(),
        "$aws/things/t1/shadow/update"
    );
    // …which the shadow service itself answers (`{}` has no state): Roost's answer, not a
    // forged one.
    let answer = watcher.next_publish().await?;
    assert_eq!(
        answer.topic.as_str(),
        "$aws/things/t1/shadow/update/rejected"
    );
    let answer: serde_json::Value = serde_json::from_slice(&answer.payload)?;
    assert_eq!(answer["code"], 400);
    watcher.no_publish().await?;
    // The monitor sees the real events of these connections and no forged one.
    loop {
        match monitor.recv_within(QUIET).await? {
            None => break,
            Some(Some(Packet::Publish(p))) => {
                monitor.ack(&p).await?;
                assert!(
                    !p.topic.as_str().ends_with("/victim"),
                    "forged {}",
                    p.topic.as_str()
                );
            }
            Some(Some(_)) => {}
            Some(None) => bail!("the monitor was disconnected"),
        }
    }
    // A will on a reserved topic is refused at CONNECT.
    let mut sly = server.raw(&device, ProtocolVersion::V3_1_1).await?;
    let mut hello = connect(ProtocolVersion::V3_1_1, &unique("sly"), true);
    hello.will = Some(will(
        "$aws/events/presence/disconnected/victim",
        "{}",
        QoS::AtMostOnce,
        false,
    ));
    assert_eq!(
        sly.connect(hello).await?.reason_code,
        ReasonCode::NotAuthorized
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_insecure_listener_applies_its_own_policy_to_every_client() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let registry = roost_registry::Registry::open(
        &roost_registry::StoreOptions {
            url: format!("sqlite://{}", dir.path().join("r.db").display()),
            max_readers: 2,
        },
        roost_registry::Arns::new(REGION, ACCOUNT),
    )
    .await?;
    let document = roost_policy::PolicyDocument::parse(&allow(&[
        (&["iot:Connect"], &["client/dev-*"]),
        (
            &["iot:Publish", "iot:Subscribe", "iot:Receive"],
            &["topic/open/*", "topicfilter/open/*"],
        ),
    ]))?;
    let broker = roost_broker::Broker::start(
        registry,
        roost_broker::BrokerConfig::new(REGION, ACCOUNT),
        Some(document),
    )
    .await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    broker.serve_insecure_tcp(listener);

    let mut refused = Raw::tcp(addr, ProtocolVersion::V3_1_1).await?;
    let connack = refused
        .connect(connect(ProtocolVersion::V3_1_1, "intruder", true))
        .await?;
    assert_eq!(connack.reason_code, ReasonCode::NotAuthorized);

    let mut client = Raw::tcp(addr, ProtocolVersion::V5).await?;
    let connack = client
        .connect(connect(ProtocolVersion::V5, "dev-1", true))
        .await?;
    assert_eq!(connack.reason_code, ReasonCode::Success);
    assert_eq!(
        client.subscribe("open/+", QoS::AtLeastOnce).await?,
        ReasonCode::GrantedQoS1
    );
    assert_eq!(
        client.subscribe("closed/+", QoS::AtLeastOnce).await?,
        ReasonCode::NotAuthorized
    );
    assert_eq!(
        client
            .publish("open/a", b"hi", QoS::AtLeastOnce, false)
            .await?,
        Some(ReasonCode::Success)
    );
    assert_eq!(&client.next_publish().await?.payload[..], b"hi");
    assert_eq!(
        client
            .publish("closed/a", b"no", QoS::AtLeastOnce, false)
            .await?,
        Some(ReasonCode::NotAuthorized)
    );
    broker.shutdown(std::time::Duration::from_secs(1)).await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_explicit_deny_beats_an_allow_for_every_action() -> Result<()> {
    let server = Server::start().await?;
    let document = policy(&[
        ("Allow", &["iot:*"], &["*"]),
        ("Deny", &["iot:Connect"], &["client/blocked-*"]),
        ("Deny", &["iot:Publish"], &["topic/no-publish/*"]),
        ("Deny", &["iot:RetainPublish"], &["topic/no-retain/*"]),
        ("Deny", &["iot:Subscribe"], &["topicfilter/no-subscribe/*"]),
        (
            "Deny",
            &["iot:Receive"],
            &["topic/no-receive/${iot:ClientId}"],
        ),
    ]);
    let device = server.device(&document).await?;
    assert!(!may_connect(&server, &device, "blocked-1").await?);
    let mut client = server
        .raw_connected(&device, ProtocolVersion::V5, "open-1")
        .await?;
    let publish = |topic: &'static str, retain| (topic, retain);
    for ((topic, retain), expected) in [
        (publish("no-publish/a", false), ReasonCode::NotAuthorized),
        (publish("no-retain/a", true), ReasonCode::NotAuthorized),
        (publish("no-retain/a", false), ReasonCode::Success),
        (publish("fine/a", true), ReasonCode::Success),
    ] {
        assert_eq!(
            client
                .publish(topic, b"x", QoS::AtLeastOnce, retain)
                .await?,
            Some(expected),
            "{topic} retain={retain}"
        );
    }
    assert_eq!(
        client.subscribe("no-subscribe/a", QoS::AtLeastOnce).await?,
        ReasonCode::NotAuthorized
    );
    assert_eq!(
        client.subscribe("no-receive/#", QoS::AtLeastOnce).await?,
        ReasonCode::GrantedQoS1
    );
    client
        .publish("no-receive/open-1", b"hidden", QoS::AtLeastOnce, false)
        .await?;
    client
        .publish("no-receive/someone-else", b"shown", QoS::AtLeastOnce, false)
        .await?;
    assert_eq!(&client.next_publish().await?.payload[..], b"shown");
    client.no_publish().await?;
    Ok(())
}
