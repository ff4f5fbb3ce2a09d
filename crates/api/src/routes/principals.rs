//! Thing principals (certificate ARNs attached to things).

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use roost_registry::model::ThingPrincipalType;
use serde::Serialize;

use super::Empty;
use crate::ApiState;
use crate::error::ApiResult;
use crate::input::{Path, QueryParams, required_header};
use crate::routes::things::token_page;

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
) -> ApiResult<Json<Empty>> {
    let principal = required_header(&headers, PRINCIPAL)?;
    let kind = principal_type(&query)?.unwrap_or(ThingPrincipalType::NonExclusiveThing);
    state
        .registry()
        .attach_thing_principal(&thing, &principal, kind)
        .await?;
    Ok(Json(Empty {}))
}

pub(super) async fn detach_thing_principal(
    State(state): State<ApiState>,
    Path(thing): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Json<Empty>> {
    let principal = required_header(&headers, PRINCIPAL)?;
    state
        .registry()
        .detach_thing_principal(&thing, &principal)
        .await?;
    Ok(Json(Empty {}))
}

/// `ListThingPrincipalsResponse`: principal ARNs.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ListThingPrincipalsResponse {
    principals: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

pub(super) async fn list_thing_principals(
    State(state): State<ApiState>,
    Path(thing): Path<String>,
    query: QueryParams,
) -> ApiResult<Json<ListThingPrincipalsResponse>> {
    let page = state
        .registry()
        .list_thing_principals(&thing, None, &token_page(&query)?)
        .await?;
    Ok(Json(ListThingPrincipalsResponse {
        principals: page.items.into_iter().map(|p| p.principal).collect(),
        next_token: page.next,
    }))
}

/// `ThingPrincipalObject`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ThingPrincipalObject {
    principal: String,
    thing_principal_type: &'static str,
}

/// `ListThingPrincipalsV2Response`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ListThingPrincipalsV2Response {
    thing_principal_objects: Vec<ThingPrincipalObject>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

pub(super) async fn list_thing_principals_v2(
    State(state): State<ApiState>,
    Path(thing): Path<String>,
    query: QueryParams,
) -> ApiResult<Json<ListThingPrincipalsV2Response>> {
    let page = state
        .registry()
        .list_thing_principals(&thing, principal_type(&query)?, &token_page(&query)?)
        .await?;
    Ok(Json(ListThingPrincipalsV2Response {
        thing_principal_objects: page
            .items
            .into_iter()
            .map(|p| ThingPrincipalObject {
                principal: p.principal,
                thing_principal_type: p.kind.as_str(),
            })
            .collect(),
        next_token: page.next,
    }))
}

/// `ListPrincipalThingsResponse`: thing names.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ListPrincipalThingsResponse {
    things: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

pub(super) async fn list_principal_things(
    State(state): State<ApiState>,
    headers: HeaderMap,
    query: QueryParams,
) -> ApiResult<Json<ListPrincipalThingsResponse>> {
    let principal = required_header(&headers, PRINCIPAL)?;
    let page = state
        .registry()
        .list_principal_things(&principal, None, &token_page(&query)?)
        .await?;
    Ok(Json(ListPrincipalThingsResponse {
        things: page.items.into_iter().map(|p| p.thing_name).collect(),
        next_token: page.next,
    }))
}

/// `PrincipalThingObject`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct PrincipalThingObject {
    thing_name: String,
    thing_principal_type: &'static str,
}

/// `ListPrincipalThingsV2Response`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ListPrincipalThingsV2Response {
    principal_thing_objects: Vec<PrincipalThingObject>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

pub(super) async fn list_principal_things_v2(
    State(state): State<ApiState>,
    headers: HeaderMap,
    query: QueryParams,
) -> ApiResult<Json<ListPrincipalThingsV2Response>> {
    let principal = required_header(&headers, PRINCIPAL)?;
    let page = state
        .registry()
        .list_principal_things(&principal, principal_type(&query)?, &token_page(&query)?)
        .await?;
    Ok(Json(ListPrincipalThingsV2Response {
        principal_thing_objects: page
            .items
            .into_iter()
            .map(|p| PrincipalThingObject {
                thing_name: p.thing_name,
                thing_principal_type: p.kind.as_str(),
            })
            .collect(),
        next_token: page.next,
    }))
}
