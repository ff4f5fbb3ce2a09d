//! The topic rule as AWS's wire format has it (`TopicRulePayload` of the botocore model), so
//! that what CreateTopicRule receives is what GetTopicRule echoes. Members absent on the wire
//! stay absent; nothing here is validated (see [`crate::compile`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A rule's definition: the body of CreateTopicRule and ReplaceTopicRule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TopicRulePayload {
    /// The AWS IoT SQL statement.
    pub sql: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// What runs for each message the statement selects: 0 to 10 actions.
    pub actions: Vec<Action>,
    /// A disabled rule is stored but runs for nothing; absent means enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule_disabled: Option<bool>,
    /// `2015-10-08` (the default when absent), `2016-03-23` or `beta`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_iot_sql_version: Option<String>,
    /// The action that runs, with a report of the failures, when actions fail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_action: Option<Action>,
}

/// One action: a union of which exactly one member may be set. Roost runs `republish` and
/// `http`; the other members AWS has (`lambda`, `s3`, …) are kept in `other` only so that a
/// refusal can name them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Action {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub republish: Option<RepublishAction>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpAction>,
    /// Every other member, by its wire name.
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

impl Action {
    /// The wire names of the members set, in the order AWS's model lists them for the two
    /// Roost knows, then the others alphabetically.
    pub fn member_names(&self) -> Vec<&str> {
        let mut names = Vec::new();
        if self.republish.is_some() {
            names.push("republish");
        }
        if self.http.is_some() {
            names.push("http");
        }
        names.extend(self.other.keys().map(String::as_str));
        names
    }
}

/// `republish`: publishes the SELECT result on another topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RepublishAction {
    /// The target topic, a substitution template; a reserved topic is spelt `$$aws/…`.
    pub topic: String,
    /// 0 (the default) or 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qos: Option<u8>,
    /// Stored and echoed; Roost has no IAM.
    pub role_arn: String,
    /// MQTT 5 properties of the republished message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<RepublishHeaders>,
}

/// `MqttHeaders`: the MQTT 5 properties a republish sets. All but the payload format
/// indicator are substitution templates.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RepublishHeaders {
    /// `UNSPECIFIED_BYTES` or `UTF8_DATA`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_format_indicator: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_topic: Option<String>,
    /// Base64 text of the binary correlation data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_data: Option<String>,
    /// Seconds, as text (a template may compute it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_expiry: Option<String>,
    /// 1 to 100 properties when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_properties: Option<Vec<UserProperty>>,
}

/// An MQTT 5 user property.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserProperty {
    pub key: String,
    pub value: String,
}

/// `http`: POSTs the SELECT result to a URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpAction {
    /// The endpoint, a substitution template.
    pub url: String,
    /// The URL a topic rule destination confirms; a prefix of `url`, required when `url` is
    /// templated. Defaults to `url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmation_url: Option<String>,
    /// Up to 100 headers; values are substitution templates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<Vec<HttpHeader>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<HttpAuthorization>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_batching: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_config: Option<BatchConfig>,
}

/// An HTTP header of the http action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpHeader {
    pub key: String,
    pub value: String,
}

/// How the http action authenticates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpAuthorization {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sigv4: Option<SigV4Authorization>,
}

/// Signs the http action's requests with SigV4, for the role's credentials on AWS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SigV4Authorization {
    pub signing_region: String,
    pub service_name: String,
    pub role_arn: String,
}

/// The http action's batching limits; absent members take AWS's defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchConfig {
    /// 5..=200 ms (default 20).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_batch_open_ms: Option<u32>,
    /// 2..=10 messages (default 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_batch_size: Option<u32>,
    /// 100..=131072 bytes (default 5120).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_batch_size_bytes: Option<u32>,
    /// Default false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_across_topics: Option<bool>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// A payload as the CLI sends it, with every member Roost models.
    fn full() -> serde_json::Value {
        json!({
            "sql": "SELECT * FROM 'a/b'",
            "description": "all of it",
            "actions": [
                {"republish": {
                    "topic": "$$aws/things/t/shadow/update",
                    "qos": 1,
                    "roleArn": "arn:aws:iam::123456789012:role/r",
                    "headers": {
                        "payloadFormatIndicator": "UTF8_DATA",
                        "contentType": "application/json",
                        "responseTopic": "reply/${clientid()}",
                        "correlationData": "AAE=",
                        "messageExpiry": "60",
                        "userProperties": [{"key": "k", "value": "${topic()}"}]
                    }
                }},
                {"http": {
                    "url": "https://example.com/in/${topic(2)}",
                    "confirmationUrl": "https://example.com/in",
                    "headers": [{"key": "x-k", "value": "v"}],
                    "auth": {"sigv4": {
                        "signingRegion": "us-east-1",
                        "serviceName": "execute-api",
                        "roleArn": "arn:aws:iam::123456789012:role/r"
                    }},
                    "enableBatching": true,
                    "batchConfig": {
                        "maxBatchOpenMs": 50,
                        "maxBatchSize": 5,
                        "maxBatchSizeBytes": 1000,
                        "batchAcrossTopics": false
                    }
                }}
            ],
            "ruleDisabled": false,
            "awsIotSqlVersion": "2016-03-23",
            "errorAction": {"republish": {"topic": "errors", "roleArn": "arn:aws:iam::123456789012:role/r"}}
        })
    }

    #[test]
    fn a_payload_round_trips_to_the_same_json() {
        let payload: TopicRulePayload = serde_json::from_value(full()).unwrap();
        assert_eq!(serde_json::to_value(&payload).unwrap(), full());
    }

    #[test]
    fn absent_members_stay_absent() {
        let minimal = json!({"sql": "SELECT * FROM 'x'", "actions": []});
        let payload: TopicRulePayload = serde_json::from_value(minimal.clone()).unwrap();
        assert_eq!(serde_json::to_value(&payload).unwrap(), minimal);
    }

    #[test]
    fn actions_roost_does_not_run_are_captured_by_name() {
        let action: Action = serde_json::from_value(json!({
            "lambda": {"functionArn": "arn:aws:lambda:us-east-1:123456789012:function:f"},
            "republish": {"topic": "t", "roleArn": "arn:aws:iam::123456789012:role/r"}
        }))
        .unwrap();
        assert_eq!(action.member_names(), ["republish", "lambda"]);
    }
}
