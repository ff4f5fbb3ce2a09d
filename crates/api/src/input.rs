//! Request inputs as the botocore model serializes them: query-string members, JSON bodies,
//! principals in headers. Every malformed input becomes InvalidRequestException naming the
//! member, never a framework rejection.

use std::collections::HashMap;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::response::IntoResponse;
use roost_validation::Constraint;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, ApiResult};

/// Largest request body accepted (policy documents may be 400 KB in the model).
pub(crate) const MAX_BODY_BYTES: usize = 1 << 20;

/// The query-string members of a request, decoded.
#[derive(Debug, Default)]
pub(crate) struct QueryParams(HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for QueryParams {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Self::parse(parts.uri.query().unwrap_or(""))
    }
}

impl QueryParams {
    /// The members of a raw (percent-encoded) query string.
    pub(crate) fn parse(query: &str) -> ApiResult<Self> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query)
            .map_err(|e| ApiError::invalid(format!("The query string is malformed: {e}")))?;
        Ok(Self(pairs.into_iter().collect()))
    }

    /// A string member, if present.
    pub(crate) fn text(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// A required string member.
    pub(crate) fn required(&self, name: &str) -> ApiResult<&str> {
        self.text(name)
            .ok_or_else(|| ApiError::invalid(format!("The query parameter '{name}' is required")))
    }

    /// A boolean member (`true`/`false`, as botocore writes them).
    pub(crate) fn boolean(&self, name: &str) -> ApiResult<Option<bool>> {
        match self.text(name) {
            None => Ok(None),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(v) => Err(ApiError::invalid(format!(
                "The query parameter '{name}' must be true or false, not '{v}'"
            ))),
        }
    }

    /// A boolean member that defaults to false.
    pub(crate) fn flag(&self, name: &str) -> ApiResult<bool> {
        Ok(self.boolean(name)?.unwrap_or(false))
    }

    /// An integer member.
    pub(crate) fn integer(&self, name: &str) -> ApiResult<Option<i64>> {
        match self.text(name) {
            None => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| {
                ApiError::invalid(format!(
                    "The query parameter '{name}' must be an integer, not '{v}'"
                ))
            }),
        }
    }
}

/// The URI labels of a request (`{thingName}`…), percent-decoded after routing on the raw
/// path. A label that does not decode (invalid UTF-8 such as `%FF`) is InvalidRequestException,
/// not axum's plain-text rejection, which SDKs could not map to a class.
#[derive(Debug)]
pub(crate) struct Path<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Self(value)),
            Err(rejection) => {
                let detail = rejection.body_text();
                let status = rejection.into_response().status();
                if status.is_server_error() {
                    return Err(ApiError::internal(detail));
                }
                Err(ApiError::invalid(format!(
                    "The request path is not valid: {detail}"
                )))
            }
        }
    }
}

/// A JSON request body deserialized into `T`; an empty body reads as `{}`. Errors name the
/// member at fault (`attributePayload.attributes.serial`), as AWS's validation messages do.
#[derive(Debug)]
pub(crate) struct Body<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _: &S) -> Result<Self, Self::Rejection> {
        let bytes = axum::body::to_bytes(req.into_body(), MAX_BODY_BYTES)
            .await
            .map_err(|_| {
                ApiError::invalid(format!(
                    "The request body is larger than {MAX_BODY_BYTES} bytes"
                ))
            })?;
        let text: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            &bytes
        };
        parse_body(text).map(Body)
    }
}

fn parse_body<T: DeserializeOwned>(text: &[u8]) -> ApiResult<T> {
    let mut deserializer = serde_json::Deserializer::from_slice(text);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let cause = error.into_inner();
        if cause.is_syntax() || cause.is_eof() || path == "." {
            ApiError::invalid(format!("The request body is not valid JSON input: {cause}"))
        } else {
            ApiError::constraint_without_value(&path, Constraint::Other(&cause.to_string()))
        }
    })?;
    deserializer
        .end()
        .map_err(|e| ApiError::invalid(format!("The request body is not valid JSON: {e}")))?;
    Ok(value)
}

/// Reads a required header member (principals travel in `x-amzn-principal` and friends).
pub(crate) fn required_header(parts: &axum::http::HeaderMap, name: &str) -> ApiResult<String> {
    let value = parts
        .get(name)
        .ok_or_else(|| ApiError::invalid(format!("The header '{name}' is required")))?;
    value
        .to_str()
        .map(str::to_owned)
        .map_err(|_| ApiError::invalid(format!("The header '{name}' is not valid text")))
}

/// Reads an optional header member (the `x-amz-mqtt5-*` properties of iot-data messages).
pub(crate) fn optional_header<'h>(
    headers: &'h axum::http::HeaderMap,
    name: &str,
) -> ApiResult<Option<&'h str>> {
    headers
        .get(name)
        .map(|value| {
            value
                .to_str()
                .map_err(|_| ApiError::invalid(format!("The header '{name}' is not valid text")))
        })
        .transpose()
}

/// Epoch milliseconds as the epoch-seconds JSON number AWS returns for timestamps.
pub(crate) fn seconds(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Input {
        #[allow(dead_code)]
        attribute_payload: Option<Payload>,
    }

    #[derive(Debug, Deserialize)]
    struct Payload {
        #[allow(dead_code)]
        attributes: HashMap<String, String>,
    }

    fn message(body: &str) -> String {
        parse_body::<Input>(body.as_bytes()).unwrap_err().message
    }

    #[test]
    fn a_member_of_the_wrong_type_is_named_by_its_path() {
        let text = message(r#"{"attributePayload": {"attributes": {"serial": 5}}}"#);
        assert!(
            text.contains("'attributePayload.attributes.serial'"),
            "{text}"
        );
    }

    #[test]
    fn text_that_is_not_json_or_not_an_object_says_so() {
        assert!(message("{not json").contains("not valid JSON"));
        assert!(message("[]").contains("not valid JSON input"));
        assert!(message("{} {}").contains("not valid JSON"));
    }
}
