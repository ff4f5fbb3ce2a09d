//! Thing groups and billing groups.

use axum::Json;
use axum::extract::State;
use roost_registry::model::Attributes;
use roost_registry::model::{BillingGroup, Tag, ThingGroup};
use roost_registry::{
    AttributeUpdate, NameOrArn, NewThingGroup, Page, ThingGroupFilter, ThingGroupUpdate,
};
use serde::{Deserialize, Serialize};

use super::Empty;
use crate::ApiState;
use crate::error::ApiResult;
use crate::input::{Body, Path, QueryParams, seconds};
use crate::routes::things::{AttributePayloadInput, token_page};

/// `ThingGroupProperties` as a request member.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ThingGroupPropertiesInput {
    thing_group_description: Option<String>,
    attribute_payload: Option<AttributePayloadInput>,
}

/// `GroupNameAndArn`: a thing or billing group in a list, or a thing group's ancestor.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct GroupNameAndArn {
    group_name: String,
    group_arn: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CreateThingGroupBody {
    parent_group_name: Option<String>,
    #[serde(default)]
    thing_group_properties: ThingGroupPropertiesInput,
    #[serde(default)]
    tags: Vec<Tag>,
}

/// `CreateThingGroupResponse`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CreateThingGroupResponse {
    thing_group_name: String,
    thing_group_arn: String,
    thing_group_id: String,
}

pub(super) async fn create_thing_group(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    Body(body): Body<CreateThingGroupBody>,
) -> ApiResult<Json<CreateThingGroupResponse>> {
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
    Ok(Json(CreateThingGroupResponse {
        thing_group_arn: state.registry().arns().thing_group(&group.name),
        thing_group_name: group.name,
        thing_group_id: group.id,
    }))
}

/// `AttributePayload` as a response member: the attributes alone, no `merge`.
#[derive(Debug, Serialize)]
struct AttributePayload {
    attributes: Attributes,
}

/// `ThingGroupProperties`: each member present only when set.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ThingGroupProperties {
    #[serde(skip_serializing_if = "Option::is_none")]
    thing_group_description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    attribute_payload: Option<AttributePayload>,
}

/// `ThingGroupMetadata` of a static group, as AWS answers: no `status` (that is a dynamic
/// group's), and no ancestry for a root group.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ThingGroupMetadata {
    #[serde(skip_serializing_if = "Option::is_none")]
    parent_group_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    root_to_parent_thing_groups: Option<Vec<GroupNameAndArn>>,
    creation_date: f64,
}

/// `DescribeThingGroupResponse`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct DescribeThingGroupResponse {
    thing_group_name: String,
    thing_group_id: String,
    thing_group_arn: String,
    version: i64,
    thing_group_properties: ThingGroupProperties,
    thing_group_metadata: ThingGroupMetadata,
}

impl DescribeThingGroupResponse {
    fn new(state: &ApiState, group: ThingGroup) -> Self {
        let arns = state.registry().arns();
        let ancestors = group.parent.is_some().then(|| {
            group
                .root_to_parent
                .into_iter()
                .map(|name| GroupNameAndArn {
                    group_arn: arns.thing_group(&name),
                    group_name: name,
                })
                .collect()
        });
        Self {
            thing_group_arn: arns.thing_group(&group.name),
            thing_group_name: group.name,
            thing_group_id: group.id,
            version: group.version,
            thing_group_properties: ThingGroupProperties {
                thing_group_description: group.description,
                attribute_payload: (!group.attributes.is_empty()).then_some(AttributePayload {
                    attributes: group.attributes,
                }),
            },
            thing_group_metadata: ThingGroupMetadata {
                parent_group_name: group.parent,
                root_to_parent_thing_groups: ancestors,
                creation_date: seconds(group.created_ms),
            },
        }
    }
}

