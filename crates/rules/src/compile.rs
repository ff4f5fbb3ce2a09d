//! From a [`TopicRulePayload`] to a [`CompiledRule`]: every check AWS makes at CreateTopicRule
//! (and the few Roost adds), with the SQL and every substitution template parsed once.

use base64::Engine as _;
use roost_sql::{SqlVersion, Statement, SubstitutionTemplate};
use roost_validation::Constraint;

use crate::error::RuleError;
use crate::payload::{
    Action, BatchConfig, HttpAction, RepublishAction, RepublishHeaders, SigV4Authorization,
    TopicRulePayload,
};
use crate::url::{MAX_URL_CHARS, covers, parse_http_url, strip_scheme};

/// Most actions a rule may have (model: `ActionList` max 10).
pub const MAX_ACTIONS: usize = 10;
/// Longest rule name (model: `RuleName`).
const MAX_RULE_NAME: usize = 128;
/// Longest MQTT 5 header value or user property key or value of a republish (model).
const MAX_MQTT_HEADER_CHARS: usize = 1024;
/// Most user properties of a republish (model: `UserProperties`).
const MAX_USER_PROPERTIES: usize = 100;
/// Most headers of an http action (model: `HeaderList`).
const MAX_HTTP_HEADERS: usize = 100;
/// Longest http header key (model: `HeaderKey`).
const MAX_HTTP_HEADER_KEY: usize = 256;
/// The actions Roost runs, as a refusal lists them.
const SUPPORTED: &str = "republish, http";

/// A rule ready to run: its statement parsed, its actions' templates parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct CompiledRule {
    pub name: String,
    pub statement: Statement,
    /// The FROM topic filter as written; empty for a rule reached only by Basic Ingest.
    pub topic_pattern: String,
    pub actions: Vec<CompiledAction>,
    pub error_action: Option<CompiledAction>,
    pub disabled: bool,
}

/// One action Roost runs.
#[derive(Debug, Clone, PartialEq)]
pub enum CompiledAction {
    Republish(CompiledRepublish),
    Http(CompiledHttp),
}

impl CompiledAction {
    /// The action's name in an errorAction's `failures[].failedAction`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Republish(_) => "RepublishAction",
            Self::Http(_) => "HttpAction",
        }
    }

    /// What `failures[].failedResource` names: the republish topic or the http URL, as the
    /// rule gives them (templates unrendered).
    pub fn failed_resource(&self) -> &str {
        match self {
            Self::Republish(republish) => &republish.topic_text,
            Self::Http(http) => &http.url_text,
        }
    }
}

/// A republish action.
#[derive(Debug, Clone, PartialEq)]
pub struct CompiledRepublish {
    /// The target topic; `$$aws/…` in the rule already reads `$aws/…` here.
    pub topic: SubstitutionTemplate,
    /// The topic as the rule gives it (`failedResource`).
    pub topic_text: String,
    /// 0 or 1.
    pub qos: u8,
    pub headers: CompiledMqttHeaders,
    /// 0 (`UNSPECIFIED_BYTES`) or 1 (`UTF8_DATA`), when given.
    pub payload_format_indicator: Option<u8>,
}

/// The templated MQTT 5 properties of a republish.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CompiledMqttHeaders {
    pub content_type: Option<SubstitutionTemplate>,
    pub response_topic: Option<SubstitutionTemplate>,
    /// Renders to base64 text; the publisher decodes it.
    pub correlation_data: Option<SubstitutionTemplate>,
    /// Renders to a number of seconds.
    pub message_expiry: Option<SubstitutionTemplate>,
    /// Keys and values, in the rule's order.
    pub user_properties: Vec<(SubstitutionTemplate, SubstitutionTemplate)>,
}

/// An http action. `batchConfig` is validated but not carried: batching is refused.
#[derive(Debug, Clone, PartialEq)]
pub struct CompiledHttp {
    pub url: SubstitutionTemplate,
    /// The URL as the rule gives it (`failedResource`, and the destination target when there
    /// is no `confirmation_url`).
    pub url_text: String,
    /// A literal URL that is a prefix of `url`.
    pub confirmation_url: Option<String>,
    /// Header keys and templated values, in the rule's order.
    pub headers: Vec<(String, SubstitutionTemplate)>,
    pub sigv4: Option<SigV4Authorization>,
}

/// Checks a rule name against the model: `^[a-zA-Z0-9_]+$`, 1 to 128 characters.
pub fn check_rule_name(name: &str) -> Result<(), RuleError> {
    let constraint = if name.is_empty() {
        Constraint::LengthAtLeast(1)
    } else if name.chars().count() > MAX_RULE_NAME {
        Constraint::LengthAtMost(MAX_RULE_NAME)
    } else if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        Constraint::Pattern("^[a-zA-Z0-9_]+$")
    } else {
        return Ok(());
    };
    Err(RuleError::invalid(roost_validation::message(
        "ruleName", name, constraint,
    )))
}

