//! The stored shadow document and the update semantics: merge, metadata, version, delta.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::delta::{delta, delta_metadata};
use crate::error::ShadowError;
use crate::request::{ClientToken, SectionUpdate, UpdateRequest};
use crate::response::{
    DeleteAccepted, DocumentSnapshot, GetAccepted, Sections, StateWithDelta, UpdateAccepted,
    UpdateDelta, UpdateDocuments, UpdateOutcome,
};

/// One existing shadow: `desired` and `reported` state, per-leaf metadata mirroring it, and
/// the version. `{}` (no sections) is a valid, existing shadow.
///
/// Invariants kept by every update: no section and no object inside the state is empty
/// (emptied objects are pruned), and the metadata has exactly the shape of the state, with
/// `{"timestamp": T}` for each leaf and an array of element metadata for each array.
///
/// It serializes (and deserializes, for storage) as `{"state","metadata","version"}`.
/// Deserializing trusts the stored document to keep the invariants.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ShadowDocument {
    state: Sections,
    metadata: Sections,
    version: u64,
}

impl ShadowDocument {
    /// Creates a shadow from its first update. `base_version` is the version numbering
    /// continues from: 0 for a shadow that never existed or was deleted more than 48 hours
    /// ago, else the deleted document's version (AWS continues the numbering within 48 hours;
    /// keeping that tombstone is the store's business). The first update thus yields
    /// `base_version + 1`, and a request `version` must equal `base_version`.
    ///
    /// `/update/documents` has no `previous`.
    pub fn create(
        request: &UpdateRequest,
        now: u64,
        base_version: u64,
    ) -> Result<(Self, UpdateOutcome), ShadowError> {
        let mut document = Self {
            version: base_version,
            ..Self::default()
        };
        let outcome = document.update(request, now, false)?;
        Ok((document, outcome))
    }

    /// Applies an update to this existing shadow at `now` (epoch seconds). On error the
    /// document is unchanged.
    ///
    /// - A request `version` other than the current one is a 409 conflict.
    /// - Each section merges recursively: objects into objects, `null` removes a key and its
    ///   metadata, anything else (scalars, whole arrays, type changes) replaces. A `null`
    ///   section, or a `null` state, removes the section; a section or object left empty
    ///   disappears.
    /// - Every leaf written is stamped `now`, even when its value did not change.
    /// - The version goes up by one for every accepted update, even one that changes nothing.
    /// - If `desired` plus `reported` of the result, compact and without metadata, exceed the
    ///   limit the request was parsed under, it is a 413 — even for a small update.
    pub fn apply_update(
        &mut self,
        request: &UpdateRequest,
        now: u64,
    ) -> Result<UpdateOutcome, ShadowError> {
        self.update(request, now, true)
    }

    fn update(
        &mut self,
        request: &UpdateRequest,
        now: u64,
        existed: bool,
    ) -> Result<UpdateOutcome, ShadowError> {
        if let Some(requested) = request.version()
            && requested != self.version
        {
            return Err(ShadowError::VersionConflict {
                current: self.version,
                requested,
            });
        }
        let mut next = self.clone();
        next.version = self.version.checked_add(1).ok_or(ShadowError::Internal)?;
        apply_section(
            &mut next.state.desired,
            &mut next.metadata.desired,
            request.desired(),
            now,
        );
        apply_section(
            &mut next.state.reported,
            &mut next.metadata.reported,
            request.reported(),
            now,
        );
        let bytes = state_bytes(&next.state);
        if bytes > request.max_state_bytes() {
            return Err(ShadowError::PayloadTooLarge {
                bytes,
                max: request.max_state_bytes(),
            });
        }
        let previous = std::mem::replace(self, next);
        let previous = existed.then(|| previous.into_snapshot());

        let client_token = request.client_token().cloned();
        let accepted = UpdateAccepted {
            state: request.state().clone(),
            metadata: match request.state() {
                Value::Null => Value::Object(Map::new()),
                state => metadata_of(state, now),
            },
            version: self.version,
            timestamp: now,
            client_token: client_token.clone(),
        };
        let delta = self.delta().map(|state| UpdateDelta {
            metadata: self
                .metadata
                .desired
                .as_ref()
                .map(|metadata| delta_metadata(&state, metadata))
                .unwrap_or_default(),
            state,
            version: self.version,
            timestamp: now,
            client_token: client_token.clone(),
        });
        let documents = UpdateDocuments {
            previous,
            current: self.snapshot(),
            timestamp: now,
            client_token,
        };
        Ok(UpdateOutcome {
            accepted,
            delta,
            documents,
        })
    }

