//! Things and thing types.

use axum::Json;
use axum::extract::State;
use roost_registry::model::{Attributes, Thing, ThingType};
use roost_registry::{
    AttributeUpdate, DEFAULT_MAX_RESULTS, NewThing, PageRequest, ThingFilter, ThingUpdate,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Empty;
use crate::ApiState;
use crate::error::ApiResult;
use crate::input::{Body, Path, QueryParams, seconds};

/// `nextToken`/`maxResults` paging of a list.
pub(super) fn token_page(query: &QueryParams) -> ApiResult<PageRequest> {
    Ok(PageRequest::from_api(
        query.text("nextToken"),
        query.integer("maxResults")?,
        "maxResults",
        DEFAULT_MAX_RESULTS,
        true,
    )?)
}

/// `AttributePayload` as a request member.
#[derive(Debug, Default, Deserialize)]
pub(super) struct AttributePayloadInput {
    #[serde(default)]
    pub(super) attributes: Attributes,
    #[serde(default)]
    pub(super) merge: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CreateThingBody {
    thing_type_name: Option<String>,
    attribute_payload: Option<AttributePayloadInput>,
    billing_group_name: Option<String>,
}

/// `CreateThingResponse`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CreateThingResponse {
    thing_name: String,
    thing_arn: String,
    thing_id: String,
}

pub(super) async fn create_thing(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    Body(body): Body<CreateThingBody>,
) -> ApiResult<Json<CreateThingResponse>> {
    let thing = state
        .registry()
        .create_thing(NewThing {
            name,
            type_name: body.thing_type_name,
            attributes: body
                .attribute_payload
                .map(|p| p.attributes)
                .unwrap_or_default()
                .into_iter()
                .filter(|(_, v)| !v.is_empty())
                .collect(),
            billing_group: body.billing_group_name,
        })
        .await?;
    Ok(Json(CreateThingResponse {
        thing_arn: state.registry().arns().thing(&thing.name),
        thing_name: thing.name,
        thing_id: thing.id,
    }))
}

/// `DescribeThingResponse`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct DescribeThingResponse {
    default_client_id: String,
    thing_name: String,
    thing_id: String,
    thing_arn: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    thing_type_name: Option<String>,
    attributes: Attributes,
    version: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    billing_group_name: Option<String>,
}

impl DescribeThingResponse {
    fn new(state: &ApiState, thing: Thing) -> Self {
        Self {
            default_client_id: thing.name.clone(),
            thing_arn: state.registry().arns().thing(&thing.name),
            thing_name: thing.name,
            thing_id: thing.id,
            thing_type_name: thing.type_name,
            attributes: thing.attributes,
            version: thing.version,
            billing_group_name: thing.billing_group,
        }
    }
}

pub(super) async fn describe_thing(
    State(state): State<ApiState>,
    Path(name): Path<String>,
) -> ApiResult<Json<DescribeThingResponse>> {
    let thing = state.registry().describe_thing(&name).await?;
    Ok(Json(DescribeThingResponse::new(&state, thing)))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct UpdateThingBody {
    thing_type_name: Option<String>,
    attribute_payload: Option<AttributePayloadInput>,
    expected_version: Option<i64>,
    #[serde(default)]
    remove_thing_type: bool,
}

pub(super) async fn update_thing(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    Body(body): Body<UpdateThingBody>,
) -> ApiResult<Json<Empty>> {
    state
        .registry()
        .update_thing(
            &name,
            ThingUpdate {
                type_name: body.thing_type_name,
                remove_type: body.remove_thing_type,
                attributes: body.attribute_payload.map(|p| AttributeUpdate {
                    attributes: p.attributes,
                    merge: p.merge,
                }),
                expected_version: body.expected_version,
            },
        )
        .await?;
    Ok(Json(Empty {}))
}

pub(super) async fn delete_thing(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    query: QueryParams,
) -> ApiResult<Json<Empty>> {
    state
        .registry()
        .delete_thing(&name, query.integer("expectedVersion")?)
        .await?;
    Ok(Json(Empty {}))
}

/// `ThingAttribute`: a thing in a list.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ThingAttribute {
    thing_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    thing_type_name: Option<String>,
    thing_arn: String,
    attributes: Attributes,
    version: i64,
}

/// `ListThingsResponse`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ListThingsResponse {
    things: Vec<ThingAttribute>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

