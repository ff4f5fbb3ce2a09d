//! Topic rule destinations: the URLs an http action may reach once their owner has confirmed
//! them, and the confirmation message AWS sends.

use std::fmt;
use std::str::FromStr;

use serde_json::json;

use crate::compile::CompiledHttp;
use crate::error::RuleError;
use crate::url::{MAX_URL_CHARS, covers, parse_http_url};

/// A destination's status, as AWS spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DestinationStatus {
    /// Confirmed; traffic flows.
    Enabled,
    /// Created or re-challenged; waiting for its confirmation.
    InProgress,
    /// Confirmed, and traffic stopped by its owner.
    Disabled,
    /// The confirmation could not be delivered (`statusReason` says why).
    Error,
    /// Being deleted.
    Deleting,
}

impl DestinationStatus {
    /// The wire spelling: `ENABLED`, `IN_PROGRESS`, `DISABLED`, `ERROR` or `DELETING`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enabled => "ENABLED",
            Self::InProgress => "IN_PROGRESS",
            Self::Disabled => "DISABLED",
            Self::Error => "ERROR",
            Self::Deleting => "DELETING",
        }
    }
}

impl fmt::Display for DestinationStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A status string AWS does not have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "'{0}' is not a topic rule destination status (expected ENABLED, IN_PROGRESS, DISABLED, ERROR or DELETING)"
)]
pub struct UnknownDestinationStatus(pub String);

impl FromStr for DestinationStatus {
    type Err = UnknownDestinationStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "ENABLED" => Ok(Self::Enabled),
            "IN_PROGRESS" => Ok(Self::InProgress),
            "DISABLED" => Ok(Self::Disabled),
            "ERROR" => Ok(Self::Error),
            "DELETING" => Ok(Self::Deleting),
            other => Err(UnknownDestinationStatus(other.to_owned())),
        }
    }
}

/// Checks a destination's `confirmationUrl`: a literal `https://` or (on Roost) `http://` URL
/// of at most 2000 characters.
pub fn check_destination_url(url: &str) -> Result<(), RuleError> {
    let field = "destinationConfiguration.httpUrlConfiguration.confirmationUrl";
    if url.chars().count() > MAX_URL_CHARS {
        return Err(RuleError::invalid(format!(
            "{field} is longer than {MAX_URL_CHARS} characters"
        )));
    }
    if url.contains("${") {
        return Err(RuleError::invalid(format!(
            "{field} '{url}' must be a literal URL, without substitution templates"
        )));
    }
    parse_http_url(url)
        .map(|_| ())
        .map_err(|why| RuleError::invalid(format!("{field} '{url}' is not a valid URL: {why}")))
}

/// The body of the confirmation message POSTed to a new destination's URL; `enable_url` is
/// the `/confirmdestination/<token>` URL of the control plane, which a plain GET opens.
pub fn confirmation_body(arn: &str, token: &str, enable_url: &str) -> serde_json::Value {
    json!({
        "arn": arn,
        "confirmationToken": token,
        "enableUrl": enable_url,
        "messageType": "DestinationConfirmation",
    })
}

/// The URL a destination must cover for `action`: its confirmation URL, else its URL.
pub fn destination_target(action: &CompiledHttp) -> &str {
    action
        .confirmation_url
        .as_deref()
        .unwrap_or(&action.url_text)
}

/// Whether the destination URL `destination` covers `target`: `destination` is a prefix of it
/// that does not end inside a host name (`https://example.com` covers
/// `https://example.com/hook`, not `https://example.com.evil.net`).
pub fn destination_covers(destination: &str, target: &str) -> bool {
    covers(destination, target)
}

/// Whether an ENABLED destination among `destinations` (confirmation URL and status) covers
/// `action`, so that the rules engine may send it traffic.
pub fn http_action_enabled<'a>(
    action: &CompiledHttp,
    destinations: impl IntoIterator<Item = (&'a str, DestinationStatus)>,
) -> bool {
    let target = destination_target(action);
    destinations
        .into_iter()
        .any(|(url, status)| status == DestinationStatus::Enabled && covers(url, target))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::{CompiledAction, TopicRulePayload, compile};

    fn http_action(action: serde_json::Value) -> CompiledHttp {
        let payload: TopicRulePayload = serde_json::from_value(json!({
            "sql": "SELECT * FROM 'in'",
            "actions": [{ "http": action }]
        }))
        .unwrap();
        match compile("r", &payload).unwrap().actions.remove(0) {
            CompiledAction::Http(http) => http,
            CompiledAction::Republish(_) => unreachable!(),
        }
    }

    #[test]
    fn statuses_spell_as_aws_does() {
        for status in [
            DestinationStatus::Enabled,
            DestinationStatus::InProgress,
            DestinationStatus::Disabled,
            DestinationStatus::Error,
            DestinationStatus::Deleting,
        ] {
            assert_eq!(status.as_str().parse(), Ok(status));
        }
        assert!("enabled".parse::<DestinationStatus>().is_err());
    }

    #[test]
    fn the_confirmation_body_has_aws_members() {
        assert_eq!(
            confirmation_body("arn:x", "tok", "http://h/confirmdestination/tok"),
            json!({
                "arn": "arn:x",
                "confirmationToken": "tok",
                "enableUrl": "http://h/confirmdestination/tok",
                "messageType": "DestinationConfirmation"
            })
        );
    }

    #[test]
    fn destination_urls_are_literal_http_urls() {
        assert!(check_destination_url("https://example.com/hooks").is_ok());
        assert!(check_destination_url("http://127.0.0.1:9000").is_ok());
        assert!(check_destination_url("https://example.com/${x}").is_err());
        assert!(check_destination_url("mailto:x@example.com").is_err());
        assert!(check_destination_url(&format!("https://e.com/{}", "a".repeat(2000))).is_err());
    }

    #[test]
    fn only_an_enabled_destination_covering_the_confirmation_url_lets_traffic_through() {
        let action = http_action(json!({
            "url": "https://example.com/in/${topic()}",
            "confirmationUrl": "https://example.com/in"
        }));
        assert_eq!(destination_target(&action), "https://example.com/in");
        let enabled = DestinationStatus::Enabled;
        assert!(http_action_enabled(
            &action,
            [("https://example.com", enabled)]
        ));
        assert!(http_action_enabled(
            &action,
            [("https://example.com/in", enabled)]
        ));
        assert!(!http_action_enabled(
            &action,
            [("https://example.com/in/x", enabled)]
        ));
        assert!(!http_action_enabled(
            &action,
            [("https://example.com", DestinationStatus::InProgress)]
        ));
        assert!(!http_action_enabled(&action, []));
    }

    #[test]
    fn without_a_confirmation_url_the_url_is_the_target() {
        let action = http_action(json!({"url": "https://example.com/hook"}));
        assert_eq!(destination_target(&action), "https://example.com/hook");
        assert!(destination_covers(
            "https://example.com",
            destination_target(&action)
        ));
        assert!(!destination_covers(
            "https://example.co",
            destination_target(&action)
        ));
    }
}
