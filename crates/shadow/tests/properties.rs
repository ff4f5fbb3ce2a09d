//! Property tests: updates agree with a naive JSON merge-patch model, the metadata always
//! mirrors the state, the delta behaves as its definition says, and no input panics.

use proptest::prelude::*;
use roost_shadow::{ShadowDocument, ShadowLimits, UpdateRequest};
use serde_json::{Map, Value, json};

/// Generous limits, so that size never interferes with the merge semantics under test.
fn limits() -> ShadowLimits {
    ShadowLimits {
        max_state_bytes: 1 << 20,
        ..ShadowLimits::default()
    }
}

fn key() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["a", "b", "c", "d"]).prop_map(str::to_owned)
}

/// A non-null leaf: what may appear inside arrays.
fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<bool>().prop_map(Value::from),
        (-3i64..3).prop_map(Value::from),
        prop::sample::select(vec!["x", "y", ""]).prop_map(Value::from),
    ]
}

/// A value an update may write: scalars, `null` (delete), arrays, and objects nested up to
/// three levels, within the default depth limit once inside a section.
fn patch_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        4 => scalar(),
        1 => Just(Value::Null),
        1 => prop::collection::vec(scalar(), 0..3).prop_map(Value::Array),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop::collection::btree_map(key(), inner, 0..4)
            .prop_map(|map| Value::Object(map.into_iter().collect()))
    })
}

fn section_patch() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::btree_map(key(), patch_value(), 0..4)
        .prop_map(|map| map.into_iter().collect())
}

/// What an update does to one section: leave it out, send `null`, or send an object.
fn section_update() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        2 => Just(None),
        1 => Just(Some(Value::Null)),
        6 => section_patch().prop_map(|map| Some(Value::Object(map))),
    ]
}

fn update_payload() -> impl Strategy<Value = Value> {
    (section_update(), section_update()).prop_map(|(desired, reported)| {
        let mut state = Map::new();
        if let Some(desired) = desired {
            state.insert("desired".into(), desired);
        }
        if let Some(reported) = reported {
            state.insert("reported".into(), reported);
        }
        json!({ "state": state })
    })
}

/// RFC 7386 merge patch: the textbook definition, written independently of the crate.
fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(target) = target else {
        unreachable!()
    };
    for (key, value) in patch {
        if value.is_null() {
            target.remove(key);
        } else {
            merge_patch(target.entry(key.clone()).or_insert(Value::Null), value);
        }
    }
}

/// Removes empty objects (outside arrays), bottom-up.
fn prune(value: &mut Value) {
    if let Value::Object(map) = value {
        map.values_mut().for_each(prune);
        map.retain(|_, child| !matches!(child, Value::Object(child) if child.is_empty()));
    }
}

/// The model of one section after an update.
fn model_section(section: &mut Option<Value>, update: Option<&Value>) {
    match update {
        None => {}
        Some(Value::Null) => *section = None,
        Some(patch) => {
            let mut merged = section.take().unwrap_or_else(|| json!({}));
            merge_patch(&mut merged, patch);
            prune(&mut merged);
            *section = (merged != json!({})).then_some(merged);
        }
    }
}

/// Whether `metadata` has exactly the shape of `state` with a timestamp at every leaf.
fn mirrors(state: &Value, metadata: &Value) -> bool {
    match (state, metadata) {
        (Value::Object(state), Value::Object(metadata)) => {
            state.len() == metadata.len()
                && state
                    .iter()
                    .all(|(key, value)| metadata.get(key).is_some_and(|meta| mirrors(value, meta)))
        }
        (Value::Array(state), Value::Array(metadata)) => {
            state.len() == metadata.len()
                && state
                    .iter()
                    .zip(metadata)
                    .all(|(value, meta)| mirrors(value, meta))
        }
        (Value::Object(_) | Value::Array(_), _) => false,
        (_, Value::Object(stamp)) => {
            stamp.len() == 1 && stamp.get("timestamp").is_some_and(Value::is_u64)
        }
        _ => false,
    }
}

fn parse(payload: &Value) -> UpdateRequest {
    UpdateRequest::parse(payload.to_string().as_bytes(), &limits())
        .unwrap_or_else(|err| panic!("{payload} was refused: {err}"))
}