/// The engine a rule's `awsIotSqlVersion` selects: absent is `2015-10-08`, as on AWS; `beta`
/// is read as `2016-03-23`.
pub fn sql_version(given: Option<&str>) -> Result<SqlVersion, RuleError> {
    match given {
        None => Ok(SqlVersion::default()),
        Some(text) => text
            .parse()
            .map_err(|e: roost_sql::UnknownSqlVersion| RuleError::invalid(e.to_string())),
    }
}

/// Validates rule `name` with `payload` and parses its SQL and templates.
///
/// Refused as [`RuleError::SqlParse`]: SQL that does not parse under the rule's version.
/// Refused as [`RuleError::InvalidRequest`]: a bad name or version, more than 10 actions, an
/// action with no member or several, any action but republish and http, and every member
/// constraint of those two (the model's, and the reference's for templates and URLs).
pub fn compile(name: &str, payload: &TopicRulePayload) -> Result<CompiledRule, RuleError> {
    check_rule_name(name)?;
    let version = sql_version(payload.aws_iot_sql_version.as_deref())?;
    let statement =
        roost_sql::parse(&payload.sql, version).map_err(|e| RuleError::SqlParse(e.to_string()))?;
    let topic_pattern = statement.from_filter().unwrap_or_default().to_owned();
    if statement.from_filter().is_some() {
        check_topic_filter(&topic_pattern)?;
    }
    if payload.actions.len() > MAX_ACTIONS {
        return Err(RuleError::invalid(roost_validation::message_without_value(
            "topicRulePayload.actions",
            Constraint::LengthAtMost(MAX_ACTIONS),
        )));
    }
    let actions = payload
        .actions
        .iter()
        .enumerate()
        .map(|(i, action)| compile_action(&format!("actions[{i}]"), action, version))
        .collect::<Result<Vec<_>, _>>()?;
    let error_action = payload
        .error_action
        .as_ref()
        .map(|action| compile_action("errorAction", action, version))
        .transpose()?;
    Ok(CompiledRule {
        name: name.to_owned(),
        statement,
        topic_pattern,
        actions,
        error_action,
        disabled: payload.rule_disabled.unwrap_or(false),
    })
}

fn compile_action(
    field: &str,
    action: &Action,
    version: SqlVersion,
) -> Result<CompiledAction, RuleError> {
    let names = action.member_names();
    match names.as_slice() {
        [] => Err(RuleError::invalid(format!(
            "{field} names no action; give exactly one of: {SUPPORTED}"
        ))),
        [_] => {
            if let Some(republish) = &action.republish {
                return compile_republish(&format!("{field}.republish"), republish, version)
                    .map(CompiledAction::Republish);
            }
            if let Some(http) = &action.http {
                return compile_http(&format!("{field}.http"), http, version)
                    .map(CompiledAction::Http);
            }
            Err(RuleError::invalid(format!(
                "{field}: the action '{}' is not supported by Roost; supported: {SUPPORTED}",
                names[0]
            )))
        }
        several => Err(RuleError::invalid(format!(
            "{field} must name exactly one action, found {}: {}",
            several.len(),
            several.join(", ")
        ))),
    }
}

fn template(
    field: &str,
    text: &str,
    version: SqlVersion,
) -> Result<SubstitutionTemplate, RuleError> {
    SubstitutionTemplate::parse(text, version).map_err(|e| {
        RuleError::invalid(format!("{field} is not a valid substitution template: {e}"))
    })
}

fn check_max_chars(field: &str, text: &str, max: usize) -> Result<(), RuleError> {
    if text.chars().count() > max {
        return Err(RuleError::invalid(format!(
            "{field} is longer than {max} characters"
        )));
    }
    Ok(())
}

/// ARN syntax only (`arn:<partition>:<service>:<region>:<account>:<resource>`): Roost has no
/// IAM to ask whether the role exists or may be assumed.
fn check_arn(field: &str, arn: &str) -> Result<(), RuleError> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let well_formed = matches!(
        parts.as_slice(),
        ["arn", partition, service, _, _, resource]
            if !partition.is_empty() && !service.is_empty() && !resource.is_empty()
    ) && !arn.chars().any(|c| c.is_whitespace() || c.is_control());
    if !well_formed {
        return Err(RuleError::invalid(format!(
            "{field} '{arn}' is not an ARN (arn:<partition>:<service>:<region>:<account>:<resource>)"
        )));
    }
    Ok(())
}

