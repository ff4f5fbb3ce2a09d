//! Topic rules and topic rule destinations: validation on every write, AWS's answer for a
//! missing rule, the list filters and paging, tags, the destinations an http action creates,
//! confirmation by token, and the events the rules engine reloads on.

use roost_registry::model::Tag;
use roost_registry::{NewDestinationStatus, PageRequest, RegistryEvent, TopicRuleFilter};
use roost_rules::{DestinationStatus, TopicRulePayload};
use serde_json::json;

use crate::assert_err;
use crate::support::Harness;

const ROLE: &str = "arn:aws:iam::123456789012:role/rules";
const AWAIT: NewDestinationStatus = NewDestinationStatus::AwaitConfirmation;

fn payload(value: serde_json::Value) -> TopicRulePayload {
    serde_json::from_value(value).expect("a payload")
}

fn republish_rule(from: &str) -> TopicRulePayload {
    payload(json!({
        "sql": format!("SELECT * FROM '{from}'"),
        "actions": [{"republish": {"topic": "out/${topic()}", "roleArn": ROLE}}]
    }))
}

fn http_rule(url: &str) -> TopicRulePayload {
    payload(json!({
        "sql": "SELECT * FROM 'in'",
        "actions": [{"http": {"url": url}}]
    }))
}

fn rule_changed(name: &str) -> RegistryEvent {
    RegistryEvent::TopicRuleChanged {
        rule_name: name.into(),
    }
}

#[tokio::test]
async fn a_rule_is_stored_as_given_with_its_version_filled_in() {
    let h = Harness::new().await;
    let given = payload(json!({
        "sql": "SELECT temp FROM 'sensors/+/telemetry'",
        "description": "hot sensors",
        "actions": [{"republish": {"topic": "alerts", "roleArn": ROLE, "qos": 1}}],
        "errorAction": {"republish": {"topic": "errors", "roleArn": ROLE}}
    }));
    let (created, confirmations) = h
        .create_topic_rule("hot", given.clone(), Vec::new(), AWAIT)
        .await
        .unwrap();
    assert!(confirmations.is_empty());
    assert_eq!(created.arn, h.arns().topic_rule("hot"));
    assert_eq!(created.topic_pattern, "sensors/+/telemetry");
    assert!(!created.disabled);

    let read = h.topic_rule("hot").await.unwrap();
    assert_eq!(read, created);
    let mut expected = given;
    expected.aws_iot_sql_version = Some("2015-10-08".into());
    expected.rule_disabled = Some(false);
    assert_eq!(read.payload, expected);
    assert!(read.compile().is_ok());
    assert_eq!(h.events.take(), [rule_changed("hot")]);
}

#[tokio::test]
async fn an_invalid_rule_is_refused_before_anything_is_written() {
    let h = Harness::new().await;
    let message = assert_err!(
        h.create_topic_rule(
            "r",
            payload(json!({"sql": "SELECT FROM 'x'", "actions": []})),
            Vec::new(),
            AWAIT
        )
        .await,
        SqlParse
    );
    assert!(message.starts_with("line 1, column"), "{message}");
    let message = assert_err!(
        h.create_topic_rule(
            "r",
            payload(json!({"sql": "SELECT * FROM 'x'", "actions": [{"lambda": {"functionArn": "arn:aws:lambda:us-east-1:1:function:f"}}]})),
            Vec::new(),
            AWAIT
        )
        .await,
        InvalidRequest
    );
    assert!(
        message.contains("'lambda' is not supported by Roost"),
        "{message}"
    );
    assert_err!(
        h.create_topic_rule("bad-name", republish_rule("a"), Vec::new(), AWAIT)
            .await,
        InvalidRequest
    );
    assert!(h.all_topic_rules().await.unwrap().is_empty());
    assert!(h.events.take().is_empty());
}

