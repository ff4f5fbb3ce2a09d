//! Topic filters, shared-subscription filters and the limits a broker puts on topics
//! (MQTT 5.0 §4.7, §4.8.2).
//!
//! The wire syntax (UTF-8 rules, wildcard placement, `$share/` shape) is checked by the codec;
//! this module adds the broker's policy (length and depth limits), splits shared filters into
//! their parts and implements matching.

use std::fmt;
use std::sync::Arc;

use roost_codec::DecodeError;
pub use roost_codec::TopicName;

use crate::error::TopicError;

/// Length and depth limits applied to topic names and filters.
///
/// The spec allows 65,535 bytes and any number of levels; AWS IoT allows 256 bytes and 8 levels.
/// The `$share/<group>/` prefix of a shared filter is not counted, as on AWS IoT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopicLimits {
    /// Maximum length in bytes of a topic name or of the filter part of a subscription.
    pub max_bytes: usize,
    /// Maximum number of levels (slashes + 1).
    pub max_levels: usize,
    /// Maximum length in bytes of a share name.
    pub max_share_name_bytes: usize,
}

impl TopicLimits {
    /// The limits of the MQTT specification itself (a UTF-8 string of at most 65,535 bytes).
    pub const MQTT: Self = Self {
        max_bytes: 65_535,
        max_levels: usize::MAX,
        max_share_name_bytes: 65_535,
    };

    /// The limits AWS IoT Core documents: 256 bytes, 8 levels, share names of 128 bytes.
    pub const AWS_IOT: Self = Self {
        max_bytes: 256,
        max_levels: 8,
        max_share_name_bytes: 128,
    };

    /// Checks a topic name (of a PUBLISH or a will) against these limits.
    pub fn check_name(&self, topic: &TopicName) -> Result<(), TopicError> {
        self.check(topic.as_str())
    }

    fn check(&self, s: &str) -> Result<(), TopicError> {
        let s = without_basic_ingest_prefix(s);
        if s.len() > self.max_bytes {
            return Err(TopicError::TooLong {
                len: s.len(),
                max: self.max_bytes,
            });
        }
        let levels = s.bytes().filter(|&b| b == b'/').count() + 1;
        if levels > self.max_levels {
            return Err(TopicError::TooManyLevels {
                levels,
                max: self.max_levels,
            });
        }
        Ok(())
    }
}

/// The part of a topic that counts against the limits: AWS IoT does not count a Basic Ingest
/// prefix (`$aws/rules/<rule>/`), so a rule's topic may be as long as any other.
fn without_basic_ingest_prefix(s: &str) -> &str {
    let Some(rest) = s.strip_prefix("$aws/rules/") else {
        return s;
    };
    match rest.split_once('/') {
        Some((_rule, topic)) => topic,
        None => s,
    }
}

impl Default for TopicLimits {
    fn default() -> Self {
        Self::MQTT
    }
}

/// Parses and checks a topic name: the codec's syntax rules plus `limits`.
pub fn topic_name(s: &str, limits: &TopicLimits) -> Result<TopicName, TopicError> {
    let topic = TopicName::new(s).map_err(|e| invalid(&e))?;
    limits.check_name(&topic)?;
    Ok(topic)
}

fn invalid(e: &DecodeError) -> TopicError {
    match e {
        DecodeError::Malformed { detail }
        | DecodeError::ProtocolError { detail }
        | DecodeError::TopicNameInvalid { detail } => TopicError::Invalid { detail },
        _ => TopicError::Invalid {
            detail: "not a valid MQTT string",
        },
    }
}

/// A validated, non-shared topic filter: `+` and `#` only as whole levels, `#` only last.
///
/// Cheap to clone (a shared string).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicFilter(Arc<str>);

impl TopicFilter {
    /// Parses `s` as a plain filter under `limits` ([MQTT-4.7.1-1], [MQTT-4.7.1-2],
    /// [MQTT-4.7.3-1]); a `$share/…` filter is refused, use [`SubscriptionFilter::parse`].
    pub fn new(s: &str, limits: &TopicLimits) -> Result<Self, TopicError> {
        match SubscriptionFilter::parse(s, limits)? {
            SubscriptionFilter::Plain(filter) => Ok(filter),
            SubscriptionFilter::Shared(_) => Err(TopicError::SharedNotAllowed),
        }
    }

