//! The crate's one error type, and the `/rejected` document it renders to.

use serde::Serialize;

use crate::name::{NameViolation, SHADOW_NAME_PATTERN, ShadowName, THING_NAME_PATTERN, ThingName};
use crate::request::ClientToken;

/// Why a shadow request failed. Each variant is one of AWS's shadow errors: `Display` is AWS's
/// message, [`ShadowError::code`] the HTTP status that `/rejected` carries as `code`, and
/// [`ShadowError::http`] the status and `x-amzn-ErrorType` that iot-data answers with.
///
/// Messages are those of the AWS IoT Developer Guide's shadow error list. Where AWS gives no
/// text (429) or is not a shadow error at all (name validation) the wording is ours, noted on
/// the variant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ShadowError {
    /// The payload is not JSON, or its top level is not an object.
    #[error("Invalid JSON")]
    InvalidJson,

    /// An update without a `state` member.
    #[error("Missing required node: state")]
    MissingState,

    /// `state` is neither an object nor `null`.
    #[error("State node must be an object")]
    StateNotObject,

    /// `state.desired` is neither an object nor `null`.
    #[error("Desired node must be an object")]
    DesiredNotObject,

    /// `state.reported` is neither an object nor `null`.
    #[error("Reported node must be an object")]
    ReportedNotObject,

    /// `version` is not a non-negative integer.
    #[error("Invalid version")]
    InvalidVersion,

    /// `clientToken` is not a string, or is longer than 64 bytes.
    #[error("Invalid clientToken")]
    InvalidClientToken,

    /// `desired` or `reported` nests objects and arrays more than `max` levels deep, the
    /// section object itself being level 1.
    #[error("JSON contains too many levels of nesting; maximum is {max}")]
    TooDeep { max: usize },

    /// An array in the state holds `null` (AWS documents the 400 but not its message; this is
    /// the closest of its messages).
    #[error("State contains an invalid node")]
    InvalidStateNode,

    /// A thing name outside the model's `ThingName` (a 400 from iot-data's request
    /// validation, worded as AWS words those).
    #[error(
        "{}",
        violation.message("thingName", name, THING_NAME_PATTERN)
    )]
    InvalidThingName {
        name: String,
        violation: NameViolation,
    },

    /// A shadow name outside the model's `ShadowName`.
    #[error(
        "{}",
        violation.message("shadowName", name, SHADOW_NAME_PATTERN)
    )]
    InvalidShadowName {
        name: String,
        violation: NameViolation,
    },

    /// The caller is not authenticated (REST).
    #[error("Unauthorized")]
    Unauthorized,

    /// The caller's policy does not allow the operation.
    #[error("Forbidden")]
    Forbidden,

    /// Get or delete of a shadow that does not exist. `name` is the shadow's name, or the
    /// thing's name for the classic shadow; build it with [`ShadowError::not_found`].
    #[error("No shadow exists with name: '{name}'")]
    ShadowNotFound { name: String },

    /// The update's `version` (`requested`) is not the shadow's `current` version.
    #[error("Version conflict")]
    VersionConflict { current: u64, requested: u64 },

    /// The request payload, or the state the update would leave (`desired` plus `reported`,
    /// compact, without metadata), is larger than the limit.
    #[error("The payload exceeds the maximum size allowed")]
    PayloadTooLarge { bytes: usize, max: usize },

    /// The payload is not UTF-8. (AWS's wording, typo included.)
    #[error("Unsupported documented encoding; supported encoding is UTF-8")]
    UnsupportedEncoding,

    /// Too many requests in flight (AWS gives no text; this is the model's description).
    #[error("The rate exceeds the limit")]
    Throttled,

    /// A fault on our side, such as storage failing; the cause is logged, not sent.
    #[error("Internal service failure")]
    Internal,
}

impl ShadowError {
    /// The 404 for a missing shadow, naming it as AWS does: the shadow name for a named shadow,
    /// the thing name for the classic one.
    pub fn not_found(thing: &ThingName, shadow: Option<&ShadowName>) -> Self {
        let name = match shadow {
            Some(shadow) => shadow.as_str(),
            None => thing.as_str(),
        };
        Self::ShadowNotFound {
            name: name.to_owned(),
        }
    }

    /// The HTTP status of this error, which is also the `code` of a `/rejected` document.
    pub fn code(&self) -> u16 {
        self.http().0
    }

    /// The HTTP status and AWS error type (the `x-amzn-ErrorType` header's name) that
    /// iot-data's shadow operations answer with.
    pub fn http(&self) -> (u16, &'static str) {
        match self {
            Self::InvalidJson
            | Self::MissingState
            | Self::StateNotObject
            | Self::DesiredNotObject
            | Self::ReportedNotObject
            | Self::InvalidVersion
            | Self::InvalidClientToken
            | Self::TooDeep { .. }
            | Self::InvalidStateNode
            | Self::InvalidThingName { .. }
            | Self::InvalidShadowName { .. } => (400, "InvalidRequestException"),
            Self::Unauthorized => (401, "UnauthorizedException"),
            Self::Forbidden => (403, "ForbiddenException"),
            Self::ShadowNotFound { .. } => (404, "ResourceNotFoundException"),
            Self::VersionConflict { .. } => (409, "ConflictException"),
            Self::PayloadTooLarge { .. } => (413, "RequestEntityTooLargeException"),
            Self::UnsupportedEncoding => (415, "UnsupportedDocumentEncodingException"),
            Self::Throttled => (429, "ThrottlingException"),
            Self::Internal => (500, "InternalFailureException"),
        }
    }

