//! The control plane: AWS IoT's REST-JSON API on the exact routes of the botocore model, so
//! that the `aws iot` CLI, boto3 and the SDKs work unchanged against Roost.
//!
//! Every request but `/health` and `/metrics` must carry a valid SigV4 signature (service `iot`).
//! Handlers translate between the wire shapes and the [`roost_registry::Registry`], which holds
//! the rules; errors become AWS error types ([`error::ApiError`]). The crate does not bind
//! sockets or choose TLS: the binary serves [`router`] on its listener.
//!
//! Types that matter: [`ApiState`], [`ApiSettings`], [`router`], [`error::ApiError`].

mod auth;
pub mod error;
mod input;
mod routes;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use roost_pki::CertificateAuthority;
use roost_registry::Registry;

pub use routes::router;

/// Renders the Prometheus exposition text for `/metrics`.
pub type MetricsRenderer = Arc<dyn Fn() -> String + Send + Sync>;

/// What the control plane is configured with.
#[derive(Clone)]
pub struct ApiSettings {
    /// Access key id → secret access key of the callers allowed in.
    pub credentials: HashMap<String, String>,
    /// The region requests must be signed for.
    pub region: String,
    /// Largest accepted difference between a request's signing time and ours.
    pub max_clock_skew: Duration,
    /// The host name devices use for MQTT (DescribeEndpoint).
    pub data_endpoint_host: String,
}

impl std::fmt::Debug for ApiSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiSettings")
            .field(
                "access_key_ids",
                &self.credentials.keys().collect::<Vec<_>>(),
            )
            .field("region", &self.region)
            .field("max_clock_skew", &self.max_clock_skew)
            .field("data_endpoint_host", &self.data_endpoint_host)
            .finish()
    }
}

/// Shared state of the control plane's handlers.
#[derive(Clone)]
pub struct ApiState {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Registry,
    device_issuer: CertificateAuthority,
    verifier: roost_sigv4::Verifier,
    settings: ApiSettings,
    metrics: Option<MetricsRenderer>,
}

impl std::fmt::Debug for ApiState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiState")
            .field("settings", &self.inner.settings)
            .finish_non_exhaustive()
    }
}

impl ApiState {
    /// `device_issuer` signs the certificates of CreateKeysAndCertificate and
    /// CreateCertificateFromCsr; `metrics` renders `/metrics` (empty without it).
    pub fn new(
        registry: Registry,
        device_issuer: CertificateAuthority,
        settings: ApiSettings,
        metrics: Option<MetricsRenderer>,
    ) -> Self {
        let verifier = roost_sigv4::Verifier::new("iot", settings.region.clone())
            .with_max_skew(settings.max_clock_skew);
        Self {
            inner: Arc::new(Inner {
                registry,
                device_issuer,
                verifier,
                settings,
                metrics,
            }),
        }
    }

    pub(crate) fn registry(&self) -> &Registry {
        &self.inner.registry
    }

    pub(crate) fn device_issuer(&self) -> &CertificateAuthority {
        &self.inner.device_issuer
    }

    pub(crate) fn settings(&self) -> &ApiSettings {
        &self.inner.settings
    }

    /// The router with this state, ready to serve.
    pub fn into_router(self) -> Router {
        router(self)
    }
}
