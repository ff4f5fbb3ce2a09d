//! Splits the input at its first NUL byte into SQL text and a payload (`{}` when there is no
//! NUL), parses the text under both SQL versions and as a substitution template, and evaluates
//! whatever parses against the payload twice: nothing may panic, both evaluations must agree, and
//! a parsed statement's printed form must parse back to the same statement.

#![no_main]

use std::sync::{Arc, LazyLock};

use libfuzzer_sys::fuzz_target;
use roost_sql::{
    FixedEnvironment, MessageContext, MqttProperties, SqlVersion, SubstitutionTemplate, Variables,
    parse,
};

/// A fixed clock and UUID, so evaluation is deterministic.
static ENVIRONMENT: LazyLock<Arc<FixedEnvironment>> = LazyLock::new(|| {
    Arc::new(FixedEnvironment {
        uuid: "8e5f3b8c-1d2a-4f6b-9c0d-2e4f6a8b0c1d".to_owned(),
        now_ms: 1_520_551_012_345,
        random: 0.5,
    })
});

fuzz_target!(|data: &[u8]| {
    let (sql, payload) = match data.iter().position(|&b| b == 0) {
        Some(nul) => {
            let (sql, rest) = data.split_at(nul);
            (sql, rest.get(1..).unwrap_or_default())
        }
        None => (data, &b"{}"[..]),
    };
    let Ok(sql) = std::str::from_utf8(sql) else {
        return;
    };
    let ctx = MessageContext::new("sensors/dev1/telemetry", payload.to_vec())
        .with_client_id("client-1")
        .with_principal("0123abcd")
        .with_trace_id("trace-1")
        .with_timestamp_ms(1_520_551_012_345)
        .with_mqtt_properties(MqttProperties {
            content_type: Some("application/json".to_owned()),
            correlation_data: Some(vec![1, 2, 3]),
            user_properties: vec![("k".to_owned(), "v".to_owned())],
            ..MqttProperties::default()
        })
        .with_environment(ENVIRONMENT.clone());
    for version in [SqlVersion::V2015_10_08, SqlVersion::V2016_03_23] {
        let mut variables = Variables::default();
        if let Ok(statement) = parse(sql, version) {
            let first = statement.evaluate_with_variables(&ctx);
            let second = statement.evaluate_with_variables(&ctx);
            assert_eq!(first, second, "evaluation is not deterministic");
            let reparsed = parse(&statement.to_string(), version);
            assert_eq!(
                reparsed.as_ref(),
                Ok(&statement),
                "printing does not round-trip"
            );
            if let Ok(evaluation) = first {
                variables = evaluation.variables;
            }
        }
        if let Ok(template) = SubstitutionTemplate::parse(sql, version) {
            assert_eq!(
                template.render_with(&ctx, &variables),
                template.render_with(&ctx, &variables)
            );
        }
    }
});
