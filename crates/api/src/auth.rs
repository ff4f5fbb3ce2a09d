//! SigV4 authentication of every control-plane request.

use std::time::SystemTime;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use roost_sigv4::HttpRequest;

use crate::ApiState;
use crate::error::{ApiError, ErrorKind};
use crate::input::MAX_BODY_BYTES;

/// Verifies the request's signature (scoped to the `iot` service) over its raw path, query,
/// headers and body, then passes it on with the body restored. Failures answer 403 with AWS's
/// error type.
pub(crate) async fn require_signature(
    State(state): State<ApiState>,
    request: Request,
    next: Next,
) -> Response {
    let verifier = state.inner.verifier.clone();
    verify_then_run(&state, &verifier, request, next).await
}

/// [`require_signature`] for the iot-data operations (`iotdata` or `iotdevicegateway`).
pub(crate) async fn require_data_signature(
    State(state): State<ApiState>,
    request: Request,
    next: Next,
) -> Response {
    let verifier = state.inner.data_verifier.clone();
    verify_then_run(&state, &verifier, request, next).await
}

async fn verify_then_run(
    state: &ApiState,
    verifier: &roost_sigv4::Verifier,
    request: Request,
    next: Next,
) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY_BYTES).await else {
        return ApiError::invalid(format!(
            "The request body is larger than {MAX_BODY_BYTES} bytes"
        ))
        .into_response();
    };
    let headers: Vec<(&str, &[u8])> = parts
        .headers
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_bytes()))
        .collect();
    let signed = HttpRequest {
        method: parts.method.as_str(),
        raw_path: parts.uri.path(),
        raw_query: parts.uri.query(),
        headers: &headers,
        body: &bytes,
    };
    let verified = verifier.verify(
        &signed,
        &state.inner.settings.credentials,
        SystemTime::now(),
    );
    match verified {
        Ok(identity) => {
            tracing::debug!(access_key_id = %identity.access_key_id, "request authenticated");
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Err(error) => {
            tracing::info!(%error, path = %parts.uri.path(), "request refused: bad signature");
            ApiError::new(
                ErrorKind::Authentication(error.aws_error_type()),
                error.to_string(),
            )
            .into_response()
        }
    }
}
