//! Provisioning templates and their versions, RegisterThing, and bulk registration tasks
//! (StartThingRegistrationTask and its family), on the botocore model's routes and shapes.

use axum::Json;
use axum::extract::State;
use roost_registry::model::Tag;
use roost_registry::names::ROLE_ARN;
use roost_registry::{
    NewProvisioningTemplate, ProvisioningHook, ProvisioningTemplate, ProvisioningTemplateUpdate,
    RegistrationTask, RegistrationTaskStatus, TemplateType,
};
use roost_template::{MAX_TEMPLATE_CHARS, Parameters};
use roost_validation::Constraint;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Empty;
use super::things::token_page;
use crate::ApiState;
use crate::error::{ApiError, ApiResult};
use crate::input::{Body, Path, QueryParams, seconds};
use crate::registration::TaskRequest;

/// `preProvisioningHook` as the model has it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct HookInput {
    target_arn: Option<String>,
    payload_version: Option<String>,
}

impl HookInput {
    fn into_hook(self) -> ApiResult<ProvisioningHook> {
        let target_arn = self
            .target_arn
            .ok_or_else(|| ApiError::invalid("preProvisioningHook.targetArn is required"))?;
        Ok(ProvisioningHook {
            target_arn,
            payload_version: self.payload_version,
        })
    }
}

/// `ProvisioningHook` as a response member.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct HookOutput {
    target_arn: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    payload_version: Option<String>,
}

impl From<ProvisioningHook> for HookOutput {
    fn from(hook: ProvisioningHook) -> Self {
        Self {
            target_arn: hook.target_arn,
            payload_version: hook.payload_version,
        }
    }
}

/// A template body member: required, at most 10,240 characters.
fn required_body(field: &str, body: Option<String>) -> ApiResult<String> {
    let body = body.ok_or_else(|| ApiError::invalid(format!("{field} is required")))?;
    if body.chars().count() > MAX_TEMPLATE_CHARS {
        return Err(ApiError::constraint_without_value(
            field,
            Constraint::LengthAtMost(MAX_TEMPLATE_CHARS),
        ));
    }
    Ok(body)
}

/// `ProvisioningTemplateSummary`: the members every template answer has.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ProvisioningTemplateSummary {
    template_arn: String,
    template_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    creation_date: f64,
    last_modified_date: f64,
    enabled: bool,
    #[serde(rename = "type")]
    template_type: &'static str,
}

impl ProvisioningTemplateSummary {
    fn new(template: &mut ProvisioningTemplate) -> Self {
        Self {
            template_arn: std::mem::take(&mut template.arn),
            template_name: std::mem::take(&mut template.name),
            description: template.description.take(),
            creation_date: seconds(template.created_ms),
            last_modified_date: seconds(template.modified_ms),
            enabled: template.enabled,
            template_type: template.template_type.as_str(),
        }
    }
}

/// `DescribeProvisioningTemplateResponse`: the summary's members and the template itself.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct DescribeProvisioningTemplateResponse {
    #[serde(flatten)]
    summary: ProvisioningTemplateSummary,
    default_version_id: i64,
    template_body: String,
    provisioning_role_arn: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pre_provisioning_hook: Option<HookOutput>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CreateTemplateBody {
    template_name: Option<String>,
    description: Option<String>,
    template_body: Option<String>,
    #[serde(default)]
    enabled: bool,
    provisioning_role_arn: Option<String>,
    pre_provisioning_hook: Option<HookInput>,
    #[serde(default)]
    tags: Vec<Tag>,
    #[serde(rename = "type")]
    template_type: Option<String>,
}

/// `CreateProvisioningTemplateResponse`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CreateProvisioningTemplateResponse {
    template_arn: String,
    template_name: String,
    default_version_id: i64,
}

