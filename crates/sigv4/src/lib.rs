//! AWS Signature Version 4 for Roost's control plane: verifying the signatures the AWS CLI,
//! boto3 and the SDKs put on requests, and signing requests the same way.
//!
//! Both forms are handled: the `Authorization: AWS4-HMAC-SHA256 …` header and presigned query
//! strings (`X-Amz-Signature`, as MQTT over WebSocket uses). Canonicalization follows botocore
//! for non-S3 services: the raw path is normalized and percent-encoded again (`%3A` → `%253A`),
//! query parameters are decoded and re-encoded, and the body is hashed by the server when the
//! client sends no `x-amz-content-sha256` (botocore sends none for `iot`).
//!
//! The crate is pure: no I/O, no clock (time is passed in), no HTTP types. It does not validate
//! session tokens (it reports them in [`Identity`]), and it does not do SigV4a, S3's unnormalized
//! paths or chunked (`STREAMING-…`) payloads.
//!
//! Types that matter: [`Verifier`] with [`Verifier::verify`], [`HttpRequest`], [`CredentialStore`],
//! [`Identity`], [`SigV4Error`] (whose [`SigV4Error::aws_error_type`] is the 403 error type to
//! send), and [`sign`] / [`presign`] for the client side.
//!
//! ```
//! use std::collections::HashMap;
//! use std::time::{Duration, UNIX_EPOCH};
//! use roost_sigv4::{Credentials, HttpRequest, Verifier, sign};
//!
//! let now = UNIX_EPOCH + Duration::from_secs(1_795_915_500);
//! let creds = Credentials { access_key_id: "AKID", secret_access_key: "secret", session_token: None };
//! let to_sign = HttpRequest {
//!     method: "GET",
//!     raw_path: "/things/my%3Athing",
//!     raw_query: None,
//!     headers: &[("host", b"localhost:9443")],
//!     body: b"",
//! };
//! let mut sent: Vec<(String, String)> = vec![("host".into(), "localhost:9443".into())];
//! sent.extend(sign(&to_sign, &creds, "us-east-1", "iot", now));
//!
//! let headers: Vec<(&str, &[u8])> = sent.iter().map(|(n, v)| (n.as_str(), v.as_bytes())).collect();
//! let received = HttpRequest { headers: &headers, ..to_sign };
//! let keys = HashMap::from([("AKID".to_owned(), "secret".to_owned())]);
//! let identity = Verifier::new("iot", "us-east-1").verify(&received, &keys, now)?;
//! assert_eq!(identity.access_key_id, "AKID");
//! # Ok::<(), roost_sigv4::SigV4Error>(())
//! ```

mod authorization;
mod canonical;
mod date;
mod error;
mod request;
mod signer;
mod verifier;

pub use authorization::AuthLocation;
pub use date::AmzDate;
pub use error::SigV4Error;
pub use request::{Credentials, HttpRequest};
pub use signer::{presign, sign};
pub use verifier::{CredentialStore, Identity, Verifier};
