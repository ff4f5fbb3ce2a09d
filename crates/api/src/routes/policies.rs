//! Policies, their versions and attachments (including the legacy principal-policy routes).

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use roost_registry::model::{Policy, PolicyVersion, Tag};
use roost_registry::{DEFAULT_PAGE_SIZE, PageRequest};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::ApiState;
use crate::error::{ApiError, ApiResult};
use crate::input::{Body, Path, QueryParams, required_header, seconds};

fn marker_page(query: &QueryParams, ascending_default: bool) -> ApiResult<PageRequest> {
    Ok(PageRequest::from_api(
        query.text("marker"),
        query.integer("pageSize")?,
        "pageSize",
        DEFAULT_PAGE_SIZE,
        query
            .boolean("isAscendingOrder")?
            .unwrap_or(ascending_default),
    )?)
}

fn with_marker(mut body: Value, next: Option<String>) -> Json<Value> {
    if let Some(next) = next {
        body["nextMarker"] = next.into();
    }
    Json(body)
}

fn policy_item(state: &ApiState, policy: &Policy) -> Value {
    json!({
        "policyName": policy.name,
        "policyArn": state.registry().arns().policy(&policy.name),
    })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PolicyBody {
    policy_document: Option<String>,
    #[serde(default)]
    tags: Vec<Tag>,
}

impl PolicyBody {
    fn document(&self) -> ApiResult<&str> {
        self.policy_document
            .as_deref()
            .ok_or_else(|| ApiError::invalid("policyDocument is required"))
    }
}

pub(super) async fn create_policy(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    Body(body): Body<PolicyBody>,
) -> ApiResult<Json<Value>> {
    let document = body.document()?.to_owned();
    let policy = state
        .registry()
        .create_policy_tagged(&name, &document, body.tags)
        .await?;
    let arn = state.registry().arns().policy(&policy.name);
    Ok(Json(json!({
        "policyName": policy.name,
        "policyArn": arn,
        "policyDocument": policy.document,
        "policyVersionId": policy.default_version.to_string(),
    })))
}

pub(super) async fn get_policy(
    State(state): State<ApiState>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let policy = state.registry().get_policy(&name).await?;
    Ok(Json(json!({
        "policyName": policy.name,
        "policyArn": state.registry().arns().policy(&policy.name),
        "policyDocument": policy.document,
        "defaultVersionId": policy.default_version.to_string(),
        "creationDate": seconds(policy.created_ms),
        "lastModifiedDate": seconds(policy.modified_ms),
        "generationId": policy.generation_id,
    })))
}

pub(super) async fn list_policies(
    State(state): State<ApiState>,
    query: QueryParams,
) -> ApiResult<Json<Value>> {
    let page = state
        .registry()
        .list_policies(&marker_page(&query, true)?)
        .await?;
    let policies: Vec<Value> = page.items.iter().map(|p| policy_item(&state, p)).collect();
    Ok(with_marker(json!({ "policies": policies }), page.next))
}

pub(super) async fn delete_policy(
    State(state): State<ApiState>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    state.registry().delete_policy(&name).await?;
    Ok(Json(json!({})))
}

pub(super) async fn create_policy_version(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    query: QueryParams,
    Body(body): Body<PolicyBody>,
) -> ApiResult<Json<Value>> {
    let version = state
        .registry()
        .create_policy_version(&name, body.document()?, query.flag("setAsDefault")?)
        .await?;
    Ok(Json(json!({
        "policyArn": state.registry().arns().policy(&name),
        "policyDocument": version.document,
        "policyVersionId": version.version.to_string(),
        "isDefaultVersion": version.is_default,
    })))
}

fn version_detail(state: &ApiState, v: &PolicyVersion) -> Value {
    json!({
        "policyArn": state.registry().arns().policy(&v.policy_name),
        "policyName": v.policy_name,
        "policyDocument": v.document,
        "policyVersionId": v.version.to_string(),
        "isDefaultVersion": v.is_default,
        "creationDate": seconds(v.created_ms),
        "lastModifiedDate": seconds(v.modified_ms),
        "generationId": v.generation_id,
    })
}

pub(super) async fn get_policy_version(
    State(state): State<ApiState>,
    Path((name, version)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let version = state.registry().get_policy_version(&name, &version).await?;
    Ok(Json(version_detail(&state, &version)))
}

pub(super) async fn list_policy_versions(
    State(state): State<ApiState>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let versions = state.registry().list_policy_versions(&name).await?;
    let items: Vec<Value> = versions
        .iter()
        .map(|v| {
            json!({
                "versionId": v.version.to_string(),
                "isDefaultVersion": v.is_default,
                "createDate": seconds(v.created_ms),
            })
        })
        .collect();
    Ok(Json(json!({ "policyVersions": items })))
}

pub(super) async fn set_default_policy_version(
    State(state): State<ApiState>,
    Path((name, version)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    state
        .registry()
        .set_default_policy_version(&name, &version)
        .await?;
    Ok(Json(json!({})))
}

pub(super) async fn delete_policy_version(
    State(state): State<ApiState>,
    Path((name, version)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    state
        .registry()
        .delete_policy_version(&name, &version)
        .await?;
    Ok(Json(json!({})))
}

#[derive(Debug, Deserialize)]
pub(super) struct TargetBody {
    target: Option<String>,
}

impl TargetBody {
    fn target(&self) -> ApiResult<&str> {
        self.target
            .as_deref()
            .ok_or_else(|| ApiError::invalid("target is required"))
    }
}

pub(super) async fn attach_policy(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    Body(body): Body<TargetBody>,
) -> ApiResult<Json<Value>> {
    state
        .registry()
        .attach_policy(&name, body.target()?)
        .await?;
    Ok(Json(json!({})))
}

pub(super) async fn detach_policy(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    Body(body): Body<TargetBody>,
) -> ApiResult<Json<Value>> {
    state
        .registry()
        .detach_policy(&name, body.target()?)
        .await?;
    Ok(Json(json!({})))
}

pub(super) async fn list_attached_policies(
    State(state): State<ApiState>,
    Path(target): Path<String>,
    query: QueryParams,
) -> ApiResult<Json<Value>> {
    let page = state
        .registry()
        .list_attached_policies(
            &target,
            query.flag("recursive")?,
            &marker_page(&query, true)?,
        )
        .await?;
    let policies: Vec<Value> = page.items.iter().map(|p| policy_item(&state, p)).collect();
    Ok(with_marker(json!({ "policies": policies }), page.next))
}

pub(super) async fn list_targets_for_policy(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    query: QueryParams,
) -> ApiResult<Json<Value>> {
    let page = state
        .registry()
        .list_targets_for_policy(&name, false, &marker_page(&query, true)?)
        .await?;
    Ok(with_marker(json!({ "targets": page.items }), page.next))
}

const IOT_PRINCIPAL: &str = "x-amzn-iot-principal";

pub(super) async fn attach_principal_policy(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    let principal = required_header(&headers, IOT_PRINCIPAL)?;
    state.registry().attach_policy(&name, &principal).await?;
    Ok(Json(json!({})))
}

pub(super) async fn detach_principal_policy(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    let principal = required_header(&headers, IOT_PRINCIPAL)?;
    state.registry().detach_policy(&name, &principal).await?;
    Ok(Json(json!({})))
}

pub(super) async fn list_principal_policies(
    State(state): State<ApiState>,
    headers: HeaderMap,
    query: QueryParams,
) -> ApiResult<Json<Value>> {
    let principal = required_header(&headers, IOT_PRINCIPAL)?;
    let page = state
        .registry()
        .list_attached_policies(&principal, false, &marker_page(&query, true)?)
        .await?;
    let policies: Vec<Value> = page.items.iter().map(|p| policy_item(&state, p)).collect();
    Ok(with_marker(json!({ "policies": policies }), page.next))
}

pub(super) async fn list_policy_principals(
    State(state): State<ApiState>,
    headers: HeaderMap,
    query: QueryParams,
) -> ApiResult<Json<Value>> {
    let policy = required_header(&headers, "x-amzn-iot-policy")?;
    let page = state
        .registry()
        .list_targets_for_policy(&policy, true, &marker_page(&query, true)?)
        .await?;
    Ok(with_marker(json!({ "principals": page.items }), page.next))
}
