//! The HTTP action's transport: a POST with AWS's retry rules. Up to `attempts` tries; only a
//! 429, a 5xx or a transport failure (connect, TLS, timeout) is tried again, with a short
//! growing pause. Delivery is at least once: a target that answered after the deadline may see
//! the message twice.

use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;

use super::ActionOutcome;
use crate::webhook::{Target, exchange};

/// Pause before the second attempt; doubled for each further one.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);

/// Whether an answer with `status` is worth another attempt.
fn retryable(status: u16) -> bool {
    status == 429 || (500..600).contains(&status)
}

/// POSTs `body` to `url` with `headers`.
pub(super) async fn post(
    url: &str,
    headers: &[(String, String)],
    body: Vec<u8>,
    timeout: Duration,
    attempts: u32,
    roots_pem: Option<&str>,
) -> ActionOutcome {
    let target = match Target::parse(url) {
        Ok(target) => target,
        Err(error) => return ActionOutcome::Failed(error),
    };
    let body = Bytes::from(body);
    let attempts = attempts.max(1);
    let mut backoff = FIRST_BACKOFF;
    let mut last_error = String::new();
    let mut tried = 0;
    for attempt in 1..=attempts {
        tried = attempt;
        let mut request = hyper::Request::builder()
            .method("POST")
            .uri(target.path.as_str())
            .header("host", target.authority())
            .header("user-agent", "roost-rules");
        for (key, value) in headers {
            request = request.header(key.as_str(), value.as_str());
        }
        let request = match request.body(Full::new(body.clone())) {
            Ok(request) => request,
            Err(error) => return ActionOutcome::Failed(format!("invalid request: {error}")),
        };
        let answer = tokio::time::timeout(timeout, exchange(&target, request, roots_pem)).await;
        let again = match answer {
            Ok(Ok(answer)) if (200..300).contains(&answer.status) => {
                return ActionOutcome::Succeeded;
            }
            Ok(Ok(answer)) => {
                last_error = format!("{url} answered HTTP {}", answer.status);
                retryable(answer.status)
            }
            Ok(Err(error)) => {
                last_error = error;
                true
            }
            Err(_) => {
                last_error = format!("{url} did not answer within {} ms", timeout.as_millis());
                true
            }
        };
        if !again || attempt == attempts {
            break;
        }
        tokio::time::sleep(backoff).await;
        backoff *= 2;
    }
    let plural = if tried == 1 { "" } else { "s" };
    ActionOutcome::Failed(format!("{last_error} ({tried} attempt{plural})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_throttling_and_server_errors_are_retried() {
        assert!(retryable(429));
        assert!(retryable(500));
        assert!(retryable(503));
        assert!(!retryable(400));
        assert!(!retryable(404));
        assert!(!retryable(301));
    }
}
