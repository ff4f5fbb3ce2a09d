//! The HTTP action's transport: a POST with AWS's retry rules. Up to `attempts` tries; only a
//! 429, a 5xx or a transport failure (connect, TLS, timeout) is tried again, with a short
//! growing pause. Delivery is at least once: a target that answered after the deadline may see
//! the message twice.

use std::time::{Duration, SystemTime};

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

/// Signs the action's requests with SigV4 (`auth.sigv4`): Roost's own keys, for the rule's
/// region and service.
#[derive(Clone, Copy)]
pub(super) struct Signing<'a> {
    pub access_key_id: &'a str,
    pub secret_access_key: &'a str,
    pub region: &'a str,
    pub service: &'a str,
}

/// The `x-amz-date`, `x-amz-content-sha256` and `authorization` headers that sign a POST of
/// `body` to `target` with `headers`, at `now`. The payload hash is sent, as services such as
/// S3 and API Gateway expect it, and signed like every other header.
fn signature_headers(
    signing: Signing<'_>,
    target: &Target,
    headers: &[(String, String)],
    body: &[u8],
    now: SystemTime,
) -> Vec<(String, String)> {
    use sha2::Digest as _;
    let (path, query) = match target.path.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (target.path.as_str(), None),
    };
    let host = target.authority();
    let content_sha256 = hex::encode(sha2::Sha256::digest(body));
    let mut signed: Vec<(&str, &[u8])> = vec![
        ("host", host.as_bytes()),
        ("x-amz-content-sha256", content_sha256.as_bytes()),
    ];
    signed.extend(headers.iter().map(|(k, v)| (k.as_str(), v.as_bytes())));
    let request = roost_sigv4::HttpRequest {
        method: "POST",
        raw_path: path,
        raw_query: query,
        headers: &signed,
        body,
    };
    let credentials = roost_sigv4::Credentials {
        access_key_id: signing.access_key_id,
        secret_access_key: signing.secret_access_key,
        session_token: None,
    };
    let signature = roost_sigv4::sign(&request, &credentials, signing.region, signing.service, now);
    let mut out = vec![("x-amz-content-sha256".to_owned(), content_sha256)];
    out.extend(signature);
    out
}

/// POSTs `body` to `url` with `headers`, signed when `signing` is given.
pub(super) async fn post(
    url: &str,
    headers: &[(String, String)],
    body: Vec<u8>,
    signing: Option<Signing<'_>>,
    config: &super::RulesConfig,
) -> ActionOutcome {
    let (timeout, attempts) = (config.http_timeout, config.http_attempts);
    let roots_pem = config.http_roots_pem.as_deref();
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
        // Each attempt is signed anew: a retry may come after the signature's date moved on.
        if let Some(signing) = signing {
            for (key, value) in
                signature_headers(signing, &target, headers, &body, SystemTime::now())
            {
                request = request.header(key, value);
            }
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

    struct Keys;

    impl roost_sigv4::CredentialStore for Keys {
        fn secret_access_key(&self, access_key_id: &str) -> Option<String> {
            (access_key_id == "AKIDROOST").then(|| "secret".to_owned())
        }
    }

    /// The headers a signed attempt carries, checked by the verifier Roost's own API uses.
    fn verify_signed(body: &[u8], sent_body: &[u8]) -> Result<String, roost_sigv4::SigV4Error> {
        let target = Target::parse("http://127.0.0.1:8080/ingest?source=rule").expect("a URL");
        let signing = Signing {
            access_key_id: "AKIDROOST",
            secret_access_key: "secret",
            region: "eu-west-1",
            service: "execute-api",
        };
        let headers = vec![("content-type".to_owned(), "application/json".to_owned())];
        let now = SystemTime::now();
        let mut sent = vec![("host".to_owned(), target.authority())];
        sent.extend(headers.clone());
        sent.extend(signature_headers(signing, &target, &headers, body, now));
        let sent: Vec<(&str, &[u8])> = sent
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_bytes()))
            .collect();
        let request = roost_sigv4::HttpRequest {
            method: "POST",
            raw_path: "/ingest",
            raw_query: Some("source=rule"),
            headers: &sent,
            body: sent_body,
        };
        roost_sigv4::Verifier::new("execute-api", "eu-west-1")
            .verify(&request, &Keys, now)
            .map(|identity| identity.access_key_id)
    }

    #[test]
    fn a_signed_request_verifies_and_a_changed_body_does_not() {
        assert_eq!(
            verify_signed(b"{\"t\":1}", b"{\"t\":1}").unwrap(),
            "AKIDROOST"
        );
        assert!(verify_signed(b"{\"t\":1}", b"{\"t\":2}").is_err());
    }

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
