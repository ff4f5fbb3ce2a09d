//! Policies, their versions and attachments (including the legacy principal-policy routes).

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use roost_registry::model::{Policy, PolicyVersion, Tag};
use roost_registry::{DEFAULT_PAGE_SIZE, Page, PageRequest};
use serde::{Deserialize, Serialize};

use super::Empty;
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

/// `Policy`: a policy in a list.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct PolicyListEntry {
    policy_name: String,
    policy_arn: String,
}

/// `ListPoliciesResponse`, and `ListAttachedPoliciesResponse` and
/// `ListPrincipalPoliciesResponse` (the same members).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ListPoliciesResponse {
    policies: Vec<PolicyListEntry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_marker: Option<String>,
}

impl ListPoliciesResponse {
    fn new(state: &ApiState, page: Page<Policy>) -> Self {
        let arns = state.registry().arns();
        Self {
            policies: page
                .items
                .into_iter()
                .map(|policy| PolicyListEntry {
                    policy_arn: arns.policy(&policy.name),
                    policy_name: policy.name,
                })
                .collect(),
            next_marker: page.next,
        }
    }
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

/// `CreatePolicyResponse`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CreatePolicyResponse {
    policy_name: String,
    policy_arn: String,
    policy_document: String,
    policy_version_id: String,
}

pub(super) async fn create_policy(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    Body(body): Body<PolicyBody>,
) -> ApiResult<Json<CreatePolicyResponse>> {
    let document = body.document()?.to_owned();
    let policy = state
        .registry()
        .create_policy_tagged(&name, &document, body.tags)
        .await?;
    Ok(Json(CreatePolicyResponse {
        policy_arn: state.registry().arns().policy(&policy.name),
        policy_name: policy.name,
        policy_document: policy.document,
        policy_version_id: policy.default_version.to_string(),
    }))
}

/// `GetPolicyResponse`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct GetPolicyResponse {
    policy_name: String,
    policy_arn: String,
    policy_document: String,
    default_version_id: String,
    creation_date: f64,
    last_modified_date: f64,
    generation_id: String,
}

pub(super) async fn get_policy(
    State(state): State<ApiState>,
    Path(name): Path<String>,
) -> ApiResult<Json<GetPolicyResponse>> {
    let policy = state.registry().get_policy(&name).await?;
    Ok(Json(GetPolicyResponse {
        policy_arn: state.registry().arns().policy(&policy.name),
        policy_name: policy.name,
        policy_document: policy.document,
        default_version_id: policy.default_version.to_string(),
        creation_date: seconds(policy.created_ms),
        last_modified_date: seconds(policy.modified_ms),
        generation_id: policy.generation_id,
    }))
}

pub(super) async fn list_policies(
    State(state): State<ApiState>,
    query: QueryParams,
) -> ApiResult<Json<ListPoliciesResponse>> {
    let page = state
        .registry()
        .list_policies(&marker_page(&query, true)?)
        .await?;
    Ok(Json(ListPoliciesResponse::new(&state, page)))
}

pub(super) async fn delete_policy(
    State(state): State<ApiState>,
    Path(name): Path<String>,
) -> ApiResult<Json<Empty>> {
    state.registry().delete_policy(&name).await?;
    Ok(Json(Empty {}))
}

/// `CreatePolicyVersionResponse`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CreatePolicyVersionResponse {
    policy_arn: String,
    policy_document: String,
    policy_version_id: String,
    is_default_version: bool,
}

pub(super) async fn create_policy_version(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    query: QueryParams,
    Body(body): Body<PolicyBody>,
) -> ApiResult<Json<CreatePolicyVersionResponse>> {
    let version = state
        .registry()
        .create_policy_version(&name, body.document()?, query.flag("setAsDefault")?)
        .await?;
    Ok(Json(CreatePolicyVersionResponse {
        policy_arn: state.registry().arns().policy(&name),
        policy_document: version.document,
        policy_version_id: version.version.to_string(),
        is_default_version: version.is_default,
    }))
}

/// `GetPolicyVersionResponse`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct GetPolicyVersionResponse {
    policy_arn: String,
    policy_name: String,
    policy_document: String,
    policy_version_id: String,
    is_default_version: bool,
    creation_date: f64,
    last_modified_date: f64,
    generation_id: String,
}

impl GetPolicyVersionResponse {
    fn new(state: &ApiState, version: PolicyVersion) -> Self {
        Self {
            policy_arn: state.registry().arns().policy(&version.policy_name),
            policy_name: version.policy_name,
            policy_document: version.document,
            policy_version_id: version.version.to_string(),
            is_default_version: version.is_default,
            creation_date: seconds(version.created_ms),
            last_modified_date: seconds(version.modified_ms),
            generation_id: version.generation_id,
        }
    }
}