#[tokio::test]
async fn a_second_rule_of_the_same_name_already_exists() {
    let h = Harness::new().await;
    h.create_topic_rule("r", republish_rule("a"), Vec::new(), AWAIT)
        .await
        .unwrap();
    let result = h
        .create_topic_rule("r", republish_rule("b"), Vec::new(), AWAIT)
        .await;
    match result {
        Err(roost_registry::RegistryError::AlreadyExists {
            resource_id,
            resource_arn,
            ..
        }) => {
            assert_eq!(resource_id, "r");
            assert_eq!(resource_arn, h.arns().topic_rule("r"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(h.topic_rule("r").await.unwrap().topic_pattern, "a");
}

#[tokio::test]
async fn a_missing_rule_is_access_denied_as_on_aws() {
    let h = Harness::new().await;
    let expected = "Access to topic rule 'ghost' was denied";
    assert_eq!(
        assert_err!(h.topic_rule("ghost").await, Unauthorized),
        expected
    );
    assert_eq!(
        assert_err!(h.delete_topic_rule("ghost").await, Unauthorized),
        expected
    );
    assert_err!(h.set_topic_rule_disabled("ghost", true).await, Unauthorized);
    assert_err!(
        h.replace_topic_rule("ghost", republish_rule("a"), AWAIT)
            .await,
        Unauthorized
    );
    assert_eq!(h.find_topic_rule("ghost").await.unwrap(), None);
}

#[tokio::test]
async fn replace_changes_everything_but_the_creation_time() {
    let h = Harness::new().await;
    let (created, _) = h
        .create_topic_rule("r", republish_rule("a"), Vec::new(), AWAIT)
        .await
        .unwrap();
    h.events.take();
    let mut replacement = republish_rule("b/#");
    replacement.rule_disabled = Some(true);
    replacement.aws_iot_sql_version = Some("beta".into());
    let (replaced, _) = h.replace_topic_rule("r", replacement, AWAIT).await.unwrap();
    assert_eq!(replaced.created_ms, created.created_ms);
    let read = h.topic_rule("r").await.unwrap();
    assert_eq!(read.topic_pattern, "b/#");
    assert!(read.disabled);
    assert_eq!(read.payload.aws_iot_sql_version.as_deref(), Some("beta"));
    assert_eq!(read.created_ms, created.created_ms);
    assert_eq!(h.events.take(), [rule_changed("r")]);
}

#[tokio::test]
async fn enable_and_disable_change_the_rule_and_its_echoed_payload() {
    let h = Harness::new().await;
    h.create_topic_rule("r", republish_rule("a"), Vec::new(), AWAIT)
        .await
        .unwrap();
    h.set_topic_rule_disabled("r", true).await.unwrap();
    let read = h.topic_rule("r").await.unwrap();
    assert!(read.disabled);
    assert_eq!(read.payload.rule_disabled, Some(true));
    assert!(read.compile().unwrap().disabled);
    h.set_topic_rule_disabled("r", false).await.unwrap();
    assert!(!h.topic_rule("r").await.unwrap().disabled);
    assert_eq!(
        h.events.take(),
        [rule_changed("r"), rule_changed("r"), rule_changed("r")]
    );
}

#[tokio::test]
async fn delete_removes_the_rule_and_its_tags() {
    let h = Harness::new().await;
    let tags = vec![Tag {
        key: "team".into(),
        value: "edge".into(),
    }];
    h.create_topic_rule("r", republish_rule("a"), tags.clone(), AWAIT)
        .await
        .unwrap();
    let arn = h.arns().topic_rule("r");
    let listed = h
        .list_tags_for_resource(&arn, &PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(listed.items, tags);
    h.delete_topic_rule("r").await.unwrap();
    assert_err!(h.topic_rule("r").await, Unauthorized);
    assert_err!(
        h.list_tags_for_resource(&arn, &PageRequest::first(10))
            .await,
        NotFound
    );
    // A rule of the same name starts without the old tags.
    h.create_topic_rule("r", republish_rule("a"), Vec::new(), AWAIT)
        .await
        .unwrap();
    let listed = h
        .list_tags_for_resource(&arn, &PageRequest::first(10))
        .await
        .unwrap();
    assert!(listed.items.is_empty());
}

#[tokio::test]
async fn rules_take_tags_through_tag_resource() {
    let h = Harness::new().await;
    h.create_topic_rule("r", republish_rule("a"), Vec::new(), AWAIT)
        .await
        .unwrap();
    let arn = h.arns().topic_rule("r");
    let tag = Tag {
        key: "k".into(),
        value: "v".into(),
    };
    h.tag_resource(&arn, vec![tag.clone()]).await.unwrap();
    let listed = h
        .list_tags_for_resource(&arn, &PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(listed.items, [tag]);
    assert_err!(
        h.tag_resource(&h.arns().topic_rule("ghost"), Vec::new())
            .await,
        NotFound
    );
}

async fn names_of(h: &Harness, filter: TopicRuleFilter) -> Vec<String> {
    h.list_topic_rules(&filter, &PageRequest::first(100))
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|r| r.name)
        .collect()
}

#[tokio::test]
async fn rules_are_listed_by_name_a_page_at_a_time_with_filters() {
    let h = Harness::new().await;
    for (name, from) in [("c", "x"), ("a", "x"), ("d", "y"), ("b", "x")] {
        h.create_topic_rule(name, republish_rule(from), Vec::new(), AWAIT)
            .await
            .unwrap();
    }
    h.set_topic_rule_disabled("b", true).await.unwrap();
    let all = TopicRuleFilter::default();
    let mut names = Vec::new();
    let mut page = PageRequest::first(1);
    loop {
        let listed = h.list_topic_rules(&all, &page).await.unwrap();
        assert!(listed.items.len() <= 1);
        names.extend(listed.items.into_iter().map(|r| r.name));
        let Some(token) = listed.next else { break };
        page = PageRequest::from_api(Some(&token), Some(1), "maxResults", 1, true).unwrap();
    }
    assert_eq!(names, ["a", "b", "c", "d"]);

    let on_x = TopicRuleFilter {
        topic: Some("x".into()),
        disabled: None,
    };
    assert_eq!(names_of(&h, on_x).await, ["a", "b", "c"]);
    let disabled = TopicRuleFilter {
        topic: None,
        disabled: Some(true),
    };
    assert_eq!(names_of(&h, disabled).await, ["b"]);
    let enabled_on_x = TopicRuleFilter {
        topic: Some("x".into()),
        disabled: Some(false),
    };
    assert_eq!(names_of(&h, enabled_on_x).await, ["a", "c"]);
    let all_rules = h.all_topic_rules().await.unwrap();
    assert_eq!(all_rules.len(), 4);
}

#[tokio::test]
async fn rules_survive_a_restart() {
    let h = Harness::new().await;
    h.create_topic_rule("r", republish_rule("a/#"), Vec::new(), AWAIT)
        .await
        .unwrap();
    let before = h.topic_rule("r").await.unwrap();
    let h = h.reopen().await;
    assert_eq!(h.topic_rule("r").await.unwrap(), before);
}

// -- destinations ---------------------------------------------------------------------------

#[tokio::test]
async fn a_destination_starts_in_progress_with_a_token_to_send_once() {
    let h = Harness::new().await;
    let (destination, pending) = h
        .create_topic_rule_destination("https://example.com/hooks", AWAIT)
        .await
        .unwrap();
    assert_eq!(destination.status, DestinationStatus::InProgress);
    assert!(
        destination
            .arn
            .starts_with("arn:aws:iot:us-east-1:123456789012:ruledestination/http/")
    );
    let pending = pending.expect("a confirmation to send");
    assert_eq!(pending.arn, destination.arn);
    assert_eq!(pending.url, "https://example.com/hooks");
    assert_eq!(pending.token.len(), 64);
    assert!(
        !format!("{pending:?}").contains(&pending.token),
        "the token is not logged"
    );
    assert_eq!(
        h.topic_rule_destination(&destination.arn).await.unwrap(),
        destination
    );
    assert_eq!(
        h.events.take(),
        [RegistryEvent::TopicRuleDestinationChanged {
            arn: destination.arn.clone()
        }]
    );

    let confirmed = h
        .confirm_topic_rule_destination(&pending.token)
        .await
        .unwrap();
    assert_eq!(confirmed.status, DestinationStatus::Enabled);
    assert_eq!(
        h.topic_rule_destination(&destination.arn)
            .await
            .unwrap()
            .status,
        DestinationStatus::Enabled
    );
    // Opening the enableUrl twice is harmless.
    h.confirm_topic_rule_destination(&pending.token)
        .await
        .unwrap();
    assert_err!(
        h.confirm_topic_rule_destination("not-a-token").await,
        InvalidRequest
    );
}

#[tokio::test]
async fn the_registry_keeps_only_a_digest_of_the_token() {
    let h = Harness::new().await;
    let (_, pending) = h
        .create_topic_rule_destination("https://example.com", AWAIT)
        .await
        .unwrap();
    let token = pending.unwrap().token;
    h.registry.close().await;
    if let Some(path) = h.url.strip_prefix("sqlite://") {
        for file in [path.to_owned(), format!("{path}-wal")] {
            let bytes = std::fs::read(&file).unwrap_or_default();
            let text = String::from_utf8_lossy(&bytes);
            assert!(!text.contains(&token), "the plain token is not in {file}");
        }
    }
}

#[tokio::test]
async fn a_destination_can_be_created_enabled_when_configured_so() {
    let h = Harness::new().await;
    let (destination, pending) = h
        .create_topic_rule_destination("http://127.0.0.1:9000", NewDestinationStatus::Enabled)
        .await
        .unwrap();
    assert_eq!(destination.status, DestinationStatus::Enabled);
    assert!(pending.is_none());
}

#[tokio::test]
async fn one_destination_per_url_and_urls_must_be_http() {
    let h = Harness::new().await;
    let (first, _) = h
        .create_topic_rule_destination("https://example.com", AWAIT)
        .await
        .unwrap();
    let message = assert_err!(
        h.create_topic_rule_destination("https://example.com", AWAIT)
            .await,
        AlreadyExists
    );
    assert!(message.contains(&first.arn), "{message}");
    assert_err!(
        h.create_topic_rule_destination("ftp://example.com", AWAIT)
            .await,
        InvalidRequest
    );
}

#[tokio::test]
async fn status_changes_follow_aws_rules() {
    let h = Harness::new().await;
    let (destination, pending) = h
        .create_topic_rule_destination("https://example.com", AWAIT)
        .await
        .unwrap();
    let arn = destination.arn;
    let first_token = pending.unwrap().token;
    // Not yet confirmed: cannot be enabled or disabled by hand.
    assert_err!(
        h.update_topic_rule_destination(&arn, DestinationStatus::Enabled)
            .await,
        InvalidRequest
    );
    assert_err!(
        h.update_topic_rule_destination(&arn, DestinationStatus::Error)
            .await,
        InvalidRequest
    );
    // Re-challenging gives a new token; the old one stops working.
    let again = h
        .update_topic_rule_destination(&arn, DestinationStatus::InProgress)
        .await
        .unwrap()
        .expect("a new confirmation");
    assert_ne!(again.token, first_token);
    assert_err!(
        h.confirm_topic_rule_destination(&first_token).await,
        InvalidRequest
    );
    h.confirm_topic_rule_destination(&again.token)
        .await
        .unwrap();
    assert!(
        h.update_topic_rule_destination(&arn, DestinationStatus::Disabled)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        h.topic_rule_destination(&arn).await.unwrap().status,
        DestinationStatus::Disabled
    );
    // A disabled destination is enabled by update, not by its old token.
    assert_err!(
        h.confirm_topic_rule_destination(&again.token).await,
        InvalidRequest
    );
    h.update_topic_rule_destination(&arn, DestinationStatus::Enabled)
        .await
        .unwrap();
    assert_eq!(
        h.topic_rule_destination(&arn).await.unwrap().status,
        DestinationStatus::Enabled
    );
}

#[tokio::test]
async fn a_failed_confirmation_marks_the_destination_error_with_a_reason() {
    let h = Harness::new().await;
    let (destination, pending) = h
        .create_topic_rule_destination("https://example.com", AWAIT)
        .await
        .unwrap();
    let pending = pending.unwrap();
    h.fail_topic_rule_destination_confirmation(&pending, "connection refused")
        .await
        .unwrap();
    let read = h.topic_rule_destination(&destination.arn).await.unwrap();
    assert_eq!(read.status, DestinationStatus::Error);
    assert_eq!(read.status_reason.as_deref(), Some("connection refused"));
    // A late failure of an older challenge does not undo a newer one.
    let newer = h
        .update_topic_rule_destination(&destination.arn, DestinationStatus::InProgress)
        .await
        .unwrap()
        .unwrap();
    h.fail_topic_rule_destination_confirmation(&pending, "late")
        .await
        .unwrap();
    let read = h.topic_rule_destination(&destination.arn).await.unwrap();
    assert_eq!(read.status, DestinationStatus::InProgress);
    assert_eq!(read.status_reason, None);
    // The token still reaches the owner by other means: confirming from ERROR works.
    h.fail_topic_rule_destination_confirmation(&newer, "timeout")
        .await
        .unwrap();
    h.confirm_topic_rule_destination(&newer.token)
        .await
        .unwrap();
}

#[tokio::test]
async fn destinations_are_listed_oldest_first_and_deleted() {
    let h = Harness::new().await;
    let mut arns = Vec::new();
    for i in 0..3 {
        let (d, _) = h
            .create_topic_rule_destination(&format!("https://example.com/{i}"), AWAIT)
            .await
            .unwrap();
        arns.push(d.arn);
    }
    let mut listed = Vec::new();
    let mut page = PageRequest::first(2);
    loop {
        let got = h.list_topic_rule_destinations(&page).await.unwrap();
        listed.extend(got.items.into_iter().map(|d| d.arn));
        let Some(token) = got.next else { break };
        page = PageRequest::from_api(Some(&token), Some(2), "maxResults", 2, true).unwrap();
    }
    let mut expected = arns.clone();
    let all: Vec<String> = h
        .all_topic_rule_destinations()
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.arn)
        .collect();
    assert_eq!(listed, all);
    expected.sort();
    listed.sort();
    assert_eq!(listed, expected);

    h.delete_topic_rule_destination(&arns[0]).await.unwrap();
    let message = assert_err!(h.topic_rule_destination(&arns[0]).await, Unauthorized);
    assert!(message.contains("was denied"), "{message}");
    assert_err!(
        h.delete_topic_rule_destination(&arns[0]).await,
        Unauthorized
    );
}

#[tokio::test]
async fn an_http_action_creates_the_destination_it_needs_once() {
    let h = Harness::new().await;
    let (_, confirmations) = h
        .create_topic_rule(
            "r1",
            http_rule("https://example.com/in/a"),
            Vec::new(),
            AWAIT,
        )
        .await
        .unwrap();
    assert_eq!(confirmations.len(), 1);
    assert_eq!(confirmations[0].url, "https://example.com/in/a");
    let events = h.events.take();
    assert!(
        events.contains(&RegistryEvent::TopicRuleDestinationChanged {
            arn: confirmations[0].arn.clone()
        })
    );
    assert!(events.contains(&rule_changed("r1")));

    // The same URL again: covered, nothing new.
    let (_, again) = h
        .create_topic_rule(
            "r2",
            http_rule("https://example.com/in/a"),
            Vec::new(),
            AWAIT,
        )
        .await
        .unwrap();
    assert!(again.is_empty());

    // A templated URL creates a destination for its confirmation URL.
    let templated = payload(json!({
        "sql": "SELECT * FROM 'in'",
        "actions": [{"http": {
            "url": "https://hooks.example.net/${topic()}",
            "confirmationUrl": "https://hooks.example.net"
        }}],
        "errorAction": {"http": {"url": "https://hooks.example.net/errors"}}
    }));
    let (_, confirmations) = h
        .create_topic_rule("r3", templated, Vec::new(), AWAIT)
        .await
        .unwrap();
    assert_eq!(
        confirmations
            .iter()
            .map(|c| c.url.as_str())
            .collect::<Vec<_>>(),
        ["https://hooks.example.net"]
    );

    // Created ENABLED when so configured.
    let (_, none) = h
        .replace_topic_rule(
            "r1",
            http_rule("http://127.0.0.1:9/x"),
            NewDestinationStatus::Enabled,
        )
        .await
        .unwrap();
    assert!(none.is_empty());
    let statuses: Vec<_> = h
        .all_topic_rule_destinations()
        .await
        .unwrap()
        .into_iter()
        .map(|d| (d.confirmation_url, d.status))
        .collect();
    assert!(statuses.contains(&("http://127.0.0.1:9/x".into(), DestinationStatus::Enabled)));
    assert_eq!(statuses.len(), 3);
}
