//! Topic rules (CreateTopicRule and its family) and topic rule destinations, on the botocore
//! model's routes and shapes. A rule's body is its `TopicRulePayload`, echoed as given by
//! GetTopicRule; a missing rule or destination is `UnauthorizedException`, as on AWS.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use roost_registry::model::Tag;
use roost_registry::{
    PageRequest, PendingConfirmation, TopicRule, TopicRuleDestination, TopicRuleFilter,
};
use roost_rules::{Action, DestinationStatus, TopicRulePayload};
use roost_validation::Constraint;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Empty;
use crate::ApiState;
use crate::error::{ApiError, ApiResult};
use crate::input::{Body, Path, QueryParams, seconds};

/// ListTopicRules' page size when the caller gives none; most accounts' rules fit in one page.
const DEFAULT_RULES_PAGE: u32 = 1000;
/// Largest `maxResults` of ListTopicRules (model: `TopicRuleMaxResults`).
const MAX_RULES_PAGE: i64 = 10_000;
/// ListTopicRuleDestinations' default and largest page (model:
/// `TopicRuleDestinationMaxResults`).
const MAX_DESTINATIONS_PAGE: i64 = 1000;
/// Longest confirmation token (model: `ConfirmationToken`).
const MAX_TOKEN_CHARS: usize = 2048;

/// A page request whose `maxResults` is bounded by `max` rather than the registry's 250.
fn page_of(query: &QueryParams, default: u32, max: i64) -> ApiResult<PageRequest> {
    let mut page =
        PageRequest::from_api(query.text("nextToken"), None, "maxResults", default, true)?;
    if let Some(size) = query.integer("maxResults")? {
        if !(1..=max).contains(&size) {
            return Err(ApiError::constraint(
                "maxResults",
                size,
                Constraint::ValueBetween(1, max),
            ));
        }
        page.limit = size as u32;
    }
    Ok(page)
}

/// CreateTopicRule's `x-amz-tagging` header: `k1=v1&k2=v2`, URL-encoded.
fn tags_header(headers: &HeaderMap) -> ApiResult<Vec<Tag>> {
    let Some(value) = headers.get("x-amz-tagging") else {
        return Ok(Vec::new());
    };
    let text = value
        .to_str()
        .map_err(|_| ApiError::invalid("The header 'x-amz-tagging' is not valid text"))?;
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(text).map_err(|e| {
        ApiError::invalid(format!(
            "The header 'x-amz-tagging' must read k1=v1&k2=v2: {e}"
        ))
    })?;
    Ok(pairs
        .into_iter()
        .map(|(key, value)| Tag { key, value })
        .collect())
}

/// Sends the confirmation of each new or re-challenged destination through the notifier, on
/// tasks of their own; a failed delivery marks the destination `ERROR`.
fn send_confirmations(state: &ApiState, headers: &HeaderMap, pending: Vec<PendingConfirmation>) {
    if pending.is_empty() {
        return;
    }
    let Some(notifier) = state.destination_notifier().cloned() else {
        for confirmation in &pending {
            tracing::info!(
                arn = %confirmation.arn,
                "no destination notifier is configured: the topic rule destination stays \
                 IN_PROGRESS until confirmed"
            );
        }
        return;
    };
    let base = match state.public_url() {
        Some(url) => url.to_owned(),
        None => {
            let host = headers
                .get("host")
                .and_then(|h| h.to_str().ok())
                .unwrap_or("localhost");
            format!("http://{host}")
        }
    };
    for confirmation in pending {
        let notifier = notifier.clone();
        let registry = state.registry().clone();
        let enable_url = format!("{base}/confirmdestination/{}", confirmation.token);
        tokio::spawn(async move {
            let sent = notifier
                .send_confirmation(
                    &confirmation.arn,
                    &confirmation.url,
                    &confirmation.token,
                    &enable_url,
                )
                .await;
            if let Err(failed) = sent {
                tracing::info!(arn = %confirmation.arn, reason = %failed, "topic rule destination confirmation not delivered");
                if let Err(error) = registry
                    .fail_topic_rule_destination_confirmation(&confirmation, &failed.reason)
                    .await
                {
                    tracing::warn!(%error, arn = %confirmation.arn, "could not mark the destination ERROR");
                }
            }
        });
    }
}

// -- rules ------------------------------------------------------------------------------------

pub(super) async fn create_topic_rule(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    Body(payload): Body<TopicRulePayload>,
) -> ApiResult<Json<Empty>> {
    let tags = tags_header(&headers)?;
    let (_, pending) = state
        .registry()
        .create_topic_rule(&name, payload, tags, state.new_destination_status())
        .await?;
    send_confirmations(&state, &headers, pending);
    Ok(Json(Empty {}))
}

pub(super) async fn replace_topic_rule(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    Body(payload): Body<TopicRulePayload>,
) -> ApiResult<Json<Empty>> {
    let (_, pending) = state
        .registry()
        .replace_topic_rule(&name, payload, state.new_destination_status())
        .await?;
    send_confirmations(&state, &headers, pending);
    Ok(Json(Empty {}))
}

