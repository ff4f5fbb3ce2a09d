//! The `iot-data` operations: Device Shadows over HTTP, Publish, retained messages and
//! connections (SendDirectMessage…), on the routes of the botocore `iot-data` model, signed for
//! `iotdata` (botocore) or `iotdevicegateway` (the device SDKs).
//!
//! A shadow operation runs the same registry transaction as the MQTT shadow service and then
//! publishes the same MQTT answers (`/update/accepted`, `/delta`, `/documents`,
//! `/delete/accepted`) through the [`crate::DataPlane`], so devices hear of HTTP updates.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use roost_registry::PageRequest;
use roost_shadow::{
    ListNamedShadows, ShadowError, ShadowLimits, ShadowName, ShadowTopicKind, ThingName,
    UpdateRequest, to_payload,
};
use roost_validation::Constraint;
use serde::Serialize;

use crate::error::{ApiError, ApiResult};
use crate::input::{Path, QueryParams};
use crate::properties;
use crate::{ApiMessage, ApiState, DirectOutcome, PublishRefused, ServiceMessage};

fn epoch_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A JSON document as the body of a 200 (iot-data's `payload` blobs).
fn document(bytes: Vec<u8>) -> Response {
    let mut response = bytes.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// The thing and optional shadow name of a shadow route.
fn shadow_of(thing: &str, query: &QueryParams) -> ApiResult<(ThingName, Option<ShadowName>)> {
    let thing = ThingName::new(thing).map_err(ApiError::from)?;
    let shadow = query
        .text("name")
        .map(ShadowName::new)
        .transpose()
        .map_err(ApiError::from)?;
    Ok((thing, shadow))
}

/// Publishes a shadow's answers on its MQTT topics, if the broker runs beside the API.
fn publish_answers(
    state: &ApiState,
    thing: &ThingName,
    shadow: Option<&ShadowName>,
    messages: Vec<(ShadowTopicKind, Vec<u8>)>,
) {
    if let Some(data_plane) = state.data_plane() {
        for (kind, payload) in messages {
            data_plane.publish_service_message(ServiceMessage {
                topic: roost_shadow::shadow_topic(thing, shadow, kind),
                payload,
            });
        }
    }
}

/// GetThingShadow: `GET /things/{thingName}/shadow?name=`.
pub(super) async fn get_thing_shadow(
    State(state): State<ApiState>,
    Path(thing): Path<String>,
    query: QueryParams,
) -> ApiResult<Response> {
    let (thing, shadow) = shadow_of(&thing, &query)?;
    let found = state.registry().shadow(&thing, shadow.as_ref()).await?;
    let stored = found.ok_or_else(|| ShadowError::not_found(&thing, shadow.as_ref()))?;
    Ok(document(to_payload(&stored.get(None, epoch_seconds()))))
}

/// UpdateThingShadow: `POST /things/{thingName}/shadow?name=`, the body is the request document.
pub(super) async fn update_thing_shadow(
    State(state): State<ApiState>,
    Path(thing): Path<String>,
    query: QueryParams,
    body: Bytes,
) -> ApiResult<Response> {
    let (thing, shadow) = shadow_of(&thing, &query)?;
    let request = UpdateRequest::parse(&body, &ShadowLimits::default())?;
    let outcome = state
        .registry()
        .update_shadow(&thing, shadow.as_ref(), request, epoch_seconds())
        .await??;
    let answer = to_payload(&outcome.accepted);
    publish_answers(&state, &thing, shadow.as_ref(), outcome.messages());
    Ok(document(answer))
}

/// DeleteThingShadow: `DELETE /things/{thingName}/shadow?name=`.
pub(super) async fn delete_thing_shadow(
    State(state): State<ApiState>,
    Path(thing): Path<String>,
    query: QueryParams,
) -> ApiResult<Response> {
    let (thing, shadow) = shadow_of(&thing, &query)?;
    // HTTP requests carry no clientToken.
    let deleted = state
        .registry()
        .delete_shadow(&thing, shadow.as_ref(), None, epoch_seconds())
        .await??;
    let answer = to_payload(&deleted);
    publish_answers(
        &state,
        &thing,
        shadow.as_ref(),
        vec![(ShadowTopicKind::DeleteAccepted, answer.clone())],
    );
    Ok(document(answer))
}

/// ListNamedShadowsForThing:
/// `GET /api/things/shadow/ListNamedShadowsForThing/{thingName}?nextToken&pageSize`.
pub(super) async fn list_named_shadows_for_thing(
    State(state): State<ApiState>,
    Path(thing): Path<String>,
    query: QueryParams,
) -> ApiResult<Response> {
    let thing = ThingName::new(&thing).map_err(ApiError::from)?;
    let page = PageRequest::from_api(
        query.text("nextToken"),
        query.integer("pageSize")?,
        "pageSize",
        roost_registry::DEFAULT_MAX_RESULTS,
        true,
    )
    .map_err(|e| match e {
        // The model pairs `nextToken` with `pageSize` here, unlike the iot API.
        roost_registry::RegistryError::InvalidRequest(message) => {
            ApiError::invalid(message.replace("'marker'", "'nextToken'"))
        }
        other => other.into(),
    })?;
    let listed = state.registry().list_named_shadows(&thing, &page).await?;
    Ok(document(to_payload(&ListNamedShadows {
        results: listed.items,
        next_token: listed.next,
        timestamp: epoch_seconds(),
    })))
}

/// Publish: `POST /topics/{topic}?qos&retain&contentType&responseTopic&messageExpiry`, with
/// the `x-amz-mqtt5-*` headers; the body is the payload.
pub(super) async fn publish(
    State(state): State<ApiState>,
    Path(topic): Path<String>,
    query: QueryParams,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let qos = match query.integer("qos")? {
        None | Some(0) => 0,
        Some(1) => 1,
        Some(other) => {
            return Err(ApiError::constraint(
                "qos",
                other,
                Constraint::ValueAtMost(1),
            ));
        }
    };
    let retain = query.flag("retain")?;
    let mut properties = properties::message_properties(&query, &headers, &body)?;
    properties.message_expiry_secs = properties::message_expiry(&query)?;
    let message = ApiMessage {
        topic: topic.clone(),
        payload: body.to_vec(),
        properties,
    };
    data_plane(&state)?
        .publish(message, qos, retain)
        .await
        .map_err(|refused| refused_publish(&topic, refused))?;
    Ok(message_ok())
}

/// `SendDirectMessageResponse`, which Publish answers too (its model has no output).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct MessageAccepted {
    message: &'static str,
    trace_id: String,
}

/// Publish's and SendDirectMessage's answer.
fn message_ok() -> Response {
    axum::Json(MessageAccepted {
        message: "OK",
        trace_id: uuid::Uuid::new_v4().to_string(),
    })
    .into_response()
}

/// The API error for a message the broker refused on `topic`.
fn refused_publish(topic: &str, refused: PublishRefused) -> ApiError {
    match refused {
        PublishRefused::InvalidTopic(reason) => {
            ApiError::invalid(format!("The topic '{topic}' is not valid: {reason}"))
        }
        PublishRefused::Reserved => ApiError::new(
            FORBIDDEN,
            format!("The topic '{topic}' is reserved for AWS IoT's own messages"),
        ),
        PublishRefused::InvalidResponseTopic(reason) => {
            ApiError::invalid(format!("The responseTopic is not a valid topic: {reason}"))
        }
        PublishRefused::InvalidProperty { property, reason } => {
            ApiError::invalid(format!("The {property} cannot be sent over MQTT: {reason}"))
        }
    }
}

/// iot-data's 403.
const FORBIDDEN: crate::error::ErrorKind = crate::error::ErrorKind::DataPlane {
    aws_type: "ForbiddenException",
    status: 403,
};

/// GetRetainedMessage: `GET /retainedMessage/{topic}`.
pub(super) async fn get_retained_message(
    State(state): State<ApiState>,
    Path(topic): Path<String>,
) -> ApiResult<Response> {
    let found = state.registry().retained(&topic).await?;
    let Some(record) = found else {
        return Err(ApiError::new(
            crate::error::ErrorKind::ResourceNotFound,
            format!("No retained message exists on topic '{topic}'"),
        ));
    };
    let user_properties = if record.properties.user_properties.is_empty() {
        None
    } else {
        // AWS's shape: a JSON array of one-key objects, base64-encoded.
        let list: Vec<BTreeMap<&str, &str>> = record
            .properties
            .user_properties
            .iter()
            .map(|(k, v)| BTreeMap::from([(k.as_str(), v.as_str())]))
            .collect();
        let json = serde_json::to_vec(&list).map_err(ApiError::internal)?;
        Some(STANDARD.encode(json))
    };
    Ok(axum::Json(RetainedMessage {
        topic: record.topic,
        payload: STANDARD.encode(&record.payload),
        qos: record.qos,
        last_modified_time: record.updated_ms,
        user_properties,
    })
    .into_response())
}

/// ListRetainedMessages: `GET /retainedMessage?nextToken&maxResults`.
pub(super) async fn list_retained_messages(
    State(state): State<ApiState>,
    query: QueryParams,
) -> ApiResult<Response> {
    let page = PageRequest::from_api(
        query.text("nextToken"),
        query.integer("maxResults")?,
        "maxResults",
        roost_registry::DEFAULT_MAX_RESULTS,
        true,
    )?;
    let listed = state.registry().list_retained(&page).await?;
    Ok(axum::Json(RetainedMessages {
        retained_topics: listed
            .items
            .into_iter()
            .map(|r| RetainedSummary {
                topic: r.topic,
                payload_size: r.payload_bytes,
                qos: r.qos,
                last_modified_time: r.updated_ms,
            })
            .collect(),
        next_token: listed.next,
    })
    .into_response())
}

/// GetRetainedMessage's answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct RetainedMessage {
    topic: String,
    /// Base64, as the JSON protocol encodes blobs.
    payload: String,
    qos: u8,
    /// Epoch milliseconds.
    last_modified_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_properties: Option<String>,
}

