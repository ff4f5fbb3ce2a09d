//! Provisioning templates and their versions, RegisterThing, and bulk registration tasks
//! (StartThingRegistrationTask and its family), on the botocore model's routes and shapes.

use axum::Json;
use axum::extract::State;
use roost_registry::model::Tag;
use roost_registry::names::ROLE_ARN;
use roost_registry::validation::Constraint;
use roost_registry::{
    NewProvisioningTemplate, ProvisioningHook, ProvisioningTemplate, ProvisioningTemplateUpdate,
    RegistrationTask, RegistrationTaskStatus, TemplateType,
};
use roost_template::{MAX_TEMPLATE_CHARS, Parameters, Template};
use serde::Deserialize;
use serde_json::{Value, json};

use super::things::{token_page, with_token};
use crate::ApiState;
use crate::error::{ApiError, ApiResult};
use crate::input::{Body, Path, QueryParams, seconds};
use crate::registration::{TaskRequest, register_from_template};

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

fn hook_json(hook: &ProvisioningHook) -> Value {
    let mut value = json!({ "targetArn": hook.target_arn });
    if let Some(version) = &hook.payload_version {
        value["payloadVersion"] = version.clone().into();
    }
    value
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

fn template_summary(template: &ProvisioningTemplate) -> Value {
    let mut summary = json!({
        "templateArn": template.arn,
        "templateName": template.name,
        "creationDate": seconds(template.created_ms),
        "lastModifiedDate": seconds(template.modified_ms),
        "enabled": template.enabled,
        "type": template.template_type.as_str(),
    });
    if let Some(description) = &template.description {
        summary["description"] = description.clone().into();
    }
    summary
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

pub(super) async fn create_provisioning_template(
    State(state): State<ApiState>,
    Body(body): Body<CreateTemplateBody>,
) -> ApiResult<Json<Value>> {
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
    Ok(Json(json!({
        "templateArn": created.arn,
        "templateName": created.name,
        "defaultVersionId": created.default_version,
    })))
}

pub(super) async fn describe_provisioning_template(
    State(state): State<ApiState>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let template = state.registry().provisioning_template(&name).await?;
    let mut body = template_summary(&template);
    body["defaultVersionId"] = template.default_version.into();
    body["templateBody"] = template.body.clone().into();
    body["provisioningRoleArn"] = template.provisioning_role_arn.clone().into();
    if let Some(hook) = &template.pre_provisioning_hook {
        body["preProvisioningHook"] = hook_json(hook);
    }
    Ok(Json(body))
}

pub(super) async fn list_provisioning_templates(
    State(state): State<ApiState>,
    query: QueryParams,
) -> ApiResult<Json<Value>> {
    let page = state
        .registry()
        .list_provisioning_templates(&token_page(&query)?)
        .await?;
    let templates: Vec<Value> = page.items.iter().map(template_summary).collect();
    Ok(with_token(json!({ "templates": templates }), page.next))
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
) -> ApiResult<Json<Value>> {
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
    Ok(Json(json!({})))
}

pub(super) async fn delete_provisioning_template(
    State(state): State<ApiState>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    state.registry().delete_provisioning_template(&name).await?;
    Ok(Json(json!({})))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CreateVersionBody {
    template_body: Option<String>,
}

pub(super) async fn create_provisioning_template_version(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    query: QueryParams,
    Body(body): Body<CreateVersionBody>,
) -> ApiResult<Json<Value>> {
    let template_body = required_body("templateBody", body.template_body)?;
    let version = state
        .registry()
        .create_provisioning_template_version(&name, &template_body, query.flag("setAsDefault")?)
        .await?;
    Ok(Json(json!({
        "templateArn": state.registry().arns().provisioning_template(&name),
        "templateName": name,
        "versionId": version.version,
        "isDefaultVersion": version.is_default,
    })))
}

pub(super) async fn describe_provisioning_template_version(
    State(state): State<ApiState>,
    Path((name, version)): Path<(String, i64)>,
) -> ApiResult<Json<Value>> {
    let version = state
        .registry()
        .provisioning_template_version(&name, version)
        .await?;
    Ok(Json(json!({
        "versionId": version.version,
        "creationDate": seconds(version.created_ms),
        "templateBody": version.body,
        "isDefaultVersion": version.is_default,
    })))
}

pub(super) async fn list_provisioning_template_versions(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    query: QueryParams,
) -> ApiResult<Json<Value>> {
    let page = state
        .registry()
        .list_provisioning_template_versions(&name, &token_page(&query)?)
        .await?;
    let versions: Vec<Value> = page
        .items
        .iter()
        .map(|v| {
            json!({
                "versionId": v.version,
                "creationDate": seconds(v.created_ms),
                "isDefaultVersion": v.is_default,
            })
        })
        .collect();
    Ok(with_token(json!({ "versions": versions }), page.next))
}

pub(super) async fn delete_provisioning_template_version(
    State(state): State<ApiState>,
    Path((name, version)): Path<(String, i64)>,
) -> ApiResult<Json<Value>> {
    state
        .registry()
        .delete_provisioning_template_version(&name, version)
        .await?;
    Ok(Json(json!({})))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RegisterThingBody {
    template_body: Option<String>,
    #[serde(default)]
    parameters: Parameters,
}

pub(super) async fn register_thing(
    State(state): State<ApiState>,
    Body(body): Body<RegisterThingBody>,
) -> ApiResult<Json<Value>> {
    let template_body = required_body("templateBody", body.template_body)?;
    let template = Template::parse(&template_body).map_err(|e| {
        ApiError::invalid(format!(
            "templateBody is not a valid provisioning template: {e}"
        ))
    })?;
    let registered = register_from_template(
        state.registry(),
        state.device_issuer(),
        &template,
        &body.parameters,
    )
    .await?;
    let mut answer = json!({ "resourceArns": registered.resource_arns });
    if let Some(pem) = registered.certificate_pem {
        answer["certificatePem"] = pem.into();
    }
    Ok(Json(answer))
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

pub(super) async fn start_thing_registration_task(
    State(state): State<ApiState>,
    Body(body): Body<StartTaskBody>,
) -> ApiResult<Json<Value>> {
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
            state.shared_device_issuer(),
            TaskRequest {
                template_body,
                input_bucket,
                input_key,
                role_arn,
            },
        )
        .await?;
    Ok(Json(json!({ "taskId": task_id })))
}

fn task_description(task: &RegistrationTask) -> Value {
    let mut body = json!({
        "taskId": task.id,
        "creationDate": seconds(task.created_ms),
        "lastModifiedDate": seconds(task.modified_ms),
        "templateBody": task.template_body,
        "inputFileBucket": task.input_bucket,
        "inputFileKey": task.input_key,
        "roleArn": task.role_arn,
        "status": task.status.as_str(),
        "successCount": task.success_count,
        "failureCount": task.failure_count,
        "percentageProgress": task.percentage_progress(),
    });
    if let Some(message) = &task.message {
        body["message"] = message.clone().into();
    }
    body
}

pub(super) async fn describe_thing_registration_task(
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let task = state.registry().registration_task(&id).await?;
    Ok(Json(task_description(&task)))
}

pub(super) async fn list_thing_registration_tasks(
    State(state): State<ApiState>,
    query: QueryParams,
) -> ApiResult<Json<Value>> {
    let status = query
        .text("status")
        .map(|s| RegistrationTaskStatus::parse("status", s))
        .transpose()?;
    let page = state
        .registry()
        .list_registration_tasks(status, &token_page(&query)?)
        .await?;
    let ids: Vec<&str> = page.items.iter().map(|t| t.id.as_str()).collect();
    Ok(with_token(json!({ "taskIds": ids }), page.next))
}

pub(super) async fn stop_thing_registration_task(
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    state
        .bulk_registration()
        .stop(state.registry(), &id)
        .await?;
    Ok(Json(json!({})))
}

pub(super) async fn list_thing_registration_task_reports(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    query: QueryParams,
) -> ApiResult<Json<Value>> {
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
    Ok(Json(json!({
        "resourceLinks": link.into_iter().collect::<Vec<_>>(),
        "reportType": report_type,
    })))
}
