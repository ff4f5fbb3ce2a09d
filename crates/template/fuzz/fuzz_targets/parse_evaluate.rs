//! Parses arbitrary bytes as a template body and evaluates whatever parses, twice, with a fixed
//! parameter map: nothing may panic, and both evaluations must agree.

#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use roost_template::{Parameters, Template};

/// What JITP would supply for a device certificate, plus short names the seeds use.
static PARAMETERS: LazyLock<Parameters> = LazyLock::new(|| {
    [
        ("AWS::IoT::Certificate::Country", "US"),
        ("AWS::IoT::Certificate::CommonName", "device-1"),
        ("AWS::IoT::Certificate::Organization", "Roost"),
        (
            "AWS::IoT::Certificate::Id",
            "4f9d2b7c1e8a6f3d0b5c9e2a7d4f1b8c3e6a9d2f5b8c1e4a7d0f3b6c9e2a5d8f",
        ),
        ("SerialNumber", "0042"),
        ("DeviceLocation", "Lisbon"),
        ("Stage", "prod"),
        ("Groups", "a,b,c"),
        ("Index", "1"),
        ("a", "a"),
        ("b", "x,y"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
});

fuzz_target!(|data: &[u8]| {
    let Ok(body) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(template) = Template::parse(body) else {
        return;
    };
    let first = template.evaluate(&PARAMETERS);
    let second = template.evaluate(&PARAMETERS);
    assert_eq!(first, second, "evaluation is not deterministic");
});
