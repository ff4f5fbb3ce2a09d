//! Parses arbitrary bytes as a shadow update and applies whatever parses to a fixed document,
//! twice: nothing may panic, both applications must agree, and an accepted update must leave
//! the version one higher and the state within the size limit.

#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use roost_shadow::{ShadowDocument, ShadowLimits, UpdateRequest, to_payload};

/// A document with both sections, nesting, an array and a delta, for updates to merge into.
static DOCUMENT: LazyLock<Option<ShadowDocument>> = LazyLock::new(|| {
    let seed = br#"{"state":{"desired":{"lights":{"color":"red","on":true},"fan":2},
        "reported":{"lights":{"color":"green","on":true},"modes":["eco","boost"]}}}"#;
    let request = UpdateRequest::parse(seed, &ShadowLimits::default()).ok()?;
    ShadowDocument::create(&request, 1_700_000_000, 0)
        .ok()
        .map(|(document, _)| document)
});

fuzz_target!(|data: &[u8]| {
    let limits = ShadowLimits::default();
    let Ok(request) = UpdateRequest::parse(data, &limits) else {
        return;
    };
    let Some(original) = DOCUMENT.as_ref() else {
        return;
    };
    let mut first = original.clone();
    let mut second = original.clone();
    let first_outcome = first.apply_update(&request, 1_700_000_060);
    let second_outcome = second.apply_update(&request, 1_700_000_060);
    assert_eq!(first_outcome, second_outcome, "applying is not deterministic");
    assert_eq!(first, second, "applying is not deterministic");
    match first_outcome {
        Ok(outcome) => {
            assert_eq!(first.version(), original.version() + 1);
            assert_eq!(outcome.accepted.version, first.version());
            let state = to_payload(first.state());
            assert!(state.len() <= limits.max_state_bytes + 64);
            let _ = to_payload(&outcome.accepted);
            let _ = to_payload(&outcome.documents);
            let _ = to_payload(&first.get(request.client_token(), 1_700_000_060));
        }
        Err(_) => assert_eq!(&first, original, "a rejected update changed the document"),
    }
    // A new shadow takes the same request.
    let _ = ShadowDocument::create(&request, 1_700_000_060, 0);
});
