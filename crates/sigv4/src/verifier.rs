//! Checking a received request's signature.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::time::{Duration, SystemTime};

use crate::authorization::{AuthLocation, SignedClaims, read_claims};
use crate::canonical::{
    CanonicalInput, QueryParam, UNSIGNED_PAYLOAD, canonical_query, canonical_request,
    canonical_uri, credential_scope, header_value, parse_query, sha256_hex, signature_matches,
    signing_key, string_to_sign,
};
use crate::date::AmzDate;
use crate::error::SigV4Error;
use crate::request::HttpRequest;

/// Where the verifier finds secret access keys.
pub trait CredentialStore {
    /// The secret access key of `access_key_id`, or `None` if the key is unknown or disabled.
    fn secret_access_key(&self, access_key_id: &str) -> Option<String>;
}

impl<S: BuildHasher> CredentialStore for HashMap<String, String, S> {
    fn secret_access_key(&self, access_key_id: &str) -> Option<String> {
        self.get(access_key_id).cloned()
    }
}

/// Who signed a request that verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The access key id whose secret produced the signature.
    pub access_key_id: String,
    /// `X-Amz-Security-Token`, if the client sent one. It is signed (or, for AWS IoT style
    /// presigned URLs, appended after signing) but not validated here: the caller decides whether
    /// temporary credentials are acceptable.
    pub session_token: Option<String>,
    /// The region the client signed for.
    pub region: String,
    /// Where the signature was: `Authorization` header or presigned query.
    pub location: AuthLocation,
    /// False when the client sent `x-amz-content-sha256: UNSIGNED-PAYLOAD`: the body is not covered.
    pub payload_signed: bool,
}

/// `x-amz-*` headers a client may send without signing them: they change nothing the server
/// does. botocore never signs `x-amzn-trace-id`; `x-amz-content-sha256` is checked against the
/// body whether signed or not.
const UNSIGNED_AMZ_HEADERS: &[&str] = &["x-amzn-trace-id", "x-amz-content-sha256"];

/// Every `x-amz-*` and `x-amzn-*` header of `req` must be signed (but the harmless few above;
/// a presigned request carries its date in the query, so an `x-amz-date` header is ignored).
fn check_amz_headers_signed(
    req: &HttpRequest<'_>,
    signed: &[String],
    location: AuthLocation,
) -> Result<(), SigV4Error> {
    for (name, _) in req.headers {
        let name = name.to_ascii_lowercase();
        let ignored = UNSIGNED_AMZ_HEADERS.contains(&name.as_str())
            || (location == AuthLocation::Query && name == "x-amz-date");
        if name.starts_with("x-amz") && !ignored && !signed.contains(&name) {
            return Err(SigV4Error::UnsignedAmzHeader { header: name });
        }
    }
    Ok(())
}

/// Verifies SigV4 signatures for one service (the credential scope's service, e.g. `iot`).
#[derive(Debug, Clone)]
pub struct Verifier {
    service: String,
    /// Further services accepted in the credential scope (iot-data is signed `iotdata` by
    /// botocore and `iotdevicegateway` by the device SDKs).
    also: Vec<String>,
    /// `None` accepts any region in the credential scope.
    region: Option<String>,
    max_skew: Duration,
}

impl Verifier {
    /// AWS's tolerance between the request date and the server clock: 15 minutes either way.
    pub const DEFAULT_MAX_SKEW: Duration = Duration::from_secs(15 * 60);

    /// A verifier for `service` (signing name, e.g. `iot`) in `region`, with the default skew.
    pub fn new(service: impl Into<String>, region: impl Into<String>) -> Self {
        Self {
            service: service.into(),
            also: Vec::new(),
            region: Some(region.into()),
            max_skew: Self::DEFAULT_MAX_SKEW,
        }
    }

    /// A verifier for `service` that accepts a signature scoped to any region (a self-hosted
    /// server has no region, and CLI users have one configured anyway).
    pub fn for_any_region(service: impl Into<String>) -> Self {
        Self {
            service: service.into(),
            also: Vec::new(),
            region: None,
            max_skew: Self::DEFAULT_MAX_SKEW,
        }
    }

    /// Also accepts signatures scoped to `service`.
    pub fn also_accepting(mut self, service: impl Into<String>) -> Self {
        self.also.push(service.into());
        self
    }

