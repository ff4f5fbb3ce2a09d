//! Tags, DescribeEndpoint, health and metrics.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use roost_registry::model::Tag;
use serde::{Deserialize, Serialize};

use super::Empty;
use crate::ApiState;
use crate::error::{ApiError, ApiResult};
use crate::input::{Body, QueryParams};
use crate::routes::things::token_page;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct TagBody {
    resource_arn: Option<String>,
    tags: Option<Vec<Tag>>,
    tag_keys: Option<Vec<String>>,
}

impl TagBody {
    fn arn(&self) -> ApiResult<&str> {
        self.resource_arn
            .as_deref()
            .ok_or_else(|| ApiError::invalid("resourceArn is required"))
    }
}

pub(super) async fn tag_resource(
    State(state): State<ApiState>,
    Body(body): Body<TagBody>,
) -> ApiResult<Json<Empty>> {
    let tags = body
        .tags
        .clone()
        .ok_or_else(|| ApiError::invalid("tags is required"))?;
    state.registry().tag_resource(body.arn()?, tags).await?;
    Ok(Json(Empty {}))
}

pub(super) async fn untag_resource(
    State(state): State<ApiState>,
    Body(body): Body<TagBody>,
) -> ApiResult<Json<Empty>> {
    let keys = body
        .tag_keys
        .clone()
        .ok_or_else(|| ApiError::invalid("tagKeys is required"))?;
    state.registry().untag_resource(body.arn()?, keys).await?;
    Ok(Json(Empty {}))
}

/// `ListTagsForResourceResponse`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ListTagsForResourceResponse {
    tags: Vec<Tag>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

pub(super) async fn list_tags_for_resource(
    State(state): State<ApiState>,
    query: QueryParams,
) -> ApiResult<Json<ListTagsForResourceResponse>> {
    let arn = query.required("resourceArn")?;
    let page = state
        .registry()
        .list_tags_for_resource(arn, &token_page(&query)?)
        .await?;
    Ok(Json(ListTagsForResourceResponse {
        tags: page.items,
        next_token: page.next,
    }))
}

/// Endpoint types DescribeEndpoint knows; Roost serves all of them on its one data host.
const ENDPOINT_TYPES: &[&str] = &[
    "iot:Data",
    "iot:Data-ATS",
    "iot:CredentialProvider",
    "iot:Jobs",
];

/// `DescribeEndpointResponse`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct DescribeEndpointResponse {
    endpoint_address: String,
}

pub(super) async fn describe_endpoint(
    State(state): State<ApiState>,
    query: QueryParams,
) -> ApiResult<Json<DescribeEndpointResponse>> {
    if let Some(kind) = query.text("endpointType")
        && !ENDPOINT_TYPES.contains(&kind)
    {
        return Err(ApiError::invalid(format!(
            "Unknown endpointType '{kind}'; expected one of {}",
            ENDPOINT_TYPES.join(", ")
        )));
    }
    Ok(Json(DescribeEndpointResponse {
        endpoint_address: state.settings().data_endpoint_host.clone(),
    }))
}

/// `/health`'s answer (Roost's own): 200 `ok`, or 503 `unavailable` with the reason the
/// data plane refuses new connections.
#[derive(Debug, Serialize)]
struct Health {
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

pub(super) async fn health(State(state): State<ApiState>) -> impl IntoResponse {
    match state.data_plane().and_then(|plane| plane.unavailable()) {
        None => (
            StatusCode::OK,
            Json(Health {
                status: "ok",
                reason: None,
            }),
        ),
        Some(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(Health {
                status: "unavailable",
                reason: Some(reason),
            }),
        ),
    }
}

pub(super) async fn metrics(State(state): State<ApiState>) -> impl IntoResponse {
    let text = state
        .inner
        .metrics
        .as_ref()
        .map(|m| m())
        .unwrap_or_default();
    ([("content-type", "text/plain; version=0.0.4")], text)
}
