//! The fuzz seeds must stay valid templates, or the fuzzer starts from nothing useful.

use std::fs;
use std::path::Path;

use roost_template::{Parameters, Template};

#[test]
fn every_fuzz_seed_parses_and_evaluates() {
    let parameters: Parameters = [
        ("AWS::IoT::Certificate::Country", "US"),
        ("AWS::IoT::Certificate::Id", "00ff"),
        ("SerialNumber", "0042"),
        ("Stage", "dev"),
        ("Groups", "a,b"),
    ]
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .into();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds");
    let mut seen = 0;
    for entry in fs::read_dir(&dir).expect("fuzz/seeds exists") {
        let path = entry.expect("readable entry").path();
        let body = fs::read_to_string(&path).expect("seed is UTF-8");
        let template = Template::parse(&body).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        template
            .evaluate(&parameters)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        seen += 1;
    }
    assert!(seen >= 4, "expected the seeds in {}", dir.display());
}
