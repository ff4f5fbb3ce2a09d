//! Thing principals (certificate ARNs attached to things).

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use roost_registry::model::ThingPrincipalType;
use serde_json::{Value, json};

use crate::ApiState;
use crate::error::ApiResult;
use crate::input::{Path, QueryParams, required_header};
use crate::routes::things::{token_page, with_token};

const PRINCIPAL: &str = "x-amzn-principal";

fn principal_type(query: &QueryParams) -> ApiResult<Option<ThingPrincipalType>> {
    Ok(query
        .text("thingPrincipalType")
        .map(|t| ThingPrincipalType::parse("thingPrincipalType", t))
        .transpose()?)
}

pub(super) async fn attach_thing_principal(
    State(state): State<ApiState>,
    Path(thing): Path<String>,
    headers: HeaderMap,
    query: QueryParams,
) -> ApiResult<Json<Value>> {
    let principal = required_header(&headers, PRINCIPAL)?;
    let kind = principal_type(&query)?.unwrap_or(ThingPrincipalType::NonExclusiveThing);
    state
        .registry()
        .attach_thing_principal(&thing, &principal, kind)
        .await?;
    Ok(Json(json!({})))
}

pub(super) async fn detach_thing_principal(
    State(state): State<ApiState>,
    Path(thing): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    let principal = required_header(&headers, PRINCIPAL)?;
    state
        .registry()
        .detach_thing_principal(&thing, &principal)
        .await?;
    Ok(Json(json!({})))
}

pub(super) async fn list_thing_principals(
    State(state): State<ApiState>,
    Path(thing): Path<String>,
    query: QueryParams,
) -> ApiResult<Json<Value>> {
    let page = state
        .registry()
        .list_thing_principals(&thing, None, &token_page(&query)?)
        .await?;
    let principals: Vec<&str> = page.items.iter().map(|p| p.principal.as_str()).collect();
    Ok(with_token(json!({ "principals": principals }), page.next))
}

pub(super) async fn list_thing_principals_v2(
    State(state): State<ApiState>,
    Path(thing): Path<String>,
    query: QueryParams,
) -> ApiResult<Json<Value>> {
    let page = state
        .registry()
        .list_thing_principals(&thing, principal_type(&query)?, &token_page(&query)?)
        .await?;
    let objects: Vec<Value> = page
        .items
        .iter()
        .map(|p| json!({ "principal": p.principal, "thingPrincipalType": p.kind.as_str() }))
        .collect();
    Ok(with_token(
        json!({ "thingPrincipalObjects": objects }),
        page.next,
    ))
}

pub(super) async fn list_principal_things(
    State(state): State<ApiState>,
    headers: HeaderMap,
    query: QueryParams,
) -> ApiResult<Json<Value>> {
    let principal = required_header(&headers, PRINCIPAL)?;
    let page = state
        .registry()
        .list_principal_things(&principal, None, &token_page(&query)?)
        .await?;
    let things: Vec<&str> = page.items.iter().map(|p| p.thing_name.as_str()).collect();
    Ok(with_token(json!({ "things": things }), page.next))
}

pub(super) async fn list_principal_things_v2(
    State(state): State<ApiState>,
    headers: HeaderMap,
    query: QueryParams,
) -> ApiResult<Json<Value>> {
    let principal = required_header(&headers, PRINCIPAL)?;
    let page = state
        .registry()
        .list_principal_things(&principal, principal_type(&query)?, &token_page(&query)?)
        .await?;
    let objects: Vec<Value> = page
        .items
        .iter()
        .map(|p| json!({ "thingName": p.thing_name, "thingPrincipalType": p.kind.as_str() }))
        .collect();
    Ok(with_token(
        json!({ "principalThingObjects": objects }),
        page.next,
    ))
}
