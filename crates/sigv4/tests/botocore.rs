//! Real requests signed by botocore (the AWS CLI's signer), recorded by
//! `fixtures/generate_botocore.py`: all verify, any tampering is refused, and our signer
//! reproduces botocore's signatures byte for byte.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use roost_sigv4::{
    AmzDate, AuthLocation, Credentials, HttpRequest, SigV4Error, Verifier, presign, sign,
};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct Fixtures {
    cases: Vec<Fixture>,
}

#[derive(Debug, Clone, Deserialize)]
struct Fixture {
    name: String,
    service: String,
    region: String,
    access_key_id: String,
    secret_access_key: String,
    session_token: Option<String>,
    time: String,
    method: String,
    raw_path: String,
    raw_query: Option<String>,
    headers: Vec<(String, String)>,
    body_hex: String,
}

impl Fixture {
    fn body(&self) -> Vec<u8> {
        hex::decode(&self.body_hex).expect("fixture body is hex")
    }

    fn now(&self) -> SystemTime {
        let secs = AmzDate::parse_basic(&self.time)
            .expect("fixture time")
            .unix_seconds();
        UNIX_EPOCH + Duration::from_secs(secs as u64)
    }

    fn store(&self) -> HashMap<String, String> {
        HashMap::from([(self.access_key_id.clone(), self.secret_access_key.clone())])
    }

    fn verifier(&self) -> Verifier {
        Verifier::new(self.service.clone(), self.region.clone())
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Verifies this request, after `edit` has changed it.
    fn verify_edited(
        &self,
        edit: impl FnOnce(&mut Fixture, &mut Vec<u8>),
    ) -> Result<(), SigV4Error> {
        let mut f = self.clone();
        let mut body = self.body();
        edit(&mut f, &mut body);
        let headers: Vec<(&str, &[u8])> = f
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_bytes()))
            .collect();
        let req = HttpRequest {
            method: &f.method,
            raw_path: &f.raw_path,
            raw_query: f.raw_query.as_deref(),
            headers: &headers,
            body: &body,
        };
        self.verifier()
            .verify(&req, &self.store(), self.now())
            .map(|_| ())
    }
}

fn fixtures() -> Vec<Fixture> {
    let all: Fixtures =
        serde_json::from_str(include_str!("fixtures/botocore.json")).expect("valid JSON");
    assert!(all.cases.len() >= 14, "fixture file lost cases");
    all.cases
}

fn set_header(f: &mut Fixture, name: &str, value: &str) {
    let slot = f
        .headers
        .iter_mut()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .expect("header present");
    slot.1 = value.to_owned();
}

#[test]
fn every_botocore_request_verifies() {
    for f in fixtures() {
        let headers: Vec<(&str, &[u8])> = f
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_bytes()))
            .collect();
        let body = f.body();
        let req = HttpRequest {
            method: &f.method,
            raw_path: &f.raw_path,
            raw_query: f.raw_query.as_deref(),
            headers: &headers,
            body: &body,
        };
        let identity = f
            .verifier()
            .verify(&req, &f.store(), f.now())
            .unwrap_or_else(|e| panic!("{}: {e}", f.name));
        assert_eq!(identity.access_key_id, f.access_key_id, "{}", f.name);
        assert_eq!(identity.session_token, f.session_token, "{}", f.name);
        assert_eq!(identity.region, f.region, "{}", f.name);
        assert!(identity.payload_signed, "{}", f.name);
        let expected = if f.header("authorization").is_some() {
            AuthLocation::Header
        } else {
            AuthLocation::Query
        };
        assert_eq!(identity.location, expected, "{}", f.name);
    }
}

#[test]
fn header_signed_requests_verify_within_fifteen_minutes_and_expire_after() {
    for f in fixtures()
        .into_iter()
        .filter(|f| f.header("authorization").is_some())
    {
        let verifier = f.verifier();
        let headers: Vec<(&str, &[u8])> = f
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_bytes()))
            .collect();
        let body = f.body();
        let req = HttpRequest {
            method: &f.method,
            raw_path: &f.raw_path,
            raw_query: f.raw_query.as_deref(),
            headers: &headers,
            body: &body,
        };
        let limit = f.now() + Duration::from_secs(15 * 60);
        assert!(
            verifier.verify(&req, &f.store(), limit).is_ok(),
            "{}",
            f.name
        );
        let early = f.now() - Duration::from_secs(15 * 60);
        assert!(
            verifier.verify(&req, &f.store(), early).is_ok(),
            "{}",
            f.name
        );
        let err = verifier
            .verify(&req, &f.store(), limit + Duration::from_secs(1))
            .expect_err("expired");
        assert_eq!(
            err.to_string(),
            "Signature expired: 20261129T012500Z is now earlier than 20261129T012501Z \
             (20261129T014001Z - 15 min.)",
            "{}",
            f.name
        );
        let err = verifier
            .verify(&req, &f.store(), early - Duration::from_secs(1))
            .expect_err("future");
        assert!(
            matches!(err, SigV4Error::SignatureNotYetCurrent { .. }),
            "{}",
            f.name
        );
    }
}

