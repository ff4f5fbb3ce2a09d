//! Fleet provisioning over MQTT: the device API AWS IoT serves on reserved topics, answered
//! only to the requesting connection.
//!
//! - `$aws/certificates/create/json`: a new key pair and certificate from Roost's issuing CA,
//!   PENDING_ACTIVATION, with an ownership token;
//! - `$aws/certificates/create-from-csr/json`: the same from the device's CSR (it keeps its key);
//! - `$aws/provisioning-templates/<name>/provision/json`: RegisterThing — the token and the
//!   device's parameters go through the template (and the pre-provisioning hook, a webhook here
//!   instead of a Lambda), the plan is applied in one transaction, the certificate activated.
//!
//! Each answer goes to `<request topic>/accepted` or `/rejected` with AWS's payloads. CBOR
//! requests are refused: Roost speaks the JSON form of the API.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use roost_provisioning::{FleetRegisterThing, PreProvisioningHook, ProvisioningError};
use roost_registry::RegistryError;
use roost_template::{Parameters, is_pseudo_parameter};
use serde_json::{Value, json};

use crate::BrokerCore;
use crate::webhook;

/// How long an ownership token is valid (AWS: one hour).
pub const OWNERSHIP_TOKEN_TTL: Duration = Duration::from_secs(3600);
/// How long the pre-provisioning hook may take to answer (AWS: 5 s).
pub const HOOK_TIMEOUT: Duration = Duration::from_secs(5);

/// An operation of the device API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FleetOperation {
    CreateKeysAndCertificate,
    CreateCertificateFromCsr,
    RegisterThing { template_name: String },
}

/// A request recognised from its topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetRequest {
    pub operation: FleetOperation,
    /// `json` or `cbor`.
    pub format: String,
    /// The topic it was published on; answers go to `…/accepted` and `…/rejected`.
    pub topic: String,
}

impl FleetRequest {
    /// Recognises a fleet-provisioning request topic.
    pub fn parse(topic: &str) -> Option<Self> {
        let (operation, format) =
            if let Some(format) = topic.strip_prefix("$aws/certificates/create/") {
                (FleetOperation::CreateKeysAndCertificate, format)
            } else if let Some(format) = topic.strip_prefix("$aws/certificates/create-from-csr/") {
                (FleetOperation::CreateCertificateFromCsr, format)
            } else {
                let rest = topic.strip_prefix("$aws/provisioning-templates/")?;
                let (name, format) = rest.split_once("/provision/")?;
                if name.is_empty() || name.contains('/') {
                    return None;
                }
                (
                    FleetOperation::RegisterThing {
                        template_name: name.to_owned(),
                    },
                    format,
                )
            };
        matches!(format, "json" | "cbor").then(|| Self {
            operation,
            format: format.to_owned(),
            topic: topic.to_owned(),
        })
    }

    pub fn accepted_topic(&self) -> String {
        format!("{}/accepted", self.topic)
    }

    pub fn rejected_topic(&self) -> String {
        format!("{}/rejected", self.topic)
    }
}

/// A `/rejected` answer: `{"statusCode", "errorCode", "errorMessage"}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub status_code: u16,
    pub error_code: &'static str,
    pub error_message: String,
}

impl Rejection {
    fn new(status_code: u16, error_code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status_code,
            error_code,
            error_message: message.into(),
        }
    }

    fn invalid(message: impl Into<String>) -> Self {
        Self::new(400, "InvalidRequest", message)
    }

    fn internal(error: &dyn std::fmt::Display) -> Self {
        tracing::error!(%error, "fleet provisioning failed in the server");
        Self::new(500, "InternalFailure", "An internal error occurred.")
    }

    pub fn to_json(&self) -> Value {
        json!({
            "statusCode": self.status_code,
            "errorCode": self.error_code,
            "errorMessage": self.error_message,
        })
    }
}

impl From<RegistryError> for Rejection {
    fn from(error: RegistryError) -> Self {
        match error {
            RegistryError::NotFound(message) => Rejection::new(404, "ResourceNotFound", message),
            RegistryError::Storage(_) => Rejection::internal(&error),
            other => Rejection::invalid(other.to_string()),
        }
    }
}

/// Who is asking.
#[derive(Debug, Clone)]
pub struct Requester {
    pub client_id: String,
    /// The claim certificate's id (fleet provisioning by claim), if the connection has one.
    pub certificate_id: Option<String>,
}

fn parse_payload(request: &FleetRequest, payload: &[u8]) -> Result<Value, Rejection> {
    if request.format == "cbor" {
        return Err(Rejection::new(
            400,
            "UnsupportedDocumentEncoding",
            "Roost serves the JSON form of the fleet provisioning API; publish to the …/json topic",
        ));
    }
    if payload.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    serde_json::from_slice(payload)
        .map_err(|e| Rejection::invalid(format!("The request payload is not valid JSON: {e}")))
}

impl From<ProvisioningError> for Rejection {
    fn from(error: ProvisioningError) -> Self {
        if error.is_internal() {
            return Rejection::internal(&error);
        }
        let (status_code, error_code) = error.fleet_status();
        Rejection::new(status_code, error_code, error.to_string())
    }
}

/// The pre-provisioning hook as Roost calls it: a JSON POST to its URL (AWS calls a Lambda).
struct WebhookHook;

impl PreProvisioningHook for WebhookHook {
    fn ask<'a>(
        &'a self,
        target: &'a str,
        request: &'a Value,
    ) -> Pin<Box<dyn Future<Output = Result<Value, String>> + Send + 'a>> {
        Box::pin(async move {
            webhook::post_json(target, request, HOOK_TIMEOUT)
                .await
                .map_err(|error| error.to_string())
        })
    }
}

