//! What an errorAction receives in place of the SELECT result when a rule's actions fail.

use base64::Engine as _;
use serde::Serialize;

/// One failed action of a message, as the errorAction's `failures` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionFailure {
    /// [`CompiledAction::name`](crate::CompiledAction::name): `RepublishAction`, `HttpAction`.
    pub failed_action: String,
    /// [`CompiledAction::failed_resource`](crate::CompiledAction::failed_resource), or the
    /// rendered topic or URL.
    pub failed_resource: String,
    pub error_message: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ErrorActionInput<'a> {
    rule_name: &'a str,
    topic: &'a str,
    cloudwatch_trace_id: &'a str,
    client_id: &'a str,
    base64_original_payload: String,
    failures: &'a [ActionFailure],
}

/// The errorAction's input for one message of `rule` on `topic`: AWS's shape, with the
/// original payload in base64 and every failure of that message.
pub fn error_action_payload(
    rule: &str,
    topic: &str,
    client_id: &str,
    trace_id: &str,
    original: &[u8],
    failures: &[ActionFailure],
) -> serde_json::Value {
    let input = ErrorActionInput {
        rule_name: rule,
        topic,
        cloudwatch_trace_id: trace_id,
        client_id,
        base64_original_payload: base64::engine::general_purpose::STANDARD.encode(original),
        failures,
    };
    serde_json::to_value(input).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_error_action_input_has_aws_shape() {
        let failures = [ActionFailure {
            failed_action: "HttpAction".into(),
            failed_resource: "https://example.com/hook".into(),
            error_message: "HTTP 503".into(),
        }];
        assert_eq!(
            error_action_payload("r", "in/topic", "c1", "t-1", b"{\"a\":1}", &failures),
            json!({
                "ruleName": "r",
                "topic": "in/topic",
                "cloudwatchTraceId": "t-1",
                "clientId": "c1",
                "base64OriginalPayload": "eyJhIjoxfQ==",
                "failures": [{
                    "failedAction": "HttpAction",
                    "failedResource": "https://example.com/hook",
                    "errorMessage": "HTTP 503"
                }]
            })
        );
    }
}
