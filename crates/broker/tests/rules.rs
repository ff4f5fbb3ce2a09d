//! The rules engine inside the broker: rules written to the registry take effect at once,
//! Basic Ingest topics cannot be subscribed to, and a match dropped at a full queue is
//! reported through the rule's error action.

mod common;

use std::time::Duration;

use anyhow::Result;
use common::*;
use roost_codec::{ProtocolVersion, QoS, ReasonCode};
use roost_registry::NewDestinationStatus;
use roost_rules::TopicRulePayload;
use serde_json::{Value, json};

fn payload(value: Value) -> Result<TopicRulePayload> {
    Ok(serde_json::from_value(value)?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rule_created_in_the_registry_republishes_at_once_and_stops_when_disabled() -> Result<()>
{
    let server = Server::start().await?;
    let device = server.device(ALLOW_ALL).await?;
    let rule = unique("echo").replace('-', "_");
    server
        .registry
        .create_topic_rule(
            &rule,
            payload(json!({
                "sql": "SELECT VALUE n FROM 'in/#'",
                "awsIotSqlVersion": "2016-03-23",
                "actions": [{"republish": {"topic": "echo/${topic(2)}", "qos": 1,
                                           "roleArn": "arn:aws:iam::123456789012:role/r"}}]
            }))?,
            Vec::new(),
            NewDestinationStatus::AwaitConfirmation,
        )
        .await?;
    eventually(|| server.broker.core().rules.rule_names().contains(&rule)).await?;
    let mut listener = server
        .raw_connected(&device, ProtocolVersion::V5, &unique("l"))
        .await?;
    listener.subscribe("echo/#", QoS::AtLeastOnce).await?;
    let mut publisher = server
        .raw_connected(&device, ProtocolVersion::V5, &unique("p"))
        .await?;
    publisher
        .publish("in/a", br#"{"n": 7}"#, QoS::AtLeastOnce, false)
        .await?;
    let echoed = listener.next_publish().await?;
    assert_eq!(echoed.topic.as_str(), "echo/a");
    assert_eq!(&echoed.payload[..], b"7");

    server.registry.set_topic_rule_disabled(&rule, true).await?;
    eventually(|| !server.broker.core().rules.rule_names().contains(&rule)).await?;
    publisher
        .publish("in/b", br#"{"n": 8}"#, QoS::AtLeastOnce, false)
        .await?;
    listener.no_publish().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_one_may_subscribe_to_basic_ingest_topics() -> Result<()> {
    let server = Server::start().await?;
    let device = server.device(ALLOW_ALL).await?;
    let mut client = server
        .raw_connected(&device, ProtocolVersion::V5, &unique("c"))
        .await?;
    let granted = client.subscribe("$aws/rules/r/#", QoS::AtLeastOnce).await?;
    assert_eq!(granted, ReasonCode::NotAuthorized);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_match_dropped_at_a_full_queue_fires_the_error_action() -> Result<()> {
    // One worker with room for one waiting match, held up by a target that never answers.
    let server = Server::start_with(|config| {
        config.rules.workers = 1;
        config.rules.queue_capacity = 1;
        config.rules.http_timeout = Duration::from_millis(800);
        config.rules.http_attempts = 1;
    })
    .await?;
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hook", silent.local_addr()?);
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let device = server.device(ALLOW_ALL).await?;
    let rule = unique("slow").replace('-', "_");
    server
        .registry
        .create_topic_rule(
            &rule,
            payload(json!({
                "sql": "SELECT * FROM 'burst/#'",
                "actions": [{"http": {"url": url}}],
                "errorAction": {"republish": {"topic": "errors/slow",
                                              "roleArn": "arn:aws:iam::123456789012:role/r"}}
            }))?,
            Vec::new(),
            NewDestinationStatus::Enabled,
        )
        .await?;
    eventually(|| server.broker.core().rules.rule_names().contains(&rule)).await?;
    let mut listener = server
        .raw_connected(&device, ProtocolVersion::V5, &unique("l"))
        .await?;
    listener.subscribe("errors/slow", QoS::AtMostOnce).await?;
    let mut publisher = server
        .raw_connected(&device, ProtocolVersion::V5, &unique("p"))
        .await?;
    for n in 0..6 {
        publisher
            .publish(
                "burst/x",
                format!("{n}").as_bytes(),
                QoS::AtLeastOnce,
                false,
            )
            .await?;
    }
    let mut reasons = Vec::new();
    for _ in 0..2 {
        let report: Value = serde_json::from_slice(&listener.next_publish().await?.payload)?;
        assert_eq!(report["ruleName"], rule.as_str());
        reasons.push(
            report["failures"][0]["failedAction"]
                .as_str()
                .unwrap_or("")
                .to_owned(),
        );
    }
    assert!(
        reasons.iter().any(|r| r == "RulesEngine"),
        "a dropped match is reported: {reasons:?}"
    );
    Ok(())
}
