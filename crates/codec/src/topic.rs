//! Validated topic names and topic filters (spec §4.7, shared subscriptions §4.8.2).

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::sync::Arc;

use crate::error::DecodeError;
use crate::wire::check_no_null;

const SHARE_PREFIX: &str = "$share/";

/// A topic name as PUBLISH carries it: UTF-8 under the MQTT string rules, no `+` or `#`,
/// at most 65535 bytes. Cheap to clone (shared `Arc<str>`).
///
/// Non-empty, except on a decoded MQTT 5 PUBLISH that names its topic by Topic Alias only:
/// the session resolves the alias and replaces the name ([`TopicName::is_empty`]).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicName(Arc<str>);

impl TopicName {
    /// Validates `name` as a non-empty topic name.
    pub fn new(name: &str) -> Result<TopicName, DecodeError> {
        if name.is_empty() {
            return Err(DecodeError::TopicNameInvalid {
                detail: "[MQTT-4.7.3-1] topic name is empty",
            });
        }
        TopicName::new_allow_empty(name)
    }

    /// Validates `name`, accepting the empty name used with a Topic Alias.
    pub(crate) fn new_allow_empty(name: &str) -> Result<TopicName, DecodeError> {
        check_no_null(name)?;
        if name.len() > usize::from(u16::MAX) {
            return Err(DecodeError::TopicNameInvalid {
                detail: "topic name is longer than 65535 bytes",
            });
        }
        if name.contains(['+', '#']) {
            return Err(DecodeError::TopicNameInvalid {
                detail: "[MQTT-3.3.2-2] topic name contains a wildcard",
            });
        }
        Ok(TopicName(Arc::from(name)))
    }

    /// The empty name of a PUBLISH that relies on its Topic Alias alone (MQTT 5 §3.3.2.3.4).
    pub fn empty_for_alias() -> TopicName {
        TopicName(Arc::from(""))
    }

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True for topics starting with `$`, which wildcards at the first level never match.
    pub fn is_system(&self) -> bool {
        self.0.starts_with('$')
    }
}

impl Deref for TopicName {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for TopicName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for TopicName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for TopicName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for TopicName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<&str> for TopicName {
    type Error = DecodeError;
    fn try_from(name: &str) -> Result<TopicName, DecodeError> {
        TopicName::new(name)
    }
}

impl TryFrom<String> for TopicName {
    type Error = DecodeError;
    fn try_from(name: String) -> Result<TopicName, DecodeError> {
        TopicName::new(&name)
    }
}

/// A topic filter as SUBSCRIBE and UNSUBSCRIBE carry it: non-empty, `+` and `#` only as whole
/// levels, `#` only last, and for `$share/{ShareName}/{filter}` a non-empty share name without
/// wildcards followed by a valid filter. Cheap to clone (shared `Arc<str>`).
///
/// Equality, ordering and hashing are those of the full string, so maps keyed by filter can be
/// looked up with a `&str`.
#[derive(Clone)]
pub struct TopicFilter {
    full: Arc<str>,
    /// Byte offset of the filter proper: 0, or past `$share/{ShareName}/`.
    filter_start: usize,
}

impl TopicFilter {
    /// Validates `filter`; invalid filters are malformed packets when they come off the wire.
    pub fn new(filter: &str) -> Result<TopicFilter, DecodeError> {
        check_no_null(filter)?;
        if filter.len() > usize::from(u16::MAX) {
            return Err(DecodeError::malformed(
                "topic filter is longer than 65535 bytes",
            ));
        }
        let filter_start = match filter.strip_prefix(SHARE_PREFIX) {
            Some(rest) => {
                let Some((share_name, inner)) = rest.split_once('/') else {
                    return Err(DecodeError::malformed(
                        "[MQTT-4.8.2-2] share name is not followed by '/' and a topic filter",
                    ));
                };
                if share_name.is_empty() {
                    return Err(DecodeError::malformed(
                        "[MQTT-4.8.2-1] shared subscription has an empty share name",
                    ));
                }
                if share_name.contains(['+', '#']) {
                    return Err(DecodeError::malformed(
                        "[MQTT-4.8.2-2] share name contains a wildcard",
                    ));
                }
                check_filter_levels(inner)?;
                SHARE_PREFIX.len() + share_name.len() + 1
            }
            None => {
                check_filter_levels(filter)?;
                0
            }
        };
        Ok(TopicFilter {
            full: Arc::from(filter),
            filter_start,
        })
    }

    /// The filter exactly as sent, `$share/…` prefix included.
    pub fn as_str(&self) -> &str {
        &self.full
    }

    /// The share name of a shared subscription, `None` for an ordinary one.
    pub fn share_name(&self) -> Option<&str> {
        if self.filter_start == 0 {
            None
        } else {
            self.full
                .get(SHARE_PREFIX.len()..self.filter_start - 1)
                .filter(|name| !name.is_empty())
        }
    }

    /// True for `$share/{ShareName}/{filter}` subscriptions.
    pub fn is_shared(&self) -> bool {
        self.filter_start != 0
    }

    /// The filter that topics are matched against: without the `$share/{ShareName}/` prefix.
    pub fn filter(&self) -> &str {
        self.full.get(self.filter_start..).unwrap_or_default()
    }

