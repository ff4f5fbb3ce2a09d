//! The documents the shadow service sends: AWS's contract, one `Serialize` type each.
//!
//! Timestamps are epoch seconds (the Python SDK parses them with `fromtimestamp`, so
//! milliseconds would break it). `clientToken` is left out when the request had none.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::name::ShadowName;
use crate::request::ClientToken;
use crate::topic::ShadowTopicKind;

/// A `desired`/`reported` pair, as both the state and the metadata of a document hold them.
/// An absent section is left out when serialized; it is never an empty object.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Sections {
    /// The desired section.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired: Option<Map<String, Value>>,
    /// The reported section.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reported: Option<Map<String, Value>>,
}

/// One full document as `/update/documents` shows it: `{state, metadata, version}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DocumentSnapshot {
    /// Desired and reported state.
    pub state: Sections,
    /// Per-leaf `{"timestamp": T}` mirroring `state`.
    pub metadata: Sections,
    /// The document's version.
    pub version: u64,
}

/// `/update/accepted` and UpdateThingShadow's body: the request's state as sent (not the full
/// document), the metadata of every leaf it wrote, and the new version.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UpdateAccepted {
    /// `state` as the request sent it, `null`s included.
    pub state: Value,
    /// A `{"timestamp": T}` for every leaf of `state`, `null`s included.
    pub metadata: Value,
    /// The version the update produced.
    pub version: u64,
    /// When the update was applied.
    pub timestamp: u64,
    /// The request's token.
    #[serde(rename = "clientToken", skip_serializing_if = "Option::is_none")]
    pub client_token: Option<ClientToken>,
}

/// `/update/delta`: the full delta after an accepted update, with the metadata of the desired
/// values in it, the update's version and the update's token.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UpdateDelta {
    /// The desired values that differ from reported, at their full paths.
    pub state: Map<String, Value>,
    /// The desired metadata cut to the keys of `state`.
    pub metadata: Map<String, Value>,
    /// The same version as the `/update/accepted` of the update that caused it.
    pub version: u64,
    /// When the update was applied.
    pub timestamp: u64,
    /// The causing update's token.
    #[serde(rename = "clientToken", skip_serializing_if = "Option::is_none")]
    pub client_token: Option<ClientToken>,
}

/// `/update/documents`: the document before and after an accepted update.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UpdateDocuments {
    /// The document before the update; absent when the update created the shadow.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous: Option<DocumentSnapshot>,
    /// The document after the update.
    pub current: DocumentSnapshot,
    /// When the update was applied.
    pub timestamp: u64,
    /// The update's token.
    #[serde(rename = "clientToken", skip_serializing_if = "Option::is_none")]
    pub client_token: Option<ClientToken>,
}

/// Everything one accepted update publishes. The broker sends, in this order, `accepted` on
/// `/update/accepted`, `delta` (when there is one) on `/update/delta`, and `documents` on
/// `/update/documents`; iot-data answers UpdateThingShadow with `accepted`.
#[derive(Debug, Clone, PartialEq)]
pub struct UpdateOutcome {
    /// The `/update/accepted` document.
    pub accepted: UpdateAccepted,
    /// The `/update/delta` document, present when desired still differs from reported.
    pub delta: Option<UpdateDelta>,
    /// The `/update/documents` document.
    pub documents: UpdateDocuments,
}

impl UpdateOutcome {
    /// The messages the update publishes, in order: each topic kind with its JSON payload.
    pub fn messages(&self) -> Vec<(ShadowTopicKind, Vec<u8>)> {
        let mut messages = vec![(ShadowTopicKind::UpdateAccepted, to_payload(&self.accepted))];
        if let Some(delta) = &self.delta {
            messages.push((ShadowTopicKind::UpdateDelta, to_payload(delta)));
        }
        messages.push((
            ShadowTopicKind::UpdateDocuments,
            to_payload(&self.documents),
        ));
        messages
    }
}

/// The state of a `/get/accepted` document: both sections and their delta.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StateWithDelta {
    /// The desired section.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub desired: Option<Map<String, Value>>,
    /// The reported section.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reported: Option<Map<String, Value>>,
    /// Desired values that differ from reported; absent when there are none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delta: Option<Map<String, Value>>,
}

/// `/get/accepted` and GetThingShadow's body: the full document.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GetAccepted {
    /// Both sections and their delta.
    pub state: StateWithDelta,
    /// The metadata of both sections (AWS's documentation also shows `metadata.delta`; the
    /// SDKs ignore it and it is left out).
    pub metadata: Sections,
    /// The document's version.
    pub version: u64,
    /// When the answer was made.
    pub timestamp: u64,
    /// The request's token.
    #[serde(rename = "clientToken", skip_serializing_if = "Option::is_none")]
    pub client_token: Option<ClientToken>,
}

/// `/delete/accepted` and DeleteThingShadow's body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeleteAccepted {
    /// The version of the document that was deleted.
    pub version: u64,
    /// When the shadow was deleted.
    pub timestamp: u64,
    /// The request's token.
    #[serde(rename = "clientToken", skip_serializing_if = "Option::is_none")]
    pub client_token: Option<ClientToken>,
}

/// ListNamedShadowsForThing's body. The classic shadow is never listed; paging is the
/// store's business.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ListNamedShadows {
    /// The thing's named shadows on this page.
    pub results: Vec<ShadowName>,
    /// Where the next page starts; absent on the last page.
    #[serde(rename = "nextToken", skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
    /// When the answer was made (epoch seconds; AWS's unit is unverified).
    pub timestamp: u64,
}

/// Serializes a document as the compact JSON payload the broker publishes.
///
/// Serializing this crate's documents cannot fail (every map key is a string and every
/// `Serialize` is derived), so this returns bytes rather than a `Result`; were it to fail
/// anyway, the payload would be `{}`.
pub fn to_payload<T: Serialize>(document: &T) -> Vec<u8> {
    serde_json::to_vec(document).unwrap_or_else(|_| b"{}".to_vec())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn absent_sections_and_tokens_are_left_out() {
        let delete = DeleteAccepted {
            version: 4,
            timestamp: 10,
            client_token: None,
        };
        assert_eq!(to_payload(&delete), br#"{"version":4,"timestamp":10}"#);
        let get = GetAccepted {
            state: StateWithDelta {
                desired: None,
                reported: None,
                delta: None,
            },
            metadata: Sections::default(),
            version: 1,
            timestamp: 2,
            client_token: Some(ClientToken::new("c").unwrap()),
        };
        assert_eq!(
            serde_json::to_value(&get).unwrap(),
            json!({"state": {}, "metadata": {}, "version": 1, "timestamp": 2, "clientToken": "c"})
        );
    }

    #[test]
    fn a_named_shadow_list_uses_aws_member_names() {
        let list = ListNamedShadows {
            results: vec![ShadowName::new("a").unwrap()],
            next_token: Some("n".into()),
            timestamp: 3,
        };
        assert_eq!(
            serde_json::to_value(&list).unwrap(),
            json!({"results": ["a"], "nextToken": "n", "timestamp": 3})
        );
    }
}