#[test]
fn a_changed_body_is_rejected() {
    for f in fixtures() {
        let result = f.verify_edited(|_, body| match body.first_mut() {
            Some(b) => *b ^= 1,
            None => body.push(b'x'),
        });
        assert_eq!(result, Err(SigV4Error::SignatureMismatch), "{}", f.name);
    }
}

#[test]
fn a_changed_path_is_rejected() {
    for f in fixtures() {
        let result = f.verify_edited(|f, _| f.raw_path.push('x'));
        assert_eq!(result, Err(SigV4Error::SignatureMismatch), "{}", f.name);
        // Decoding the label is a different request too: `my%3Athing` was signed, not `my:thing`.
        if f.raw_path.contains("%3A") {
            let result = f.verify_edited(|f, _| f.raw_path = f.raw_path.replace("%3A", ":"));
            assert_eq!(result, Err(SigV4Error::SignatureMismatch), "{}", f.name);
        }
    }
}

#[test]
fn a_changed_or_added_query_parameter_is_rejected() {
    for f in fixtures() {
        let result = f.verify_edited(|f, _| {
            f.raw_query = Some(match f.raw_query.take() {
                Some(q) => format!("{q}&extra=1"),
                None => "extra=1".to_owned(),
            })
        });
        assert_eq!(result, Err(SigV4Error::SignatureMismatch), "{}", f.name);
    }
    let f = fixtures()
        .into_iter()
        .find(|f| f.name == "list-things-query-special-characters")
        .expect("case");
    let result =
        f.verify_edited(|f, _| f.raw_query = f.raw_query.as_ref().map(|q| q.replace("%2B", "%20")));
    assert_eq!(result, Err(SigV4Error::SignatureMismatch));
}

#[test]
fn a_changed_signed_header_is_rejected() {
    for f in fixtures() {
        let result = f.verify_edited(|f, _| set_header(f, "host", "evil.example.com:9443"));
        assert_eq!(result, Err(SigV4Error::SignatureMismatch), "{}", f.name);
    }
    let f = fixtures()
        .into_iter()
        .find(|f| f.name == "attach-thing-principal-header")
        .expect("case");
    let result = f.verify_edited(|f, _| {
        set_header(
            f,
            "x-amzn-principal",
            "arn:aws:iot:us-east-1:123456789012:cert/other",
        )
    });
    assert_eq!(result, Err(SigV4Error::SignatureMismatch));
}

#[test]
fn a_changed_date_is_rejected() {
    for f in fixtures()
        .into_iter()
        .filter(|f| f.header("x-amz-date").is_some())
    {
        let result = f.verify_edited(|f, _| set_header(f, "x-amz-date", "20261129T012501Z"));
        assert_eq!(result, Err(SigV4Error::SignatureMismatch), "{}", f.name);
    }
}

#[test]
fn a_changed_session_token_is_rejected() {
    for f in fixtures()
        .into_iter()
        .filter(|f| f.header("x-amz-security-token").is_some())
    {
        let result = f.verify_edited(|f, _| set_header(f, "x-amz-security-token", "forged"));
        assert_eq!(result, Err(SigV4Error::SignatureMismatch), "{}", f.name);
    }
}

#[test]
fn an_unsigned_header_may_change() {
    for f in fixtures()
        .into_iter()
        .filter(|f| f.header("user-agent").is_some())
    {
        assert_eq!(
            f.verify_edited(|f, _| set_header(f, "user-agent", "curl/8")),
            Ok(()),
            "{}",
            f.name
        );
    }
}

#[test]
fn a_wrong_secret_is_a_signature_mismatch_and_an_unknown_key_is_unrecognized() {
    for f in fixtures() {
        let mut wrong = f.clone();
        wrong.secret_access_key.push('x');
        assert_eq!(
            wrong.verify_edited(|_, _| {}),
            Err(SigV4Error::SignatureMismatch),
            "{}",
            f.name
        );
        let mut unknown = f.clone();
        unknown.access_key_id = "AKIAOTHER".into();
        assert_eq!(
            unknown.verify_edited(|_, _| {}),
            Err(SigV4Error::UnrecognizedAccessKey {
                access_key_id: f.access_key_id.clone()
            }),
            "{}",
            f.name
        );
    }
}