pub(super) async fn create_provisioning_template(
    State(state): State<ApiState>,
    Body(body): Body<CreateTemplateBody>,
) -> ApiResult<Json<CreateProvisioningTemplateResponse>> {
    let name = body
        .template_name
        .ok_or_else(|| ApiError::invalid("templateName is required"))?;
    let template_body = required_body("templateBody", body.template_body)?;
    let provisioning_role_arn = body
        .provisioning_role_arn
        .ok_or_else(|| ApiError::invalid("provisioningRoleArn is required"))?;
    let template_type = match body.template_type.as_deref() {
        None => TemplateType::FleetProvisioning,
        Some(t) => TemplateType::parse("type", t)?,
    };
    let created = state
        .registry()
        .create_provisioning_template(NewProvisioningTemplate {
            name,
            description: body.description,
            body: template_body,
            enabled: body.enabled,
            provisioning_role_arn,
            pre_provisioning_hook: body
                .pre_provisioning_hook
                .map(HookInput::into_hook)
                .transpose()?,
            template_type,
            tags: body.tags,
        })
        .await?;
    Ok(Json(CreateProvisioningTemplateResponse {
        template_arn: created.arn,
        template_name: created.name,
        default_version_id: created.default_version,
    }))
}

pub(super) async fn describe_provisioning_template(
    State(state): State<ApiState>,
    Path(name): Path<String>,
) -> ApiResult<Json<DescribeProvisioningTemplateResponse>> {
    let mut template = state.registry().provisioning_template(&name).await?;
    Ok(Json(DescribeProvisioningTemplateResponse {
        summary: ProvisioningTemplateSummary::new(&mut template),
        default_version_id: template.default_version,
        template_body: template.body,
        provisioning_role_arn: template.provisioning_role_arn,
        pre_provisioning_hook: template.pre_provisioning_hook.map(HookOutput::from),
    }))
}

/// `ListProvisioningTemplatesResponse`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ListProvisioningTemplatesResponse {
    templates: Vec<ProvisioningTemplateSummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

pub(super) async fn list_provisioning_templates(
    State(state): State<ApiState>,
    query: QueryParams,
) -> ApiResult<Json<ListProvisioningTemplatesResponse>> {
    let page = state
        .registry()
        .list_provisioning_templates(&token_page(&query)?)
        .await?;
    Ok(Json(ListProvisioningTemplatesResponse {
        templates: page
            .items
            .into_iter()
            .map(|mut template| ProvisioningTemplateSummary::new(&mut template))
            .collect(),
        next_token: page.next,
    }))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct UpdateTemplateBody {
    description: Option<String>,
    enabled: Option<bool>,
    default_version_id: Option<i64>,
    provisioning_role_arn: Option<String>,
    pre_provisioning_hook: Option<HookInput>,
    #[serde(default)]
    remove_pre_provisioning_hook: bool,
}

pub(super) async fn update_provisioning_template(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    Body(body): Body<UpdateTemplateBody>,
) -> ApiResult<Json<Empty>> {
    state
        .registry()
        .update_provisioning_template(
            &name,
            ProvisioningTemplateUpdate {
                description: body.description,
                enabled: body.enabled,
                default_version: body.default_version_id,
                provisioning_role_arn: body.provisioning_role_arn,
                pre_provisioning_hook: body
                    .pre_provisioning_hook
                    .map(HookInput::into_hook)
                    .transpose()?,
                remove_pre_provisioning_hook: body.remove_pre_provisioning_hook,
            },
        )
        .await?;
    Ok(Json(Empty {}))
}

pub(super) async fn delete_provisioning_template(
    State(state): State<ApiState>,
    Path(name): Path<String>,
) -> ApiResult<Json<Empty>> {
    state.registry().delete_provisioning_template(&name).await?;
    Ok(Json(Empty {}))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CreateVersionBody {
    template_body: Option<String>,
}

/// `CreateProvisioningTemplateVersionResponse`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CreateProvisioningTemplateVersionResponse {
    template_arn: String,
    template_name: String,
    version_id: i64,
    is_default_version: bool,
}

pub(super) async fn create_provisioning_template_version(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    query: QueryParams,
    Body(body): Body<CreateVersionBody>,
) -> ApiResult<Json<CreateProvisioningTemplateVersionResponse>> {
    let template_body = required_body("templateBody", body.template_body)?;
    let version = state
        .registry()
        .create_provisioning_template_version(&name, &template_body, query.flag("setAsDefault")?)
        .await?;
    Ok(Json(CreateProvisioningTemplateVersionResponse {
        template_arn: state.registry().arns().provisioning_template(&name),
        template_name: name,
        version_id: version.version,
        is_default_version: version.is_default,
    }))
}

/// `DescribeProvisioningTemplateVersionResponse`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct DescribeProvisioningTemplateVersionResponse {
    version_id: i64,
    creation_date: f64,
    template_body: String,
    is_default_version: bool,
}

