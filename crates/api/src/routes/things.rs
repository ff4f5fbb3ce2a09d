//! Things and thing types.

use axum::Json;
use axum::extract::State;
use roost_registry::model::{Attributes, Thing, ThingType};
use roost_registry::{
    AttributeUpdate, DEFAULT_MAX_RESULTS, NewThing, PageRequest, ThingFilter, ThingUpdate,
};
use serde::Deserialize;
use serde_json::{Value, json};

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

pub(super) fn with_token(mut body: Value, next: Option<String>) -> Json<Value> {
    if let Some(next) = next {
        body["nextToken"] = next.into();
    }
    Json(body)
}

/// `attributePayload` as the model has it.
#[derive(Debug, Default, Deserialize)]
pub(super) struct AttributePayload {
    #[serde(default)]
    pub(super) attributes: Attributes,
    #[serde(default)]
    pub(super) merge: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CreateThingBody {
    thing_type_name: Option<String>,
    attribute_payload: Option<AttributePayload>,
    billing_group_name: Option<String>,
}

pub(super) async fn create_thing(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    Body(body): Body<CreateThingBody>,
) -> ApiResult<Json<Value>> {
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
    Ok(Json(json!({
        "thingName": thing.name,
        "thingArn": state.registry().arns().thing(&thing.name),
        "thingId": thing.id,
    })))
}

fn describe(state: &ApiState, thing: &Thing) -> Value {
    let mut body = json!({
        "defaultClientId": thing.name,
        "thingName": thing.name,
        "thingId": thing.id,
        "thingArn": state.registry().arns().thing(&thing.name),
        "attributes": thing.attributes,
        "version": thing.version,
    });
    if let Some(t) = &thing.type_name {
        body["thingTypeName"] = t.clone().into();
    }
    if let Some(g) = &thing.billing_group {
        body["billingGroupName"] = g.clone().into();
    }
    body
}

pub(super) async fn describe_thing(
    State(state): State<ApiState>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let thing = state.registry().describe_thing(&name).await?;
    Ok(Json(describe(&state, &thing)))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct UpdateThingBody {
    thing_type_name: Option<String>,
    attribute_payload: Option<AttributePayload>,
    expected_version: Option<i64>,
    #[serde(default)]
    remove_thing_type: bool,
}

pub(super) async fn update_thing(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    Body(body): Body<UpdateThingBody>,
) -> ApiResult<Json<Value>> {
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
    Ok(Json(json!({})))
}

pub(super) async fn delete_thing(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    query: QueryParams,
) -> ApiResult<Json<Value>> {
    state
        .registry()
        .delete_thing(&name, query.integer("expectedVersion")?)
        .await?;
    Ok(Json(json!({})))
}

pub(super) async fn list_things(
    State(state): State<ApiState>,
    query: QueryParams,
) -> ApiResult<Json<Value>> {
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
    let things: Vec<Value> = page
        .items
        .iter()
        .map(|t| {
            let mut item = json!({
                "thingName": t.name,
                "thingArn": state.registry().arns().thing(&t.name),
                "attributes": t.attributes,
                "version": t.version,
            });
            if let Some(type_name) = &t.type_name {
                item["thingTypeName"] = type_name.clone().into();
            }
            item
        })
        .collect();
    Ok(with_token(json!({ "things": things }), page.next))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CreateThingTypeBody {
    thing_type_properties: Option<Value>,
    #[serde(default)]
    tags: Vec<roost_registry::model::Tag>,
}

pub(super) async fn create_thing_type(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    Body(body): Body<CreateThingTypeBody>,
) -> ApiResult<Json<Value>> {
    let thing_type = state
        .registry()
        .create_thing_type_tagged(
            &name,
            body.thing_type_properties.unwrap_or(Value::Null),
            body.tags,
        )
        .await?;
    let arn = state.registry().arns().thing_type(&thing_type.name);
    Ok(Json(json!({
        "thingTypeName": thing_type.name,
        "thingTypeArn": arn,
        "thingTypeId": thing_type.id,
    })))
}

fn type_definition(state: &ApiState, t: &ThingType) -> Value {
    let mut metadata = json!({
        "deprecated": t.deprecated,
        "creationDate": seconds(t.created_ms),
    });
    if let Some(ms) = t.deprecated_ms {
        metadata["deprecationDate"] = seconds(ms).into();
    }
    json!({
        "thingTypeName": t.name,
        "thingTypeId": t.id,
        "thingTypeArn": state.registry().arns().thing_type(&t.name),
        "thingTypeProperties": t.properties,
        "thingTypeMetadata": metadata,
    })
}

pub(super) async fn describe_thing_type(
    State(state): State<ApiState>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let thing_type = state.registry().describe_thing_type(&name).await?;
    Ok(Json(type_definition(&state, &thing_type)))
}

pub(super) async fn list_thing_types(
    State(state): State<ApiState>,
    query: QueryParams,
) -> ApiResult<Json<Value>> {
    let page = state
        .registry()
        .list_thing_types(query.text("thingTypeName"), &token_page(&query)?)
        .await?;
    let types: Vec<Value> = page
        .items
        .iter()
        .map(|t| {
            let mut item = type_definition(&state, t);
            if let Some(object) = item.as_object_mut() {
                object.remove("thingTypeId");
            }
            item
        })
        .collect();
    Ok(with_token(json!({ "thingTypes": types }), page.next))
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
) -> ApiResult<Json<Value>> {
    state
        .registry()
        .deprecate_thing_type(&name, body.undo_deprecate)
        .await?;
    Ok(Json(json!({})))
}

pub(super) async fn delete_thing_type(
    State(state): State<ApiState>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    state.registry().delete_thing_type(&name).await?;
    Ok(Json(json!({})))
}
