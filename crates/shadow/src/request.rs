//! Requests as devices publish them on `…/update`, `…/get` and `…/delete` (or send them to
//! iot-data): parsed and validated before they touch a document.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::ShadowError;

/// The longest `clientToken`, in bytes.
pub const MAX_CLIENT_TOKEN_BYTES: usize = 64;

/// The limits a request is checked against. The defaults are AWS's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShadowLimits {
    /// The largest request payload, in bytes, refused with 413 before it is parsed. Default
    /// 131,072: AWS IoT's MQTT message size limit (AWS states no separate shadow figure).
    pub max_request_bytes: usize,
    /// The largest state an update may leave: `desired` plus `reported` of the merged
    /// document, serialized compactly, without metadata. Default 8,192 (AWS's 8 KB).
    pub max_state_bytes: usize,
    /// The deepest `desired` or `reported` section, counting only objects and arrays and the
    /// section object itself as level 1. Default 6, the figure AWS's error message states
    /// (quota pages have said 5 levels below the section and, lately, 8).
    pub max_depth: usize,
}

impl Default for ShadowLimits {
    fn default() -> Self {
        Self {
            max_request_bytes: 128 * 1024,
            max_state_bytes: 8 * 1024,
            max_depth: 6,
        }
    }
}

/// A request's `clientToken`: at most 64 bytes, echoed on every answer so that clients can
/// match answers to requests (responses reach every subscriber).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ClientToken(String);

impl ClientToken {
    /// Validates a token: any string of at most [`MAX_CLIENT_TOKEN_BYTES`] bytes.
    pub fn new(value: &str) -> Result<Self, ShadowError> {
        if value.len() > MAX_CLIENT_TOKEN_BYTES {
            return Err(ShadowError::InvalidClientToken);
        }
        Ok(Self(value.to_owned()))
    }

    /// The token as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ClientToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What an update does to one section (`desired` or `reported`).
#[derive(Debug, Clone, PartialEq)]
pub enum SectionUpdate {
    /// The section is not in the request: it stays as it is.
    Untouched,
    /// The section is `null` (or `state` is): it is removed with its metadata.
    Clear,
    /// The section is an object, merged into the stored one.
    Merge(Map<String, Value>),
}

/// A validated update request: `{"state":{"desired"?,"reported"?},"version"?,"clientToken"?}`.
/// Other members, at the top level or inside `state`, are ignored: AWS ignores content outside
/// the two sections.
#[derive(Debug, Clone, PartialEq)]
pub struct UpdateRequest {
    desired: SectionUpdate,
    reported: SectionUpdate,
    /// The sections as sent, echoed on `/update/accepted`.
    state: Value,
    version: Option<u64>,
    client_token: Option<ClientToken>,
    /// The size limit of the state the update may leave, from the limits it was parsed under.
    max_state_bytes: usize,
}

impl UpdateRequest {
    /// Parses and validates an update payload. The checks run in this order: size (413),
    /// UTF-8 (415), JSON syntax and a top-level object, `clientToken`, `version`, `state`,
    /// the sections' types, nesting depth, and `null` inside arrays (all 400). The state-size
    /// limit is kept with the request and checked by
    /// [`crate::ShadowDocument::apply_update`] on the merged result.
    pub fn parse(payload: &[u8], limits: &ShadowLimits) -> Result<Self, ShadowError> {
        let mut top = parse_object(payload, limits)?;
        let client_token = client_token_of(&top)?;
        let version = match top.get("version") {
            None | Some(Value::Null) => None,
            Some(version) => Some(version.as_u64().ok_or(ShadowError::InvalidVersion)?),
        };
        let (desired, reported, state) = match top.remove("state") {
            None => return Err(ShadowError::MissingState),
            Some(Value::Null) => (SectionUpdate::Clear, SectionUpdate::Clear, Value::Null),
            Some(Value::Object(mut sections)) => {
                let desired = section(&sections, "desired", ShadowError::DesiredNotObject)?;
                let reported = section(&sections, "reported", ShadowError::ReportedNotObject)?;
                sections.retain(|key, _| key == "desired" || key == "reported");
                (desired, reported, Value::Object(sections))
            }
            Some(_) => return Err(ShadowError::StateNotObject),
        };
        for update in [&desired, &reported] {
            if let SectionUpdate::Merge(section) = update {
                if section_depth(section) > limits.max_depth {
                    return Err(ShadowError::TooDeep {
                        max: limits.max_depth,
                    });
                }
                if section.values().any(has_null_in_array) {
                    return Err(ShadowError::InvalidStateNode);
                }
            }
        }
        Ok(Self {
            desired,
            reported,
            state,
            version,
            client_token,
            max_state_bytes: limits.max_state_bytes,
        })
    }