/// ListRetainedMessages' answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct RetainedMessages {
    retained_topics: Vec<RetainedSummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct RetainedSummary {
    topic: String,
    payload_size: i64,
    qos: u8,
    last_modified_time: i64,
}

/// The data plane, or ServiceUnavailable when the broker does not run beside the API.
pub(super) fn data_plane(state: &ApiState) -> ApiResult<&std::sync::Arc<dyn crate::DataPlane>> {
    state.data_plane().ok_or_else(|| {
        ApiError::new(
            crate::error::ErrorKind::ServiceUnavailable,
            "The MQTT broker is not running beside this control plane",
        )
    })
}

fn no_connection(client_id: &str) -> ApiError {
    ApiError::new(
        crate::error::ErrorKind::ResourceNotFound,
        format!("No connection or session exists for client id '{client_id}'"),
    )
}

/// GetConnection's answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ConnectionAnswer {
    connected: bool,
    client_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    thing_name: Option<String>,
    clean_session: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    keep_alive_duration: Option<u64>,
    session_expiry: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    connected_since: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source_ip: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source_port: Option<u16>,
}

/// GetConnection: `GET /connections/{clientId}?includeSocketInformation`.
pub(super) async fn get_connection(
    State(state): State<ApiState>,
    Path(client_id): Path<String>,
    query: QueryParams,
) -> ApiResult<Response> {
    let socket = query.flag("includeSocketInformation")?;
    let found = data_plane(&state)?.connection(&client_id).await;
    let info = found.ok_or_else(|| no_connection(&client_id))?;
    Ok(axum::Json(ConnectionAnswer {
        connected: info.connected,
        client_id: info.client_id,
        thing_name: info.thing_name,
        clean_session: info.clean_session,
        keep_alive_duration: info.keep_alive_secs,
        session_expiry: info.session_expiry_secs,
        connected_since: info.connected_since_ms,
        source_ip: info.source_ip.filter(|_| socket),
        source_port: info.source_port.filter(|_| socket),
    })
    .into_response())
}