#[test]
fn sign_reproduces_botocore_authorization_headers() {
    for f in fixtures()
        .into_iter()
        .filter(|f| f.header("authorization").is_some())
    {
        let authorization = f.header("authorization").expect("header form");
        let signed_list = authorization
            .split("SignedHeaders=")
            .nth(1)
            .and_then(|s| s.split(',').next())
            .expect("SignedHeaders");
        // The request as botocore held it when signing: the signed headers minus those `sign` adds.
        let headers: Vec<(&str, &[u8])> = f
            .headers
            .iter()
            .filter(|(n, _)| {
                let n = n.to_ascii_lowercase();
                signed_list.split(';').any(|s| s == n)
                    && n != "x-amz-date"
                    && n != "x-amz-security-token"
            })
            .map(|(n, v)| (n.as_str(), v.as_bytes()))
            .collect();
        let body = f.body();
        let req = HttpRequest {
            method: &f.method,
            raw_path: &f.raw_path,
            raw_query: f.raw_query.as_deref(),
            headers: &headers,
            body: &body,
        };
        let creds = Credentials {
            access_key_id: &f.access_key_id,
            secret_access_key: &f.secret_access_key,
            session_token: f.session_token.as_deref(),
        };
        let added = sign(&req, &creds, &f.region, &f.service, f.now());
        let get = |name: &str| {
            added
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("authorization"), Some(authorization), "{}", f.name);
        assert_eq!(get("x-amz-date"), f.header("x-amz-date"), "{}", f.name);
        assert_eq!(
            get("x-amz-security-token"),
            f.header("x-amz-security-token"),
            "{}",
            f.name
        );
    }
}

#[test]
fn presign_reproduces_botocore_presigned_urls() {
    for f in fixtures()
        .into_iter()
        .filter(|f| f.header("authorization").is_none())
    {
        let query = f.raw_query.as_deref().expect("presigned query");
        let expires: u64 = query
            .split('&')
            .find_map(|p| p.strip_prefix("X-Amz-Expires="))
            .and_then(|v| v.parse().ok())
            .expect("X-Amz-Expires");
        let headers: Vec<(&str, &[u8])> = f
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_bytes()))
            .collect();
        let req = HttpRequest {
            method: "GET",
            raw_path: &f.raw_path,
            raw_query: None,
            headers: &headers,
            body: b"",
        };
        let creds = Credentials {
            access_key_id: &f.access_key_id,
            secret_access_key: &f.secret_access_key,
            session_token: f.session_token.as_deref(),
        };
        let ours = presign(
            &req,
            &creds,
            &f.region,
            &f.service,
            f.now(),
            Duration::from_secs(expires),
        )
        .expect("host present");
        assert_eq!(ours, query, "{}", f.name);
    }
}

#[test]
fn a_presigned_url_expires_after_x_amz_expires() {
    let f = fixtures()
        .into_iter()
        .find(|f| f.name == "presigned-mqtt-websocket-session-token")
        .expect("case");
    let headers: Vec<(&str, &[u8])> = f
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_bytes()))
        .collect();
    let req = HttpRequest {
        method: &f.method,
        raw_path: &f.raw_path,
        raw_query: f.raw_query.as_deref(),
        headers: &headers,
        body: b"",
    };
    let verifier = f.verifier();
    assert!(
        verifier
            .verify(&req, &f.store(), f.now() + Duration::from_secs(300))
            .is_ok()
    );
    let err = verifier
        .verify(&req, &f.store(), f.now() + Duration::from_secs(301))
        .expect_err("expired");
    assert!(
        matches!(
            err,
            SigV4Error::PresignedRequestExpired {
                expires_secs: 300,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.aws_error_type(), "InvalidSignatureException");
}

#[test]
fn a_presigned_url_with_the_token_appended_after_signing_verifies() {
    // AWS IoT's WebSocket guide signs without the session token and appends it afterwards.
    let f = fixtures()
        .into_iter()
        .find(|f| f.name == "presigned-mqtt-websocket")
        .expect("case");
    let query = format!(
        "{}&X-Amz-Security-Token=abc%2Fdef",
        f.raw_query.as_deref().expect("query")
    );
    let headers: Vec<(&str, &[u8])> = f
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_bytes()))
        .collect();
    let req = HttpRequest {
        method: "GET",
        raw_path: &f.raw_path,
        raw_query: Some(&query),
        headers: &headers,
        body: b"",
    };
    let identity = f
        .verifier()
        .verify(&req, &f.store(), f.now())
        .expect("verifies");
    assert_eq!(identity.session_token.as_deref(), Some("abc/def"));
}
