//! SigV4 authentication of every control-plane request.

use std::time::SystemTime;

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::BytesMut;
use http_body_util::BodyExt;
use roost_sigv4::HttpRequest;

use crate::ApiState;
use crate::error::{ApiError, ErrorKind};
use crate::input::MAX_BODY_BYTES;

/// Longest a signed request's body may take to arrive once its headers have.
const BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);

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
    // Nothing unsigned is read: a request that carries no signature at all is refused before
    // its body is, so unauthenticated clients cannot make the server buffer anything.
    let presigned = parts
        .uri
        .query()
        .is_some_and(|q| q.contains("X-Amz-Signature="));
    if !parts.headers.contains_key(header::AUTHORIZATION) && !presigned {
        let error = roost_sigv4::SigV4Error::MissingAuthentication;
        tracing::info!(path = %parts.uri.path(), "request refused: no signature");
        return ApiError::new(
            ErrorKind::Authentication(error.aws_error_type()),
            error.to_string(),
        )
        .into_response();
    }
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let read = if declared.is_some_and(|length| length > MAX_BODY_BYTES) {
        discard(body).await;
        Err(BodyRefusal::TooLarge)
    } else {
        read_body(body).await
    };
    let bytes = match read {
        Ok(bytes) => bytes,
        Err(BodyRefusal::TooLarge) => {
            return ApiError::invalid(format!(
                "The request body is larger than {MAX_BODY_BYTES} bytes"
            ))
            .into_response();
        }
        Err(BodyRefusal::Late) => {
            tracing::info!(path = %parts.uri.path(), "request refused: body not sent in time");
            return ApiError::new(
                ErrorKind::RequestTimeout,
                format!(
                    "The request body did not arrive within {} seconds",
                    BODY_READ_TIMEOUT.as_secs()
                ),
            )
            .into_response();
        }
    };
    match check_signature(state, verifier, &parts, &bytes) {
        Ok(_) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Err(refusal) => refusal.into_response(),
    }
}

/// Why a signed request's body was not read whole.
enum BodyRefusal {
    TooLarge,
    Late,
}

/// Reads a body of at most [`MAX_BODY_BYTES`] within [`BODY_READ_TIMEOUT`]. A longer one is
/// refused and what is left of it discarded (see [`discard`]).
async fn read_body(mut body: Body) -> Result<Bytes, BodyRefusal> {
    let collected = tokio::time::timeout(BODY_READ_TIMEOUT, async {
        let mut collected = BytesMut::new();
        while let Some(frame) = body.frame().await {
            let Ok(frame) = frame else { break };
            if let Some(data) = frame.data_ref() {
                if collected.len() + data.len() > MAX_BODY_BYTES {
                    return Err(BodyRefusal::TooLarge);
                }
                collected.extend_from_slice(data);
            }
        }
        Ok(collected.freeze())
    })
    .await
    .map_err(|_| BodyRefusal::Late)?;
    if collected.is_err() {
        discard(body).await;
    }
    collected
}

/// Most of a refused body read (and dropped, never kept) so that its sender sees the answer.
const MAX_DISCARDED_BYTES: usize = 16 << 20;
/// Longest spent discarding a refused body.
const DISCARD_TIMEOUT: Duration = Duration::from_secs(5);

/// Reads and drops what is left of a refused request's body, within bounds. Closing a
/// connection with unread bytes in its receive buffer makes the kernel reset it, and a client
/// still sending then loses the error answer along with the connection (a broken pipe instead
/// of AWS's InvalidRequestException); HTTP servers "linger" the same way.
async fn discard(mut body: Body) {
    let _ = tokio::time::timeout(DISCARD_TIMEOUT, async {
        let mut discarded = 0;
        while let Some(Ok(frame)) = body.frame().await {
            discarded += frame.data_ref().map_or(0, Bytes::len);
            if discarded > MAX_DISCARDED_BYTES {
                break;
            }
        }
    })
    .await;
}

/// Who signed a `GET /mqtt` WebSocket upgrade: the handler that serves the connection takes
/// it from the request's extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSocketSigner {
    /// The access key id whose secret signed the upgrade (the connection's principal).
    pub access_key_id: String,
}

/// Verifies the signature of an MQTT-over-WebSocket upgrade (`GET /mqtt`) as AWS IoT does:
/// presigned in the query for service `iotdevicegateway`, over an empty payload, with an
/// `X-Amz-Security-Token` that AWS's SDKs append after signing left out of the canonical
/// query. A verified request goes on with a [`WebSocketSigner`] in its extensions; any other is
/// answered 403 before it is upgraded. No body is read.
pub async fn require_websocket_signature(
    State(state): State<ApiState>,
    mut request: Request,
    next: Next,
) -> Response {
    let (parts, body) = request.into_parts();
    match check_signature(&state, &state.inner.websocket_verifier, &parts, b"") {
        Ok(identity) => {
            request = Request::from_parts(parts, body);
            request.extensions_mut().insert(WebSocketSigner {
                access_key_id: identity.access_key_id,
            });
            next.run(request).await
        }
        Err(refusal) => refusal.into_response(),
    }
}

/// Checks the signature of a request whose head is `parts` and body `body`: the identity that
/// signed it, or the 403 to answer (AWS's error type and message).
fn check_signature(
    state: &ApiState,
    verifier: &roost_sigv4::Verifier,
    parts: &axum::http::request::Parts,
    body: &[u8],
) -> Result<roost_sigv4::Identity, ApiError> {
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
        body,
    };
    let verified = verifier.verify(
        &signed,
        &state.inner.settings.credentials,
        SystemTime::now(),
    );
    match verified {
        Ok(identity) => {
            tracing::debug!(access_key_id = %identity.access_key_id, "request authenticated");
            Ok(identity)
        }
        Err(error) => {
            tracing::info!(%error, path = %parts.uri.path(), "request refused: bad signature");
            Err(ApiError::new(
                ErrorKind::Authentication(error.aws_error_type()),
                error.to_string(),
            ))
        }
    }
}