/// `TopicRule` of GetTopicRule.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TopicRuleOutput<'a> {
    rule_name: &'a str,
    sql: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    created_at: f64,
    actions: &'a [Action],
    rule_disabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    aws_iot_sql_version: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_action: Option<&'a Action>,
}

/// `GetTopicRuleResponse`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct GetTopicRuleResponse<'a> {
    rule_arn: &'a str,
    rule: TopicRuleOutput<'a>,
}

pub(super) async fn get_topic_rule(
    State(state): State<ApiState>,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    let rule = state.registry().topic_rule(&name).await?;
    let payload = &rule.payload;
    let output = GetTopicRuleResponse {
        rule_arn: &rule.arn,
        rule: TopicRuleOutput {
            rule_name: &rule.name,
            sql: &payload.sql,
            description: payload.description.as_deref(),
            created_at: seconds(rule.created_ms),
            actions: &payload.actions,
            rule_disabled: rule.disabled,
            aws_iot_sql_version: payload.aws_iot_sql_version.as_deref(),
            error_action: payload.error_action.as_ref(),
        },
    };
    Ok(answer(output))
}

/// `TopicRuleListItem`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TopicRuleListItem<'a> {
    rule_arn: &'a str,
    rule_name: &'a str,
    topic_pattern: &'a str,
    created_at: f64,
    rule_disabled: bool,
}

impl<'a> From<&'a TopicRule> for TopicRuleListItem<'a> {
    fn from(rule: &'a TopicRule) -> Self {
        Self {
            rule_arn: &rule.arn,
            rule_name: &rule.name,
            topic_pattern: &rule.topic_pattern,
            created_at: seconds(rule.created_ms),
            rule_disabled: rule.disabled,
        }
    }
}

/// `ListTopicRulesResponse`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ListTopicRulesResponse<'a> {
    rules: Vec<TopicRuleListItem<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

pub(super) async fn list_topic_rules(
    State(state): State<ApiState>,
    query: QueryParams,
) -> ApiResult<Response> {
    let filter = TopicRuleFilter {
        topic: query.text("topic").map(str::to_owned),
        disabled: query.boolean("ruleDisabled")?,
    };
    let page = page_of(&query, DEFAULT_RULES_PAGE, MAX_RULES_PAGE)?;
    let listed = state.registry().list_topic_rules(&filter, &page).await?;
    Ok(answer(ListTopicRulesResponse {
        rules: listed.items.iter().map(TopicRuleListItem::from).collect(),
        next_token: listed.next,
    }))
}

pub(super) async fn enable_topic_rule(
    State(state): State<ApiState>,
    Path(name): Path<String>,
) -> ApiResult<Json<Empty>> {
    state
        .registry()
        .set_topic_rule_disabled(&name, false)
        .await?;
    Ok(Json(Empty {}))
}

pub(super) async fn disable_topic_rule(
    State(state): State<ApiState>,
    Path(name): Path<String>,
) -> ApiResult<Json<Empty>> {
    state
        .registry()
        .set_topic_rule_disabled(&name, true)
        .await?;
    Ok(Json(Empty {}))
}

pub(super) async fn delete_topic_rule(
    State(state): State<ApiState>,
    Path(name): Path<String>,
) -> ApiResult<Json<Empty>> {
    state.registry().delete_topic_rule(&name).await?;
    Ok(Json(Empty {}))
}

// -- destinations -----------------------------------------------------------------------------

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct HttpUrlOutput<'a> {
    confirmation_url: &'a str,
}

/// `TopicRuleDestination`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DestinationOutput<'a> {
    arn: &'a str,
    status: &'static str,
    created_at: f64,
    last_updated_at: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    status_reason: Option<&'a str>,
    http_url_properties: HttpUrlOutput<'a>,
}

impl<'a> From<&'a TopicRuleDestination> for DestinationOutput<'a> {
    fn from(d: &'a TopicRuleDestination) -> Self {
        Self {
            arn: &d.arn,
            status: d.status.as_str(),
            created_at: seconds(d.created_ms),
            last_updated_at: seconds(d.updated_ms),
            status_reason: d.status_reason.as_deref(),
            http_url_properties: HttpUrlOutput {
                confirmation_url: &d.confirmation_url,
            },
        }
    }
}

/// `TopicRuleDestinationSummary`: the destination with `httpUrlSummary` for its URL.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DestinationSummary<'a> {
    arn: &'a str,
    status: &'static str,
    created_at: f64,
    last_updated_at: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    status_reason: Option<&'a str>,
    http_url_summary: HttpUrlOutput<'a>,
}

impl<'a> From<&'a TopicRuleDestination> for DestinationSummary<'a> {
    fn from(d: &'a TopicRuleDestination) -> Self {
        let full = DestinationOutput::from(d);
        Self {
            arn: full.arn,
            status: full.status,
            created_at: full.created_at,
            last_updated_at: full.last_updated_at,
            status_reason: full.status_reason,
            http_url_summary: full.http_url_properties,
        }
    }
}

