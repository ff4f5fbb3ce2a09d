//! Request inputs as the botocore model serializes them: query-string members, JSON bodies,
//! principals in headers. Every malformed input becomes InvalidRequestException naming the
//! member, never a framework rejection.

use std::collections::HashMap;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
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
        let query = parts.uri.query().unwrap_or("");
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query)
            .map_err(|e| ApiError::invalid(format!("The query string is malformed: {e}")))?;
        Ok(Self(pairs.into_iter().collect()))
    }
}

impl QueryParams {
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

/// A JSON request body deserialized into `T`; an empty body reads as `{}`.
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
        serde_json::from_slice(text)
            .map(Body)
            .map_err(|e| ApiError::invalid(format!("The request body is not valid: {e}")))
    }
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

/// Epoch milliseconds as the epoch-seconds JSON number AWS returns for timestamps.
pub(crate) fn seconds(ms: i64) -> f64 {
    ms as f64 / 1000.0
}