/// A topic filter as MQTT allows it: `#` only as the whole last level, `+` only as a whole
/// level [MQTT-4.7.1-2] [MQTT-4.7.1-3], and not empty [MQTT-4.7.3-1].
fn check_topic_filter(filter: &str) -> Result<(), RuleError> {
    let levels: Vec<&str> = filter.split('/').collect();
    let bad_level = levels.iter().enumerate().any(|(i, level)| {
        (level.contains('#') && (*level != "#" || i + 1 != levels.len()))
            || (level.contains('+') && *level != "+")
    });
    if filter.is_empty() || bad_level || filter.contains('\0') {
        return Err(RuleError::SqlParse(format!(
            "the FROM topic filter '{filter}' is not a valid MQTT topic filter"
        )));
    }
    Ok(())
}

/// A literal topic name: no wildcards.
fn check_topic_name(field: &str, topic: &str) -> Result<(), RuleError> {
    if topic.contains(['+', '#']) {
        return Err(RuleError::invalid(format!(
            "{field} '{topic}' must not contain the wildcards + or #"
        )));
    }
    Ok(())
}

fn compile_republish(
    field: &str,
    action: &RepublishAction,
    version: SqlVersion,
) -> Result<CompiledRepublish, RuleError> {
    let topic_field = format!("{field}.topic");
    let text = &action.topic;
    if text.is_empty() {
        return Err(RuleError::invalid(format!(
            "{topic_field} must not be empty"
        )));
    }
    // `$` starts a substitution, so a reserved topic is spelt with `$$`.
    let source = match text.strip_prefix('$') {
        Some(rest) if rest.starts_with('$') => rest,
        Some(rest) if !rest.starts_with('{') => {
            return Err(RuleError::invalid(format!(
                "{topic_field} '{text}': a reserved topic is spelt with a doubled dollar \
                 sign ($${rest})"
            )));
        }
        _ => text.as_str(),
    };
    if let Some(rest) = source.strip_prefix("$aws/things/")
        && rest.split('/').nth(1) == Some("jobs")
    {
        return Err(RuleError::invalid(format!(
            "{topic_field} '{text}': a rule cannot republish on a jobs topic"
        )));
    }
    let topic = template(&topic_field, source, version)?;
    if topic.is_literal() {
        check_topic_name(&topic_field, source)?;
    }
    let qos = match action.qos {
        None => 0,
        Some(qos @ (0 | 1)) => qos,
        Some(other) => {
            return Err(RuleError::invalid(format!(
                "{field}.qos must be 0 or 1, not {other}"
            )));
        }
    };
    check_arn(&format!("{field}.roleArn"), &action.role_arn)?;
    let (headers, payload_format_indicator) = match &action.headers {
        None => (CompiledMqttHeaders::default(), None),
        Some(headers) => compile_mqtt_headers(&format!("{field}.headers"), headers, version)?,
    };
    Ok(CompiledRepublish {
        topic,
        topic_text: text.clone(),
        qos,
        headers,
        payload_format_indicator,
    })
}

/// A templated MQTT 5 header of a republish: the parsed template, the member's path and its
/// text, or `None` when absent.
type HeaderMember<'h> = Option<(SubstitutionTemplate, String, &'h str)>;

fn header_member<'h>(
    field: &str,
    name: &str,
    value: &'h Option<String>,
    version: SqlVersion,
) -> Result<HeaderMember<'h>, RuleError> {
    let Some(text) = value else { return Ok(None) };
    let member_field = format!("{field}.{name}");
    check_max_chars(&member_field, text, MAX_MQTT_HEADER_CHARS)?;
    let parsed = template(&member_field, text, version)?;
    Ok(Some((parsed, member_field, text.as_str())))
}