/// `GetTopicRuleDestinationResponse`, and `CreateTopicRuleDestinationResponse` (the same
/// member).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct GetTopicRuleDestinationResponse<'a> {
    topic_rule_destination: DestinationOutput<'a>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct HttpUrlConfiguration {
    confirmation_url: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct DestinationConfiguration {
    http_url_configuration: Option<HttpUrlConfiguration>,
    vpc_configuration: Option<Value>,
    #[serde(rename = "influxDBConfiguration")]
    influx_db_configuration: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CreateDestinationBody {
    destination_configuration: Option<DestinationConfiguration>,
}

pub(super) async fn create_topic_rule_destination(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Body(body): Body<CreateDestinationBody>,
) -> ApiResult<Response> {
    let configuration = body
        .destination_configuration
        .ok_or_else(|| ApiError::invalid("destinationConfiguration is required"))?;
    if configuration.vpc_configuration.is_some() || configuration.influx_db_configuration.is_some()
    {
        return Err(ApiError::invalid(
            "destinationConfiguration: Roost supports httpUrlConfiguration destinations only",
        ));
    }
    let url = configuration
        .http_url_configuration
        .and_then(|http| http.confirmation_url)
        .ok_or_else(|| {
            ApiError::invalid(
                "destinationConfiguration.httpUrlConfiguration.confirmationUrl is required",
            )
        })?;
    let (destination, pending) = state
        .registry()
        .create_topic_rule_destination(&url, state.new_destination_status())
        .await?;
    send_confirmations(&state, &headers, pending.into_iter().collect());
    Ok(answer(GetTopicRuleDestinationResponse {
        topic_rule_destination: DestinationOutput::from(&destination),
    }))
}

pub(super) async fn get_topic_rule_destination(
    State(state): State<ApiState>,
    Path(arn): Path<String>,
) -> ApiResult<Response> {
    let destination = state.registry().topic_rule_destination(&arn).await?;
    Ok(answer(GetTopicRuleDestinationResponse {
        topic_rule_destination: DestinationOutput::from(&destination),
    }))
}

/// `ListTopicRuleDestinationsResponse`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ListTopicRuleDestinationsResponse<'a> {
    destination_summaries: Vec<DestinationSummary<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

pub(super) async fn list_topic_rule_destinations(
    State(state): State<ApiState>,
    query: QueryParams,
) -> ApiResult<Response> {
    let page = page_of(&query, MAX_DESTINATIONS_PAGE as u32, MAX_DESTINATIONS_PAGE)?;
    let listed = state.registry().list_topic_rule_destinations(&page).await?;
    Ok(answer(ListTopicRuleDestinationsResponse {
        destination_summaries: listed.items.iter().map(DestinationSummary::from).collect(),
        next_token: listed.next,
    }))
}

#[derive(Debug, Deserialize)]
pub(super) struct UpdateDestinationBody {
    arn: Option<String>,
    status: Option<String>,
}

pub(super) async fn update_topic_rule_destination(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Body(body): Body<UpdateDestinationBody>,
) -> ApiResult<Json<Empty>> {
    let arn = body
        .arn
        .ok_or_else(|| ApiError::invalid("arn is required"))?;
    let status: DestinationStatus = body
        .status
        .ok_or_else(|| ApiError::invalid("status is required"))?
        .parse()
        .map_err(|e: roost_rules::UnknownDestinationStatus| ApiError::invalid(e.to_string()))?;
    let pending = state
        .registry()
        .update_topic_rule_destination(&arn, status)
        .await?;
    send_confirmations(&state, &headers, pending.into_iter().collect());
    Ok(Json(Empty {}))
}

pub(super) async fn delete_topic_rule_destination(
    State(state): State<ApiState>,
    Path(arn): Path<String>,
) -> ApiResult<Json<Empty>> {
    state.registry().delete_topic_rule_destination(&arn).await?;
    Ok(Json(Empty {}))
}

/// ConfirmTopicRuleDestination, and the `enableUrl` a destination's owner opens with a plain
/// GET: served without a signature, the token being the proof.
pub(super) async fn confirm_topic_rule_destination(
    State(state): State<ApiState>,
    Path(token): Path<String>,
) -> ApiResult<Json<Empty>> {
    if token.is_empty() || token.chars().count() > MAX_TOKEN_CHARS {
        return Err(ApiError::invalid(format!(
            "confirmationToken must have 1 to {MAX_TOKEN_CHARS} characters"
        )));
    }
    let destination = state
        .registry()
        .confirm_topic_rule_destination(&token)
        .await?;
    tracing::info!(arn = %destination.arn, "topic rule destination confirmed");
    Ok(Json(Empty {}))
}

/// A 200 whose body is `output`: the output shapes here borrow from the registry's records.
fn answer(output: impl Serialize) -> Response {
    Json(output).into_response()
}
