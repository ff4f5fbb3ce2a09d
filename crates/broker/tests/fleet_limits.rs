//! Fleet provisioning's certificate requests are rate-limited per principal and answered on
//! `/rejected` with a throttling error beyond the limit.

mod common;

use anyhow::Result;
use common::*;
use roost_broker::rate_limit::RateLimit;
use roost_codec::{ProtocolVersion, QoS};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_requests_beyond_the_burst_are_throttled_per_principal() -> Result<()> {
    let server = Server::start_with(|c| {
        c.fleet_rate = RateLimit {
            per_second: 0.001,
            burst: 2.0,
        }
    })
    .await?;
    for _ in 0..2 {
        let device = server.device(ALLOW_ALL).await?;
        let mut claim = server
            .raw_connected(&device, ProtocolVersion::V5, &unique("claim"))
            .await?;
        claim
            .subscribe("$aws/certificates/create/json/+", QoS::AtLeastOnce)
            .await?;
        let mut answers = Vec::new();
        for _ in 0..3 {
            claim
                .publish(
                    "$aws/certificates/create/json",
                    b"{}",
                    QoS::AtLeastOnce,
                    false,
                )
                .await?;
            let answer = claim.publish_on("$aws/certificates/create/json/").await?;
            let body: Value = serde_json::from_slice(&answer.payload)?;
            answers.push((answer.topic.as_str().to_owned(), body["statusCode"].clone()));
        }
        // No device issuer in this broker: the two allowed requests are answered 503; the
        // third is throttled before any work. A second principal has a bucket of its own.
        assert_eq!(answers[0].1, 503, "{answers:?}");
        assert_eq!(answers[1].1, 503, "{answers:?}");
        assert_eq!(
            answers[2],
            (
                "$aws/certificates/create/json/rejected".to_owned(),
                Value::from(429)
            )
        );
    }
    Ok(())
}
