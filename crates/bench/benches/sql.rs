//! AWS IoT SQL: what the rules engine spends on one message for a typical rule (goal: at most
//! 2 µs to evaluate a SELECT … WHERE on a 200-byte JSON payload).

use criterion::{Criterion, criterion_group, criterion_main};
use roost_sql::{MessageContext, SqlVersion, parse};
use std::hint::black_box;

const SQL: &str = "SELECT temp * 1.8 + 32 AS tempF, humidity, topic(2) AS device, \
                   timestamp() AS at FROM 'sensors/+/telemetry' WHERE temp > 30 AND status = 'ok'";

/// A 200-byte telemetry document, as a device would send it.
fn payload() -> Vec<u8> {
    let mut doc = serde_json::json!({
        "temp": 31.5, "humidity": 48, "status": "ok", "battery": 87,
        "firmware": "2.4.1", "location": {"lat": 52.52, "lon": 13.405},
        "serial": "SN-000042", "pad": ""
    });
    let len = doc.to_string().len();
    doc["pad"] = serde_json::Value::String("x".repeat(200usize.saturating_sub(len)));
    let bytes = doc.to_string().into_bytes();
    assert_eq!(bytes.len(), 200);
    bytes
}

fn sql(c: &mut Criterion) {
    let mut group = c.benchmark_group("sql");
    group.bench_function("parse a SELECT … WHERE", |b| {
        b.iter(|| parse(black_box(SQL), SqlVersion::V2016_03_23).expect("valid"))
    });
    let statement = parse(SQL, SqlVersion::V2016_03_23).expect("valid");
    let payload = payload();
    let context = || MessageContext::new("sensors/dev7/telemetry", payload.clone());
    assert!(statement.evaluate(&context()).expect("evaluates").is_some());
    group.bench_function(
        "evaluate on a 200-byte JSON payload (JSON parse included)",
        |b| {
            b.iter(|| {
                statement
                    .evaluate(black_box(&context()))
                    .expect("evaluates")
            })
        },
    );
    group.finish();
}

criterion_group!(benches, sql);
criterion_main!(benches);