pub(super) async fn list_things(
    State(state): State<ApiState>,
    query: QueryParams,
) -> ApiResult<Json<ListThingsResponse>> {
    let filter = ThingFilter {
        attribute_name: query.text("attributeName").map(str::to_owned),
        attribute_value: query.text("attributeValue").map(str::to_owned),
        use_prefix_attribute_value: query.flag("usePrefixAttributeValue")?,
        type_name: query.text("thingTypeName").map(str::to_owned),
    };
    let page = state
        .registry()
        .list_things(&filter, &token_page(&query)?)
        .await?;
    let arns = state.registry().arns();
    Ok(Json(ListThingsResponse {
        things: page
            .items
            .into_iter()
            .map(|thing| ThingAttribute {
                thing_arn: arns.thing(&thing.name),
                thing_name: thing.name,
                thing_type_name: thing.type_name,
                attributes: thing.attributes,
                version: thing.version,
            })
            .collect(),
        next_token: page.next,
    }))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CreateThingTypeBody {
    thing_type_properties: Option<Value>,
    #[serde(default)]
    tags: Vec<roost_registry::model::Tag>,
}

/// `CreateThingTypeResponse`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CreateThingTypeResponse {
    thing_type_name: String,
    thing_type_arn: String,
    thing_type_id: String,
}

pub(super) async fn create_thing_type(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    Body(body): Body<CreateThingTypeBody>,
) -> ApiResult<Json<CreateThingTypeResponse>> {
    let thing_type = state
        .registry()
        .create_thing_type_tagged(
            &name,
            body.thing_type_properties.unwrap_or(Value::Null),
            body.tags,
        )
        .await?;
    Ok(Json(CreateThingTypeResponse {
        thing_type_arn: state.registry().arns().thing_type(&thing_type.name),
        thing_type_name: thing_type.name,
        thing_type_id: thing_type.id,
    }))
}

/// `ThingTypeMetadata`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ThingTypeMetadata {
    deprecated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    deprecation_date: Option<f64>,
    creation_date: f64,
}

impl From<&ThingType> for ThingTypeMetadata {
    fn from(thing_type: &ThingType) -> Self {
        Self {
            deprecated: thing_type.deprecated,
            deprecation_date: thing_type.deprecated_ms.map(seconds),
            creation_date: seconds(thing_type.created_ms),
        }
    }
}

/// `DescribeThingTypeResponse`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct DescribeThingTypeResponse {
    thing_type_name: String,
    thing_type_id: String,
    thing_type_arn: String,
    /// `ThingTypeProperties` as given at creation (`{}` when none were).
    thing_type_properties: Value,
    thing_type_metadata: ThingTypeMetadata,
}

pub(super) async fn describe_thing_type(
    State(state): State<ApiState>,
    Path(name): Path<String>,
) -> ApiResult<Json<DescribeThingTypeResponse>> {
    let thing_type = state.registry().describe_thing_type(&name).await?;
    Ok(Json(DescribeThingTypeResponse {
        thing_type_arn: state.registry().arns().thing_type(&thing_type.name),
        thing_type_metadata: ThingTypeMetadata::from(&thing_type),
        thing_type_name: thing_type.name,
        thing_type_id: thing_type.id,
        thing_type_properties: thing_type.properties,
    }))
}

/// `ThingTypeDefinition`: a thing type in a list.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ThingTypeDefinition {
    thing_type_name: String,
    thing_type_arn: String,
    thing_type_properties: Value,
    thing_type_metadata: ThingTypeMetadata,
}

/// `ListThingTypesResponse`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ListThingTypesResponse {
    thing_types: Vec<ThingTypeDefinition>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

pub(super) async fn list_thing_types(
    State(state): State<ApiState>,
    query: QueryParams,
) -> ApiResult<Json<ListThingTypesResponse>> {
    let page = state
        .registry()
        .list_thing_types(query.text("thingTypeName"), &token_page(&query)?)
        .await?;
    let arns = state.registry().arns();
    Ok(Json(ListThingTypesResponse {
        thing_types: page
            .items
            .into_iter()
            .map(|thing_type| ThingTypeDefinition {
                thing_type_arn: arns.thing_type(&thing_type.name),
                thing_type_metadata: ThingTypeMetadata::from(&thing_type),
                thing_type_name: thing_type.name,
                thing_type_properties: thing_type.properties,
            })
            .collect(),
        next_token: page.next,
    }))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct DeprecateBody {
    #[serde(default)]
    undo_deprecate: bool,
}

pub(super) async fn deprecate_thing_type(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    Body(body): Body<DeprecateBody>,
) -> ApiResult<Json<Empty>> {
    state
        .registry()
        .deprecate_thing_type(&name, body.undo_deprecate)
        .await?;
    Ok(Json(Empty {}))
}

pub(super) async fn delete_thing_type(
    State(state): State<ApiState>,
    Path(name): Path<String>,
) -> ApiResult<Json<Empty>> {
    state.registry().delete_thing_type(&name).await?;
    Ok(Json(Empty {}))
}