fn compile_mqtt_headers<'h>(
    field: &str,
    headers: &'h RepublishHeaders,
    version: SqlVersion,
) -> Result<(CompiledMqttHeaders, Option<u8>), RuleError> {
    let member = |name: &str, value: &'h Option<String>| header_member(field, name, value, version);
    let indicator = match headers.payload_format_indicator.as_deref() {
        None => None,
        Some("UNSPECIFIED_BYTES") => Some(0),
        Some("UTF8_DATA") => Some(1),
        Some(other) => {
            return Err(RuleError::invalid(format!(
                "{field}.payloadFormatIndicator must be UNSPECIFIED_BYTES or UTF8_DATA, not \
                 '{other}'"
            )));
        }
    };
    let content_type = member("contentType", &headers.content_type)?;
    let response_topic = member("responseTopic", &headers.response_topic)?;
    if let Some((parsed, member_field, text)) = &response_topic
        && parsed.is_literal()
    {
        check_topic_name(member_field, text)?;
    }
    let correlation_data = member("correlationData", &headers.correlation_data)?;
    if let Some((parsed, member_field, text)) = &correlation_data
        && parsed.is_literal()
        && base64::engine::general_purpose::STANDARD
            .decode(text)
            .is_err()
    {
        return Err(RuleError::invalid(format!(
            "{member_field} '{text}' is not base64 text"
        )));
    }
    let message_expiry = member("messageExpiry", &headers.message_expiry)?;
    if let Some((parsed, member_field, text)) = &message_expiry
        && parsed.is_literal()
        && text.parse::<u32>().is_err()
    {
        return Err(RuleError::invalid(format!(
            "{member_field} '{text}' is not a whole number of seconds"
        )));
    }
    let mut user_properties = Vec::new();
    if let Some(properties) = &headers.user_properties {
        let list_field = format!("{field}.userProperties");
        if properties.is_empty() || properties.len() > MAX_USER_PROPERTIES {
            return Err(RuleError::invalid(format!(
                "{list_field} must have 1 to {MAX_USER_PROPERTIES} members, not {}",
                properties.len()
            )));
        }
        for (i, property) in properties.iter().enumerate() {
            let key_field = format!("{list_field}[{i}].key");
            let value_field = format!("{list_field}[{i}].value");
            check_max_chars(&key_field, &property.key, MAX_MQTT_HEADER_CHARS)?;
            check_max_chars(&value_field, &property.value, MAX_MQTT_HEADER_CHARS)?;
            user_properties.push((
                template(&key_field, &property.key, version)?,
                template(&value_field, &property.value, version)?,
            ));
        }
    }
    let take = |m: HeaderMember<'_>| m.map(|(parsed, _, _)| parsed);
    let compiled = CompiledMqttHeaders {
        content_type: take(content_type),
        response_topic: take(response_topic),
        correlation_data: take(correlation_data),
        message_expiry: take(message_expiry),
        user_properties,
    };
    Ok((compiled, indicator))
}

fn check_url_length(field: &str, url: &str) -> Result<(), RuleError> {
    if url.is_empty() {
        return Err(RuleError::invalid(format!("{field} must not be empty")));
    }
    check_max_chars(field, url, MAX_URL_CHARS)
}

fn compile_http(
    field: &str,
    action: &HttpAction,
    version: SqlVersion,
) -> Result<CompiledHttp, RuleError> {
    let url_field = format!("{field}.url");
    check_url_length(&url_field, &action.url)?;
    let url = template(&url_field, &action.url, version)?;
    if url.is_literal() {
        parse_http_url(&action.url).map_err(|why| {
            RuleError::invalid(format!(
                "{url_field} '{}' is not a valid URL: {why}",
                action.url
            ))
        })?;
    } else if strip_scheme(&action.url).is_none() {
        return Err(RuleError::invalid(format!(
            "{url_field} '{}' must start with https:// or http://",
            action.url
        )));
    }
    let confirmation_field = format!("{field}.confirmationUrl");
    match &action.confirmation_url {
        None if !url.is_literal() => {
            return Err(RuleError::invalid(format!(
                "{confirmation_field} is required when {url_field} uses substitution templates"
            )));
        }
        None => {}
        Some(confirmation) => {
            check_url_length(&confirmation_field, confirmation)?;
            if confirmation.contains("${") {
                return Err(RuleError::invalid(format!(
                    "{confirmation_field}: Roost does not support substitution templates in a \
                     confirmation URL; give the literal prefix of the URL that a topic rule \
                     destination confirms"
                )));
            }
            parse_http_url(confirmation).map_err(|why| {
                RuleError::invalid(format!(
                    "{confirmation_field} '{confirmation}' is not a valid URL: {why}"
                ))
            })?;
            if !covers(confirmation, &action.url) {
                return Err(RuleError::invalid(format!(
                    "{confirmation_field} '{confirmation}' must be a prefix of {url_field} '{}'",
                    action.url
                )));
            }
        }
    }
    let headers = compile_http_headers(field, action, version)?;
    let sigv4 = match action.auth.as_ref().and_then(|auth| auth.sigv4.as_ref()) {
        None => None,
        Some(sigv4) => {
            let sigv4_field = format!("{field}.auth.sigv4");
            for (name, value) in [
                ("signingRegion", &sigv4.signing_region),
                ("serviceName", &sigv4.service_name),
            ] {
                if value.is_empty() {
                    return Err(RuleError::invalid(format!(
                        "{sigv4_field}.{name} must not be empty"
                    )));
                }
            }
            check_arn(&format!("{sigv4_field}.roleArn"), &sigv4.role_arn)?;
            Some(sigv4.clone())
        }
    };
    if let Some(batch) = &action.batch_config {
        check_batch_config(&format!("{field}.batchConfig"), batch)?;
    }
    // Refused rather than stored: a backend written for AWS's batches expects a JSON array,
    // and would silently get one message per request instead.
    if action.enable_batching == Some(true) {
        return Err(RuleError::invalid(format!(
            "{field}.enableBatching is not supported by Roost: each message is POSTed on its own"
        )));
    }
    Ok(CompiledHttp {
        url,
        url_text: action.url.clone(),
        confirmation_url: action.confirmation_url.clone(),
        headers,
        sigv4,
    })
}

