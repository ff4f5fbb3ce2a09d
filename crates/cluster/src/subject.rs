//! MQTT topics and filters as NATS subjects, and back.
//!
//! A topic's levels become a subject's tokens under a prefix (`roost.m.` by default), each level
//! escaped so that every MQTT topic has exactly one subject and the mapping can be undone:
//!
//! - ASCII letters, digits and `-` stay as they are;
//! - every other byte (`.`, `_`, `*`, `>`, `$`, space, non-ASCII UTF-8…) becomes `_` and two
//!   upper-case hex digits (`.` → `_2E`, `_` → `_5F`, `$` → `_24`);
//! - an empty level (MQTT allows `a//b`) becomes a lone `_`, which no escape produces.
//!
//! In filters, `+` becomes `*`, and `#` becomes `>`; since MQTT's `a/#` also matches `a`
//! itself and NATS's `a.>` does not, a filter ending in `/#` needs two subjects. NATS only
//! narrows what reaches a node: the node's own trie still applies MQTT's exact rules (a
//! leading wildcard skipping `$` topics, for one) to what arrives.

use std::fmt::Write;

use roost_mqtt::TopicFilter;

/// The subject of a message published on `topic`.
pub fn topic_subject(prefix: &str, topic: &str) -> String {
    let mut subject = String::with_capacity(prefix.len() + topic.len() + 8);
    subject.push_str(prefix);
    for (i, level) in topic.split('/').enumerate() {
        if i > 0 {
            subject.push('.');
        }
        push_level(&mut subject, level);
    }
    subject
}

/// The subjects whose messages `filter` may match (one, or two for a filter ending in `#`).
pub fn filter_subjects(prefix: &str, filter: &TopicFilter) -> Vec<String> {
    let levels: Vec<&str> = filter.as_str().split('/').collect();
    let mut subject = String::with_capacity(prefix.len() + filter.as_str().len() + 8);
    subject.push_str(prefix);
    let mut parent = None;
    for (i, level) in levels.iter().enumerate() {
        if *level == "#" {
            // `a/#` is `a` and everything under it; `#` alone is everything.
            if i > 0 {
                parent = Some(subject.trim_end_matches('.').to_owned());
            }
            subject.push('>');
            break;
        }
        match *level {
            "+" => subject.push('*'),
            level => push_level(&mut subject, level),
        }
        if i + 1 < levels.len() {
            subject.push('.');
        }
    }
    let mut subjects = vec![subject];
    subjects.extend(parent);
    subjects
}

/// The topic a subject made by [`topic_subject`] stands for; `None` for anything else.
pub fn subject_topic(prefix: &str, subject: &str) -> Option<String> {
    let tokens = subject.strip_prefix(prefix)?;
    let mut topic = Vec::with_capacity(tokens.len());
    for (i, token) in tokens.split('.').enumerate() {
        if i > 0 {
            topic.push(b'/');
        }
        if token == "_" {
            continue;
        }
        let mut bytes = token.bytes();
        while let Some(b) = bytes.next() {
            match b {
                b'_' => {
                    let hex = [bytes.next()?, bytes.next()?];
                    let hex = std::str::from_utf8(&hex).ok()?;
                    topic.push(u8::from_str_radix(hex, 16).ok()?);
                }
                b if is_kept(b) => topic.push(b),
                _ => return None,
            }
        }
    }
    String::from_utf8(topic).ok()
}

/// A NATS queue group name for the shared subscription `$share/<group>/<filter>`: one token,
/// distinct for each (group, filter) pair, as MQTT's groups are.
pub fn queue_group(group: &str, filter: &TopicFilter) -> String {
    let mut name = String::with_capacity(group.len() + filter.as_str().len() + 8);
    push_level(&mut name, group);
    name.push_str("_2F");
    for b in filter.as_str().bytes() {
        push_byte(&mut name, b);
    }
    name
}

/// `text` as one subject token, escaped as a topic level is (a node's name in its subjects).
pub fn token(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 4);
    push_level(&mut out, text);
    out
}

fn push_level(subject: &mut String, level: &str) {
    if level.is_empty() {
        subject.push('_');
        return;
    }
    for b in level.bytes() {
        push_byte(subject, b);
    }
}

fn push_byte(out: &mut String, b: u8) {
    if is_kept(b) {
        out.push(b as char);
    } else {
        let _ = write!(out, "_{b:02X}");
    }
}

fn is_kept(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-'
}

#[cfg(test)]
mod tests {
    use roost_mqtt::{SubscriptionFilter, TopicLimits};

    use super::*;

