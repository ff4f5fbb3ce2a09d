//! The Device Shadow service over MQTT: get, update and delete answered by the broker itself,
//! with AWS's documents, versions, deltas and errors, durable before they are accepted.

mod common;

use anyhow::Result;
use common::*;
use roost_codec::{ProtocolVersion, QoS, ReasonCode};
use serde_json::{Value, json};

/// A client subscribed to every answer of `thing`'s classic shadow.
async fn listener(server: &Server, device: &Device, thing: &str) -> Result<Raw> {
    let mut raw = server
        .raw_connected(device, ProtocolVersion::V5, &unique("shadow-app"))
        .await?;
    raw.subscribe(&format!("$aws/things/{thing}/shadow/+/+"), QoS::AtLeastOnce)
        .await?;
    Ok(raw)
}

/// The next answer: its topic suffix after the shadow prefix, and its JSON.
async fn answer(raw: &mut Raw, thing: &str) -> Result<(String, Value)> {
    let publish = raw
        .publish_on(&format!("$aws/things/{thing}/shadow/"))
        .await?;
    let suffix = publish
        .topic
        .as_str()
        .trim_start_matches(&format!("$aws/things/{thing}/shadow/"))
        .to_owned();
    Ok((suffix, serde_json::from_slice(&publish.payload)?))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_get_delta_delete_round_trip_follows_aws() -> Result<()> {
    let server = Server::start().await?;
    let device = server.device(ALLOW_ALL).await?;
    let thing = unique("lamp");
    let prefix = format!("$aws/things/{thing}/shadow");
    let mut app = listener(&server, &device, &thing).await?;
    let mut lamp = server
        .raw_connected(&device, ProtocolVersion::V5, &thing)
        .await?;

    let desired = json!({"state": {"desired": {"color": "red", "on": true}}, "clientToken": "t1"});
    lamp.publish(
        &format!("{prefix}/update"),
        desired.to_string().as_bytes(),
        QoS::AtLeastOnce,
        false,
    )
    .await?;
    let (topic, accepted) = answer(&mut app, &thing).await?;
    assert_eq!(topic, "update/accepted");
    assert_eq!(accepted["version"], 1);
    assert_eq!(accepted["clientToken"], "t1");
    assert_eq!(accepted["state"]["desired"]["color"], "red");
    assert!(accepted["metadata"]["desired"]["color"]["timestamp"].is_u64());
    let (topic, delta) = answer(&mut app, &thing).await?;
    assert_eq!(topic, "update/delta");
    assert_eq!(delta["state"], json!({"color": "red", "on": true}));
    let (topic, documents) = answer(&mut app, &thing).await?;
    assert_eq!(topic, "update/documents");
    assert_eq!(documents["current"]["version"], 1);

    // Reporting what is desired leaves no delta.
    let reported = json!({"state": {"reported": {"color": "red", "on": true}}});
    lamp.publish(
        &format!("{prefix}/update"),
        reported.to_string().as_bytes(),
        QoS::AtLeastOnce,
        false,
    )
    .await?;
    assert_eq!(answer(&mut app, &thing).await?.0, "update/accepted");
    let (topic, documents) = answer(&mut app, &thing).await?;
    assert_eq!(topic, "update/documents", "no delta once in sync");
    assert_eq!(documents["previous"]["version"], 1);
    assert_eq!(documents["current"]["version"], 2);

    lamp.publish(
        &format!("{prefix}/get"),
        br#"{"clientToken":"g"}"#,
        QoS::AtLeastOnce,
        false,
    )
    .await?;
    let (topic, got) = answer(&mut app, &thing).await?;
    assert_eq!(topic, "get/accepted");
    assert_eq!(got["version"], 2);
    assert_eq!(got["clientToken"], "g");
    assert_eq!(got["state"]["reported"]["on"], true);
    assert!(got["state"].get("delta").is_none());

    // Optimistic locking and bad documents are rejected with AWS's codes.
    let stale = json!({"state": {"reported": {"on": false}}, "version": 1, "clientToken": "s"});
    lamp.publish(
        &format!("{prefix}/update"),
        stale.to_string().as_bytes(),
        QoS::AtLeastOnce,
        false,
    )
    .await?;
    let (topic, rejected) = answer(&mut app, &thing).await?;
    assert_eq!(topic, "update/rejected");
    assert_eq!(rejected["code"], 409);
    assert_eq!(rejected["message"], "Version conflict");
    assert_eq!(rejected["clientToken"], "s");
    lamp.publish(
        &format!("{prefix}/update"),
        b"{not json",
        QoS::AtLeastOnce,
        false,
    )
    .await?;
    let (topic, rejected) = answer(&mut app, &thing).await?;
    assert_eq!(topic, "update/rejected");
    assert_eq!(rejected["code"], 400);

    lamp.publish(&format!("{prefix}/delete"), b"", QoS::AtLeastOnce, false)
        .await?;
    let (topic, deleted) = answer(&mut app, &thing).await?;
    assert_eq!(topic, "delete/accepted");
    assert_eq!(deleted["version"], 2);
    lamp.publish(&format!("{prefix}/get"), b"", QoS::AtLeastOnce, false)
        .await?;
    let (topic, rejected) = answer(&mut app, &thing).await?;
    assert_eq!(topic, "get/rejected");
    assert_eq!(rejected["code"], 404);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn named_shadows_are_separate_and_answers_are_reserved_for_roost() -> Result<()> {
    let server = Server::start().await?;
    let device = server.device(ALLOW_ALL).await?;
    let thing = unique("pump");
    let mut client = server
        .raw_connected(&device, ProtocolVersion::V5, &thing)
        .await?;
    let named = format!("$aws/things/{thing}/shadow/name/config");
    client
        .subscribe(&format!("{named}/update/accepted"), QoS::AtLeastOnce)
        .await?;
    client
        .publish(
            &format!("{named}/update"),
            br#"{"state":{"reported":{"rpm":900}}}"#,
            QoS::AtLeastOnce,
            false,
        )
        .await?;
    let accepted = client
        .publish_on(&format!("{named}/update/accepted"))
        .await?;
    let accepted: Value = serde_json::from_slice(&accepted.payload)?;
    assert_eq!(accepted["version"], 1);
    let stored = server
        .registry
        .shadow(&roost_shadow::ThingName::new(&thing)?, None)
        .await?;
    assert!(stored.is_none(), "the classic shadow is untouched");
    // Nobody may forge an answer, whatever its policy allows.
    let forged = client
        .publish(
            &format!("{named}/update/accepted"),
            b"{}",
            QoS::AtLeastOnce,
            false,
        )
        .await?;
    assert_eq!(forged, Some(ReasonCode::NotAuthorized));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shadow_request_outside_the_devices_policy_is_refused_and_not_served() -> Result<()> {
    let server = Server::start().await?;
    let thing = unique("locked");
    let device = server
        .device(&allow(&[
            (&["iot:Connect"], &["*"]),
            (&["iot:Publish"], &["topic/elsewhere"]),
        ]))
        .await?;
    let mut client = server
        .raw_connected(&device, ProtocolVersion::V5, &thing)
        .await?;
    let reason = client
        .publish(
            &format!("$aws/things/{thing}/shadow/update"),
            br#"{"state":{"reported":{"x":1}}}"#,
            QoS::AtLeastOnce,
            false,
        )
        .await?;
    assert_eq!(reason, Some(ReasonCode::NotAuthorized));
    let stored = server
        .registry
        .shadow(&roost_shadow::ThingName::new(&thing)?, None)
        .await?;
    assert!(stored.is_none());
    Ok(())
}