    /// Replaces the allowed clock skew (whole minutes are shown in error messages).
    pub fn with_max_skew(mut self, max_skew: Duration) -> Self {
        self.max_skew = max_skew;
        self
    }

    /// The service this verifier accepts in the credential scope.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// Verifies `req`'s signature (header or presigned form) at time `now`.
    ///
    /// Checks, in order: a signature is present and well formed; the scope names this service,
    /// region and the request's date; `host` is signed; the access key is known; the date is
    /// within the skew (or, presigned, within `X-Amz-Expires`); `x-amz-content-sha256`, if sent,
    /// matches the body; and the signature, compared in constant time.
    pub fn verify(
        &self,
        req: &HttpRequest<'_>,
        creds: &dyn CredentialStore,
        now: SystemTime,
    ) -> Result<Identity, SigV4Error> {
        let query = req.raw_query.map(parse_query).unwrap_or_default();
        let claims = read_claims(req, &query)?;
        self.check_scope(&claims)?;
        if !claims
            .signed_headers
            .iter()
            .any(|h| h == "host" || h == ":authority")
        {
            return Err(SigV4Error::HostNotSigned);
        }
        let secret = creds
            .secret_access_key(&claims.access_key_id)
            .ok_or_else(|| SigV4Error::UnrecognizedAccessKey {
                access_key_id: claims.access_key_id.clone(),
            })?;
        self.check_time(&claims, AmzDate::from_system_time(now))?;
        check_amz_headers_signed(req, &claims.signed_headers, claims.location)?;
        let (payload_hash, payload_signed) = payload_hash(req)?;
        let headers = claims
            .signed_headers
            .iter()
            .map(|name| match header_value(name, req.headers) {
                Some(value) => Ok((name.clone(), value)),
                None => Err(SigV4Error::SignedHeaderAbsent {
                    header: name.clone(),
                }),
            })
            .collect::<Result<Vec<_>, _>>()?;

        let uri = canonical_uri(req.raw_path);
        let key = signing_key(&secret, &claims.scope_date, &claims.region, &claims.service);
        let scope = credential_scope(&claims.scope_date, &claims.region, &claims.service);
        let provided = hex::decode(&claims.signature).map_err(|_| SigV4Error::SignatureMismatch)?;
        for query in candidate_queries(&claims, &query) {
            let cr = canonical_request(&CanonicalInput {
                method: req.method,
                canonical_uri: &uri,
                canonical_query: &query,
                headers: &headers,
                payload_hash: &payload_hash,
            });
            if signature_matches(&key, &string_to_sign(claims.date, &scope, &cr), &provided) {
                return Ok(Identity {
                    access_key_id: claims.access_key_id,
                    session_token: claims.session_token,
                    region: claims.region,
                    location: claims.location,
                    payload_signed,
                });
            }
        }
        Err(SigV4Error::SignatureMismatch)
    }

    fn check_scope(&self, claims: &SignedClaims) -> Result<(), SigV4Error> {
        if claims.terminator != "aws4_request" {
            return Err(SigV4Error::InvalidTerminator {
                terminator: claims.terminator.clone(),
            });
        }
        if claims.scope_date != claims.date.date_stamp() {
            return Err(SigV4Error::ScopeDateMismatch {
                scope_date: claims.scope_date.clone(),
                request_date: claims.date,
            });
        }
        if claims.service != self.service && !self.also.contains(&claims.service) {
            return Err(SigV4Error::WrongService {
                expected: self.service.clone(),
                found: claims.service.clone(),
            });
        }
        match &self.region {
            Some(region) if claims.region != *region => Err(SigV4Error::WrongRegion {
                expected: region.clone(),
                found: claims.region.clone(),
            }),
            _ => Ok(()),
        }
    }

    fn check_time(&self, claims: &SignedClaims, now: AmzDate) -> Result<(), SigV4Error> {
        let skew = i64::try_from(self.max_skew.as_secs()).unwrap_or(i64::MAX);
        let (signed_at, max_skew) = (claims.date, self.max_skew);
        if signed_at > now.plus_seconds(skew) {
            return Err(SigV4Error::SignatureNotYetCurrent {
                signed_at,
                now,
                max_skew,
            });
        }
        match claims.expires_secs {
            Some(expires_secs) if now > signed_at.plus_seconds(i64::from(expires_secs)) => {
                Err(SigV4Error::PresignedRequestExpired {
                    signed_at,
                    expires_secs,
                    now,
                })
            }
            Some(_) => Ok(()),
            None if signed_at < now.plus_seconds(-skew) => Err(SigV4Error::SignatureExpired {
                signed_at,
                now,
                max_skew,
            }),
            None => Ok(()),
        }
    }
}