pub(super) async fn describe_provisioning_template_version(
    State(state): State<ApiState>,
    Path((name, version)): Path<(String, i64)>,
) -> ApiResult<Json<DescribeProvisioningTemplateVersionResponse>> {
    let version = state
        .registry()
        .provisioning_template_version(&name, version)
        .await?;
    Ok(Json(DescribeProvisioningTemplateVersionResponse {
        version_id: version.version,
        creation_date: seconds(version.created_ms),
        template_body: version.body,
        is_default_version: version.is_default,
    }))
}

/// `ProvisioningTemplateVersionSummary`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ProvisioningTemplateVersionSummary {
    version_id: i64,
    creation_date: f64,
    is_default_version: bool,
}

/// `ListProvisioningTemplateVersionsResponse`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ListProvisioningTemplateVersionsResponse {
    versions: Vec<ProvisioningTemplateVersionSummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

pub(super) async fn list_provisioning_template_versions(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    query: QueryParams,
) -> ApiResult<Json<ListProvisioningTemplateVersionsResponse>> {
    let page = state
        .registry()
        .list_provisioning_template_versions(&name, &token_page(&query)?)
        .await?;
    Ok(Json(ListProvisioningTemplateVersionsResponse {
        versions: page
            .items
            .into_iter()
            .map(|version| ProvisioningTemplateVersionSummary {
                version_id: version.version,
                creation_date: seconds(version.created_ms),
                is_default_version: version.is_default,
            })
            .collect(),
        next_token: page.next,
    }))
}

pub(super) async fn delete_provisioning_template_version(
    State(state): State<ApiState>,
    Path((name, version)): Path<(String, i64)>,
) -> ApiResult<Json<Empty>> {
    state
        .registry()
        .delete_provisioning_template_version(&name, version)
        .await?;
    Ok(Json(Empty {}))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RegisterThingBody {
    template_body: Option<String>,
    #[serde(default)]
    parameters: Parameters,
}

/// `RegisterThingResponse`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RegisterThingResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    certificate_pem: Option<String>,
    /// Logical id → ARN of each resource the template made or found.
    resource_arns: BTreeMap<String, String>,
}

pub(super) async fn register_thing(
    State(state): State<ApiState>,
    Body(body): Body<RegisterThingBody>,
) -> ApiResult<Json<RegisterThingResponse>> {
    let template_body = required_body("templateBody", body.template_body)?;
    let provisioning = state.provisioning();
    let template = provisioning.parse_template(
        &template_body,
        "templateBody is not a valid provisioning template",
    )?;
    let registered = provisioning
        .register_thing(&template, &body.parameters)
        .await?;
    Ok(Json(RegisterThingResponse {
        certificate_pem: registered.certificate_pem,
        resource_arns: registered.resource_arns,
    }))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct StartTaskBody {
    template_body: Option<String>,
    input_file_bucket: Option<String>,
    input_file_key: Option<String>,
    role_arn: Option<String>,
}

/// A string member checked against the model's length bounds and alphabet.
fn checked(
    field: &str,
    value: Option<String>,
    (min, max): (usize, usize),
    allowed: fn(char) -> bool,
    pattern: &str,
) -> ApiResult<String> {
    let value = value.ok_or_else(|| ApiError::invalid(format!("{field} is required")))?;
    let length = value.chars().count();
    let failure = if length < min || length > max {
        Constraint::LengthBetween(min, max)
    } else if !value.chars().all(allowed) {
        Constraint::Pattern(pattern)
    } else {
        return Ok(value);
    };
    Err(ApiError::constraint(field, value, failure))
}

/// `StartThingRegistrationTaskResponse`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct StartThingRegistrationTaskResponse {
    task_id: String,
}