/// An HTTP header name: a token of RFC 9110 (§5.6.2).
fn is_header_name(key: &str) -> bool {
    key.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fn compile_http_headers(
    field: &str,
    action: &HttpAction,
    version: SqlVersion,
) -> Result<Vec<(String, SubstitutionTemplate)>, RuleError> {
    let Some(headers) = &action.headers else {
        return Ok(Vec::new());
    };
    let list_field = format!("{field}.headers");
    if headers.len() > MAX_HTTP_HEADERS {
        return Err(RuleError::invalid(format!(
            "{list_field} must have at most {MAX_HTTP_HEADERS} members, not {}",
            headers.len()
        )));
    }
    headers
        .iter()
        .enumerate()
        .map(|(i, header)| {
            let key_field = format!("{list_field}[{i}].key");
            let length = header.key.chars().count();
            if !(1..=MAX_HTTP_HEADER_KEY).contains(&length) {
                return Err(RuleError::invalid(format!(
                    "{key_field} must have 1 to {MAX_HTTP_HEADER_KEY} characters"
                )));
            }
            if !is_header_name(&header.key) {
                return Err(RuleError::invalid(format!(
                    "{key_field} '{}' is not an HTTP header name",
                    header.key
                )));
            }
            let value_field = format!("{list_field}[{i}].value");
            if header.value.contains(['\r', '\n', '\0']) {
                return Err(RuleError::invalid(format!(
                    "{value_field} must not contain line breaks or NUL"
                )));
            }
            Ok((
                header.key.clone(),
                template(&value_field, &header.value, version)?,
            ))
        })
        .collect()
}

fn check_batch_config(field: &str, batch: &BatchConfig) -> Result<(), RuleError> {
    for (name, value, range) in [
        ("maxBatchOpenMs", batch.max_batch_open_ms, 5..=200),
        ("maxBatchSize", batch.max_batch_size, 2..=10),
        (
            "maxBatchSizeBytes",
            batch.max_batch_size_bytes,
            100..=131_072,
        ),
    ] {
        if let Some(value) = value
            && !range.contains(&value)
        {
            return Err(RuleError::invalid(format!(
                "{field}.{name} must be from {} to {}, not {value}",
                range.start(),
                range.end()
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const ROLE: &str = "arn:aws:iam::123456789012:role/rules";

    fn payload(value: serde_json::Value) -> TopicRulePayload {
        serde_json::from_value(value).expect("a payload")
    }

    fn with_actions(actions: serde_json::Value) -> TopicRulePayload {
        payload(json!({"sql": "SELECT * FROM 'in/#'", "actions": actions}))
    }

    fn republish(extra: serde_json::Value) -> TopicRulePayload {
        let mut action = json!({"topic": "out", "roleArn": ROLE});
        action
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        with_actions(json!([{ "republish": action }]))
    }

    fn http(extra: serde_json::Value) -> TopicRulePayload {
        let mut action = json!({"url": "https://example.com/hook"});
        action
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        with_actions(json!([{ "http": action }]))
    }

    fn refusal(payload: &TopicRulePayload) -> String {
        match compile("r", payload) {
            Err(RuleError::InvalidRequest(message)) => message,
            other => panic!("expected InvalidRequest, got {other:?}"),
        }
    }

    #[test]
    fn a_rule_compiles_with_its_filter_actions_and_error_action() {
        let rule = compile(
            "telemetry_1",
            &payload(json!({
                "sql": "SELECT temp FROM 'sensors/+/telemetry' WHERE temp > 30",
                "actions": [
                    {"republish": {"topic": "alerts/${topic(2)}", "roleArn": ROLE, "qos": 1}},
                    {"http": {"url": "https://example.com/alerts"}}
                ],
                "errorAction": {"republish": {"topic": "errors", "roleArn": ROLE}},
                "ruleDisabled": true
            })),
        )
        .unwrap();
        assert_eq!(rule.name, "telemetry_1");
        assert_eq!(rule.topic_pattern, "sensors/+/telemetry");
        assert_eq!(rule.actions.len(), 2);
        assert_eq!(rule.actions[0].name(), "RepublishAction");
        assert_eq!(rule.actions[0].failed_resource(), "alerts/${topic(2)}");
        assert_eq!(rule.actions[1].name(), "HttpAction");
        assert_eq!(
            rule.actions[1].failed_resource(),
            "https://example.com/alerts"
        );
        assert!(matches!(&rule.actions[0], CompiledAction::Republish(r) if r.qos == 1));
        assert!(rule.error_action.is_some());
        assert!(rule.disabled);
    }

    #[test]
    fn rule_names_follow_the_model_pattern_and_length() {
        assert!(check_rule_name("Rule_1").is_ok());
        assert!(check_rule_name(&"a".repeat(128)).is_ok());
        for bad in ["", "my-rule", "a b", "règle"] {
            let err = check_rule_name(bad).unwrap_err().to_string();
            assert!(err.contains("at 'ruleName'"), "{err}");
        }
        let err = check_rule_name(&"a".repeat(129)).unwrap_err().to_string();
        assert!(err.contains("less than or equal to 128"), "{err}");
    }

    #[test]
    fn the_sql_version_defaults_to_2015_10_08_and_beta_reads_as_2016_03_23() {
        assert_eq!(sql_version(None).unwrap(), SqlVersion::V2015_10_08);
        assert_eq!(sql_version(Some("beta")).unwrap(), SqlVersion::V2016_03_23);
        assert_eq!(
            sql_version(Some("2016-03-23")).unwrap(),
            SqlVersion::V2016_03_23
        );
        assert!(matches!(
            sql_version(Some("2017-01-01")),
            Err(RuleError::InvalidRequest(m)) if m.contains("2017-01-01")
        ));
    }

    #[test]
    fn syntax_of_2016_is_refused_under_the_default_version() {
        let literal = payload(json!({"sql": "SELECT [1, 2] AS a FROM 'x'", "actions": []}));
        assert!(matches!(
            compile("r", &literal),
            Err(RuleError::SqlParse(_))
        ));
        let mut newer = literal;
        newer.aws_iot_sql_version = Some("2016-03-23".into());
        assert!(compile("r", &newer).is_ok());
    }

    #[test]
    fn sql_that_does_not_parse_is_a_sql_parse_error_with_its_position() {
        let bad = payload(json!({"sql": "SELECT FROM 'x'", "actions": []}));
        match compile("r", &bad) {
            Err(RuleError::SqlParse(message)) => {
                assert!(message.starts_with("line 1, column "), "{message}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_from_filter_with_misplaced_wildcards_is_refused() {
        let bad = payload(json!({"sql": "SELECT * FROM 'a/#/b'", "actions": []}));
        assert!(matches!(compile("r", &bad), Err(RuleError::SqlParse(_))));
        let bad = payload(json!({"sql": "SELECT * FROM 'a/b+'", "actions": []}));
        assert!(compile("r", &bad).is_err());
    }

    #[test]
    fn a_rule_without_from_compiles_with_an_empty_topic_pattern() {
        let rule = compile("r", &payload(json!({"sql": "SELECT *", "actions": []}))).unwrap();
        assert_eq!(rule.topic_pattern, "");
    }

    #[test]
    fn at_most_ten_actions() {
        let one = json!({"republish": {"topic": "o", "roleArn": ROLE}});
        assert!(compile("r", &with_actions(json!(vec![one.clone(); 10]))).is_ok());
        let err = refusal(&with_actions(json!(vec![one; 11])));
        assert!(err.contains("less than or equal to 10"), "{err}");
    }

    #[test]
    fn an_action_must_name_exactly_one_member() {
        let err = refusal(&with_actions(json!([{}])));
        assert!(err.starts_with("actions[0] names no action"), "{err}");
        let err = refusal(&with_actions(json!([{
            "republish": {"topic": "o", "roleArn": ROLE},
            "http": {"url": "https://example.com"}
        }])));
        assert_eq!(
            err,
            "actions[0] must name exactly one action, found 2: republish, http"
        );
    }

    #[test]
    fn an_unsupported_action_is_refused_by_name() {
        let err = refusal(&with_actions(json!([
            {"republish": {"topic": "o", "roleArn": ROLE}},
            {"lambda": {"functionArn": "arn:aws:lambda:us-east-1:123456789012:function:f"}}
        ])));
        assert_eq!(
            err,
            "actions[1]: the action 'lambda' is not supported by Roost; supported: republish, http"
        );
        let mut rule = with_actions(json!([]));
        rule.error_action = serde_json::from_value(json!({"sns": {"targetArn": "x"}})).unwrap();
        let err = refusal(&rule);
        assert!(err.starts_with("errorAction: the action 'sns'"), "{err}");
    }

    #[test]
    fn the_error_action_follows_the_same_rules() {
        let mut rule = with_actions(json!([]));
        rule.error_action =
            serde_json::from_value(json!({"republish": {"topic": "e", "roleArn": ROLE, "qos": 2}}))
                .unwrap();
        assert_eq!(
            refusal(&rule),
            "errorAction.republish.qos must be 0 or 1, not 2"
        );
    }

    #[test]
    fn republish_qos_is_zero_or_one_defaulting_to_zero() {
        let rule = compile("r", &republish(json!({}))).unwrap();
        assert!(matches!(&rule.actions[0], CompiledAction::Republish(r) if r.qos == 0));
        let err = refusal(&republish(json!({"qos": 2})));
        assert_eq!(err, "actions[0].republish.qos must be 0 or 1, not 2");
    }

    #[test]
    fn a_reserved_republish_topic_is_spelt_with_two_dollars() {
        let rule = compile(
            "r",
            &republish(json!({"topic": "$$aws/things/lamp/shadow/update"})),
        )
        .unwrap();
        let CompiledAction::Republish(action) = &rule.actions[0] else {
            panic!()
        };
        let ctx = roost_sql::MessageContext::new("in/x", b"{}".to_vec());
        assert_eq!(action.topic.render(&ctx), "$aws/things/lamp/shadow/update");
        assert_eq!(action.topic_text, "$$aws/things/lamp/shadow/update");
        let err = refusal(&republish(
            json!({"topic": "$aws/things/lamp/shadow/update"}),
        ));
        assert!(err.contains("doubled dollar sign ($$aws/"), "{err}");
        let err = refusal(&republish(json!({"topic": "$$aws/things/lamp/jobs/get"})));
        assert!(err.contains("jobs topic"), "{err}");
    }

    #[test]
    fn a_republish_topic_is_a_template_without_wildcards() {
        assert!(compile("r", &republish(json!({"topic": "${topic()}/copy"}))).is_ok());
        let err = refusal(&republish(json!({"topic": "out/${topic(}"})));
        assert!(
            err.starts_with(
                "actions[0].republish.topic is not a valid substitution template: line 1, column"
            ),
            "{err}"
        );
        let err = refusal(&republish(json!({"topic": "out/+"})));
        assert!(err.contains("wildcards"), "{err}");
        let err = refusal(&republish(json!({"topic": ""})));
        assert!(err.contains("must not be empty"), "{err}");
    }

    #[test]
    fn role_arns_are_checked_for_syntax_only() {
        assert!(compile("r", &republish(json!({"roleArn": "arn:aws:iam::1:role/x"}))).is_ok());
        for bad in [
            "role/x",
            "arn:aws:iam::1",
            "arn::iam::1:role/x",
            "arn:aws:iam::1:",
        ] {
            let err = refusal(&republish(json!({ "roleArn": bad })));
            assert!(err.contains("is not an ARN"), "{bad}: {err}");
        }
    }

    #[test]
    fn republish_headers_are_checked_and_templated() {
        let rule = compile(
            "r",
            &republish(json!({"headers": {
                "payloadFormatIndicator": "UTF8_DATA",
                "contentType": "application/json",
                "responseTopic": "reply/${clientid()}",
                "correlationData": "AAEC",
                "messageExpiry": "30",
                "userProperties": [{"key": "src", "value": "${topic()}"}]
            }})),
        )
        .unwrap();
        let CompiledAction::Republish(action) = &rule.actions[0] else {
            panic!()
        };
        assert_eq!(action.payload_format_indicator, Some(1));
        assert!(action.headers.content_type.is_some());
        assert!(action.headers.message_expiry.is_some());
        assert_eq!(action.headers.user_properties.len(), 1);

        let cases = [
            (
                json!({"payloadFormatIndicator": "TEXT"}),
                "UNSPECIFIED_BYTES or UTF8_DATA",
            ),
            (json!({"contentType": "x".repeat(1025)}), "longer than 1024"),
            (json!({"messageExpiry": "soon"}), "whole number of seconds"),
            (json!({"correlationData": "not base64!"}), "not base64"),
            (json!({"responseTopic": "a/#"}), "wildcards"),
            (json!({"userProperties": []}), "1 to 100 members"),
            (
                json!({"userProperties": vec![json!({"key": "k", "value": "v"}); 101]}),
                "1 to 100",
            ),
            (
                json!({"userProperties": [{"key": "k".repeat(1025), "value": "v"}]}),
                "userProperties[0].key is longer",
            ),
        ];
        for (headers, expected) in cases {
            let err = refusal(&republish(json!({ "headers": headers })));
            assert!(err.contains(expected), "{headers}: {err}");
        }
        assert!(
            compile(
                "r",
                &republish(json!({"headers": {"messageExpiry": "${ttl}"}}))
            )
            .is_ok()
        );
    }

    #[test]
    fn http_urls_may_be_plain_http_and_at_most_2000_characters() {
        assert!(compile("r", &http(json!({"url": "http://127.0.0.1:9000/in"}))).is_ok());
        let long = format!("https://example.com/{}", "a".repeat(2000));
        assert!(refusal(&http(json!({ "url": long }))).contains("longer than 2000"));
        assert!(refusal(&http(json!({"url": "ftp://example.com"}))).contains("https://"));
        assert!(refusal(&http(json!({"url": "https://"}))).contains("host"));
    }

    #[test]
    fn a_templated_url_needs_a_confirmation_url_that_is_its_prefix() {
        let templated = json!({"url": "https://example.com/in/${topic(2)}"});
        let err = refusal(&http(templated));
        assert!(err.contains("confirmationUrl is required"), "{err}");
        let ok = compile(
            "r",
            &http(json!({"url": "https://example.com/in/${topic(2)}", "confirmationUrl": "https://example.com/in"})),
        )
        .unwrap();
        let CompiledAction::Http(action) = &ok.actions[0] else {
            panic!()
        };
        assert_eq!(
            action.confirmation_url.as_deref(),
            Some("https://example.com/in")
        );
        let err = refusal(&http(
            json!({"confirmationUrl": "https://other.example.com"}),
        ));
        assert!(err.contains("must be a prefix of"), "{err}");
        let err = refusal(&http(json!({"confirmationUrl": "https://example.co"})));
        assert!(err.contains("must be a prefix of"), "{err}");
        let err = refusal(&http(
            json!({"url": "https://${host}/x", "confirmationUrl": "https://${host}"}),
        ));
        assert!(
            err.contains("does not support substitution templates"),
            "{err}"
        );
    }

    #[test]
    fn http_headers_have_names_and_templated_values() {
        let rule = compile(
            "r",
            &http(json!({"headers": [{"key": "x-device", "value": "${clientid()}"}]})),
        )
        .unwrap();
        let CompiledAction::Http(action) = &rule.actions[0] else {
            panic!()
        };
        assert_eq!(action.headers[0].0, "x-device");
        let many = vec![json!({"key": "k", "value": "v"}); 101];
        assert!(refusal(&http(json!({ "headers": many }))).contains("at most 100"));
        assert!(
            refusal(&http(json!({"headers": [{"key": "", "value": "v"}]}))).contains("1 to 256")
        );
        let long = "k".repeat(257);
        assert!(
            refusal(&http(json!({"headers": [{"key": long, "value": "v"}]}))).contains("1 to 256")
        );
        assert!(
            refusal(&http(json!({"headers": [{"key": "a b", "value": "v"}]})))
                .contains("header name")
        );
        assert!(
            refusal(&http(json!({"headers": [{"key": "k", "value": "a\r\nb"}]})))
                .contains("line breaks")
        );
    }

    #[test]
    fn sigv4_auth_needs_region_service_and_a_role_arn() {
        let auth = |region: &str, role: &str| {
            http(
                json!({"auth": {"sigv4": {"signingRegion": region, "serviceName": "execute-api", "roleArn": role}}}),
            )
        };
        let rule = compile("r", &auth("eu-west-1", ROLE)).unwrap();
        assert!(matches!(&rule.actions[0], CompiledAction::Http(h) if h.sigv4.is_some()));
        assert!(refusal(&auth("", ROLE)).contains("signingRegion must not be empty"));
        assert!(refusal(&auth("eu-west-1", "role")).contains("is not an ARN"));
    }

    #[test]
    fn batch_limits_follow_the_model_and_batching_itself_is_refused() {
        assert!(
            compile(
                "r",
                &http(json!({"enableBatching": false, "batchConfig": {"maxBatchSize": 10}}))
            )
            .is_ok()
        );
        let err = refusal(&http(json!({"enableBatching": true})));
        assert!(err.contains("enableBatching is not supported"), "{err}");
        for (config, member) in [
            (json!({"maxBatchOpenMs": 4}), "maxBatchOpenMs"),
            (json!({"maxBatchSize": 11}), "maxBatchSize"),
            (json!({"maxBatchSizeBytes": 99}), "maxBatchSizeBytes"),
        ] {
            let err = refusal(&http(json!({ "batchConfig": config })));
            assert!(err.contains(member), "{err}");
        }
    }
}