    /// What the update does to `desired`.
    pub fn desired(&self) -> &SectionUpdate {
        &self.desired
    }

    /// What the update does to `reported`.
    pub fn reported(&self) -> &SectionUpdate {
        &self.reported
    }

    /// `state` as sent, less any members other than the sections (an object, or `null` to
    /// clear both sections).
    pub fn state(&self) -> &Value {
        &self.state
    }

    /// The version the update expects the shadow to be at, if it names one.
    pub fn version(&self) -> Option<u64> {
        self.version
    }

    /// The request's token, to echo on every answer.
    pub fn client_token(&self) -> Option<&ClientToken> {
        self.client_token.as_ref()
    }

    pub(crate) fn max_state_bytes(&self) -> usize {
        self.max_state_bytes
    }
}

/// A get or delete request: an empty payload, `{}` or `{"clientToken":…}`. Other members are
/// ignored.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GetOrDeleteRequest {
    /// The request's token, to echo on the answer.
    pub client_token: Option<ClientToken>,
}

impl GetOrDeleteRequest {
    /// Parses a get or delete payload. An empty payload is a request without a token.
    pub fn parse(payload: &[u8], limits: &ShadowLimits) -> Result<Self, ShadowError> {
        if payload.is_empty() {
            return Ok(Self::default());
        }
        let top = parse_object(payload, limits)?;
        Ok(Self {
            client_token: client_token_of(&top)?,
        })
    }
}

/// The `clientToken` of a payload that failed validation, if it has a valid one: AWS echoes
/// any token it could read on `/rejected`. It works on any payload, so one call serves errors
/// from parsing and from applying alike: `error.rejected(recover_client_token(payload).as_ref(), now)`.
pub fn recover_client_token(payload: &[u8]) -> Option<ClientToken> {
    match serde_json::from_slice::<Value>(payload).ok()? {
        Value::Object(top) => client_token_of(&top).ok().flatten(),
        _ => None,
    }
}

/// Size, encoding and syntax checks shared by every request: the payload must be a JSON
/// object.
fn parse_object(payload: &[u8], limits: &ShadowLimits) -> Result<Map<String, Value>, ShadowError> {
    if payload.len() > limits.max_request_bytes {
        return Err(ShadowError::PayloadTooLarge {
            bytes: payload.len(),
            max: limits.max_request_bytes,
        });
    }
    let text = std::str::from_utf8(payload).map_err(|_| ShadowError::UnsupportedEncoding)?;
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(top)) => Ok(top),
        Ok(_) => Err(ShadowError::InvalidJson),
        // serde_json stops at 128 levels; report that as nesting, not as bad syntax.
        Err(_) if raw_depth(text) >= SERDE_RECURSION_LIMIT => Err(ShadowError::TooDeep {
            max: limits.max_depth,
        }),
        Err(_) => Err(ShadowError::InvalidJson),
    }
}

/// serde_json's nesting limit; deeper documents fail to parse.
const SERDE_RECURSION_LIMIT: usize = 128;

/// `clientToken`: absent or `null` is none; anything but a short enough string is invalid.
fn client_token_of(top: &Map<String, Value>) -> Result<Option<ClientToken>, ShadowError> {
    match top.get("clientToken") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(token)) => ClientToken::new(token).map(Some),
        Some(_) => Err(ShadowError::InvalidClientToken),
    }
}

fn section(
    sections: &Map<String, Value>,
    name: &str,
    not_object: ShadowError,
) -> Result<SectionUpdate, ShadowError> {
    match sections.get(name) {
        None => Ok(SectionUpdate::Untouched),
        Some(Value::Null) => Ok(SectionUpdate::Clear),
        Some(Value::Object(map)) => Ok(SectionUpdate::Merge(map.clone())),
        Some(_) => Err(not_object),
    }
}

/// The depth of a section, the section object itself being level 1.
fn section_depth(section: &Map<String, Value>) -> usize {
    1 + section.values().map(depth).max().unwrap_or(0)
}