pub(super) async fn get_policy_version(
    State(state): State<ApiState>,
    Path((name, version)): Path<(String, String)>,
) -> ApiResult<Json<GetPolicyVersionResponse>> {
    let version = state.registry().get_policy_version(&name, &version).await?;
    Ok(Json(GetPolicyVersionResponse::new(&state, version)))
}

/// `PolicyVersion`: a version in a list.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct PolicyVersionListEntry {
    version_id: String,
    is_default_version: bool,
    create_date: f64,
}

/// `ListPolicyVersionsResponse`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ListPolicyVersionsResponse {
    policy_versions: Vec<PolicyVersionListEntry>,
}

pub(super) async fn list_policy_versions(
    State(state): State<ApiState>,
    Path(name): Path<String>,
) -> ApiResult<Json<ListPolicyVersionsResponse>> {
    let versions = state.registry().list_policy_versions(&name).await?;
    Ok(Json(ListPolicyVersionsResponse {
        policy_versions: versions
            .into_iter()
            .map(|version| PolicyVersionListEntry {
                version_id: version.version.to_string(),
                is_default_version: version.is_default,
                create_date: seconds(version.created_ms),
            })
            .collect(),
    }))
}

pub(super) async fn set_default_policy_version(
    State(state): State<ApiState>,
    Path((name, version)): Path<(String, String)>,
) -> ApiResult<Json<Empty>> {
    state
        .registry()
        .set_default_policy_version(&name, &version)
        .await?;
    Ok(Json(Empty {}))
}

pub(super) async fn delete_policy_version(
    State(state): State<ApiState>,
    Path((name, version)): Path<(String, String)>,
) -> ApiResult<Json<Empty>> {
    state
        .registry()
        .delete_policy_version(&name, &version)
        .await?;
    Ok(Json(Empty {}))
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
) -> ApiResult<Json<Empty>> {
    state
        .registry()
        .attach_policy(&name, body.target()?)
        .await?;
    Ok(Json(Empty {}))
}

pub(super) async fn detach_policy(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    Body(body): Body<TargetBody>,
) -> ApiResult<Json<Empty>> {
    state
        .registry()
        .detach_policy(&name, body.target()?)
        .await?;
    Ok(Json(Empty {}))
}

pub(super) async fn list_attached_policies(
    State(state): State<ApiState>,
    Path(target): Path<String>,
    query: QueryParams,
) -> ApiResult<Json<ListPoliciesResponse>> {
    let page = state
        .registry()
        .list_attached_policies(
            &target,
            query.flag("recursive")?,
            &marker_page(&query, true)?,
        )
        .await?;
    Ok(Json(ListPoliciesResponse::new(&state, page)))
}

/// `ListTargetsForPolicyResponse`: target ARNs.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ListTargetsForPolicyResponse {
    targets: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_marker: Option<String>,
}

pub(super) async fn list_targets_for_policy(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    query: QueryParams,
) -> ApiResult<Json<ListTargetsForPolicyResponse>> {
    let page = state
        .registry()
        .list_targets_for_policy(&name, false, &marker_page(&query, true)?)
        .await?;
    Ok(Json(ListTargetsForPolicyResponse {
        targets: page.items,
        next_marker: page.next,
    }))
}

const IOT_PRINCIPAL: &str = "x-amzn-iot-principal";

pub(super) async fn attach_principal_policy(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Json<Empty>> {
    let principal = required_header(&headers, IOT_PRINCIPAL)?;
    state.registry().attach_policy(&name, &principal).await?;
    Ok(Json(Empty {}))
}

pub(super) async fn detach_principal_policy(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Json<Empty>> {
    let principal = required_header(&headers, IOT_PRINCIPAL)?;
    state.registry().detach_policy(&name, &principal).await?;
    Ok(Json(Empty {}))
}

pub(super) async fn list_principal_policies(
    State(state): State<ApiState>,
    headers: HeaderMap,
    query: QueryParams,
) -> ApiResult<Json<ListPoliciesResponse>> {
    let principal = required_header(&headers, IOT_PRINCIPAL)?;
    let page = state
        .registry()
        .list_attached_policies(&principal, false, &marker_page(&query, true)?)
        .await?;
    Ok(Json(ListPoliciesResponse::new(&state, page)))
}

/// `ListPolicyPrincipalsResponse`: principal ARNs.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ListPolicyPrincipalsResponse {
    principals: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_marker: Option<String>,
}

pub(super) async fn list_policy_principals(
    State(state): State<ApiState>,
    headers: HeaderMap,
    query: QueryParams,
) -> ApiResult<Json<ListPolicyPrincipalsResponse>> {
    let policy = required_header(&headers, "x-amzn-iot-policy")?;
    let page = state
        .registry()
        .list_targets_for_policy(&policy, true, &marker_page(&query, true)?)
        .await?;
    Ok(Json(ListPolicyPrincipalsResponse {
        principals: page.items,
        next_marker: page.next,
    }))
}
