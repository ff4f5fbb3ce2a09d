//! What a worker does with one match: evaluate the rule's SQL, run its actions, and run its
//! error action once if any of them failed.

use std::sync::Arc;
use std::time::Instant;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use roost_codec::{PayloadFormat, PublishProperties, QoS, TopicName};
use roost_mqtt::Message;
use roost_rules::{ActionFailure, CompiledAction, CompiledHttp, CompiledRepublish};
use roost_sql::{MessageContext, MqttProperties, Output, Variables};

use super::{Job, RuleSet};
use crate::BrokerCore;

/// How one action ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionOutcome {
    Succeeded,
    /// Failed after its attempts; the text goes into the error action's payload.
    Failed(String),
}

/// What `get_mqtt_property` and friends see of a message.
fn mqtt_properties(message: &Message, now: Instant) -> MqttProperties {
    let p = &message.properties;
    MqttProperties {
        payload_format_indicator: p.payload_format_indicator.map(|f| f as u8),
        content_type: p.content_type.clone(),
        response_topic: p.response_topic.as_ref().map(|t| t.as_str().to_owned()),
        correlation_data: p.correlation_data.as_ref().map(|d| d.to_vec()),
        message_expiry_interval: message.remaining_expiry(now),
        user_properties: p.user_properties.clone(),
    }
}

fn context(core: &BrokerCore, job: &Job) -> MessageContext {
    let mut ctx = MessageContext::new(job.topic.clone(), job.message.payload.to_vec())
        .with_timestamp_ms(job.received_ms)
        .with_trace_id(uuid::Uuid::new_v4().to_string())
        .with_account_id(core.config.account.clone())
        .with_mqtt_properties(mqtt_properties(&job.message, Instant::now()));
    if let Some(client_id) = &job.origin.client_id {
        ctx = ctx.with_client_id(client_id.clone());
    }
    if let Some(principal) = &job.origin.principal {
        ctx = ctx.with_principal(principal.clone());
    }
    if let Some(ip) = &job.origin.source_ip {
        ctx = ctx.with_source_ip(ip.clone());
    }
    ctx
}

/// Evaluates `job`'s rule and runs its actions.
pub(super) async fn run(core: &Arc<BrokerCore>, job: Job) {
    let rule = &job.rule;
    let ctx = context(core, &job);
    let evaluation = match rule.compiled.statement.evaluate_with_variables(&ctx) {
        Ok(evaluation) => evaluation,
        Err(error) => {
            tracing::debug!(rule = %rule.compiled.name, %error, "evaluating the rule failed");
            return;
        }
    };
    let Some(output) = evaluation.output else {
        tracing::trace!(rule = %rule.compiled.name, topic = %job.topic, "WHERE is not true");
        return;
    };
    rule.metrics.matched.increment(1);
    let mut failures = Vec::new();
    for action in &rule.compiled.actions {
        let outcome = run_action(
            core,
            &job.rules,
            action,
            &output,
            &ctx,
            &evaluation.variables,
        )
        .await;
        match outcome {
            ActionOutcome::Succeeded => rule.metrics.actions_succeeded.increment(1),
            ActionOutcome::Failed(error_message) => {
                rule.metrics.actions_failed.increment(1);
                tracing::info!(rule = %rule.compiled.name, action = action.name(), error = %error_message, "rule action failed");
                failures.push(ActionFailure {
                    failed_action: action.name().to_owned(),
                    failed_resource: action.failed_resource().to_owned(),
                    error_message,
                });
            }
        }
    }
    if !failures.is_empty() {
        run_error_action(core, &job, &ctx, &evaluation.variables, &failures).await;
    }
}

/// Runs the error action of a rule whose actions failed, with AWS's error payload.
async fn run_error_action(
    core: &Arc<BrokerCore>,
    job: &Job,
    ctx: &MessageContext,
    variables: &Variables,
    failures: &[ActionFailure],
) {
    let rule = &job.rule;
    let Some(error_action) = &rule.compiled.error_action else {
        return;
    };
    let trace_id = uuid::Uuid::new_v4().to_string();
    let payload = roost_rules::error_action_payload(
        &rule.compiled.name,
        &job.topic,
        job.origin.client_id.as_deref().unwrap_or("n/a"),
        &trace_id,
        &job.message.payload,
        failures,
    );
    rule.metrics.error_actions.increment(1);
    let outcome = run_action(
        core,
        &job.rules,
        error_action,
        &Output::Json(payload),
        ctx,
        variables,
    )
    .await;
    if let ActionOutcome::Failed(error) = outcome {
        // AWS only logs a failing error action.
        tracing::warn!(rule = %rule.compiled.name, %error, "the rule's error action failed too");
    }
}