    /// The `/get/accepted` document (and GetThingShadow's body) at `now`.
    pub fn get(&self, client_token: Option<&ClientToken>, now: u64) -> GetAccepted {
        GetAccepted {
            state: StateWithDelta {
                desired: self.state.desired.clone(),
                reported: self.state.reported.clone(),
                delta: self.delta(),
            },
            metadata: self.metadata.clone(),
            version: self.version,
            timestamp: now,
            client_token: client_token.cloned(),
        }
    }

    /// The `/delete/accepted` document (and DeleteThingShadow's body) for deleting this
    /// shadow at `now`: it carries the deleted document's version. The caller removes the
    /// document and keeps its [`version`](Self::version) if re-creation within 48 hours should
    /// continue the numbering (see [`ShadowDocument::create`]).
    pub fn delete(&self, client_token: Option<&ClientToken>, now: u64) -> DeleteAccepted {
        DeleteAccepted {
            version: self.version,
            timestamp: now,
            client_token: client_token.cloned(),
        }
    }

    /// The document's version: 1 after the update that created it, plus one per update since.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Desired and reported state.
    pub fn state(&self) -> &Sections {
        &self.state
    }

    /// Metadata mirroring [`state`](Self::state).
    pub fn metadata(&self) -> &Sections {
        &self.metadata
    }

    /// The desired values reported does not match, or `None` when there are none (including
    /// when there is no desired section).
    pub fn delta(&self) -> Option<Map<String, Value>> {
        let desired = self.state.desired.as_ref()?;
        let delta = delta(desired, self.state.reported.as_ref());
        (!delta.is_empty()).then_some(delta)
    }

    /// The document as `/update/documents` shows it.
    pub fn snapshot(&self) -> DocumentSnapshot {
        self.clone().into_snapshot()
    }

    fn into_snapshot(self) -> DocumentSnapshot {
        DocumentSnapshot {
            state: self.state,
            metadata: self.metadata,
            version: self.version,
        }
    }
}

fn apply_section(
    state: &mut Option<Map<String, Value>>,
    metadata: &mut Option<Map<String, Value>>,
    update: &SectionUpdate,
    now: u64,
) {
    match update {
        SectionUpdate::Untouched => {}
        SectionUpdate::Clear => {
            *state = None;
            *metadata = None;
        }
        SectionUpdate::Merge(patch) => {
            let mut section = state.take().unwrap_or_default();
            let mut section_metadata = metadata.take().unwrap_or_default();
            merge(&mut section, &mut section_metadata, patch, now);
            if !section.is_empty() {
                *state = Some(section);
                *metadata = Some(section_metadata);
            }
        }
    }
}

/// Merges `patch` into `state`, keeping `metadata` its mirror. An object that ends up empty is
/// removed, so the state never holds `{}`.
fn merge(
    state: &mut Map<String, Value>,
    metadata: &mut Map<String, Value>,
    patch: &Map<String, Value>,
    now: u64,
) {
    for (key, value) in patch {
        match value {
            Value::Null => {
                state.remove(key);
                metadata.remove(key);
            }
            Value::Object(patch) => {
                // Only an object's metadata mirrors it; a replaced leaf's `{"timestamp"}`
                // must not be mistaken for one.
                let (mut child, mut child_metadata) = match state.remove(key) {
                    Some(Value::Object(child)) => match metadata.remove(key) {
                        Some(Value::Object(child_metadata)) => (child, child_metadata),
                        _ => (child, Map::new()),
                    },
                    _ => (Map::new(), Map::new()),
                };
                merge(&mut child, &mut child_metadata, patch, now);
                if child.is_empty() {
                    metadata.remove(key);
                } else {
                    state.insert(key.clone(), Value::Object(child));
                    metadata.insert(key.clone(), Value::Object(child_metadata));
                }
            }
            leaf => {
                state.insert(key.clone(), leaf.clone());
                metadata.insert(key.clone(), metadata_of(leaf, now));
            }
        }
    }
}