/// The canonical query strings a valid signature may have been computed over.
///
/// Presigned requests with a session token come in three shapes: generic presigners sign the
/// token; AWS IoT's WebSocket guide appends it after signing; aws-c-auth (the IoT Device SDK v2)
/// signs it and appends it once more. All three are tried.
fn candidate_queries(claims: &SignedClaims, query: &[QueryParam]) -> Vec<String> {
    const TOKEN: &str = "X-Amz-Security-Token";
    match claims.location {
        AuthLocation::Header => vec![canonical_query(query, |_| false)],
        AuthLocation::Query => {
            let mut candidates = vec![canonical_query(query, |p| p.is("X-Amz-Signature"))];
            if claims.session_token.is_some() {
                candidates.push(canonical_query(query, |p| {
                    p.is("X-Amz-Signature") || p.is(TOKEN)
                }));
                let first_token = query.iter().position(|p| p.is(TOKEN));
                if query.iter().filter(|p| p.is(TOKEN)).count() > 1 {
                    let once: Vec<QueryParam> = query
                        .iter()
                        .enumerate()
                        .filter(|(i, p)| !p.is(TOKEN) || Some(*i) == first_token)
                        .map(|(_, p)| p.clone())
                        .collect();
                    candidates.push(canonical_query(&once, |p| p.is("X-Amz-Signature")));
                }
            }
            candidates
        }
    }
}

