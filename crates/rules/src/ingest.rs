//! Basic Ingest: a publish to `$aws/rules/<ruleName>[/rest]` goes to that rule alone.

/// The topic prefix of Basic Ingest.
const PREFIX: &str = "$aws/rules/";

/// The rule a Basic Ingest topic names and the rest of the topic (what `topic()` sees, empty
/// when there is none); `None` for any other topic.
pub fn basic_ingest(topic: &str) -> Option<(&str, &str)> {
    let after = topic.strip_prefix(PREFIX)?;
    let (rule, rest) = after.split_once('/').unwrap_or((after, ""));
    (!rule.is_empty()).then_some((rule, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_basic_ingest_topic_names_its_rule_and_the_rest() {
        assert_eq!(basic_ingest("$aws/rules/r1/a/b"), Some(("r1", "a/b")));
        assert_eq!(basic_ingest("$aws/rules/r1"), Some(("r1", "")));
        assert_eq!(basic_ingest("$aws/rules/r1/"), Some(("r1", "")));
    }

    #[test]
    fn other_topics_are_not_basic_ingest() {
        assert_eq!(basic_ingest("$aws/rules/"), None);
        assert_eq!(basic_ingest("$aws/rules//x"), None);
        assert_eq!(basic_ingest("$aws/things/t/shadow/update"), None);
        assert_eq!(basic_ingest("rules/r1"), None);
    }
}
