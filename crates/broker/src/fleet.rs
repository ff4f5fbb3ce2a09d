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

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use roost_pki::{KeyKind, Validity};
use roost_registry::model::CertificateStatus;
use roost_registry::{OwnershipTokenError, RegistryError, TemplateType, certificate_parameters};
use roost_template::{Parameters, Template, is_pseudo_parameter};
use serde_json::{Value, json};

use crate::BrokerCore;
use crate::webhook;

/// How long an ownership token is valid (AWS: one hour).
pub const OWNERSHIP_TOKEN_TTL: Duration = Duration::from_secs(3600);
/// How long the pre-provisioning hook may take to answer (AWS: 5 s).
pub const HOOK_TIMEOUT: Duration = Duration::from_secs(5);
/// Not-after of certificates issued over MQTT: 2049-12-31T23:59:59Z, as AWS issues them.
const ISSUED_NOT_AFTER: i64 = 2_524_607_999;

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

fn issued_validity() -> Result<Validity, Rejection> {
    Validity::new(crate::unix_now() - 60, ISSUED_NOT_AFTER).map_err(|e| Rejection::internal(&e))
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
        let issuer = self.config.device_issuer.clone().ok_or_else(|| {
            Rejection::new(
                503,
                "ServiceUnavailable",
                "certificate issuing is not configured",
            )
        })?;
        let validity = issued_validity()?;
        let issued = tokio::task::spawn_blocking(move || {
            issuer.issue_with_new_key(KeyKind::Rsa2048, "AWS IoT Certificate", validity)
        })
        .await
        .map_err(|e| Rejection::internal(&e))?
        .map_err(|e| Rejection::internal(&e))?;
        let (certificate, token) = self
            .registry
            .register_pending_with_token(
                &issued.certificate_pem,
                self.config.ownership_token_ttl.as_millis() as i64,
            )
            .await?;
        Ok(json!({
            "certificateId": certificate.id,
            "certificatePem": issued.certificate_pem,
            "privateKey": issued.private_key_pem,
            "certificateOwnershipToken": token,
        }))
    }

    async fn fleet_create_from_csr(&self, body: &Value) -> Result<Value, Rejection> {
        let csr = body["certificateSigningRequest"]
            .as_str()
            .filter(|c| !c.is_empty())
            .ok_or_else(|| Rejection::invalid("certificateSigningRequest is required"))?;
        let issuer = self.config.device_issuer.clone().ok_or_else(|| {
            Rejection::new(
                503,
                "ServiceUnavailable",
                "certificate issuing is not configured",
            )
        })?;
        let validity = issued_validity()?;
        let csr = csr.to_owned();
        // Verifying and signing are CPU work: off the async workers, like key generation.
        let pem = tokio::task::spawn_blocking(move || issuer.issue_from_csr(&csr, validity))
            .await
            .map_err(|e| Rejection::internal(&e))?
            .map_err(|e| Rejection::invalid(format!("certificateSigningRequest: {e}")))?;
        let (certificate, token) = self
            .registry
            .register_pending_with_token(&pem, self.config.ownership_token_ttl.as_millis() as i64)
            .await?;
        Ok(json!({
            "certificateOwnershipToken": token,
            "certificateId": certificate.id,
            "certificatePem": pem,
        }))
    }

    async fn fleet_register_thing(
        &self,
        template_name: &str,
        body: &Value,
        requester: &Requester,
    ) -> Result<Value, Rejection> {
        let template = self.registry.provisioning_template(template_name).await?;
        if template.template_type != TemplateType::FleetProvisioning {
            return Err(Rejection::invalid(format!(
                "The provisioning template {template_name} is a JITP template, not a fleet provisioning template"
            )));
        }
        if !template.enabled {
            return Err(Rejection::invalid(format!(
                "The provisioning template {template_name} is disabled"
            )));
        }
        let token = body["certificateOwnershipToken"]
            .as_str()
            .unwrap_or_default();
        let certificate = match self.registry.ownership_token_certificate(token).await? {
            Ok(certificate) => certificate,
            Err(
                error @ (OwnershipTokenError::Empty
                | OwnershipTokenError::Unknown
                | OwnershipTokenError::Expired),
            ) => {
                return Err(Rejection::new(
                    400,
                    "InvalidCertificateOwnershipToken",
                    error.to_string(),
                ));
            }
        };
        if certificate.status != CertificateStatus::PendingActivation {
            return Err(Rejection::new(
                400,
                "InvalidCertificateOwnershipToken",
                format!(
                    "The certificate of this ownership token is {}, not awaiting provisioning",
                    certificate.status
                ),
            ));
        }

        // The device's parameters, then what only Roost may say about the certificate.
        let mut parameters = Parameters::new();
        match &body["parameters"] {
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
        let info = roost_pki::CertificateInfo::from_pem(&certificate.pem)
            .map_err(|e| Rejection::internal(&e))?;
        parameters.extend(certificate_parameters(&info));

        if let Some(hook) = &template.pre_provisioning_hook {
            let payload = json!({
                "claimCertificateId": requester.certificate_id,
                "certificateId": certificate.id,
                "certificatePem": certificate.pem,
                "templateArn": template.arn,
                "clientId": requester.client_id,
                "parameters": parameters.iter().filter(|(k, _)| !is_pseudo_parameter(k)).collect::<BTreeMap<_, _>>(),
            });
            let answer = webhook::post_json(&hook.target_arn, &payload, HOOK_TIMEOUT)
                .await
                .map_err(|error| {
                    // The details name the hook's (often internal) address: logged, not told.
                    tracing::warn!(hook = %hook.target_arn, %error, "the pre-provisioning hook failed");
                    Rejection::new(
                        403,
                        "AccessDenied",
                        "The pre-provisioning hook is unavailable".to_owned(),
                    )
                })?;
            if answer["allowProvisioning"] != Value::Bool(true) {
                let reason = answer["message"]
                    .as_str()
                    .or_else(|| answer["reason"].as_str())
                    .unwrap_or("allowProvisioning is not true");
                return Err(Rejection::new(
                    403,
                    "AccessDenied",
                    format!("The pre-provisioning hook refused provisioning: {reason}"),
                ));
            }
            if let Value::Object(overrides) = &answer["parameterOverrides"] {
                for (name, value) in overrides {
                    if let Some(text) = value.as_str()
                        && !is_pseudo_parameter(name)
                    {
                        parameters.insert(name.clone(), text.to_owned());
                    }
                }
            }
        }

        let parsed =
            Template::parse(&template.body).map_err(|e| Rejection::invalid(e.to_string()))?;
        let plan = parsed
            .evaluate(&parameters)
            .map_err(|e| Rejection::invalid(format!("The provisioning template failed: {e}")))?;
        let device_configuration = plan.device_configuration.clone();
        let provisioned = self
            .registry
            .provision_with_ownership_token(std::sync::Arc::new(info), token, plan)
            .await?
            .map_err(|spent| {
                // Another RegisterThing with this token won the race, or it expired meanwhile.
                Rejection::new(400, "InvalidCertificateOwnershipToken", spent.to_string())
            })?;
        metrics::counter!("roost_fleet_provisioned_total").increment(1);
        tracing::info!(
            certificate = %certificate.id,
            template = template_name,
            thing = provisioned.thing_name.as_deref().unwrap_or("-"),
            "provisioned by fleet provisioning"
        );
        let mut accepted = json!({ "deviceConfiguration": device_configuration });
        if let Some(thing) = provisioned.thing_name {
            accepted["thingName"] = thing.into();
        }
        Ok(accepted)
    }
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