    /// The filter as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The filter's levels, split on `/`.
    pub fn levels(&self) -> std::str::Split<'_, char> {
        self.0.split('/')
    }

    /// Whether the filter contains `+` or `#`.
    pub fn has_wildcards(&self) -> bool {
        self.0.contains(['+', '#'])
    }

    /// Whether `topic` matches this filter: `+` is one level, `#` the parent and any number of
    /// levels below (`a/#` matches `a`, as the spec says and AWS IoT does not), and a leading
    /// wildcard never matches a `$` topic ([MQTT-4.7.2-1]).
    pub fn matches(&self, topic: &TopicName) -> bool {
        if topic.is_system() && self.0.starts_with(['+', '#']) {
            return false;
        }
        let mut filter = self.levels();
        let mut name = topic.as_str().split('/');
        loop {
            match (filter.next(), name.next()) {
                (Some("#"), _) => return true,
                (Some("+"), Some(_)) => {}
                (Some(f), Some(t)) if f == t => {}
                (None, None) => return true,
                _ => return false,
            }
        }
    }
}

impl fmt::Debug for TopicFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for TopicFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for TopicFilter {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// The name of a shared-subscription group: non-empty, without `/`, `+` or `#` ([MQTT-4.8.2-1]).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ShareName(Arc<str>);

impl ShareName {
    /// The share name as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ShareName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

/// A `$share/<group>/<filter>` subscription: one member of the group gets each message.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SharedFilter {
    /// The group the subscribing session joins.
    pub group: ShareName,
    /// The filter the group's messages are matched against.
    pub filter: TopicFilter,
}

/// What a SUBSCRIBE or UNSUBSCRIBE names: a plain filter or a shared one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SubscriptionFilter {
    /// An ordinary subscription.
    Plain(TopicFilter),
    /// A shared subscription ([MQTT-4.8.2]).
    Shared(SharedFilter),
}

impl SubscriptionFilter {
    /// Parses a filter string; `$share/<group>/<filter>` becomes [`SubscriptionFilter::Shared`]
    /// ([MQTT-4.8.2-1], [MQTT-4.8.2-2]), and `limits` apply to the filter part only.
    pub fn parse(s: &str, limits: &TopicLimits) -> Result<Self, TopicError> {
        let wire = roost_codec::TopicFilter::new(s).map_err(|e| invalid(&e))?;
        Self::from_wire(&wire, limits)
    }

    /// Splits and checks a filter the codec has already validated.
    pub fn from_wire(
        wire: &roost_codec::TopicFilter,
        limits: &TopicLimits,
    ) -> Result<Self, TopicError> {
        let inner = wire.filter();
        limits.check(inner)?;
        let filter = TopicFilter(Arc::from(inner));
        match wire.share_name() {
            None => Ok(Self::Plain(filter)),
            Some(group) => {
                if group.len() > limits.max_share_name_bytes {
                    return Err(TopicError::TooLong {
                        len: group.len(),
                        max: limits.max_share_name_bytes,
                    });
                }
                Ok(Self::Shared(SharedFilter {
                    group: ShareName(Arc::from(group)),
                    filter,
                }))
            }
        }
    }

    /// The filter messages are matched against (the part after `$share/<group>/` if shared).
    pub fn filter(&self) -> &TopicFilter {
        match self {
            Self::Plain(f) => f,
            Self::Shared(s) => &s.filter,
        }
    }

    /// The share group, if this is a shared subscription.
    pub fn group(&self) -> Option<&ShareName> {
        match self {
            Self::Plain(_) => None,
            Self::Shared(s) => Some(&s.group),
        }
    }
}