/// The metadata of a value written at `now`: objects map to objects of their members'
/// metadata, arrays to arrays of their elements' metadata, anything else (`null` included) to
/// `{"timestamp": now}`.
fn metadata_of(value: &Value, now: u64) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, value)| (key.clone(), metadata_of(value, now)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(|v| metadata_of(v, now)).collect()),
        _ => {
            let mut stamp = Map::new();
            stamp.insert("timestamp".to_owned(), Value::from(now));
            Value::Object(stamp)
        }
    }
}

/// The size the 8 KB limit applies to: each section serialized compactly, summed.
fn state_bytes(state: &Sections) -> usize {
    [&state.desired, &state.reported]
        .into_iter()
        .flatten()
        .map(|section| Value::Object(section.clone()).to_string().len())
        .sum()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::request::ShadowLimits;
    use crate::response::to_payload;

    const T0: u64 = 1_700_000_000;
    const T1: u64 = 1_700_000_060;

    fn request(payload: Value) -> UpdateRequest {
        UpdateRequest::parse(payload.to_string().as_bytes(), &ShadowLimits::default()).unwrap()
    }

    fn created(payload: Value) -> ShadowDocument {
        ShadowDocument::create(&request(payload), T0, 0).unwrap().0
    }

    fn stored(document: &ShadowDocument) -> Value {
        serde_json::to_value(document).unwrap()
    }

    #[test]
    fn the_first_update_creates_version_1_without_a_previous_document() {
        let (document, outcome) = ShadowDocument::create(
            &request(json!({"state": {"reported": {"on": true}}, "clientToken": "c1"})),
            T0,
            0,
        )
        .unwrap();
        assert_eq!(document.version(), 1);
        assert_eq!(
            serde_json::to_value(&outcome.documents).unwrap(),
            json!({
                "current": {
                    "state": {"reported": {"on": true}},
                    "metadata": {"reported": {"on": {"timestamp": T0}}},
                    "version": 1
                },
                "timestamp": T0,
                "clientToken": "c1"
            })
        );
    }

    #[test]
    fn re_creation_within_48_hours_continues_the_numbering() {
        let (document, outcome) =
            ShadowDocument::create(&request(json!({"state": {"reported": {"a": 1}}})), T0, 7)
                .unwrap();
        assert_eq!(document.version(), 8);
        assert_eq!(outcome.accepted.version, 8);
    }

    #[test]
    fn objects_merge_recursively() {
        let mut document =
            created(json!({"state": {"reported": {"lights": {"color": "red", "on": true}}}}));
        document
            .apply_update(
                &request(json!({"state": {"reported": {"lights": {"color": "blue"}, "fan": 2}}})),
                T1,
            )
            .unwrap();
        assert_eq!(
            stored(&document),
            json!({
                "state": {"reported": {"lights": {"color": "blue", "on": true}, "fan": 2}},
                "metadata": {"reported": {
                    "lights": {"color": {"timestamp": T1}, "on": {"timestamp": T0}},
                    "fan": {"timestamp": T1}
                }},
                "version": 2
            })
        );
    }

    #[test]
    fn null_deletes_a_key_and_its_metadata() {
        let mut document = created(json!({"state": {"desired": {"a": 1, "b": {"c": 2, "d": 3}}}}));
        document
            .apply_update(
                &request(json!({"state": {"desired": {"a": null, "b": {"c": null}}}})),
                T1,
            )
            .unwrap();
        assert_eq!(
            stored(&document),
            json!({
                "state": {"desired": {"b": {"d": 3}}},
                "metadata": {"desired": {"b": {"d": {"timestamp": T0}}}},
                "version": 2
            })
        );
    }

    #[test]
    fn an_object_emptied_by_nulls_is_pruned_up_to_the_section() {
        let mut document =
            created(json!({"state": {"desired": {"a": {"b": {"c": 1}}}, "reported": {"x": 1}}}));
        document
            .apply_update(
                &request(json!({"state": {"desired": {"a": {"b": {"c": null}}}}})),
                T1,
            )
            .unwrap();
        assert_eq!(document.state().desired, None);
        assert_eq!(document.metadata().desired, None);
        assert_eq!(
            serde_json::to_value(document.get(None, T1)).unwrap()["state"],
            json!({"reported": {"x": 1}})
        );
    }

    #[test]
    fn an_empty_object_is_not_stored() {
        let mut document = created(json!({"state": {"reported": {"a": 1}}}));
        document
            .apply_update(&request(json!({"state": {"reported": {"b": {}}}})), T1)
            .unwrap();
        assert_eq!(stored(&document)["state"], json!({"reported": {"a": 1}}));
        assert_eq!(document.version(), 2);
    }

    #[test]
    fn a_null_section_drops_the_section_and_a_null_state_drops_both() {
        let mut document = created(json!({"state": {"desired": {"a": 1}, "reported": {"a": 2}}}));
        document
            .apply_update(&request(json!({"state": {"desired": null}})), T1)
            .unwrap();
        assert_eq!(stored(&document)["state"], json!({"reported": {"a": 2}}));
        let outcome = document
            .apply_update(&request(json!({"state": null})), T1)
            .unwrap();
        assert_eq!(
            stored(&document),
            json!({"state": {}, "metadata": {}, "version": 3})
        );
        assert_eq!(
            serde_json::to_value(&outcome.accepted).unwrap(),
            json!({"state": null, "metadata": {}, "version": 3, "timestamp": T1})
        );
    }

    #[test]
    fn arrays_are_replaced_whole_and_their_metadata_is_per_element() {
        let mut document =
            created(json!({"state": {"reported": {"colors": ["red", "green", "blue"]}}}));
        document
            .apply_update(
                &request(json!({"state": {"reported": {"colors": [{"name": "cyan"}, "pink"]}}})),
                T1,
            )
            .unwrap();
        assert_eq!(
            stored(&document),
            json!({
                "state": {"reported": {"colors": [{"name": "cyan"}, "pink"]}},
                "metadata": {"reported": {"colors": [{"name": {"timestamp": T1}}, {"timestamp": T1}]}},
                "version": 2
            })
        );
    }

    #[test]
    fn a_scalar_replaced_by_an_object_gets_object_metadata() {
        let mut document = created(json!({"state": {"reported": {"a": 1}}}));
        document
            .apply_update(
                &request(json!({"state": {"reported": {"a": {"timestamp": 9}}}})),
                T1,
            )
            .unwrap();
        assert_eq!(
            stored(&document)["metadata"],
            json!({"reported": {"a": {"timestamp": {"timestamp": T1}}}})
        );
    }

    #[test]
    fn every_leaf_sent_is_restamped_even_when_unchanged() {
        let mut document = created(json!({"state": {"reported": {"a": 1, "b": 2}}}));
        document
            .apply_update(&request(json!({"state": {"reported": {"a": 1}}})), T1)
            .unwrap();
        assert_eq!(
            stored(&document)["metadata"],
            json!({"reported": {"a": {"timestamp": T1}, "b": {"timestamp": T0}}})
        );
    }

    #[test]
    fn the_accepted_document_echoes_the_request_not_the_whole_shadow() {
        let mut document = created(json!({"state": {"reported": {"a": 1}}}));
        let outcome = document
            .apply_update(
                &request(json!({
                    "state": {"desired": {"b": 2, "c": null, "d": [1, 2]}},
                    "clientToken": "tok",
                    "version": 1
                })),
                T1,
            )
            .unwrap();
        assert_eq!(
            serde_json::to_value(&outcome.accepted).unwrap(),
            json!({
                "state": {"desired": {"b": 2, "c": null, "d": [1, 2]}},
                "metadata": {"desired": {
                    "b": {"timestamp": T1},
                    "c": {"timestamp": T1},
                    "d": [{"timestamp": T1}, {"timestamp": T1}]
                }},
                "version": 2,
                "timestamp": T1,
                "clientToken": "tok"
            })
        );
    }

    #[test]
    fn a_version_other_than_the_current_one_is_a_conflict_and_changes_nothing() {
        let mut document = created(json!({"state": {"reported": {"a": 1}}}));
        let before = document.clone();
        let err = document
            .apply_update(
                &request(json!({"state": {"reported": {"a": 2}}, "version": 5})),
                T1,
            )
            .unwrap_err();
        assert_eq!(
            err,
            ShadowError::VersionConflict {
                current: 1,
                requested: 5
            }
        );
        assert_eq!(err.code(), 409);
        assert_eq!(document, before);
    }

    #[test]
    fn the_current_version_passes_the_check_and_each_update_adds_one() {
        let mut document = created(json!({"state": {"reported": {"a": 1}}}));
        for version in 1..=3 {
            let outcome = document
                .apply_update(
                    &request(json!({"state": {"reported": {"a": version}}, "version": version})),
                    T1,
                )
                .unwrap();
            assert_eq!(outcome.accepted.version, version + 1);
        }
        assert_eq!(document.version(), 4);
    }

    #[test]
    fn a_version_on_a_new_shadow_must_be_the_base_version() {
        assert!(
            ShadowDocument::create(&request(json!({"state": {}, "version": 0})), T0, 0).is_ok()
        );
        assert_eq!(
            ShadowDocument::create(&request(json!({"state": {}, "version": 1})), T0, 0)
                .unwrap_err(),
            ShadowError::VersionConflict {
                current: 0,
                requested: 1
            }
        );
    }

    #[test]
    fn an_empty_state_is_a_valid_update_that_bumps_the_version() {
        let mut document = created(json!({"state": {}}));
        assert_eq!(
            stored(&document),
            json!({"state": {}, "metadata": {}, "version": 1})
        );
        document
            .apply_update(&request(json!({"state": {}})), T1)
            .unwrap();
        assert_eq!(document.version(), 2);
    }

    #[test]
    fn the_delta_lists_desired_values_reported_does_not_match_with_their_metadata() {
        let mut document =
            created(json!({"state": {"reported": {"lights": {"color": "green"}, "fan": 1}}}));
        let outcome = document
            .apply_update(
                &request(json!({
                    "state": {"desired": {"lights": {"color": "red"}, "fan": 1}},
                    "clientToken": "app"
                })),
                T1,
            )
            .unwrap();
        let delta = outcome.delta.unwrap();
        assert_eq!(
            serde_json::to_value(&delta).unwrap(),
            json!({
                "state": {"lights": {"color": "red"}},
                "metadata": {"lights": {"color": {"timestamp": T1}}},
                "version": 2,
                "timestamp": T1,
                "clientToken": "app"
            })
        );
        assert_eq!(delta.version, outcome.accepted.version);
    }

    #[test]
    fn a_reported_only_update_re_emits_the_full_delta_with_its_own_token() {
        let mut document = created(json!({"state": {"desired": {"a": 1, "b": 2}}}));
        let outcome = document
            .apply_update(
                &request(json!({"state": {"reported": {"a": 1}}, "clientToken": "device"})),
                T1,
            )
            .unwrap();
        let delta = outcome.delta.unwrap();
        assert_eq!(Value::Object(delta.state), json!({"b": 2}));
        assert_eq!(delta.client_token.unwrap().as_str(), "device");
    }

    #[test]
    fn no_delta_is_published_once_reported_matches_desired() {
        let mut document = created(json!({"state": {"desired": {"a": 1}}}));
        let outcome = document
            .apply_update(&request(json!({"state": {"reported": {"a": 1.0}}})), T1)
            .unwrap();
        assert!(outcome.delta.is_none());
        // Desired is never cleared automatically.
        assert_eq!(stored(&document)["state"]["desired"], json!({"a": 1}));
    }

    #[test]
    fn the_documents_message_holds_the_previous_and_current_documents() {
        let mut document = created(json!({"state": {"reported": {"a": 1}}}));
        let outcome = document
            .apply_update(&request(json!({"state": {"reported": {"a": 2}}})), T1)
            .unwrap();
        assert_eq!(
            serde_json::to_value(&outcome.documents).unwrap(),
            json!({
                "previous": {
                    "state": {"reported": {"a": 1}},
                    "metadata": {"reported": {"a": {"timestamp": T0}}},
                    "version": 1
                },
                "current": {
                    "state": {"reported": {"a": 2}},
                    "metadata": {"reported": {"a": {"timestamp": T1}}},
                    "version": 2
                },
                "timestamp": T1
            })
        );
    }

    #[test]
    fn get_returns_both_sections_the_delta_metadata_and_the_token() {
        let document =
            created(json!({"state": {"desired": {"a": 1, "b": 2}, "reported": {"a": 1}}}));
        let token = ClientToken::new("g").unwrap();
        assert_eq!(
            serde_json::to_value(document.get(Some(&token), T1)).unwrap(),
            json!({
                "state": {
                    "desired": {"a": 1, "b": 2},
                    "reported": {"a": 1},
                    "delta": {"b": 2}
                },
                "metadata": {
                    "desired": {"a": {"timestamp": T0}, "b": {"timestamp": T0}},
                    "reported": {"a": {"timestamp": T0}}
                },
                "version": 1,
                "timestamp": T1,
                "clientToken": "g"
            })
        );
    }

    #[test]
    fn delete_answers_with_the_deleted_version() {
        let mut document = created(json!({"state": {"reported": {"a": 1}}}));
        document
            .apply_update(&request(json!({"state": {"reported": {"a": 2}}})), T1)
            .unwrap();
        let token = ClientToken::new("d").unwrap();
        assert_eq!(
            to_payload(&document.delete(Some(&token), T1)),
            format!(r#"{{"version":2,"timestamp":{T1},"clientToken":"d"}}"#).into_bytes()
        );
    }

    #[test]
    fn an_update_leaving_more_than_8_kb_of_state_is_too_large_even_if_small_itself() {
        let big = "x".repeat(8_000);
        let mut document = created(json!({"state": {"reported": {"big": big}}}));
        let before = document.clone();
        let err = document
            .apply_update(
                &request(json!({"state": {"desired": {"more": "y".repeat(200)}}})),
                T1,
            )
            .unwrap_err();
        assert!(matches!(
            err,
            ShadowError::PayloadTooLarge { max: 8192, .. }
        ));
        assert_eq!(err.code(), 413);
        assert_eq!(document, before);
    }

    #[test]
    fn state_of_exactly_8192_bytes_is_accepted() {
        // {"big":"…"} is 10 bytes of syntax around the string.
        let document = ShadowDocument::create(
            &request(json!({"state": {"reported": {"big": "x".repeat(8192 - 10)}}})),
            T0,
            0,
        );
        assert!(document.is_ok());
        let too_big = ShadowDocument::create(
            &request(json!({"state": {"reported": {"big": "x".repeat(8192 - 9)}}})),
            T0,
            0,
        );
        assert!(too_big.is_err());
    }

    #[test]
    fn deleting_keys_can_bring_an_oversized_document_back_under_the_limit() {
        let limits = ShadowLimits {
            max_state_bytes: 20,
            ..ShadowLimits::default()
        };
        let parse =
            |value: Value| UpdateRequest::parse(value.to_string().as_bytes(), &limits).unwrap();
        let (mut document, _) =
            ShadowDocument::create(&parse(json!({"state": {"reported": {"a": 1}}})), T0, 0)
                .unwrap();
        assert!(
            document
                .apply_update(
                    &parse(json!({"state": {"reported": {"b": "0123456789abc"}}})),
                    T1
                )
                .is_err()
        );
        assert!(
            document
                .apply_update(
                    &parse(json!({"state": {"reported": {"a": null, "b": "0123456789ab"}}})),
                    T1
                )
                .is_ok()
        );
    }

    #[test]
    fn a_stored_document_round_trips_through_json() {
        let document =
            created(json!({"state": {"desired": {"a": [1, {"b": true}]}, "reported": {"c": "d"}}}));
        let json = serde_json::to_string(&document).unwrap();
        let back: ShadowDocument = serde_json::from_str(&json).unwrap();
        assert_eq!(back, document);
    }
}
