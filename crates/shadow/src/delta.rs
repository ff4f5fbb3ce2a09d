//! The delta: the desired values that reported does not (yet) match.

use serde_json::{Map, Number, Value};

/// The delta of `desired` against `reported`: every desired key missing from reported or
/// holding a different value, with nested objects compared key by key (so paths keep their
/// full nesting) and everything else, arrays included, compared whole. Keys only in reported
/// never appear. Numbers compare by value, so `1` and `1.0` match.
pub(crate) fn delta(
    desired: &Map<String, Value>,
    reported: Option<&Map<String, Value>>,
) -> Map<String, Value> {
    let mut out = Map::new();
    for (key, wanted) in desired {
        match (wanted, reported.and_then(|reported| reported.get(key))) {
            (_, None) => {
                out.insert(key.clone(), wanted.clone());
            }
            (Value::Object(wanted), Some(Value::Object(actual))) => {
                let nested = delta(wanted, Some(actual));
                if !nested.is_empty() {
                    out.insert(key.clone(), Value::Object(nested));
                }
            }
            (_, Some(actual)) => {
                if !same(wanted, actual) {
                    out.insert(key.clone(), wanted.clone());
                }
            }
        }
    }
    out
}

/// The metadata of `delta`'s values: `metadata` (which mirrors the desired section) cut to the
/// keys the delta holds.
pub(crate) fn delta_metadata(
    delta: &Map<String, Value>,
    metadata: &Map<String, Value>,
) -> Map<String, Value> {
    let mut out = Map::new();
    for (key, value) in delta {
        let Some(meta) = metadata.get(key) else {
            continue;
        };
        let cut = match (value, meta) {
            (Value::Object(value), Value::Object(meta)) => {
                Value::Object(delta_metadata(value, meta))
            }
            _ => meta.clone(),
        };
        out.insert(key.clone(), cut);
    }
    out
}

/// JSON equality with numbers compared by value.
pub(crate) fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(a), Value::Number(b)) => same_number(a, b),
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(a, b)| same(a, b))
        }
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len()
                && a.iter()
                    .all(|(key, a)| b.get(key).is_some_and(|b| same(a, b)))
        }
        _ => a == b,
    }
}

/// Integers compare exactly; as soon as one side is a float, both compare as `f64`.
fn same_number(a: &Number, b: &Number) -> bool {
    if let (Some(a), Some(b)) = (a.as_i64(), b.as_i64()) {
        return a == b;
    }
    if let (Some(a), Some(b)) = (a.as_u64(), b.as_u64()) {
        return a == b;
    }
    if a.is_f64() || b.is_f64() {
        return a.as_f64() == b.as_f64();
    }
    // A u64 above i64::MAX against a negative i64.
    false
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn map(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => panic!("not an object"),
        }
    }

    #[test]
    fn without_reported_the_delta_is_all_of_desired() {
        let desired = map(json!({"a": 1, "b": {"c": 2}}));
        assert_eq!(delta(&desired, None), desired);
    }

    #[test]
    fn keys_only_in_reported_never_appear() {
        let desired = map(json!({"a": 1}));
        let reported = map(json!({"a": 1, "b": 2}));
        assert!(delta(&desired, Some(&reported)).is_empty());
    }

    #[test]
    fn nested_differences_keep_their_full_path() {
        let desired = map(json!({"lights": {"color": "red", "on": true}, "fan": 1}));
        let reported = map(json!({"lights": {"color": "green", "on": true}, "fan": 1}));
        assert_eq!(
            delta(&desired, Some(&reported)),
            map(json!({"lights": {"color": "red"}}))
        );
    }

    #[test]
    fn arrays_compare_whole() {
        let desired = map(json!({"colors": ["red", "green"]}));
        let reported = map(json!({"colors": ["red"]}));
        assert_eq!(delta(&desired, Some(&reported)), desired);
        let reported = map(json!({"colors": ["red", "green"]}));
        assert!(delta(&desired, Some(&reported)).is_empty());
    }

    #[test]
    fn a_type_change_puts_the_desired_value_in_the_delta() {
        let desired = map(json!({"a": {"b": 1}}));
        let reported = map(json!({"a": 5}));
        assert_eq!(delta(&desired, Some(&reported)), desired);
    }

    #[test]
    fn numbers_compare_by_value() {
        let desired = map(json!({"t": 1, "u": [2.0]}));
        let reported = map(json!({"t": 1.0, "u": [2]}));
        assert!(delta(&desired, Some(&reported)).is_empty());
        assert!(!same(&json!(u64::MAX), &json!(-1)));
        assert!(!same(&json!(1), &json!(1.5)));
    }

    #[test]
    fn delta_metadata_follows_the_delta_shape() {
        let delta = map(json!({"lights": {"color": "red"}, "fan": {"speed": 2}}));
        let metadata = map(json!({
            "lights": {"color": {"timestamp": 5}, "on": {"timestamp": 4}},
            "fan": {"speed": {"timestamp": 6}},
            "other": {"timestamp": 1}
        }));
        assert_eq!(
            delta_metadata(&delta, &metadata),
            map(json!({
                "lights": {"color": {"timestamp": 5}},
                "fan": {"speed": {"timestamp": 6}}
            }))
        );
    }
}