    /// The error document published on `/rejected` (and sent as the body of an iot-data error,
    /// where there is no token to echo). `client_token` is the request's, when one could be
    /// read (see [`crate::recover_client_token`]); `now` is epoch seconds.
    ///
    /// A missing shadow's 404 carries no timestamp, as AWS's does.
    pub fn rejected(&self, client_token: Option<&ClientToken>, now: u64) -> RejectedResponse {
        let timestamp = match self {
            Self::ShadowNotFound { .. } => None,
            _ => Some(now),
        };
        RejectedResponse {
            code: self.code(),
            message: self.to_string(),
            timestamp,
            client_token: client_token.cloned(),
        }
    }
}

/// The `/rejected` document: `{"code","message","timestamp"?,"clientToken"?}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RejectedResponse {
    /// The HTTP status of the error.
    pub code: u16,
    /// AWS's message for the error.
    pub message: String,
    /// Epoch seconds; absent on a missing shadow's 404.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<u64>,
    /// The request's token, echoed so that clients can match the answer to their request.
    #[serde(rename = "clientToken", skip_serializing_if = "Option::is_none")]
    pub client_token: Option<ClientToken>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn errors_map_to_aws_status_codes_and_error_types() {
        assert_eq!(
            ShadowError::MissingState.http(),
            (400, "InvalidRequestException")
        );
        assert_eq!(
            ShadowError::VersionConflict {
                current: 2,
                requested: 1
            }
            .http(),
            (409, "ConflictException")
        );
        assert_eq!(
            ShadowError::ShadowNotFound { name: "t".into() }.http(),
            (404, "ResourceNotFoundException")
        );
        assert_eq!(
            ShadowError::PayloadTooLarge { bytes: 9, max: 8 }.http(),
            (413, "RequestEntityTooLargeException")
        );
        assert_eq!(
            ShadowError::UnsupportedEncoding.http(),
            (415, "UnsupportedDocumentEncodingException")
        );
        assert_eq!(
            ShadowError::Unauthorized.http(),
            (401, "UnauthorizedException")
        );
        assert_eq!(ShadowError::Throttled.http(), (429, "ThrottlingException"));
        assert_eq!(
            ShadowError::Internal.http(),
            (500, "InternalFailureException")
        );
    }

    #[test]
    fn messages_are_aws_texts() {
        assert_eq!(ShadowError::InvalidJson.to_string(), "Invalid JSON");
        assert_eq!(
            ShadowError::TooDeep { max: 6 }.to_string(),
            "JSON contains too many levels of nesting; maximum is 6"
        );
        assert_eq!(
            ShadowError::VersionConflict {
                current: 1,
                requested: 2
            }
            .to_string(),
            "Version conflict"
        );
        assert_eq!(
            ShadowError::PayloadTooLarge { bytes: 9, max: 8 }.to_string(),
            "The payload exceeds the maximum size allowed"
        );
    }

    #[test]
    fn a_classic_shadow_is_not_found_by_its_thing_name_and_a_named_one_by_its_own() {
        let thing = ThingName::new("lamp").unwrap();
        let shadow = ShadowName::new("config").unwrap();
        assert_eq!(
            ShadowError::not_found(&thing, None).to_string(),
            "No shadow exists with name: 'lamp'"
        );
        assert_eq!(
            ShadowError::not_found(&thing, Some(&shadow)).to_string(),
            "No shadow exists with name: 'config'"
        );
    }

    #[test]
    fn a_rejection_echoes_the_client_token_and_stamps_the_time() {
        let token = ClientToken::new("abc").unwrap();
        let body = ShadowError::VersionConflict {
            current: 3,
            requested: 2,
        }
        .rejected(Some(&token), 1_700_000_000);
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            json!({"code": 409, "message": "Version conflict", "timestamp": 1_700_000_000, "clientToken": "abc"})
        );
    }

    #[test]
    fn a_missing_shadow_rejection_has_no_timestamp() {
        let token = ClientToken::new("t1").unwrap();
        let body = ShadowError::not_found(&ThingName::new("lamp").unwrap(), None)
            .rejected(Some(&token), 5);
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            json!({"code": 404, "message": "No shadow exists with name: 'lamp'", "clientToken": "t1"})
        );
    }

    #[test]
    fn a_rejection_without_a_token_leaves_it_out() {
        let body = ShadowError::InvalidJson.rejected(None, 7);
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            json!({"code": 400, "message": "Invalid JSON", "timestamp": 7})
        );
    }
}
