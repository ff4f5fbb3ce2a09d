//! The fuzz seeds must stay valid updates, or the fuzzer starts from nothing useful.

use std::fs;
use std::path::Path;

use roost_shadow::{ShadowDocument, ShadowLimits, UpdateRequest};

#[test]
fn every_fuzz_seed_is_an_update_a_new_shadow_accepts() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds");
    let mut seen = 0;
    for entry in fs::read_dir(&dir).expect("fuzz/seeds exists") {
        let path = entry.expect("readable entry").path();
        let payload = fs::read(&path).expect("seed is readable");
        let request = UpdateRequest::parse(&payload, &ShadowLimits::default())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        ShadowDocument::create(&request, 1_700_000_000, 1)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        seen += 1;
    }
    assert!(seen >= 4, "expected the seeds in {}", dir.display());
}