pub(super) async fn describe_thing_group(
    State(state): State<ApiState>,
    Path(name): Path<String>,
) -> ApiResult<Json<DescribeThingGroupResponse>> {
    let group = state.registry().describe_thing_group(&name).await?;
    Ok(Json(DescribeThingGroupResponse::new(&state, group)))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct UpdateThingGroupBody {
    #[serde(default)]
    thing_group_properties: ThingGroupPropertiesInput,
    expected_version: Option<i64>,
}

/// `UpdateThingGroupResponse`, and `UpdateBillingGroupResponse` (the same member).
#[derive(Debug, Serialize)]
pub(super) struct UpdateThingGroupResponse {
    version: i64,
}

pub(super) async fn update_thing_group(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    Body(body): Body<UpdateThingGroupBody>,
) -> ApiResult<Json<UpdateThingGroupResponse>> {
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
    Ok(Json(UpdateThingGroupResponse { version }))
}

pub(super) async fn delete_thing_group(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    query: QueryParams,
) -> ApiResult<Json<Empty>> {
    state
        .registry()
        .delete_thing_group(&name, query.integer("expectedVersion")?)
        .await?;
    Ok(Json(Empty {}))
}

/// `ListThingGroupsResponse`, and `ListThingGroupsForThingResponse` (the same members).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ListThingGroupsResponse {
    thing_groups: Vec<GroupNameAndArn>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

impl ListThingGroupsResponse {
    fn new(state: &ApiState, names: Page<String>) -> Self {
        let arns = state.registry().arns();
        Self {
            thing_groups: names
                .items
                .into_iter()
                .map(|name| GroupNameAndArn {
                    group_arn: arns.thing_group(&name),
                    group_name: name,
                })
                .collect(),
            next_token: names.next,
        }
    }
}

pub(super) async fn list_thing_groups(
    State(state): State<ApiState>,
    query: QueryParams,
) -> ApiResult<Json<ListThingGroupsResponse>> {
    let filter = ThingGroupFilter {
        parent: query.text("parentGroup").map(str::to_owned),
        name_prefix: query.text("namePrefixFilter").map(str::to_owned),
        recursive: query.flag("recursive")?,
    };
    let page = state
        .registry()
        .list_thing_groups(&filter, &token_page(&query)?)
        .await?;
    let names = Page {
        items: page.items.into_iter().map(|group| group.name).collect(),
        next: page.next,
    };
    Ok(Json(ListThingGroupsResponse::new(&state, names)))
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
) -> ApiResult<Json<Empty>> {
    state
        .registry()
        .add_thing_to_thing_group(&body.thing_group(), &body.thing())
        .await?;
    Ok(Json(Empty {}))
}

pub(super) async fn remove_thing_from_thing_group(
    State(state): State<ApiState>,
    Body(body): Body<MembershipBody>,
) -> ApiResult<Json<Empty>> {
    state
        .registry()
        .remove_thing_from_thing_group(&body.thing_group(), &body.thing())
        .await?;
    Ok(Json(Empty {}))
}

/// `ListThingsInThingGroupResponse`, and `ListThingsInBillingGroupResponse` (the same
/// members): thing names.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ListThingsInGroupResponse {
    things: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

impl From<Page<String>> for ListThingsInGroupResponse {
    fn from(page: Page<String>) -> Self {
        Self {
            things: page.items,
            next_token: page.next,
        }
    }
}

pub(super) async fn list_things_in_thing_group(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    query: QueryParams,
) -> ApiResult<Json<ListThingsInGroupResponse>> {
    let page = state
        .registry()
        .list_things_in_thing_group(&name, query.flag("recursive")?, &token_page(&query)?)
        .await?;
    Ok(Json(page.into()))
}

pub(super) async fn list_thing_groups_for_thing(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    query: QueryParams,
) -> ApiResult<Json<ListThingGroupsResponse>> {
    let page = state
        .registry()
        .list_thing_groups_for_thing(&name, &token_page(&query)?)
        .await?;
    Ok(Json(ListThingGroupsResponse::new(&state, page)))
}

/// `BillingGroupProperties` as a request member.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct BillingGroupPropertiesInput {
    billing_group_description: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CreateBillingGroupBody {
    #[serde(default)]
    billing_group_properties: BillingGroupPropertiesInput,
    #[serde(default)]
    tags: Vec<Tag>,
}

/// `CreateBillingGroupResponse`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CreateBillingGroupResponse {
    billing_group_name: String,
    billing_group_arn: String,
    billing_group_id: String,
}