pub(super) async fn start_thing_registration_task(
    State(state): State<ApiState>,
    Body(body): Body<StartTaskBody>,
) -> ApiResult<Json<StartThingRegistrationTaskResponse>> {
    let template_body = required_body("templateBody", body.template_body)?;
    let input_bucket = checked(
        "inputFileBucket",
        body.input_file_bucket,
        (3, 256),
        |c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'),
        "[a-zA-Z0-9._-]+",
    )?;
    let input_key = checked(
        "inputFileKey",
        body.input_file_key,
        (1, 1024),
        |c| c.is_ascii_alphanumeric() || "!_.*'()-/".contains(c),
        "[a-zA-Z0-9!_.*'()-\\/]+",
    )?;
    let role_arn = body
        .role_arn
        .ok_or_else(|| ApiError::invalid("roleArn is required"))?;
    ROLE_ARN.check("roleArn", &role_arn)?;
    let task_id = state
        .bulk_registration()
        .start(
            state.registry().clone(),
            state.provisioning().clone(),
            TaskRequest {
                template_body,
                input_bucket,
                input_key,
                role_arn,
            },
        )
        .await?;
    Ok(Json(StartThingRegistrationTaskResponse { task_id }))
}

/// `DescribeThingRegistrationTaskResponse`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct DescribeThingRegistrationTaskResponse {
    task_id: String,
    creation_date: f64,
    last_modified_date: f64,
    template_body: String,
    input_file_bucket: String,
    input_file_key: String,
    role_arn: String,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
    success_count: i64,
    failure_count: i64,
    percentage_progress: i64,
}

impl From<RegistrationTask> for DescribeThingRegistrationTaskResponse {
    fn from(task: RegistrationTask) -> Self {
        Self {
            percentage_progress: task.percentage_progress(),
            task_id: task.id,
            creation_date: seconds(task.created_ms),
            last_modified_date: seconds(task.modified_ms),
            template_body: task.template_body,
            input_file_bucket: task.input_bucket,
            input_file_key: task.input_key,
            role_arn: task.role_arn,
            status: task.status.as_str(),
            message: task.message,
            success_count: task.success_count,
            failure_count: task.failure_count,
        }
    }
}

pub(super) async fn describe_thing_registration_task(
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> ApiResult<Json<DescribeThingRegistrationTaskResponse>> {
    let task = state.registry().registration_task(&id).await?;
    Ok(Json(task.into()))
}

/// `ListThingRegistrationTasksResponse`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ListThingRegistrationTasksResponse {
    task_ids: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

pub(super) async fn list_thing_registration_tasks(
    State(state): State<ApiState>,
    query: QueryParams,
) -> ApiResult<Json<ListThingRegistrationTasksResponse>> {
    let status = query
        .text("status")
        .map(|s| RegistrationTaskStatus::parse("status", s))
        .transpose()?;
    let page = state
        .registry()
        .list_registration_tasks(status, &token_page(&query)?)
        .await?;
    Ok(Json(ListThingRegistrationTasksResponse {
        task_ids: page.items.into_iter().map(|task| task.id).collect(),
        next_token: page.next,
    }))
}

pub(super) async fn stop_thing_registration_task(
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Empty>> {
    state
        .bulk_registration()
        .stop(state.registry(), &id)
        .await?;
    Ok(Json(Empty {}))
}

/// `ListThingRegistrationTaskReportsResponse`: one page always, so no `nextToken`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ListThingRegistrationTaskReportsResponse {
    resource_links: Vec<String>,
    report_type: String,
}

pub(super) async fn list_thing_registration_task_reports(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    query: QueryParams,
) -> ApiResult<Json<ListThingRegistrationTaskReportsResponse>> {
    let report_type = query.required("reportType")?;
    // The check comes first: a bad page size is refused even for a one-page list.
    token_page(&query)?;
    let task = state.registry().registration_task(&id).await?;
    let link = match report_type {
        "RESULTS" => task.results_link.filter(|_| task.success_count > 0),
        "ERRORS" => task.errors_link.filter(|_| task.failure_count > 0),
        other => {
            return Err(ApiError::constraint(
                "reportType",
                other,
                Constraint::OneOf(&["ERRORS", "RESULTS"]),
            ));
        }
    };
    Ok(Json(ListThingRegistrationTaskReportsResponse {
        resource_links: link.into_iter().collect(),
        report_type: report_type.to_owned(),
    }))
}
