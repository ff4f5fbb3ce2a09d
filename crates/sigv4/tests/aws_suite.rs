//! The AWS SigV4 test suite (`fixtures/aws-sig-v4-test-suite`, from awslabs/aws-c-auth
//! `tests/aws-signing-test-suite/v4`, normalized-path variants): every signed request verifies,
//! and `sign` reproduces every header signature.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use roost_sigv4::{AmzDate, AuthLocation, Credentials, HttpRequest, SigV4Error, Verifier, sign};

const ACCESS_KEY_ID: &str = "AKIDEXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

/// A request parsed from the suite's `*-signed-request.txt` format.
struct Parsed {
    method: String,
    path: String,
    query: Option<String>,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
}

impl Parsed {
    fn read(file: &Path) -> Self {
        let text = fs::read_to_string(file).expect("readable fixture");
        let (head, body) = text.split_once("\n\n").expect("blank line after headers");
        let mut lines = head.lines();
        let request_line = lines.next().expect("request line");
        let (method, rest) = request_line.split_once(' ').expect("method");
        let target = rest.strip_suffix(" HTTP/1.1").expect("HTTP/1.1");
        let (path, query) = match target.split_once('?') {
            Some((p, q)) => (p.to_owned(), Some(q.to_owned())),
            None => (target.to_owned(), None),
        };
        let headers = lines
            .map(|l| {
                let (n, v) = l.split_once(':').expect("header line");
                (n.to_owned(), v.as_bytes().to_vec())
            })
            .collect();
        Self {
            method: method.to_owned(),
            path,
            query,
            headers,
            body: body.as_bytes().to_vec(),
        }
    }

    fn verify(&self) -> Result<AuthLocation, SigV4Error> {
        let headers: Vec<(&str, &[u8])> = self
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_slice()))
            .collect();
        let req = HttpRequest {
            method: &self.method,
            raw_path: &self.path,
            raw_query: self.query.as_deref(),
            headers: &headers,
            body: &self.body,
        };
        let store = HashMap::from([(ACCESS_KEY_ID.to_owned(), SECRET.to_owned())]);
        Verifier::new("service", "us-east-1")
            .verify(&req, &store, suite_time())
            .map(|id| id.location)
    }
}

fn suite_time() -> SystemTime {
    let secs = AmzDate::parse_basic("20150830T123600Z")
        .expect("date")
        .unix_seconds();
    UNIX_EPOCH + Duration::from_secs(secs as u64)
}

fn suite_files(name: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/aws-sig-v4-test-suite");
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .expect("suite directory")
        .map(|e| e.expect("entry").path().join(name))
        .filter(|p| p.exists())
        .collect();
    files.sort();
    files
}

#[test]
fn every_header_signed_suite_request_verifies() {
    let files = suite_files("header-signed-request.txt");
    assert!(files.len() >= 20, "suite files missing");
    for file in files {
        assert_eq!(
            Parsed::read(&file).verify(),
            Ok(AuthLocation::Header),
            "{}",
            file.display()
        );
    }
}

#[test]
fn every_presigned_suite_request_verifies() {
    let files = suite_files("query-signed-request.txt");
    assert!(files.len() >= 5, "suite files missing");
    for file in files {
        assert_eq!(
            Parsed::read(&file).verify(),
            Ok(AuthLocation::Query),
            "{}",
            file.display()
        );
    }
}

#[test]
fn a_tampered_suite_request_fails() {
    for file in suite_files("header-signed-request.txt") {
        let mut parsed = Parsed::read(&file);
        parsed.path.push('x');
        assert_eq!(
            parsed.verify(),
            Err(SigV4Error::SignatureMismatch),
            "{}",
            file.display()
        );
    }
}

#[test]
fn sign_reproduces_every_suite_authorization_header() {
    for file in suite_files("header-signed-request.txt") {
        let parsed = Parsed::read(&file);
        let value_of = |name: &str| {
            parsed
                .headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| String::from_utf8(v.clone()).expect("utf-8"))
        };
        let expected = value_of("authorization").expect("Authorization");
        let token = value_of("x-amz-security-token");
        let headers: Vec<(&str, &[u8])> = parsed
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_slice()))
            .collect();
        let req = HttpRequest {
            method: &parsed.method,
            raw_path: &parsed.path,
            raw_query: parsed.query.as_deref(),
            headers: &headers,
            body: &parsed.body,
        };
        let creds = Credentials {
            access_key_id: ACCESS_KEY_ID,
            secret_access_key: SECRET,
            session_token: token.as_deref(),
        };
        let added = sign(&req, &creds, "us-east-1", "service", suite_time());
        let authorization = added
            .iter()
            .find(|(n, _)| n == "authorization")
            .map(|(_, v)| v.as_str());
        assert_eq!(authorization, Some(expected.as_str()), "{}", file.display());
    }
}