/// The payload hash for the canonical request and whether it covers the body: the client's
/// `x-amz-content-sha256` if sent (checked against the body), otherwise the body's SHA-256.
fn payload_hash(req: &HttpRequest<'_>) -> Result<(String, bool), SigV4Error> {
    let Some(raw) = req.header("x-amz-content-sha256") else {
        return Ok((sha256_hex(req.body), true));
    };
    let unsupported = || SigV4Error::UnsupportedPayloadHash {
        value: String::from_utf8_lossy(raw).into_owned(),
    };
    let value = std::str::from_utf8(raw).map_err(|_| unsupported())?.trim();
    if value == UNSIGNED_PAYLOAD {
        return Ok((value.to_owned(), false));
    }
    if value.len() != 64 || !value.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(unsupported());
    }
    let computed = sha256_hex(req.body);
    if !value.eq_ignore_ascii_case(&computed) {
        return Err(SigV4Error::PayloadHashMismatch {
            provided: value.to_owned(),
            computed,
        });
    }
    Ok((value.to_owned(), true))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::Credentials;
    use crate::signer::{presign, sign};
    use proptest::prelude::*;
    use std::time::UNIX_EPOCH;

    const AKID: &str = "AKIAROOSTTEST";
    const SECRET: &str = "secret/with+chars";
    // 2026-11-29T01:25:00Z
    const T: u64 = 1_795_915_500;

    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(T)
    }

    fn store() -> HashMap<String, String> {
        HashMap::from([(AKID.to_owned(), SECRET.to_owned())])
    }

    fn creds() -> Credentials<'static> {
        Credentials {
            access_key_id: AKID,
            secret_access_key: SECRET,
            session_token: None,
        }
    }

    /// An owned request that can be signed, edited and verified.
    #[derive(Clone)]
    struct Owned {
        method: String,
        path: String,
        query: Option<String>,
        headers: Vec<(String, Vec<u8>)>,
        body: Vec<u8>,
    }

    impl Owned {
        fn new(method: &str, path: &str, query: Option<&str>, body: &[u8]) -> Self {
            Self {
                method: method.into(),
                path: path.into(),
                query: query.map(Into::into),
                headers: vec![
                    ("Host".into(), b"localhost:9443".to_vec()),
                    ("Content-Type".into(), b"application/json".to_vec()),
                ],
                body: body.to_vec(),
            }
        }

        fn with_header(mut self, name: &str, value: &[u8]) -> Self {
            self.headers.push((name.into(), value.to_vec()));
            self
        }

        fn without_header(mut self, name: &str) -> Self {
            self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
            self
        }

        fn with_verify<R>(&self, f: impl FnOnce(&HttpRequest<'_>) -> R) -> R {
            let headers: Vec<(&str, &[u8])> = self
                .headers
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_slice()))
                .collect();
            f(&HttpRequest {
                method: &self.method,
                raw_path: &self.path,
                raw_query: self.query.as_deref(),
                headers: &headers,
                body: &self.body,
            })
        }

        fn signed_for(mut self, region: &str, service: &str, at: SystemTime) -> Self {
            let added = self.with_verify(|req| sign(req, &creds(), region, service, at));
            self.headers
                .extend(added.into_iter().map(|(n, v)| (n, v.into_bytes())));
            self
        }

        fn signed(self) -> Self {
            self.signed_for("us-east-1", "iot", now())
        }

        fn verify_with(&self, verifier: &Verifier, at: SystemTime) -> Result<Identity, SigV4Error> {
            self.with_verify(|req| verifier.verify(req, &store(), at))
        }

        fn verify(&self) -> Result<Identity, SigV4Error> {
            self.verify_with(&Verifier::new("iot", "us-east-1"), now())
        }
    }

    #[test]
    fn a_signed_request_verifies_and_names_its_key() {
        let id = Owned::new("POST", "/things/my%3Athing", None, b"{}")
            .signed()
            .verify()
            .expect("valid");
        assert_eq!(id.access_key_id, AKID);
        assert_eq!(id.region, "us-east-1");
        assert_eq!(id.location, AuthLocation::Header);
        assert!(id.payload_signed);
        assert_eq!(id.session_token, None);
    }

    #[test]
    fn an_amz_header_added_after_signing_is_refused() {
        let verifier = Verifier::new("iot", "us-east-1");
        let mut req = Owned::new("PUT", "/principal-policies/p", None, b"").signed_for(
            "us-east-1",
            "iot",
            now(),
        );
        assert!(req.verify_with(&verifier, now()).is_ok());
        req.headers.push((
            "x-amzn-iot-principal".into(),
            b"arn:aws:iot:cert/x".to_vec(),
        ));
        let error = req.verify_with(&verifier, now()).unwrap_err();
        assert_eq!(
            error,
            SigV4Error::UnsignedAmzHeader {
                header: "x-amzn-iot-principal".into()
            }
        );
        assert_eq!(error.aws_error_type(), "InvalidSignatureException");
    }

    #[test]
    fn a_verifier_also_accepting_a_service_takes_either_scope() {
        let verifier = Verifier::new("iotdata", "us-east-1").also_accepting("iotdevicegateway");
        for service in ["iotdata", "iotdevicegateway"] {
            let req = Owned::new("GET", "/", None, b"").signed_for("us-east-1", service, now());
            assert!(req.verify_with(&verifier, now()).is_ok(), "{service}");
        }
        let req = Owned::new("GET", "/", None, b"").signed_for("us-east-1", "iot", now());
        assert!(req.verify_with(&verifier, now()).is_err());
    }

    #[test]
    fn a_signature_for_another_service_is_refused() {
        let req = Owned::new("GET", "/", None, b"").signed_for("us-east-1", "iotdata", now());
        let err = req.verify().expect_err("wrong service");
        assert_eq!(
            err,
            SigV4Error::WrongService {
                expected: "iot".into(),
                found: "iotdata".into()
            }
        );
        assert_eq!(err.aws_error_type(), "InvalidSignatureException");
    }

    #[test]
    fn a_signature_for_another_region_is_refused_unless_any_region_is_accepted() {
        let req = Owned::new("GET", "/", None, b"").signed_for("eu-west-1", "iot", now());
        assert_eq!(
            req.verify(),
            Err(SigV4Error::WrongRegion {
                expected: "us-east-1".into(),
                found: "eu-west-1".into()
            })
        );
        let id = req
            .verify_with(&Verifier::for_any_region("iot"), now())
            .expect("any region");
        assert_eq!(id.region, "eu-west-1");
    }

    #[test]
    fn a_scope_date_from_another_day_is_refused() {
        let mut req = Owned::new("GET", "/", None, b"").signed();
        for (name, value) in &mut req.headers {
            if name == "x-amz-date" {
                *value = b"20261130T012500Z".to_vec();
            }
        }
        let at = now() + Duration::from_secs(86_400);
        let err = req
            .verify_with(&Verifier::new("iot", "us-east-1"), at)
            .expect_err("mismatch");
        assert!(
            matches!(err, SigV4Error::ScopeDateMismatch { ref scope_date, .. } if scope_date == "20261129"),
            "{err:?}"
        );
    }

    #[test]
    fn an_unsigned_host_is_refused() {
        let req = Owned::new("GET", "/", None, b"")
            .without_header("host")
            .signed()
            .with_header("Host", b"localhost");
        assert_eq!(req.verify(), Err(SigV4Error::HostNotSigned));
    }

    #[test]
    fn a_signed_header_removed_in_transit_is_named() {
        let req = Owned::new("GET", "/", None, b"")
            .signed()
            .without_header("content-type");
        assert_eq!(
            req.verify(),
            Err(SigV4Error::SignedHeaderAbsent {
                header: "content-type".into()
            })
        );
    }

    #[test]
    fn a_request_without_any_signature_is_missing_authentication() {
        let req = Owned::new("GET", "/things", Some("maxResults=1"), b"");
        let err = req.verify().expect_err("unsigned");
        assert_eq!(err, SigV4Error::MissingAuthentication);
        assert_eq!(err.aws_error_type(), "MissingAuthenticationTokenException");
    }

    #[test]
    fn a_signature_that_is_not_hex_is_a_mismatch() {
        let mut req = Owned::new("GET", "/", None, b"").signed();
        for (name, value) in &mut req.headers {
            if name == "authorization" {
                let text = String::from_utf8(value.clone()).expect("utf-8");
                let cut = text.rfind('=').expect("Signature=") + 1;
                *value = format!("{}zz", &text[..cut]).into_bytes();
            }
        }
        assert_eq!(req.verify(), Err(SigV4Error::SignatureMismatch));
    }

    #[test]
    fn a_terminator_other_than_aws4_request_is_refused() {
        let mut req = Owned::new("GET", "/", None, b"").signed();
        for (name, value) in &mut req.headers {
            if name == "authorization" {
                let text = String::from_utf8(value.clone()).expect("utf-8");
                *value = text.replace("/aws4_request", "/aws5_request").into_bytes();
            }
        }
        assert_eq!(
            req.verify(),
            Err(SigV4Error::InvalidTerminator {
                terminator: "aws5_request".into()
            })
        );
    }

    #[test]
    fn unsigned_payload_verifies_without_covering_the_body() {
        let mut req = Owned::new("PUT", "/x", None, b"original")
            .with_header("x-amz-content-sha256", b"UNSIGNED-PAYLOAD")
            .signed();
        let id = req.verify().expect("valid");
        assert!(!id.payload_signed);
        req.body = b"changed".to_vec();
        assert!(req.verify().is_ok());
    }

    #[test]
    fn a_content_sha256_header_must_match_the_body() {
        let hash = crate::canonical::sha256_hex(b"original");
        let mut req = Owned::new("PUT", "/x", None, b"original")
            .with_header("X-Amz-Content-Sha256", hash.as_bytes())
            .signed();
        assert!(req.verify().expect("valid").payload_signed);
        req.body = b"changed".to_vec();
        let err = req.verify().expect_err("mismatch");
        assert!(
            matches!(err, SigV4Error::PayloadHashMismatch { .. }),
            "{err:?}"
        );
    }

    #[test]
    fn chunked_payload_signing_is_not_supported() {
        let req = Owned::new("PUT", "/x", None, b"")
            .with_header(
                "x-amz-content-sha256",
                b"STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
            )
            .signed();
        assert_eq!(
            req.verify(),
            Err(SigV4Error::UnsupportedPayloadHash {
                value: "STREAMING-AWS4-HMAC-SHA256-PAYLOAD".into()
            })
        );
    }

    #[test]
    fn an_http_date_header_can_stand_in_for_x_amz_date() {
        let headers = [
            ("host".to_owned(), b"localhost".to_vec()),
            ("date".to_owned(), b"Sun, 29 Nov 2026 01:25:00 GMT".to_vec()),
        ];
        let date = AmzDate::parse_basic("20261129T012500Z").expect("date");
        let cr = canonical_request(&CanonicalInput {
            method: "GET",
            canonical_uri: "/",
            canonical_query: "",
            headers: &headers,
            payload_hash: &sha256_hex(b""),
        });
        let scope = credential_scope("20261129", "us-east-1", "iot");
        let key = signing_key(SECRET, "20261129", "us-east-1", "iot");
        let sig = crate::canonical::signature_hex(&key, &string_to_sign(date, &scope, &cr));
        let auth = format!(
            "AWS4-HMAC-SHA256 Credential={AKID}/{scope}, SignedHeaders=host;date, Signature={sig}"
        );
        let mut req = Owned::new("GET", "/", None, b"").without_header("content-type");
        req.headers = vec![
            ("Host".into(), b"localhost".to_vec()),
            ("Date".into(), b"Sun, 29 Nov 2026 01:25:00 GMT".to_vec()),
            ("Authorization".into(), auth.into_bytes()),
        ];
        assert!(req.verify().is_ok());
    }

    #[test]
    fn a_presigned_request_with_its_own_query_verifies() {
        let mut req =
            Owned::new("GET", "/mqtt", Some("b=x%2Fy&a=1"), b"").without_header("content-type");
        let token = Credentials {
            session_token: Some("tok/en+="),
            ..creds()
        };
        let query = req
            .with_verify(|r| {
                presign(
                    r,
                    &token,
                    "us-east-1",
                    "iotdevicegateway",
                    now(),
                    Duration::from_secs(60),
                )
            })
            .expect("host present");
        assert!(
            query.starts_with("b=x%2Fy&a=1&X-Amz-Algorithm=AWS4-HMAC-SHA256&"),
            "{query}"
        );
        req.query = Some(query);
        let verifier = Verifier::new("iotdevicegateway", "us-east-1");
        let id = req.verify_with(&verifier, now()).expect("valid");
        assert_eq!(id.location, AuthLocation::Query);
        assert_eq!(id.session_token.as_deref(), Some("tok/en+="));
        let late = now() + Duration::from_secs(61);
        assert!(matches!(
            req.verify_with(&verifier, late),
            Err(SigV4Error::PresignedRequestExpired { .. })
        ));
    }

    #[test]
    fn presigning_without_a_host_is_an_error() {
        let req = Owned::new("GET", "/mqtt", None, b"").without_header("host");
        let result = req.with_verify(|r| {
            presign(
                r,
                &creds(),
                "us-east-1",
                "iot",
                now(),
                Duration::from_secs(60),
            )
        });
        assert_eq!(
            result,
            Err(SigV4Error::SignedHeaderAbsent {
                header: "host".into()
            })
        );
    }

    fn raw_path() -> impl Strategy<Value = String> {
        // Segments of arbitrary text, percent-encoded the way botocore encodes URI labels.
        proptest::collection::vec(".{0,12}", 0..4).prop_map(|segments| {
            let encoded: Vec<String> = segments
                .iter()
                .map(|s| crate::canonical::encode_query_component(s.as_bytes()))
                .collect();
            format!("/{}", encoded.join("/"))
        })
    }

    fn raw_query() -> impl Strategy<Value = Option<String>> {
        proptest::option::of(
            proptest::collection::vec(("[a-zA-Z]{1,6}", ".{0,8}"), 1..4).prop_map(|pairs| {
                pairs
                    .iter()
                    .map(|(k, v)| {
                        format!(
                            "{k}={}",
                            crate::canonical::encode_query_component(v.as_bytes())
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("&")
            }),
        )
    }

    proptest! {
        #[test]
        fn whatever_sign_produces_verify_accepts(
            method in prop_oneof!["GET", "POST", "PUT", "DELETE", "PATCH"],
            path in raw_path(),
            query in raw_query(),
            body in proptest::collection::vec(any::<u8>(), 0..64),
            header in "[ -~]{0,20}",
        ) {
            let req = Owned::new(&method, &path, query.as_deref(), &body)
                .with_header("x-amzn-principal", header.as_bytes())
                .signed();
            prop_assert!(req.verify().is_ok());
        }

        #[test]
        fn any_change_to_a_signed_body_is_detected(
            body in proptest::collection::vec(any::<u8>(), 1..64),
            index in any::<prop::sample::Index>(),
            flip in 1u8..=255,
        ) {
            let mut req = Owned::new("POST", "/things/t", None, &body).signed();
            let i = index.index(req.body.len());
            req.body[i] ^= flip;
            prop_assert_eq!(req.verify(), Err(SigV4Error::SignatureMismatch));
        }
    }
}