/// Levels of objects and arrays: a scalar is 0, `{}` and `[]` are 1, `{"a":[1]}` is 2.
fn depth(value: &Value) -> usize {
    match value {
        Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// Whether any array at any depth has `null` as an element, which AWS refuses: in state `null`
/// means "delete", which has no meaning inside an array.
fn has_null_in_array(value: &Value) -> bool {
    match value {
        Value::Object(map) => map.values().any(has_null_in_array),
        Value::Array(items) => items
            .iter()
            .any(|item| item.is_null() || has_null_in_array(item)),
        _ => false,
    }
}

/// The deepest nesting of brackets outside strings, counted on the raw text so that it works
/// on documents too deep for serde_json to parse.
fn raw_depth(text: &str) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    let (mut in_string, mut escaped) = (false, false);
    for byte in text.bytes() {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parse(payload: &str) -> Result<UpdateRequest, ShadowError> {
        UpdateRequest::parse(payload.as_bytes(), &ShadowLimits::default())
    }

    fn nested(levels: usize) -> String {
        let mut value = json!(1);
        for _ in 0..levels {
            value = json!({ "a": value });
        }
        value.to_string()
    }

    #[test]
    fn an_update_with_both_sections_a_version_and_a_token_parses() {
        let request = parse(
            r#"{"state":{"desired":{"color":"red"},"reported":{"color":"green"}},"version":3,"clientToken":"t-1"}"#,
        )
        .unwrap();
        assert_eq!(
            request.desired(),
            &SectionUpdate::Merge(json!({"color":"red"}).as_object().unwrap().clone())
        );
        assert!(matches!(request.reported(), SectionUpdate::Merge(_)));
        assert_eq!(request.version(), Some(3));
        assert_eq!(request.client_token().unwrap().as_str(), "t-1");
    }

    #[test]
    fn a_missing_section_is_left_untouched_and_a_null_one_is_cleared() {
        let request = parse(r#"{"state":{"desired":null}}"#).unwrap();
        assert_eq!(request.desired(), &SectionUpdate::Clear);
        assert_eq!(request.reported(), &SectionUpdate::Untouched);
    }

    #[test]
    fn a_null_state_clears_both_sections() {
        let request = parse(r#"{"state":null}"#).unwrap();
        assert_eq!(request.desired(), &SectionUpdate::Clear);
        assert_eq!(request.reported(), &SectionUpdate::Clear);
        assert_eq!(request.state(), &Value::Null);
    }

    #[test]
    fn bad_json_is_invalid_json() {
        assert_eq!(parse("{\"state\":").unwrap_err(), ShadowError::InvalidJson);
        assert_eq!(parse("").unwrap_err(), ShadowError::InvalidJson);
    }

    #[test]
    fn a_payload_that_is_not_an_object_is_invalid_json() {
        for payload in ["[]", "42", "\"state\"", "null"] {
            assert_eq!(
                parse(payload).unwrap_err(),
                ShadowError::InvalidJson,
                "{payload}"
            );
        }
    }

    #[test]
    fn a_payload_that_is_not_utf8_is_an_unsupported_encoding() {
        let err = UpdateRequest::parse(b"{\"state\":\xff}", &ShadowLimits::default()).unwrap_err();
        assert_eq!(err, ShadowError::UnsupportedEncoding);
        assert_eq!(err.code(), 415);
    }

    #[test]
    fn an_update_without_state_is_missing_the_state_node() {
        assert_eq!(
            parse(r#"{"clientToken":"x"}"#).unwrap_err(),
            ShadowError::MissingState
        );
    }

    #[test]
    fn a_state_that_is_not_an_object_is_refused() {
        assert_eq!(
            parse(r#"{"state":[1]}"#).unwrap_err(),
            ShadowError::StateNotObject
        );
        assert_eq!(
            parse(r#"{"state":"on"}"#).unwrap_err(),
            ShadowError::StateNotObject
        );
    }

    #[test]
    fn sections_that_are_not_objects_are_refused_by_name() {
        assert_eq!(
            parse(r#"{"state":{"desired":1}}"#).unwrap_err(),
            ShadowError::DesiredNotObject
        );
        assert_eq!(
            parse(r#"{"state":{"reported":[]}}"#).unwrap_err(),
            ShadowError::ReportedNotObject
        );
    }

    #[test]
    fn state_members_other_than_desired_or_reported_are_ignored_and_not_echoed() {
        let request = parse(r#"{"state":{"delta":{"a":1},"reported":{"b":2}}}"#).unwrap();
        assert_eq!(request.desired(), &SectionUpdate::Untouched);
        assert_eq!(request.state(), &json!({"reported": {"b": 2}}));
    }

    #[test]
    fn unknown_top_level_members_are_ignored() {
        let request = parse(r#"{"state":{"reported":{"a":1}},"metadata":{"x":1},"foo":[1]}"#);
        assert!(request.is_ok());
    }

    #[test]
    fn a_version_must_be_a_non_negative_integer() {
        for version in ["-1", "1.5", "\"3\"", "true", "{}"] {
            let payload = format!(r#"{{"state":{{}},"version":{version}}}"#);
            assert_eq!(
                parse(&payload).unwrap_err(),
                ShadowError::InvalidVersion,
                "{version}"
            );
        }
        assert_eq!(
            parse(r#"{"state":{},"version":null}"#).unwrap().version(),
            None
        );
    }

    #[test]
    fn a_client_token_of_64_bytes_is_accepted_and_65_is_invalid() {
        let ok = format!(r#"{{"state":{{}},"clientToken":"{}"}}"#, "t".repeat(64));
        assert!(parse(&ok).is_ok());
        let long = format!(r#"{{"state":{{}},"clientToken":"{}"}}"#, "t".repeat(65));
        assert_eq!(parse(&long).unwrap_err(), ShadowError::InvalidClientToken);
        assert_eq!(
            parse(r#"{"state":{},"clientToken":7}"#).unwrap_err(),
            ShadowError::InvalidClientToken
        );
    }

    #[test]
    fn six_levels_counting_the_section_pass_and_seven_are_too_deep() {
        // The section object is level 1, so five more levels of objects are allowed.
        let ok = format!(r#"{{"state":{{"reported":{}}}}}"#, nested(6));
        assert!(parse(&ok).is_ok());
        let deep = format!(r#"{{"state":{{"reported":{}}}}}"#, nested(7));
        let err = parse(&deep).unwrap_err();
        assert_eq!(err, ShadowError::TooDeep { max: 6 });
        assert_eq!(
            err.to_string(),
            "JSON contains too many levels of nesting; maximum is 6"
        );
    }

    #[test]
    fn arrays_count_as_levels_of_nesting() {
        let deep = r#"{"state":{"desired":{"a":[[[[[[1]]]]]]}}}"#;
        assert_eq!(parse(deep).unwrap_err(), ShadowError::TooDeep { max: 6 });
        let ok = r#"{"state":{"desired":{"a":[[[[[1]]]]]}}}"#;
        assert!(parse(ok).is_ok());
    }

    #[test]
    fn the_depth_limit_is_configurable() {
        let limits = ShadowLimits {
            max_depth: 8,
            ..ShadowLimits::default()
        };
        let payload = format!(r#"{{"state":{{"reported":{}}}}}"#, nested(8));
        assert!(UpdateRequest::parse(payload.as_bytes(), &limits).is_ok());
    }

    #[test]
    fn nesting_too_deep_for_the_json_parser_is_still_a_nesting_error() {
        let payload = format!(r#"{{"state":{{"reported":{}}}}}"#, nested(200));
        assert_eq!(
            parse(&payload).unwrap_err(),
            ShadowError::TooDeep { max: 6 }
        );
    }

    #[test]
    fn an_array_holding_null_is_an_invalid_node() {
        assert_eq!(
            parse(r#"{"state":{"desired":{"a":[1,null]}}}"#).unwrap_err(),
            ShadowError::InvalidStateNode
        );
        assert_eq!(
            parse(r#"{"state":{"desired":{"a":[[null]]}}}"#).unwrap_err(),
            ShadowError::InvalidStateNode
        );
    }

    #[test]
    fn a_payload_over_the_request_limit_is_too_large() {
        let limits = ShadowLimits {
            max_request_bytes: 16,
            ..ShadowLimits::default()
        };
        let err = UpdateRequest::parse(br#"{"state":{"reported":{}}}"#, &limits).unwrap_err();
        assert_eq!(err, ShadowError::PayloadTooLarge { bytes: 25, max: 16 });
    }

    #[test]
    fn get_and_delete_payloads_may_be_empty_an_empty_object_or_a_token() {
        let limits = ShadowLimits::default();
        assert_eq!(
            GetOrDeleteRequest::parse(b"", &limits)
                .unwrap()
                .client_token,
            None
        );
        assert_eq!(
            GetOrDeleteRequest::parse(b"{}", &limits)
                .unwrap()
                .client_token,
            None
        );
        let request = GetOrDeleteRequest::parse(br#"{"clientToken":"abc"}"#, &limits).unwrap();
        assert_eq!(request.client_token.unwrap().as_str(), "abc");
        assert_eq!(
            GetOrDeleteRequest::parse(b"nope", &limits).unwrap_err(),
            ShadowError::InvalidJson
        );
    }

    #[test]
    fn the_token_of_a_rejected_update_can_be_recovered_to_echo_it() {
        let payload = br#"{"clientToken":"abc","state":{"desired":5}}"#;
        assert!(UpdateRequest::parse(payload, &ShadowLimits::default()).is_err());
        assert_eq!(recover_client_token(payload).unwrap().as_str(), "abc");
        assert_eq!(recover_client_token(b"{bad"), None);
        assert_eq!(recover_client_token(br#"{"clientToken":1}"#), None);
    }

    #[test]
    fn raw_depth_ignores_brackets_inside_strings() {
        assert_eq!(raw_depth(r#"{"a":"[[[{{{\"]]"}"#), 1);
        assert_eq!(raw_depth("[[[]],[]]"), 3);
    }
}
