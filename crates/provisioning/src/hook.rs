//! The pre-provisioning hook's contract: what fleet provisioning sends it and how its answer
//! reads. How the request travels (AWS calls a Lambda; Roost POSTs to a URL) is the caller's,
//! behind [`PreProvisioningHook`].

use std::future::Future;
use std::pin::Pin;

use roost_template::{Parameters, is_pseudo_parameter};
use serde_json::{Value, json};

/// Sends the hook its request and returns its JSON answer, or why it could not be asked (the
/// reason is logged, not told to the device: it often names an internal address).
pub trait PreProvisioningHook: Send + Sync {
    fn ask<'a>(
        &'a self,
        target: &'a str,
        request: &'a Value,
    ) -> Pin<Box<dyn Future<Output = Result<Value, String>> + Send + 'a>>;
}

/// What RegisterThing tells the hook.
pub(crate) struct HookRequest<'a> {
    pub claim_certificate_id: Option<&'a str>,
    pub certificate_id: &'a str,
    pub certificate_pem: &'a str,
    pub template_arn: &'a str,
    pub client_id: &'a str,
    pub parameters: &'a Parameters,
}

impl HookRequest<'_> {
    /// AWS's hook input; pseudo-parameters (`AWS::IoT::…`) are Roost's to set, not the hook's.
    pub(crate) fn to_json(&self) -> Value {
        let parameters: serde_json::Map<String, Value> = self
            .parameters
            .iter()
            .filter(|(name, _)| !is_pseudo_parameter(name))
            .map(|(name, value)| (name.clone(), Value::String(value.clone())))
            .collect();
        json!({
            "claimCertificateId": self.claim_certificate_id,
            "certificateId": self.certificate_id,
            "certificatePem": self.certificate_pem,
            "templateArn": self.template_arn,
            "clientId": self.client_id,
            "parameters": parameters,
        })
    }
}

/// What the hook decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookDecision {
    /// Provision, with these parameters replaced (pseudo-parameters are not the hook's to set).
    Allow { overrides: Parameters },
    /// Do not, for this reason.
    Refuse(String),
}

impl HookDecision {
    /// Reads the hook's answer: `allowProvisioning` must be `true`; `parameterOverrides`
    /// replaces parameters whose values are strings.
    pub fn from_answer(answer: &Value) -> Self {
        if answer["allowProvisioning"] != Value::Bool(true) {
            let reason = answer["message"]
                .as_str()
                .or_else(|| answer["reason"].as_str())
                .unwrap_or("allowProvisioning is not true");
            return Self::Refuse(reason.to_owned());
        }
        let mut overrides = Parameters::new();
        if let Value::Object(given) = &answer["parameterOverrides"] {
            for (name, value) in given {
                if let Some(text) = value.as_str()
                    && !is_pseudo_parameter(name)
                {
                    overrides.insert(name.clone(), text.to_owned());
                }
            }
        }
        Self::Allow { overrides }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_true_allow_provisions_and_the_reason_is_kept() {
        for answer in [
            json!({}),
            json!({"allowProvisioning": "true"}),
            json!({"allowProvisioning": false}),
        ] {
            assert_eq!(
                HookDecision::from_answer(&answer),
                HookDecision::Refuse("allowProvisioning is not true".into()),
                "{answer}"
            );
        }
        let refused = json!({"allowProvisioning": false, "message": "serial not in stock"});
        assert_eq!(
            HookDecision::from_answer(&refused),
            HookDecision::Refuse("serial not in stock".into())
        );
    }

    #[test]
    fn overrides_replace_string_parameters_but_never_pseudo_parameters() {
        let answer = json!({"allowProvisioning": true, "parameterOverrides": {
            "DeviceLocation": "Seattle", "Count": 3, "AWS::IoT::Certificate::Id": "forged"}});
        let HookDecision::Allow { overrides } = HookDecision::from_answer(&answer) else {
            panic!("allowed");
        };
        assert_eq!(overrides.len(), 1);
        assert_eq!(overrides["DeviceLocation"], "Seattle");
    }

    #[test]
    fn the_request_carries_the_device_parameters_only() {
        let mut parameters = Parameters::new();
        parameters.insert("SerialNumber".into(), "123".into());
        parameters.insert("AWS::IoT::Certificate::Id".into(), "abc".into());
        let request = HookRequest {
            claim_certificate_id: Some("claim"),
            certificate_id: "abc",
            certificate_pem: "PEM",
            template_arn: "arn:aws:iot:us-east-1:1:provisioningtemplate/t",
            client_id: "device-1",
            parameters: &parameters,
        }
        .to_json();
        assert_eq!(request["parameters"], json!({"SerialNumber": "123"}));
        assert_eq!(request["claimCertificateId"], "claim");
        assert_eq!(request["clientId"], "device-1");
    }
}
