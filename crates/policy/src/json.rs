//! A JSON tree that, unlike `serde_json::Value`, refuses an object that repeats a key.
//!
//! `{"Effect":"Deny","Effect":"Allow"}` must not quietly become an Allow: a reader of the
//! document sees a Deny. IAM refuses such documents, and so do we, with the parser's position.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::error::PolicyError;

/// One JSON value; objects keep their keys in document order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node {
    Null,
    Bool(bool),
    /// The number's canonical text (`serde_json` formatting), which is what IAM compares.
    Number(String),
    String(String),
    Array(Vec<Node>),
    Object(Vec<(String, Node)>),
}

impl Node {
    /// Parses `text`, mapping syntax errors (and repeated keys) to [`PolicyError::InvalidJson`].
    pub(crate) fn parse(text: &str) -> Result<Self, PolicyError> {
        serde_json::from_str(text).map_err(|error| {
            let full = error.to_string();
            // serde_json appends the position to its message; we report it in our own words.
            let message = match full.rfind(" at line ") {
                Some(end) => full[..end].to_owned(),
                None => full,
            };
            PolicyError::InvalidJson {
                line: error.line(),
                column: error.column(),
                message,
            }
        })
    }

    /// The JSON type as a noun phrase for error messages.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Self::Null => "null",
            Self::Bool(_) => "a boolean",
            Self::Number(_) => "a number",
            Self::String(_) => "a string",
            Self::Array(_) => "an array",
            Self::Object(_) => "an object",
        }
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }

    fn visit_bool<E>(self, value: bool) -> Result<Node, E> {
        Ok(Node::Bool(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Node, E> {
        Ok(Node::Number(value.to_string()))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Node, E> {
        Ok(Node::Number(value.to_string()))
    }

    fn visit_f64<E>(self, value: f64) -> Result<Node, E> {
        Ok(Node::Number(
            serde_json::Number::from_f64(value)
                .map_or_else(|| value.to_string(), |number| number.to_string()),
        ))
    }

    fn visit_str<E>(self, value: &str) -> Result<Node, E> {
        Ok(Node::String(value.to_owned()))
    }

    fn visit_string<E>(self, value: String) -> Result<Node, E> {
        Ok(Node::String(value))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Node::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries: Vec<(String, Node)> = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            if entries.iter().any(|(existing, _)| *existing == key) {
                return Err(de::Error::custom(format_args!("duplicate key \"{key}\"")));
            }
            let value = map.next_value()?;
            entries.push((key, value));
        }
        Ok(Node::Object(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_keep_their_keys_in_document_order() {
        let node = Node::parse(r#"{"b": 1, "a": [true, null, "x", 1.5]}"#).unwrap();
        assert_eq!(
            node,
            Node::Object(vec![
                ("b".into(), Node::Number("1".into())),
                (
                    "a".into(),
                    Node::Array(vec![
                        Node::Bool(true),
                        Node::Null,
                        Node::String("x".into()),
                        Node::Number("1.5".into()),
                    ])
                ),
            ])
        );
    }

    #[test]
    fn a_repeated_key_is_a_json_error_with_its_position() {
        let error =
            Node::parse("{\n  \"Effect\": \"Deny\",\n  \"Effect\": \"Allow\"\n}").unwrap_err();
        let PolicyError::InvalidJson { line, message, .. } = &error else {
            panic!("unexpected {error:?}");
        };
        assert_eq!(*line, 3);
        assert_eq!(message, "duplicate key \"Effect\"");
    }

    #[test]
    fn a_syntax_error_names_line_and_column() {
        let error = Node::parse("{\n  \"Version\": \"2012-10-17\",\n  }").unwrap_err();
        assert_eq!(
            error.to_string(),
            "Policy document is malformed: invalid JSON at line 3 column 3: trailing comma"
        );
    }
}
