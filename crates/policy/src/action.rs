//! The AWS IoT data-plane actions a broker or data API asks about, and sets of them.

use std::fmt;
use std::str::FromStr;

use wildmatch::WildMatch;

use crate::error::Problem;

/// An AWS IoT data-plane action: what a device (or data API caller) is trying to do.
///
/// Control-plane actions (`iot:CreateThing`, …) are accepted in documents but never asked
/// about by Roost's data plane, so they have no variant here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Action {
    /// MQTT CONNECT; resource `client/<clientId>`.
    Connect,
    /// MQTT PUBLISH; resource `topic/<topic>`.
    Publish,
    /// MQTT SUBSCRIBE, per filter; resource `topicfilter/<filter>`.
    Subscribe,
    /// Every delivery to a subscriber; resource `topic/<topic>`.
    Receive,
    /// PUBLISH with RETAIN=1 (also needs `Publish`); resource `topic/<topic>`.
    RetainPublish,
    /// Data-plane GetRetainedMessage; resource `topic/<topic>`.
    GetRetainedMessage,
    /// Data-plane ListRetainedMessages; resource `*`.
    ListRetainedMessages,
    /// Shadow delete over HTTPS; resource `thing/<thing>[/<shadow>]`.
    DeleteThingShadow,
    /// Shadow get over HTTPS; resource `thing/<thing>[/<shadow>]`.
    GetThingShadow,
    /// Shadow update over HTTPS; resource `thing/<thing>[/<shadow>]`.
    UpdateThingShadow,
    /// List named shadows; resource `*`.
    ListNamedShadowsForThing,
    /// Jobs API; resource `thing/<thing>`.
    DescribeJobExecution,
    /// Jobs API; resource `thing/<thing>`.
    GetPendingJobExecutions,
    /// Jobs API; resource `thing/<thing>`.
    UpdateJobExecution,
    /// Jobs API; resource `thing/<thing>`.
    StartNextPendingJobExecution,
    /// Credentials provider; resource `rolealias/<alias>`.
    AssumeRoleWithCertificate,
}

impl Action {
    /// Every action, in declaration order (which is also [`Action::index`] order).
    pub const ALL: [Self; 16] = [
        Self::Connect,
        Self::Publish,
        Self::Subscribe,
        Self::Receive,
        Self::RetainPublish,
        Self::GetRetainedMessage,
        Self::ListRetainedMessages,
        Self::DeleteThingShadow,
        Self::GetThingShadow,
        Self::UpdateThingShadow,
        Self::ListNamedShadowsForThing,
        Self::DescribeJobExecution,
        Self::GetPendingJobExecutions,
        Self::UpdateJobExecution,
        Self::StartNextPendingJobExecution,
        Self::AssumeRoleWithCertificate,
    ];

    /// Number of actions.
    pub const COUNT: usize = Self::ALL.len();

    /// The name after `iot:`, e.g. `Publish`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Connect => "Connect",
            Self::Publish => "Publish",
            Self::Subscribe => "Subscribe",
            Self::Receive => "Receive",
            Self::RetainPublish => "RetainPublish",
            Self::GetRetainedMessage => "GetRetainedMessage",
            Self::ListRetainedMessages => "ListRetainedMessages",
            Self::DeleteThingShadow => "DeleteThingShadow",
            Self::GetThingShadow => "GetThingShadow",
            Self::UpdateThingShadow => "UpdateThingShadow",
            Self::ListNamedShadowsForThing => "ListNamedShadowsForThing",
            Self::DescribeJobExecution => "DescribeJobExecution",
            Self::GetPendingJobExecutions => "GetPendingJobExecutions",
            Self::UpdateJobExecution => "UpdateJobExecution",
            Self::StartNextPendingJobExecution => "StartNextPendingJobExecution",
            Self::AssumeRoleWithCertificate => "AssumeRoleWithCertificate",
        }
    }

    /// Position in [`Action::ALL`], `0..Action::COUNT`.
    pub fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "iot:{}", self.name())
    }
}

/// The text is not `iot:<Name>` for a known data-plane action.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown AWS IoT data-plane action \"{0}\"")]
pub struct UnknownAction(pub String);

impl FromStr for Action {
    type Err = UnknownAction;

    /// Parses `iot:Publish` (case-insensitively, as IAM compares action names).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let name = text
            .split_once(':')
            .filter(|(service, _)| service.eq_ignore_ascii_case("iot"))
            .map(|(_, name)| name)
            .ok_or_else(|| UnknownAction(text.to_owned()))?;
        Self::ALL
            .into_iter()
            .find(|action| action.name().eq_ignore_ascii_case(name))
            .ok_or_else(|| UnknownAction(text.to_owned()))
    }
}