/// Reports a match dropped at a full queue through the rule's error action.
pub(super) async fn report_dropped(core: &Arc<BrokerCore>, job: Job) {
    let ctx = context(core, &job);
    let failures = [ActionFailure {
        failed_action: "RulesEngine".to_owned(),
        failed_resource: job.rule.compiled.name.clone(),
        error_message: "the rule's queue is full; the message was dropped before evaluation"
            .to_owned(),
    }];
    run_error_action(core, &job, &ctx, &Variables::default(), &failures).await;
}

async fn run_action(
    core: &Arc<BrokerCore>,
    rules: &RuleSet,
    action: &CompiledAction,
    output: &Output,
    ctx: &MessageContext,
    variables: &Variables,
) -> ActionOutcome {
    match action {
        CompiledAction::Republish(republish) => {
            republish_action(core, republish, output, ctx, variables)
        }
        CompiledAction::Http(http) => http_action(core, rules, http, output, ctx, variables).await,
    }
}

/// Republishes the output through the router, as Roost's own message (device policies do not
/// apply; RETAIN stays off). It is offered to the rules again, as on AWS.
fn republish_action(
    core: &Arc<BrokerCore>,
    republish: &CompiledRepublish,
    output: &Output,
    ctx: &MessageContext,
    variables: &Variables,
) -> ActionOutcome {
    let rendered = republish.topic.render_with(ctx, variables);
    let topic_text = rendered.as_str();
    let topic = match TopicName::new(topic_text) {
        Ok(topic) => topic,
        Err(error) => {
            return ActionOutcome::Failed(format!(
                "the topic '{topic_text}' is not valid: {error}"
            ));
        }
    };
    let properties = republish_properties(republish, ctx, variables);
    let qos = if republish.qos == 0 {
        QoS::AtMostOnce
    } else {
        QoS::AtLeastOnce
    };
    let message = Message::new(
        topic,
        Bytes::from(output.to_bytes()),
        qos,
        false,
        properties,
        Instant::now(),
    );
    core.publish_rule_message(&message);
    ActionOutcome::Succeeded
}

fn republish_properties(
    republish: &CompiledRepublish,
    ctx: &MessageContext,
    variables: &Variables,
) -> PublishProperties {
    let headers = &republish.headers;
    let payload_format = republish.payload_format_indicator;
    let render = |t: &Option<roost_sql::SubstitutionTemplate>| {
        t.as_ref()
            .map(|t| t.render_with(ctx, variables))
            .filter(|s| !s.is_empty())
    };
    PublishProperties {
        payload_format_indicator: payload_format.map(|f| {
            if f == 1 {
                PayloadFormat::Utf8
            } else {
                PayloadFormat::Unspecified
            }
        }),
        content_type: render(&headers.content_type),
        response_topic: render(&headers.response_topic).and_then(|t| TopicName::new(&t).ok()),
        // Base64 text in the rule; the property is the bytes.
        correlation_data: render(&headers.correlation_data)
            .and_then(|text| STANDARD.decode(text).ok())
            .map(Bytes::from),
        message_expiry_interval: render(&headers.message_expiry).and_then(|s| s.parse().ok()),
        user_properties: headers
            .user_properties
            .iter()
            .map(|(k, v)| (k.render_with(ctx, variables), v.render_with(ctx, variables)))
            .collect(),
        ..PublishProperties::default()
    }
}

/// POSTs the output to the rendered URL, if it lies under an enabled destination.
async fn http_action(
    core: &Arc<BrokerCore>,
    rules: &RuleSet,
    http: &CompiledHttp,
    output: &Output,
    ctx: &MessageContext,
    variables: &Variables,
) -> ActionOutcome {
    let url = http.url.render_with(ctx, variables);
    let covered = roost_rules::destination_target(http);
    if !rules.destination_enabled(covered) {
        return ActionOutcome::Failed(format!(
            "no ENABLED topic rule destination covers {covered}"
        ));
    }
    let mut headers: Vec<(String, String)> = http
        .headers
        .iter()
        .map(|(key, value)| (key.clone(), value.render_with(ctx, variables)))
        .collect();
    if !headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
    {
        let content_type = if output.is_json() {
            "application/json"
        } else {
            "application/octet-stream"
        };
        headers.push(("content-type".to_owned(), content_type.to_owned()));
    }
    let config = &core.rules.config;
    let signing = match (&http.sigv4, &config.signing_keys) {
        (None, _) => None,
        (Some(sigv4), Some(keys)) => Some(super::http::Signing {
            access_key_id: &keys.access_key_id,
            secret_access_key: &keys.secret_access_key,
            region: &sigv4.signing_region,
            service: &sigv4.service_name,
        }),
        (Some(_), None) => {
            return ActionOutcome::Failed("no access key to sign the request with".to_owned());
        }
    };
    super::http::post(&url, &headers, output.to_bytes(), signing, config).await
}
