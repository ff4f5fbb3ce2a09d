//! The top-level members of a JSON object payload, found without building the document.
//!
//! Most rules read a few top-level fields (`SELECT temp … WHERE status = 'ok'`). Building a
//! `serde_json::Value` for the whole payload costs about two thirds of such an evaluation, so
//! the payload is first scanned once (which validates it as JSON) into the byte ranges of its
//! members, and only the members a statement reads are parsed.

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;

use serde::Deserializer as _;
use serde::de::{self, MapAccess, Visitor};
use serde_json::value::RawValue;

/// Where each top-level member of an object payload sits in the payload.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Members {
    entries: Vec<(Key, Range<usize>)>,
}

/// A member's name: where it sits in the payload when written without escapes, or decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Key {
    At(Range<usize>),
    Decoded(String),
}

impl Members {
    /// The members of `payload` when it is a JSON object; `None` for any other JSON value or
    /// for a payload that is not JSON.
    pub(crate) fn scan(payload: &[u8]) -> Option<Members> {
        let mut deserializer = serde_json::Deserializer::from_slice(payload);
        let pairs = deserializer.deserialize_any(ObjectVisitor).ok().flatten()?;
        deserializer.end().ok()?;
        let base = payload.as_ptr() as usize;
        let offset = |s: &str| {
            let start = s.as_ptr() as usize - base;
            start..start + s.len()
        };
        let entries = pairs
            .into_iter()
            .map(|(key, value)| {
                let key = match key {
                    Cow::Borrowed(k) => Key::At(offset(k)),
                    Cow::Owned(k) => Key::Decoded(k),
                };
                (key, offset(value.get()))
            })
            .collect();
        Some(Members { entries })
    }

    /// The JSON text of member `name` in `payload` (the payload these members were scanned
    /// from). A name that repeats means its last occurrence, as a parsed document would have it.
    pub(crate) fn get<'p>(&self, payload: &'p [u8], name: &str) -> Option<&'p [u8]> {
        self.entries
            .iter()
            .rev()
            .find(|(key, _)| match key {
                Key::At(range) => &payload[range.clone()] == name.as_bytes(),
                Key::Decoded(key) => key == name,
            })
            .map(|(_, range)| &payload[range.clone()])
    }
}

type Pairs<'de> = Vec<(Cow<'de, str>, &'de RawValue)>;

/// Accepts an object (its members, unparsed) and any other JSON value (as `None`).
struct ObjectVisitor;

impl<'de> Visitor<'de> for ObjectVisitor {
    type Value = Option<Pairs<'de>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut pairs = Vec::with_capacity(map.size_hint().unwrap_or(8));
        while let Some(key) = map.next_key::<MemberName<'de>>()? {
            pairs.push((key.0, map.next_value::<&'de RawValue>()?));
        }
        Ok(Some(pairs))
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<de::IgnoredAny>()?.is_some() {}
        Ok(None)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

/// A member name, borrowed from the payload unless it had escapes to decode.
struct MemberName<'de>(Cow<'de, str>);

impl<'de> de::Deserialize<'de> for MemberName<'de> {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NameVisitor;
        impl<'de> Visitor<'de> for NameVisitor {
            type Value = MemberName<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a member name")
            }

            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Self::Value, E> {
                Ok(MemberName(Cow::Borrowed(s)))
            }

            fn visit_str<E>(self, s: &str) -> Result<Self::Value, E> {
                Ok(MemberName(Cow::Owned(s.to_owned())))
            }
        }
        deserializer.deserialize_str(NameVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member<'p>(payload: &'p [u8], name: &str) -> Option<&'p [u8]> {
        Members::scan(payload)?.get(payload, name)
    }

    #[test]
    fn members_are_found_unparsed() {
        let payload = br#"{"temp": 31.5, "loc": {"lat": 1}, "tags": [1, "a"], "s": "x\"y"}"#;
        assert_eq!(member(payload, "temp"), Some(&b"31.5"[..]));
        assert_eq!(member(payload, "loc"), Some(&br#"{"lat": 1}"#[..]));
        assert_eq!(member(payload, "tags"), Some(&br#"[1, "a"]"#[..]));
        assert_eq!(member(payload, "s"), Some(&br#""x\"y""#[..]));
        assert_eq!(member(payload, "lat"), None);
    }

    #[test]
    fn escaped_names_are_decoded_and_the_last_duplicate_wins() {
        let payload = br#"{"a\u0062": 1, "ab": 2, "c": 3, "c": 4}"#;
        assert_eq!(member(payload, "ab"), Some(&b"2"[..]));
        assert_eq!(member(payload, "c"), Some(&b"4"[..]));
        let payload = br#"{"t\u00e9": 5}"#;
        assert_eq!(member(payload, "té"), Some(&b"5"[..]));
    }

    #[test]
    fn only_a_whole_valid_object_has_members() {
        assert!(Members::scan(b"[1, 2]").is_none());
        assert!(Members::scan(b"42").is_none());
        assert!(Members::scan(b"\"s\"").is_none());
        assert!(Members::scan(b"null").is_none());
        assert!(Members::scan(br#"{"a": 1} trailing"#).is_none());
        assert!(Members::scan(br#"{"a": [1,}"#).is_none());
        assert!(Members::scan(b"{\"a\": \"\xff\"}").is_none());
        assert!(Members::scan(&[0xff, 0]).is_none());
        assert_eq!(Members::scan(b" {} "), Some(Members::default()));
    }

    #[test]
    fn a_payload_has_members_exactly_when_it_parses_as_an_object() {
        for payload in [
            &br#"{"a":1}"#[..],
            br#"{"a":{"b":[1,2,{"c":null}]}}"#,
            b"{\"a\":-0}",
            b"{\"a\" 1}",
            b"{\"a\":tru}",
        ] {
            let parsed = serde_json::from_slice::<serde_json::Value>(payload).ok();
            assert_eq!(
                Members::scan(payload).is_some(),
                matches!(parsed, Some(serde_json::Value::Object(_))),
                "{}",
                String::from_utf8_lossy(payload)
            );
        }
    }

    /// A number beyond a double's range and a lone UTF-16 surrogate escape fail a full parse,
    /// but the scan does not decode inside values: such a member alone reads as Undefined (its
    /// own parse fails) and its siblings stay readable, as a lenient parser would have them.
    #[test]
    fn a_member_a_full_parse_refuses_spoils_only_itself() {
        for payload in [
            &br#"{"a": 1e400, "b": 2}"#[..],
            br#"{"a": "\ud800", "b": 2}"#,
        ] {
            assert!(serde_json::from_slice::<serde_json::Value>(payload).is_err());
            assert_eq!(member(payload, "b"), Some(&b"2"[..]));
            let a = member(payload, "a").expect("scanned");
            assert!(serde_json::from_slice::<serde_json::Value>(a).is_err());
        }
    }
}