/// The set of data-plane actions a statement's `Action`/`NotAction` covers, as a bit mask.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ActionSet(u32);

impl ActionSet {
    pub(crate) const EMPTY: Self = Self(0);
    pub(crate) const ALL: Self = Self((1 << Action::COUNT) - 1);

    pub(crate) fn contains(self, action: Action) -> bool {
        self.0 & (1 << action.index()) != 0
    }

    pub(crate) fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    pub(crate) fn complement(self) -> Self {
        Self(!self.0 & Self::ALL.0)
    }

    pub(crate) fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The data-plane actions one `Action` entry matches, after validating it.
    ///
    /// Any `iot:` name is accepted, because AWS has many control-plane actions; other services
    /// are refused so that a typo such as `iot-data:Publish` does not silently grant nothing.
    pub(crate) fn from_pattern(pattern: &str) -> Result<Self, Problem> {
        let invalid = || Problem::InvalidAction {
            found: pattern.to_owned(),
        };
        if pattern.chars().all(|c| c == '*') && !pattern.is_empty() {
            return Ok(Self::ALL);
        }
        let (service, name) = pattern.split_once(':').ok_or_else(invalid)?;
        let valid_name = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '*' || c == '?')
        };
        if !valid_name(service) || !valid_name(name) {
            return Err(invalid());
        }
        if !service.eq_ignore_ascii_case("iot") {
            return Err(Problem::UnsupportedService {
                service: service.to_owned(),
            });
        }
        let matcher = WildMatch::new_case_insensitive(name);
        Ok(Action::ALL
            .into_iter()
            .filter(|action| matcher.matches(action.name()))
            .fold(Self::EMPTY, |set, action| {
                set.union(Self(1 << action.index()))
            }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_sits_at_its_index() {
        for (i, action) in Action::ALL.into_iter().enumerate() {
            assert_eq!(action.index(), i);
            assert_eq!(action.to_string().parse::<Action>(), Ok(action));
        }
    }

    #[test]
    fn action_names_parse_case_insensitively() {
        assert_eq!("IOT:publish".parse::<Action>(), Ok(Action::Publish));
        assert!("iot:CreateThing".parse::<Action>().is_err());
        assert!("s3:Publish".parse::<Action>().is_err());
    }

    #[test]
    fn a_star_pattern_covers_every_action() {
        assert_eq!(ActionSet::from_pattern("*"), Ok(ActionSet::ALL));
        assert_eq!(ActionSet::from_pattern("iot:*"), Ok(ActionSet::ALL));
    }

    #[test]
    fn action_patterns_match_names_case_insensitively_with_wildcards() {
        let set = ActionSet::from_pattern("iot:*shadow").unwrap();
        assert!(set.contains(Action::GetThingShadow));
        assert!(set.contains(Action::DeleteThingShadow));
        assert!(!set.contains(Action::Publish));
        let set = ActionSet::from_pattern("IoT:PUBLISH").unwrap();
        assert!(set.contains(Action::Publish));
        assert!(!set.contains(Action::RetainPublish));
        let set = ActionSet::from_pattern("iot:?eceive").unwrap();
        assert!(set.contains(Action::Receive));
    }

    #[test]
    fn control_plane_actions_are_accepted_and_cover_no_data_action() {
        assert_eq!(
            ActionSet::from_pattern("iot:CreateThing"),
            Ok(ActionSet::EMPTY)
        );
    }

    #[test]
    fn other_services_are_refused() {
        assert_eq!(
            ActionSet::from_pattern("s3:GetObject"),
            Err(Problem::UnsupportedService {
                service: "s3".into()
            })
        );
    }

    #[test]
    fn malformed_actions_are_refused() {
        for bad in [
            "",
            "Publish",
            "iot:",
            "iot:Pub lish",
            "iot:Publish/x",
            ":Publish",
        ] {
            assert_eq!(
                ActionSet::from_pattern(bad),
                Err(Problem::InvalidAction { found: bad.into() }),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn not_action_is_the_complement_within_data_actions() {
        let publish = ActionSet::from_pattern("iot:Publish").unwrap();
        let others = publish.complement();
        assert!(!others.contains(Action::Publish));
        assert!(others.contains(Action::Receive));
        assert!(ActionSet::ALL.complement().is_empty());
    }
}
