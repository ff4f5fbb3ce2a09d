//! The fuzz seeds must stay valid (SQL, a NUL, a payload), or the fuzzer starts from nothing
//! useful; each one also gets the fuzz target's checks here.

use std::fs;
use std::path::Path;

use roost_sql::{MessageContext, SqlVersion, SubstitutionTemplate, parse};

#[test]
fn every_fuzz_seed_parses_evaluates_and_round_trips() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds");
    let mut seen = 0;
    for entry in fs::read_dir(&dir).expect("fuzz/seeds exists") {
        let path = entry.expect("readable entry").path();
        let data = fs::read(&path).expect("readable seed");
        let nul = data
            .iter()
            .position(|&b| b == 0)
            .unwrap_or_else(|| panic!("{}: no NUL separator", path.display()));
        let sql = std::str::from_utf8(&data[..nul]).expect("SQL is UTF-8");
        let ctx = MessageContext::new("sensors/dev1/telemetry", data[nul + 1..].to_vec())
            .with_client_id("client-1")
            .with_timestamp_ms(1_520_551_012_345);
        if sql.contains("${") {
            let template = SubstitutionTemplate::parse(sql, SqlVersion::V2016_03_23)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(!template.render(&ctx).is_empty());
        } else {
            let statement = parse(sql, SqlVersion::V2016_03_23)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let output = statement
                .evaluate(&ctx)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(output.is_some(), "{}: no output", path.display());
            assert_eq!(
                parse(&statement.to_string(), SqlVersion::V2016_03_23).as_ref(),
                Ok(&statement)
            );
        }
        seen += 1;
    }
    assert!(seen >= 6, "expected the seeds in {}", dir.display());
}