pub(super) async fn create_billing_group(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    Body(body): Body<CreateBillingGroupBody>,
) -> ApiResult<Json<CreateBillingGroupResponse>> {
    let group = state
        .registry()
        .create_billing_group_tagged(
            &name,
            body.billing_group_properties.billing_group_description,
            body.tags,
        )
        .await?;
    Ok(Json(CreateBillingGroupResponse {
        billing_group_arn: state.registry().arns().billing_group(&group.name),
        billing_group_name: group.name,
        billing_group_id: group.id,
    }))
}

/// `BillingGroupProperties`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct BillingGroupProperties {
    #[serde(skip_serializing_if = "Option::is_none")]
    billing_group_description: Option<String>,
}

/// `BillingGroupMetadata`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct BillingGroupMetadata {
    creation_date: f64,
}

/// `DescribeBillingGroupResponse`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct DescribeBillingGroupResponse {
    billing_group_name: String,
    billing_group_id: String,
    billing_group_arn: String,
    version: i64,
    billing_group_properties: BillingGroupProperties,
    billing_group_metadata: BillingGroupMetadata,
}

impl DescribeBillingGroupResponse {
    fn new(state: &ApiState, group: BillingGroup) -> Self {
        Self {
            billing_group_arn: state.registry().arns().billing_group(&group.name),
            billing_group_name: group.name,
            billing_group_id: group.id,
            version: group.version,
            billing_group_properties: BillingGroupProperties {
                billing_group_description: group.description,
            },
            billing_group_metadata: BillingGroupMetadata {
                creation_date: seconds(group.created_ms),
            },
        }
    }
}

pub(super) async fn describe_billing_group(
    State(state): State<ApiState>,
    Path(name): Path<String>,
) -> ApiResult<Json<DescribeBillingGroupResponse>> {
    let group = state.registry().describe_billing_group(&name).await?;
    Ok(Json(DescribeBillingGroupResponse::new(&state, group)))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct UpdateBillingGroupBody {
    #[serde(default)]
    billing_group_properties: BillingGroupPropertiesInput,
    expected_version: Option<i64>,
}

pub(super) async fn update_billing_group(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    Body(body): Body<UpdateBillingGroupBody>,
) -> ApiResult<Json<UpdateThingGroupResponse>> {
    let version = state
        .registry()
        .update_billing_group(
            &name,
            body.billing_group_properties.billing_group_description,
            body.expected_version,
        )
        .await?;
    Ok(Json(UpdateThingGroupResponse { version }))
}

pub(super) async fn delete_billing_group(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    query: QueryParams,
) -> ApiResult<Json<Empty>> {
    state
        .registry()
        .delete_billing_group(&name, query.integer("expectedVersion")?)
        .await?;
    Ok(Json(Empty {}))
}

/// `ListBillingGroupsResponse`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ListBillingGroupsResponse {
    billing_groups: Vec<GroupNameAndArn>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

pub(super) async fn list_billing_groups(
    State(state): State<ApiState>,
    query: QueryParams,
) -> ApiResult<Json<ListBillingGroupsResponse>> {
    let page = state
        .registry()
        .list_billing_groups(query.text("namePrefixFilter"), &token_page(&query)?)
        .await?;
    let arns = state.registry().arns();
    Ok(Json(ListBillingGroupsResponse {
        billing_groups: page
            .items
            .into_iter()
            .map(|group| GroupNameAndArn {
                group_arn: arns.billing_group(&group.name),
                group_name: group.name,
            })
            .collect(),
        next_token: page.next,
    }))
}

pub(super) async fn add_thing_to_billing_group(
    State(state): State<ApiState>,
    Body(body): Body<MembershipBody>,
) -> ApiResult<Json<Empty>> {
    state
        .registry()
        .add_thing_to_billing_group(&body.billing_group(), &body.thing())
        .await?;
    Ok(Json(Empty {}))
}

pub(super) async fn remove_thing_from_billing_group(
    State(state): State<ApiState>,
    Body(body): Body<MembershipBody>,
) -> ApiResult<Json<Empty>> {
    state
        .registry()
        .remove_thing_from_billing_group(&body.billing_group(), &body.thing())
        .await?;
    Ok(Json(Empty {}))
}

pub(super) async fn list_things_in_billing_group(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    query: QueryParams,
) -> ApiResult<Json<ListThingsInGroupResponse>> {
    let page = state
        .registry()
        .list_things_in_billing_group(&name, &token_page(&query)?)
        .await?;
    Ok(Json(page.into()))
}