    const P: &str = "roost.m.";

    fn filter(text: &str) -> TopicFilter {
        SubscriptionFilter::parse(text, &TopicLimits::MQTT)
            .unwrap()
            .filter()
            .clone()
    }

    #[test]
    fn topics_become_escaped_tokens() {
        assert_eq!(
            topic_subject(P, "sensors/t1/temp"),
            "roost.m.sensors.t1.temp"
        );
        assert_eq!(
            topic_subject(P, "$aws/things/my_thing/shadow/update"),
            "roost.m._24aws.things.my_5Fthing.shadow.update"
        );
        assert_eq!(topic_subject(P, "a.b/*/>/ x"), "roost.m.a_2Eb._2A._3E._20x");
        assert_eq!(topic_subject(P, "a//b/"), "roost.m.a._.b._");
        assert_eq!(topic_subject(P, "/"), "roost.m._._");
        assert_eq!(topic_subject(P, "é"), "roost.m._C3_A9");
    }

    #[test]
    fn every_topic_comes_back_from_its_subject() {
        for topic in [
            "a", "a/b", "a//b", "/", "//", "a/", "_", "__/_5F", "$SYS/x", "a.b", "é/ü", "-/-",
            "x y", "_/a",
        ] {
            let subject = topic_subject(P, topic);
            assert_eq!(
                subject_topic(P, &subject).as_deref(),
                Some(topic),
                "{subject}"
            );
        }
        assert_eq!(subject_topic(P, "roost.m.a*"), None);
        assert_eq!(subject_topic(P, "roost.m._4"), None);
        assert_eq!(subject_topic(P, "other.a"), None);
    }

    #[test]
    fn wildcards_become_nats_wildcards_and_hash_also_covers_its_parent() {
        assert_eq!(filter_subjects(P, &filter("a/+/c")), ["roost.m.a.*.c"]);
        assert_eq!(
            filter_subjects(P, &filter("a/b/#")),
            ["roost.m.a.b.>", "roost.m.a.b"]
        );
        assert_eq!(filter_subjects(P, &filter("#")), ["roost.m.>"]);
        assert_eq!(filter_subjects(P, &filter("+")), ["roost.m.*"]);
        assert_eq!(
            filter_subjects(P, &filter("+/#")),
            ["roost.m.*.>", "roost.m.*"]
        );
        assert_eq!(
            filter_subjects(P, &filter("a//#")),
            ["roost.m.a._.>", "roost.m.a._"]
        );
        assert_eq!(filter_subjects(P, &filter("a.b")), ["roost.m.a_2Eb"]);
    }

    /// What NATS would match, for the property below: `*` one token, `>` one or more.
    fn nats_matches(pattern: &str, subject: &str) -> bool {
        let p: Vec<&str> = pattern.split('.').collect();
        let s: Vec<&str> = subject.split('.').collect();
        for (i, token) in p.iter().enumerate() {
            match *token {
                ">" => return s.len() > i,
                "*" if i < s.len() => {}
                t if i < s.len() && s[i] == t => {}
                _ => return false,
            }
        }
        p.len() == s.len()
    }

    #[test]
    fn a_filters_subjects_match_every_topic_the_filter_matches() {
        let topics = ["a", "a/b", "a/b/c", "a//c", "b/b/c", "a/", "/b", "$x/b"];
        let filters = ["a/#", "a/+/c", "+/b/#", "#", "+/+", "a/", "+", "/+", "$x/#"];
        for f in filters {
            let tf = filter(f);
            let subjects = filter_subjects(P, &tf);
            for t in topics {
                let topic = roost_mqtt::topic::topic_name(t, &TopicLimits::MQTT).unwrap();
                let subject = topic_subject(P, t);
                let by_nats = subjects.iter().any(|s| nats_matches(s, &subject));
                // MQTT's rule, ignoring the `$` exception NATS cannot express (the trie applies it).
                let by_mqtt = tf.matches(&topic) || (t.starts_with('$') && by_nats);
                assert_eq!(
                    by_nats, by_mqtt,
                    "filter {f} topic {t} subjects {subjects:?}"
                );
            }
        }
    }

    #[test]
    fn each_group_and_filter_pair_has_its_own_queue() {
        assert_eq!(queue_group("g", &filter("a/+")), "g_2Fa_2F_2B");
        assert_ne!(
            queue_group("g", &filter("a/+")),
            queue_group("g", &filter("a/#"))
        );
        assert_ne!(
            queue_group("g_2F", &filter("x")),
            queue_group("g", &filter("_2Fx"))
        );
    }
}