    /// True when the filter (share prefix excluded) contains `+` or `#`.
    pub fn has_wildcards(&self) -> bool {
        self.filter().contains(['+', '#'])
    }
}

/// Checks the wildcard rules of §4.7.1 on a filter without its share prefix.
fn check_filter_levels(filter: &str) -> Result<(), DecodeError> {
    if filter.is_empty() {
        return Err(DecodeError::malformed(
            "[MQTT-4.7.3-1] topic filter is empty",
        ));
    }
    let mut levels = filter.split('/').peekable();
    while let Some(level) = levels.next() {
        match level {
            "#" if levels.peek().is_some() => {
                return Err(DecodeError::malformed(
                    "[MQTT-4.7.1-1] '#' is not the last level of the topic filter",
                ));
            }
            "#" | "+" => {}
            _ if level.contains('#') => {
                return Err(DecodeError::malformed(
                    "[MQTT-4.7.1-1] '#' does not occupy an entire level",
                ));
            }
            _ if level.contains('+') => {
                return Err(DecodeError::malformed(
                    "[MQTT-4.7.1-2] '+' does not occupy an entire level",
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

impl Deref for TopicFilter {
    type Target = str;
    fn deref(&self) -> &str {
        &self.full
    }
}

impl PartialEq for TopicFilter {
    fn eq(&self, other: &TopicFilter) -> bool {
        self.full == other.full
    }
}

impl Eq for TopicFilter {}

impl Hash for TopicFilter {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.full.hash(state);
    }
}

impl PartialOrd for TopicFilter {
    fn partial_cmp(&self, other: &TopicFilter) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for TopicFilter {
    fn cmp(&self, other: &TopicFilter) -> Ordering {
        self.full.cmp(&other.full)
    }
}

impl Borrow<str> for TopicFilter {
    fn borrow(&self) -> &str {
        &self.full
    }
}

impl AsRef<str> for TopicFilter {
    fn as_ref(&self) -> &str {
        &self.full
    }
}

impl fmt::Debug for TopicFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.full, f)
    }
}

impl fmt::Display for TopicFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.full)
    }
}

impl TryFrom<&str> for TopicFilter {
    type Error = DecodeError;
    fn try_from(filter: &str) -> Result<TopicFilter, DecodeError> {
        TopicFilter::new(filter)
    }
}

impl TryFrom<String> for TopicFilter {
    type Error = DecodeError;
    fn try_from(filter: String) -> Result<TopicFilter, DecodeError> {
        TopicFilter::new(&filter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_name_rejects_wildcards_with_the_normative_id() {
        let err = TopicName::new("a/+/b").unwrap_err();
        assert_eq!(
            err,
            DecodeError::TopicNameInvalid {
                detail: "[MQTT-3.3.2-2] topic name contains a wildcard"
            }
        );
        assert!(TopicName::new("a/#").is_err());
    }

    #[test]
    fn topic_name_rejects_empty_and_null_but_accepts_spaces_and_dollar() {
        assert!(TopicName::new("").is_err());
        assert!(TopicName::new("a\0b").is_err());
        let name = TopicName::new("$aws/things/my thing/shadow").unwrap();
        assert!(name.is_system());
        assert_eq!(name.as_str(), "$aws/things/my thing/shadow");
    }

    #[test]
    fn filter_accepts_wildcards_that_occupy_whole_levels() {
        for ok in [
            "#",
            "+",
            "a/+/b",
            "a/#",
            "+/+",
            "/",
            "a//b",
            "+/#",
            "sport/tennis/player1/#",
        ] {
            assert!(TopicFilter::new(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn filter_rejects_misplaced_wildcards_and_empty_filters() {
        for bad in [
            "",
            "a/#/b",
            "a#",
            "a/b#",
            "a+",
            "a/+b",
            "#/a",
            "sport/tennis#",
        ] {
            assert!(
                matches!(TopicFilter::new(bad), Err(DecodeError::Malformed { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn shared_subscription_exposes_share_name_and_inner_filter() {
        let filter = TopicFilter::new("$share/group1/sensors/+/temp").unwrap();
        assert!(filter.is_shared());
        assert_eq!(filter.share_name(), Some("group1"));
        assert_eq!(filter.filter(), "sensors/+/temp");
        assert!(filter.has_wildcards());
        assert_eq!(filter.as_str(), "$share/group1/sensors/+/temp");
    }

    #[test]
    fn shared_subscription_needs_a_share_name_and_a_filter() {
        for bad in [
            "$share/",
            "$share//a",
            "$share/g",
            "$share/g/",
            "$share/g+/a",
            "$share/#/a",
        ] {
            assert!(TopicFilter::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn filters_and_names_are_found_in_maps_by_their_text() {
        let filters: std::collections::HashSet<TopicFilter> =
            [TopicFilter::new("$share/g/a/+").unwrap()].into();
        assert!(filters.contains("$share/g/a/+"));
        assert!(!filters.contains("a/+"));
        let names: std::collections::BTreeSet<TopicName> = [TopicName::new("a/b").unwrap()].into();
        assert!(names.contains("a/b"));
    }

    #[test]
    fn share_prefix_without_slash_is_an_ordinary_filter() {
        let filter = TopicFilter::new("$shared/a").unwrap();
        assert!(!filter.is_shared());
        assert_eq!(filter.filter(), "$shared/a");
        assert_eq!(filter.share_name(), None);
    }
}
