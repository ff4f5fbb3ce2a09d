//! Devices over HTTPS with their certificates (AWS IoT's port 8443): each connection is
//! admitted like an MQTT one (the broker's admission: status, CA, JITP on first use, grants),
//! and each request must be allowed by the device's IoT policy before the iot-data handler
//! (shared with the control plane) runs.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use roost_api::error::{ApiError, ErrorKind};
use roost_api::{DeviceAction, device_request};
use roost_broker::BrokerCore;
use roost_broker::admission::{HttpsDevice, ShadowAccess, admit_https_device};
use rustls::pki_types::CertificateDer;

/// AWS's 403 for a request outside the caller's policy.
fn forbidden(message: String) -> Response {
    ApiError::new(
        ErrorKind::DataPlane {
            aws_type: "ForbiddenException",
            status: 403,
        },
        message,
    )
    .into_response()
}

/// The router of one device connection: `devices` (the iot-data device routes) behind its
/// policy, or, if admission refused the certificate, a router that answers every request
/// with the reason.
pub(crate) async fn route(
    core: Arc<BrokerCore>,
    devices: Router,
    chain: Vec<CertificateDer<'static>>,
    peer: SocketAddr,
) -> Router {
    match admit_https_device(&core, chain, peer).await {
        Ok(device) => {
            let device = Arc::new(device);
            devices.layer(middleware::from_fn(move |request: Request, next: Next| {
                let device = device.clone();
                async move { policy_gate(&device, request, next).await }
            }))
        }
        Err(refusal) => {
            refusal.log();
            let message = refusal.to_string();
            Router::new().fallback(move || {
                let message = message.clone();
                async move { forbidden(message) }
            })
        }
    }
}

/// Lets a request through only if the device's policy allows its action on its resource.
async fn policy_gate(device: &HttpsDevice, request: Request, next: Next) -> Response {
    let uri = request.uri();
    let Some(asked) = device_request(request.method().as_str(), uri.path(), uri.query()) else {
        // Not a device operation: the router answers it (UnknownOperation).
        return next.run(request).await;
    };
    let resource = &asked.resource;
    let allowed = match asked.action {
        DeviceAction::Publish => resource
            .strip_prefix("topic/")
            .is_some_and(|topic| device.may_publish(topic, asked.retain)),
        DeviceAction::GetThingShadow => shadow(device, ShadowAccess::Get, resource),
        DeviceAction::UpdateThingShadow => shadow(device, ShadowAccess::Update, resource),
        DeviceAction::DeleteThingShadow => shadow(device, ShadowAccess::Delete, resource),
    };
    if allowed {
        next.run(request).await
    } else {
        tracing::info!(certificate = %device.principal.certificate_id, %resource, action = ?asked.action, "device request refused by its policy");
        let action = match asked.action {
            DeviceAction::Publish => "iot:Publish",
            DeviceAction::GetThingShadow => "iot:GetThingShadow",
            DeviceAction::UpdateThingShadow => "iot:UpdateThingShadow",
            DeviceAction::DeleteThingShadow => "iot:DeleteThingShadow",
        };
        forbidden(format!(
            "Not authorized: the certificate's policies do not allow {action} on {resource}"
        ))
    }
}

fn shadow(device: &HttpsDevice, access: ShadowAccess, resource: &str) -> bool {
    resource
        .strip_prefix("thing/")
        .is_some_and(|thing| device.may_access_shadow(access, thing))
}