impl fmt::Display for SubscriptionFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Plain(filter) => f.write_str(filter.as_str()),
            Self::Shared(s) => write!(f, "$share/{}/{}", s.group.as_str(), s.filter),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> TopicName {
        topic_name(s, &TopicLimits::MQTT).unwrap()
    }

    fn filter(s: &str) -> TopicFilter {
        TopicFilter::new(s, &TopicLimits::MQTT).unwrap()
    }

    #[test]
    fn the_basic_ingest_prefix_does_not_count_against_the_limits() {
        let l = TopicLimits::AWS_IOT;
        assert!(topic_name("$aws/rules/my_rule/a/b/c/d/e/f/g/h", &l).is_ok());
        assert!(matches!(
            topic_name("$aws/rules/my_rule/a/b/c/d/e/f/g/h/i", &l),
            Err(TopicError::TooManyLevels { levels: 9, .. })
        ));
        assert!(matches!(
            topic_name("$aws/things/t/a/b/c/d/e/f", &l),
            Err(TopicError::TooManyLevels { .. })
        ));
        let long = format!("$aws/rules/r/{}", "x".repeat(256));
        assert!(topic_name(&long, &l).is_ok());
        let too_long = format!("$aws/rules/r/{}", "x".repeat(257));
        assert!(matches!(
            topic_name(&too_long, &l),
            Err(TopicError::TooLong { len: 257, .. })
        ));
    }

    #[test]
    fn topic_names_keep_the_codecs_syntax_rules() {
        let l = TopicLimits::MQTT;
        assert!(matches!(
            topic_name("a/+", &l),
            Err(TopicError::Invalid { .. })
        ));
        assert!(matches!(
            topic_name("", &l),
            Err(TopicError::Invalid { .. })
        ));
        assert!(topic_name("/", &l).is_ok());
    }

    #[test]
    fn limits_bound_topic_length_and_depth() {
        let l = TopicLimits::AWS_IOT;
        assert!(topic_name("a/b/c/d/e/f/g/h", &l).is_ok());
        assert_eq!(
            topic_name("a/b/c/d/e/f/g/h/i", &l),
            Err(TopicError::TooManyLevels { levels: 9, max: 8 })
        );
        let long = "x".repeat(257);
        assert_eq!(
            TopicFilter::new(&long, &l),
            Err(TopicError::TooLong { len: 257, max: 256 })
        );
    }

    #[test]
    fn misplaced_wildcards_are_invalid_filters() {
        let l = TopicLimits::MQTT;
        for bad in ["a/#/b", "a#", "a+/b", ""] {
            assert!(
                matches!(TopicFilter::new(bad, &l), Err(TopicError::Invalid { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_plain_filter_cannot_be_shared() {
        assert_eq!(
            TopicFilter::new("$share/g/a", &TopicLimits::MQTT),
            Err(TopicError::SharedNotAllowed)
        );
    }

    #[test]
    fn multi_level_wildcard_matches_the_parent_level() {
        assert!(filter("a/#").matches(&name("a")));
        assert!(filter("a/#").matches(&name("a/")));
        assert!(filter("a/#").matches(&name("a/b/c")));
        assert!(!filter("a/#").matches(&name("ab")));
    }

    #[test]
    fn single_level_wildcard_matches_exactly_one_level_including_empty_ones() {
        assert!(filter("a/+").matches(&name("a/b")));
        assert!(filter("a/+").matches(&name("a/")));
        assert!(!filter("a/+").matches(&name("a")));
        assert!(!filter("a/+").matches(&name("a/b/c")));
        assert!(filter("+/+").matches(&name("/finance")));
        assert!(filter("/+").matches(&name("/finance")));
        assert!(!filter("+").matches(&name("/finance")));
    }

    #[test]
    fn leading_wildcards_do_not_match_dollar_topics() {
        assert!(!filter("#").matches(&name("$SYS/uptime")));
        assert!(!filter("+/uptime").matches(&name("$SYS/uptime")));
        assert!(filter("$SYS/#").matches(&name("$SYS/uptime")));
        assert!(filter("$SYS/+").matches(&name("$SYS/uptime")));
    }

    #[test]
    fn shared_filters_parse_into_group_and_filter() {
        let l = TopicLimits::MQTT;
        let SubscriptionFilter::Shared(s) =
            SubscriptionFilter::parse("$share/g1/a/+/c", &l).unwrap()
        else {
            panic!("expected a shared filter");
        };
        assert_eq!(s.group.as_str(), "g1");
        assert_eq!(s.filter.as_str(), "a/+/c");
        assert_eq!(
            SubscriptionFilter::parse("$share/g1/#", &l)
                .unwrap()
                .to_string(),
            "$share/g1/#"
        );
    }

    #[test]
    fn malformed_shared_filters_are_rejected() {
        let l = TopicLimits::MQTT;
        for bad in ["$share/g1", "$share/g1/", "$share//a", "$share/g+/a"] {
            assert!(SubscriptionFilter::parse(bad, &l).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_share_prefix_does_not_count_against_the_length_limit() {
        let l = TopicLimits {
            max_bytes: 3,
            max_levels: 2,
            max_share_name_bytes: 4,
        };
        assert!(SubscriptionFilter::parse("$share/grp/a/b", &l).is_ok());
        assert!(SubscriptionFilter::parse("$share/group/a/b", &l).is_err());
        assert!(SubscriptionFilter::parse("$share/grp/a/b/c", &l).is_err());
    }
}
