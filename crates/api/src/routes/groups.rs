//! Thing groups and billing groups.

use axum::Json;
use axum::extract::State;
use roost_registry::model::{BillingGroup, Tag, ThingGroup};
use roost_registry::{
    AttributeUpdate, NameOrArn, NewThingGroup, ThingGroupFilter, ThingGroupUpdate,
};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::ApiState;
use crate::error::ApiResult;
use crate::input::{Body, Path, QueryParams, seconds};
use crate::routes::things::{AttributePayload, token_page, with_token};

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ThingGroupProperties {
    thing_group_description: Option<String>,
    attribute_payload: Option<AttributePayload>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CreateThingGroupBody {
    parent_group_name: Option<String>,
    #[serde(default)]
    thing_group_properties: ThingGroupProperties,
    #[serde(default)]
    tags: Vec<Tag>,
}

pub(super) async fn create_thing_group(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    Body(body): Body<CreateThingGroupBody>,
) -> ApiResult<Json<Value>> {
    let properties = body.thing_group_properties;
    let group = state
        .registry()
        .create_thing_group_tagged(
            NewThingGroup {
                name,
                parent: body.parent_group_name,
                description: properties.thing_group_description,
                attributes: properties
                    .attribute_payload
                    .map(|p| p.attributes)
                    .unwrap_or_default(),
            },
            body.tags,
        )
        .await?;
    let arn = state.registry().arns().thing_group(&group.name);
    Ok(Json(json!({
        "thingGroupName": group.name,
        "thingGroupArn": arn,
        "thingGroupId": group.id,
    })))
}

fn group_properties(group: &ThingGroup) -> Value {
    let mut properties = json!({});
    if !group.attributes.is_empty() {
        properties["attributePayload"] = json!({ "attributes": group.attributes });
    }
    if let Some(description) = &group.description {
        properties["thingGroupDescription"] = description.clone().into();
    }
    properties
}

pub(super) async fn describe_thing_group(
    State(state): State<ApiState>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let group = state.registry().describe_thing_group(&name).await?;
    let arns = state.registry().arns();
    // As AWS answers for a static group: no `status` (that is a dynamic group's), and no
    // ancestry for a root group.
    let mut metadata = json!({ "creationDate": seconds(group.created_ms) });
    if let Some(parent) = &group.parent {
        metadata["parentGroupName"] = parent.clone().into();
        metadata["rootToParentThingGroups"] = group
            .root_to_parent
            .iter()
            .map(|g| json!({ "groupName": g, "groupArn": arns.thing_group(g) }))
            .collect::<Vec<_>>()
            .into();
    }
    Ok(Json(json!({
        "thingGroupName": group.name,
        "thingGroupId": group.id,
        "thingGroupArn": arns.thing_group(&group.name),
        "version": group.version,
        "thingGroupProperties": group_properties(&group),
        "thingGroupMetadata": metadata,
    })))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct UpdateThingGroupBody {
    #[serde(default)]
    thing_group_properties: ThingGroupProperties,
    expected_version: Option<i64>,
}

pub(super) async fn update_thing_group(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    Body(body): Body<UpdateThingGroupBody>,
) -> ApiResult<Json<Value>> {
    let properties = body.thing_group_properties;
    let version = state
        .registry()
        .update_thing_group(
            &name,
            ThingGroupUpdate {
                description: properties.thing_group_description,
                attributes: properties.attribute_payload.map(|p| AttributeUpdate {
                    attributes: p.attributes,
                    merge: p.merge,
                }),
                expected_version: body.expected_version,
            },
        )
        .await?;
    Ok(Json(json!({ "version": version })))
}

pub(super) async fn delete_thing_group(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    query: QueryParams,
) -> ApiResult<Json<Value>> {
    state
        .registry()
        .delete_thing_group(&name, query.integer("expectedVersion")?)
        .await?;
    Ok(Json(json!({})))
}

pub(super) async fn list_thing_groups(
    State(state): State<ApiState>,
    query: QueryParams,
) -> ApiResult<Json<Value>> {
    let filter = ThingGroupFilter {
        parent: query.text("parentGroup").map(str::to_owned),
        name_prefix: query.text("namePrefixFilter").map(str::to_owned),
        recursive: query.flag("recursive")?,
    };
    let page = state
        .registry()
        .list_thing_groups(&filter, &token_page(&query)?)
        .await?;
    let arns = state.registry().arns();
    let groups: Vec<Value> = page
        .items
        .iter()
        .map(|g| json!({ "groupName": g.name, "groupArn": arns.thing_group(&g.name) }))
        .collect();
    Ok(with_token(json!({ "thingGroups": groups }), page.next))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct MembershipBody {
    thing_group_name: Option<String>,
    thing_group_arn: Option<String>,
    billing_group_name: Option<String>,
    billing_group_arn: Option<String>,
    thing_name: Option<String>,
    thing_arn: Option<String>,
}

impl MembershipBody {
    fn thing_group(&self) -> NameOrArn {
        NameOrArn {
            name: self.thing_group_name.clone(),
            arn: self.thing_group_arn.clone(),
        }
    }

    fn billing_group(&self) -> NameOrArn {
        NameOrArn {
            name: self.billing_group_name.clone(),
            arn: self.billing_group_arn.clone(),
        }
    }

    fn thing(&self) -> NameOrArn {
        NameOrArn {
            name: self.thing_name.clone(),
            arn: self.thing_arn.clone(),
        }
    }
}

pub(super) async fn add_thing_to_thing_group(
    State(state): State<ApiState>,
    Body(body): Body<MembershipBody>,
) -> ApiResult<Json<Value>> {
    state
        .registry()
        .add_thing_to_thing_group(&body.thing_group(), &body.thing())
        .await?;
    Ok(Json(json!({})))
}

pub(super) async fn remove_thing_from_thing_group(
    State(state): State<ApiState>,
    Body(body): Body<MembershipBody>,
) -> ApiResult<Json<Value>> {
    state
        .registry()
        .remove_thing_from_thing_group(&body.thing_group(), &body.thing())
        .await?;
    Ok(Json(json!({})))
}

pub(super) async fn list_things_in_thing_group(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    query: QueryParams,
) -> ApiResult<Json<Value>> {
    let page = state
        .registry()
        .list_things_in_thing_group(&name, query.flag("recursive")?, &token_page(&query)?)
        .await?;
    Ok(with_token(json!({ "things": page.items }), page.next))
}

pub(super) async fn list_thing_groups_for_thing(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    query: QueryParams,
) -> ApiResult<Json<Value>> {
    let page = state
        .registry()
        .list_thing_groups_for_thing(&name, &token_page(&query)?)
        .await?;
    let arns = state.registry().arns();
    let groups: Vec<Value> = page
        .items
        .iter()
        .map(|g| json!({ "groupName": g, "groupArn": arns.thing_group(g) }))
        .collect();
    Ok(with_token(json!({ "thingGroups": groups }), page.next))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct BillingGroupProperties {
    billing_group_description: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CreateBillingGroupBody {
    #[serde(default)]
    billing_group_properties: BillingGroupProperties,
    #[serde(default)]
    tags: Vec<Tag>,
}

pub(super) async fn create_billing_group(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    Body(body): Body<CreateBillingGroupBody>,
) -> ApiResult<Json<Value>> {
    let group = state
        .registry()
        .create_billing_group_tagged(
            &name,
            body.billing_group_properties.billing_group_description,
            body.tags,
        )
        .await?;
    let arn = state.registry().arns().billing_group(&group.name);
    Ok(Json(json!({
        "billingGroupName": group.name,
        "billingGroupArn": arn,
        "billingGroupId": group.id,
    })))
}

fn billing_group_description(state: &ApiState, group: &BillingGroup) -> Value {
    let mut properties = json!({});
    if let Some(description) = &group.description {
        properties["billingGroupDescription"] = description.clone().into();
    }
    json!({
        "billingGroupName": group.name,
        "billingGroupId": group.id,
        "billingGroupArn": state.registry().arns().billing_group(&group.name),
        "version": group.version,
        "billingGroupProperties": properties,
        "billingGroupMetadata": { "creationDate": seconds(group.created_ms) },
    })
}

pub(super) async fn describe_billing_group(
    State(state): State<ApiState>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let group = state.registry().describe_billing_group(&name).await?;
    Ok(Json(billing_group_description(&state, &group)))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct UpdateBillingGroupBody {
    #[serde(default)]
    billing_group_properties: BillingGroupProperties,
    expected_version: Option<i64>,
}

pub(super) async fn update_billing_group(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    Body(body): Body<UpdateBillingGroupBody>,
) -> ApiResult<Json<Value>> {
    let version = state
        .registry()
        .update_billing_group(
            &name,
            body.billing_group_properties.billing_group_description,
            body.expected_version,
        )
        .await?;
    Ok(Json(json!({ "version": version })))
}

pub(super) async fn delete_billing_group(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    query: QueryParams,
) -> ApiResult<Json<Value>> {
    state
        .registry()
        .delete_billing_group(&name, query.integer("expectedVersion")?)
        .await?;
    Ok(Json(json!({})))
}

pub(super) async fn list_billing_groups(
    State(state): State<ApiState>,
    query: QueryParams,
) -> ApiResult<Json<Value>> {
    let page = state
        .registry()
        .list_billing_groups(query.text("namePrefixFilter"), &token_page(&query)?)
        .await?;
    let arns = state.registry().arns();
    let groups: Vec<Value> = page
        .items
        .iter()
        .map(|g| json!({ "groupName": g.name, "groupArn": arns.billing_group(&g.name) }))
        .collect();
    Ok(with_token(json!({ "billingGroups": groups }), page.next))
}

pub(super) async fn add_thing_to_billing_group(
    State(state): State<ApiState>,
    Body(body): Body<MembershipBody>,
) -> ApiResult<Json<Value>> {
    state
        .registry()
        .add_thing_to_billing_group(&body.billing_group(), &body.thing())
        .await?;
    Ok(Json(json!({})))
}

pub(super) async fn remove_thing_from_billing_group(
    State(state): State<ApiState>,
    Body(body): Body<MembershipBody>,
) -> ApiResult<Json<Value>> {
    state
        .registry()
        .remove_thing_from_billing_group(&body.billing_group(), &body.thing())
        .await?;
    Ok(Json(json!({})))
}

pub(super) async fn list_things_in_billing_group(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    query: QueryParams,
) -> ApiResult<Json<Value>> {
    let page = state
        .registry()
        .list_things_in_billing_group(&name, &token_page(&query)?)
        .await?;
    Ok(with_token(json!({ "things": page.items }), page.next))
}