impl BrokerCore {
    /// Answers a fleet-provisioning request: the accepted payload, or the rejection.
    pub async fn handle_fleet_request(
        &self,
        request: &FleetRequest,
        payload: &[u8],
        requester: &Requester,
    ) -> Result<Value, Rejection> {
        let body = parse_payload(request, payload)?;
        let creates = matches!(
            request.operation,
            FleetOperation::CreateKeysAndCertificate | FleetOperation::CreateCertificateFromCsr
        );
        let principal = requester
            .certificate_id
            .as_deref()
            .unwrap_or(&requester.client_id);
        if creates && !self.fleet_limiter.try_acquire(principal, Instant::now()) {
            metrics::counter!("roost_fleet_requests_throttled_total").increment(1);
            return Err(Rejection::new(
                429,
                "Throttling",
                "Rate exceeded: this principal asks for certificates faster than allowed",
            ));
        }
        match &request.operation {
            FleetOperation::CreateKeysAndCertificate => self.fleet_create_keys().await,
            FleetOperation::CreateCertificateFromCsr => self.fleet_create_from_csr(&body).await,
            FleetOperation::RegisterThing { template_name } => {
                self.fleet_register_thing(template_name, &body, requester)
                    .await
            }
        }
    }

    async fn fleet_create_keys(&self) -> Result<Value, Rejection> {
        let issued = self
            .provisioning
            .create_keys_and_certificate(self.config.ownership_token_ttl)
            .await?;
        Ok(json!({
            "certificateId": issued.certificate_id,
            "certificatePem": issued.certificate_pem,
            "privateKey": issued.private_key_pem,
            "certificateOwnershipToken": issued.ownership_token,
        }))
    }

    async fn fleet_create_from_csr(&self, body: &Value) -> Result<Value, Rejection> {
        let csr = body["certificateSigningRequest"]
            .as_str()
            .filter(|c| !c.is_empty())
            .ok_or_else(|| Rejection::invalid("certificateSigningRequest is required"))?;
        let issued = self
            .provisioning
            .create_certificate_from_csr(csr, self.config.ownership_token_ttl)
            .await?;
        Ok(json!({
            "certificateOwnershipToken": issued.ownership_token,
            "certificateId": issued.certificate_id,
            "certificatePem": issued.certificate_pem,
        }))
    }

    async fn fleet_register_thing(
        &self,
        template_name: &str,
        body: &Value,
        requester: &Requester,
    ) -> Result<Value, Rejection> {
        let request = FleetRegisterThing {
            template_name,
            ownership_token: body["certificateOwnershipToken"]
                .as_str()
                .unwrap_or_default(),
            parameters: device_parameters(&body["parameters"])?,
            claim_certificate_id: requester.certificate_id.as_deref(),
            client_id: &requester.client_id,
        };
        let registered = self
            .provisioning
            .register_thing_by_token(request, &WebhookHook)
            .await?;
        metrics::counter!("roost_fleet_provisioned_total").increment(1);
        tracing::info!(
            certificate = %registered.certificate_id,
            template = template_name,
            thing = registered.thing_name.as_deref().unwrap_or("-"),
            "provisioned by fleet provisioning"
        );
        let mut accepted = json!({ "deviceConfiguration": registered.device_configuration });
        if let Some(thing) = registered.thing_name {
            accepted["thingName"] = thing.into();
        }
        Ok(accepted)
    }
}

/// RegisterThing's `parameters`: an object of strings (numbers and booleans are taken as
/// their text); pseudo-parameters are Roost's to set and are dropped.
fn device_parameters(given: &Value) -> Result<Parameters, Rejection> {
    let mut parameters = Parameters::new();
    match given {
        Value::Null => {}
        Value::Object(given) => {
            for (name, value) in given {
                if is_pseudo_parameter(name) {
                    continue;
                }
                let text = match value {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    _ => {
                        return Err(Rejection::invalid(format!(
                            "parameters.{name} must be a string"
                        )));
                    }
                };
                parameters.insert(name.clone(), text);
            }
        }
        _ => {
            return Err(Rejection::invalid(
                "parameters must be an object of strings",
            ));
        }
    }
    Ok(parameters)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_topics_are_recognised_with_their_reply_topics() {
        let create = FleetRequest::parse("$aws/certificates/create/json").unwrap();
        assert_eq!(create.operation, FleetOperation::CreateKeysAndCertificate);
        assert_eq!(
            create.accepted_topic(),
            "$aws/certificates/create/json/accepted"
        );
        let csr = FleetRequest::parse("$aws/certificates/create-from-csr/json").unwrap();
        assert_eq!(csr.operation, FleetOperation::CreateCertificateFromCsr);
        let register =
            FleetRequest::parse("$aws/provisioning-templates/Factory_1/provision/json").unwrap();
        assert_eq!(
            register.operation,
            FleetOperation::RegisterThing {
                template_name: "Factory_1".into()
            }
        );
        assert_eq!(
            register.rejected_topic(),
            "$aws/provisioning-templates/Factory_1/provision/json/rejected"
        );
    }

    #[test]
    fn other_topics_are_not_fleet_requests() {
        for topic in [
            "$aws/certificates/create/json/accepted",
            "$aws/certificates/create/xml",
            "$aws/provisioning-templates//provision/json",
            "$aws/provisioning-templates/a/b/provision/json",
            "devices/create/json",
        ] {
            assert_eq!(FleetRequest::parse(topic), None, "{topic}");
        }
    }

    #[test]
    fn rejections_carry_aws_field_names() {
        let body = Rejection::new(400, "InvalidCertificateOwnershipToken", "x").to_json();
        assert_eq!(body["statusCode"], 400);
        assert_eq!(body["errorCode"], "InvalidCertificateOwnershipToken");
        assert_eq!(body["errorMessage"], "x");
    }
}