/// DeleteConnection: `DELETE /connections/{clientId}?cleanSession&preventWillMessage`.
pub(super) async fn delete_connection(
    State(state): State<ApiState>,
    Path(client_id): Path<String>,
    query: QueryParams,
) -> ApiResult<Response> {
    let clean = query.flag("cleanSession")?;
    let prevent_will = query.flag("preventWillMessage")?;
    if !data_plane(&state)?
        .disconnect(&client_id, clean, prevent_will)
        .await
    {
        return Err(no_connection(&client_id));
    }
    Ok(axum::http::StatusCode::OK.into_response())
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct SubscriptionsAnswer {
    subscriptions: Vec<SubscriptionSummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct SubscriptionSummary {
    topic_filter: String,
    qos: u8,
}

/// ListSubscriptions: `GET /connections/{clientId}/subscriptions?nextToken&maxResults`, by
/// filter.
pub(super) async fn list_subscriptions(
    State(state): State<ApiState>,
    Path(client_id): Path<String>,
    query: QueryParams,
) -> ApiResult<Response> {
    let page = PageRequest::from_api(
        query.text("nextToken"),
        query.integer("maxResults")?,
        "maxResults",
        20,
        true,
    )?;
    let found = data_plane(&state)?.connection(&client_id).await;
    let info = found.ok_or_else(|| no_connection(&client_id))?;
    let mut filters = info.subscriptions;
    filters.sort();
    let rest: Vec<(String, u8)> = filters
        .into_iter()
        .filter(|(filter, _)| page.after.as_ref().is_none_or(|after| filter > after))
        .collect();
    let limit = page.limit as usize;
    let next_token = (rest.len() > limit)
        .then(|| rest.get(limit - 1).map(|(f, _)| hex::encode(f)))
        .flatten();
    Ok(axum::Json(SubscriptionsAnswer {
        subscriptions: rest
            .into_iter()
            .take(limit)
            .map(|(topic_filter, qos)| SubscriptionSummary { topic_filter, qos })
            .collect(),
        next_token,
    })
    .into_response())
}

/// SendDirectMessage: `POST /connections/{clientId}/messages?topic&contentType&responseTopic&
/// confirmation&timeout`, with the `x-amz-mqtt5-*` headers; the body is the payload.
/// `confirmation=true` sends at QoS 1 and waits `timeout` seconds (1–15, default 5) for the
/// client's PUBACK, else answers 504 GatewayTimeoutException.
pub(super) async fn send_direct_message(
    State(state): State<ApiState>,
    Path(client_id): Path<String>,
    query: QueryParams,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let topic = query.required("topic")?.to_owned();
    // The model ignores `timeout` without a confirmation.
    let confirm_within = if query.flag("confirmation")? {
        Some(confirmation_timeout(&query)?)
    } else {
        None
    };
    let properties = properties::message_properties(&query, &headers, &body)?;
    let message = ApiMessage {
        topic: topic.clone(),
        payload: body.to_vec(),
        properties,
    };
    let outcome = data_plane(&state)?
        .send_direct_message(&client_id, message, confirm_within)
        .await
        .map_err(|refused| refused_publish(&topic, refused))?;
    let waited = confirm_within.map_or(0, |wait| wait.as_secs());
    match outcome {
        DirectOutcome::Delivered => Ok(message_ok()),
        DirectOutcome::NotConnected => Err(ApiError::new(
            crate::error::ErrorKind::ResourceNotFound,
            format!("The client '{client_id}' is not connected"),
        )),
        DirectOutcome::NotAuthorized => Err(ApiError::new(
            FORBIDDEN,
            format!("The policies of client '{client_id}' do not allow iot:Receive on '{topic}'"),
        )),
        DirectOutcome::Unacknowledged => Err(gateway_timeout(format!(
            "The client '{client_id}' did not acknowledge the message within {waited} seconds"
        ))),
        DirectOutcome::Disconnected => Err(gateway_timeout(format!(
            "The client '{client_id}' disconnected before acknowledging the message"
        ))),
    }
}

/// SendDirectMessage's `timeout`: 1 to 15 seconds, 5 by default.
fn confirmation_timeout(query: &QueryParams) -> ApiResult<Duration> {
    const SECONDS: std::ops::RangeInclusive<i64> = 1..=15;
    let secs = query.integer("timeout")?.unwrap_or(5);
    if !SECONDS.contains(&secs) {
        let bound = if secs < *SECONDS.start() {
            Constraint::ValueAtLeast(*SECONDS.start())
        } else {
            Constraint::ValueAtMost(*SECONDS.end())
        };
        return Err(ApiError::constraint("timeout", secs, bound));
    }
    Ok(Duration::from_secs(secs.unsigned_abs()))
}

/// SendDirectMessage's 504: the client did not confirm the delivery in time.
fn gateway_timeout(message: String) -> ApiError {
    ApiError::new(
        crate::error::ErrorKind::DataPlane {
            aws_type: "GatewayTimeoutException",
            status: 504,
        },
        message,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timeout(query: &str) -> ApiResult<Duration> {
        confirmation_timeout(&QueryParams::parse(query).unwrap())
    }

    #[test]
    fn the_confirmation_timeout_is_five_seconds_unless_one_to_fifteen_is_asked() {
        assert_eq!(timeout("").unwrap(), Duration::from_secs(5));
        assert_eq!(timeout("timeout=1").unwrap(), Duration::from_secs(1));
        assert_eq!(timeout("timeout=15").unwrap(), Duration::from_secs(15));
        assert!(
            timeout("timeout=0")
                .unwrap_err()
                .message
                .contains("greater than or equal to 1")
        );
        assert!(
            timeout("timeout=16")
                .unwrap_err()
                .message
                .contains("less than or equal to 15")
        );
    }
}