fn apply_all(payloads: &[Value]) -> Option<ShadowDocument> {
    let mut document: Option<ShadowDocument> = None;
    for (now, payload) in (1_000u64..).zip(payloads) {
        let request = parse(payload);
        match document.as_mut() {
            None => document = Some(ShadowDocument::create(&request, now, 0).unwrap().0),
            Some(document) => {
                document.apply_update(&request, now).unwrap();
            }
        }
    }
    document
}

proptest! {
    #[test]
    fn updates_agree_with_a_naive_merge_patch(payloads in prop::collection::vec(update_payload(), 1..6)) {
        let document = apply_all(&payloads).unwrap();
        let (mut desired, mut reported) = (None, None);
        for payload in &payloads {
            model_section(&mut desired, payload["state"].get("desired"));
            model_section(&mut reported, payload["state"].get("reported"));
        }
        let stored = serde_json::to_value(&document).unwrap();
        prop_assert_eq!(stored["state"].get("desired"), desired.as_ref());
        prop_assert_eq!(stored["state"].get("reported"), reported.as_ref());
        prop_assert_eq!(document.version(), payloads.len() as u64);
    }

    #[test]
    fn metadata_always_mirrors_the_state(payloads in prop::collection::vec(update_payload(), 1..6)) {
        let document = apply_all(&payloads).unwrap();
        let stored = serde_json::to_value(&document).unwrap();
        prop_assert!(mirrors(&stored["state"], &stored["metadata"]), "{}", stored);
    }

    #[test]
    fn the_delta_is_empty_when_desired_equals_reported(section in section_patch()) {
        let section = Value::Object(section);
        let payload = json!({"state": {"desired": section, "reported": section}});
        let (document, outcome) = ShadowDocument::create(&parse(&payload), 1, 0).unwrap();
        prop_assert!(outcome.delta.is_none());
        prop_assert!(document.delta().is_none());
        let get = serde_json::to_value(document.get(None, 2)).unwrap();
        prop_assert!(get["state"].get("delta").is_none());
    }

    #[test]
    fn reporting_the_delta_brings_the_shadow_in_sync(payloads in prop::collection::vec(update_payload(), 1..6)) {
        let mut document = apply_all(&payloads).unwrap();
        if let Some(delta) = document.delta() {
            let report = parse(&json!({"state": {"reported": delta}}));
            let outcome = document.apply_update(&report, 9_999).unwrap();
            prop_assert!(outcome.delta.is_none(), "{:?}", outcome.delta);
        }
    }

    #[test]
    fn the_delta_and_accepted_documents_share_the_version(payloads in prop::collection::vec(update_payload(), 1..4), last in update_payload()) {
        let mut document = apply_all(&payloads).unwrap();
        let outcome = document.apply_update(&parse(&last), 5_000).unwrap();
        prop_assert_eq!(outcome.accepted.version, document.version());
        prop_assert_eq!(outcome.documents.current.version, document.version());
        prop_assert_eq!(outcome.documents.previous.map(|p| p.version), Some(document.version() - 1));
        if let Some(delta) = outcome.delta {
            prop_assert_eq!(delta.version, document.version());
        }
    }

    #[test]
    fn no_payload_makes_parsing_or_applying_panic(payload in prop::collection::vec(any::<u8>(), 0..256)) {
        if let Ok(request) = UpdateRequest::parse(&payload, &ShadowLimits::default()) {
            let mut document = ShadowDocument::default();
            let _ = document.apply_update(&request, 1);
        }
    }

    #[test]
    fn no_json_state_makes_parsing_or_applying_panic(state in any_json(), version in prop::option::of(0u64..3)) {
        let payload = json!({"state": state, "version": version, "clientToken": "t"});
        if let Ok(request) = UpdateRequest::parse(payload.to_string().as_bytes(), &ShadowLimits::default()) {
            let (mut document, _) = ShadowDocument::create(
                &parse(&json!({"state": {"desired": {"a": 1}, "reported": {"b": [1]}}})),
                0,
                0,
            )
            .unwrap();
            if let Ok(outcome) = document.apply_update(&request, 1) {
                prop_assert_eq!(outcome.accepted.version, 2);
            }
        }
    }
}

/// Any JSON value, nulls inside arrays and wrong types included.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,4}".prop_map(Value::from),
    ];
    leaf.prop_recursive(8, 64, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(
                prop::sample::select(vec!["desired", "reported", "a", "b"]).prop_map(str::to_owned),
                inner,
                0..4
            )
            .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}
