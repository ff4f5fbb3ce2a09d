//! Signing outgoing requests the way botocore does (for Roost's own clients and for tests).

use std::time::{Duration, SystemTime};

use crate::canonical::{
    ALGORITHM, CanonicalInput, QueryParam, canonical_query, canonical_request, canonical_uri,
    credential_scope, encode_query_component, header_value, parse_query, sha256_hex, signature_hex,
    signing_key, string_to_sign,
};
use crate::date::AmzDate;
use crate::error::SigV4Error;
use crate::request::{Credentials, HttpRequest};

/// Headers botocore never signs (hop-by-hop, or rewritten by proxies), plus the ones `sign`
/// itself sets.
const UNSIGNED_HEADERS: &[&str] = &[
    "authorization",
    "connection",
    "expect",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "user-agent",
    "x-amzn-trace-id",
    "x-amz-date",
    "x-amz-security-token",
];

/// Signs `req` at `now` in the `Authorization` header form and returns the headers to add:
/// `x-amz-date`, `x-amz-security-token` (with a session token) and `authorization`.
///
/// Every header of `req` is signed except hop-by-hop ones, `user-agent` and any previous
/// signature headers, so `req` must already carry `host`. The payload hash is the request's
/// `x-amz-content-sha256` if present, otherwise the SHA-256 of the body.
pub fn sign(
    req: &HttpRequest<'_>,
    creds: &Credentials<'_>,
    region: &str,
    service: &str,
    now: SystemTime,
) -> Vec<(String, String)> {
    let date = AmzDate::from_system_time(now);
    let date_text = date.to_string();
    let mut headers: Vec<(&str, &[u8])> = req
        .headers
        .iter()
        .filter(|(name, _)| {
            !UNSIGNED_HEADERS
                .iter()
                .any(|u| name.eq_ignore_ascii_case(u))
        })
        .copied()
        .collect();
    headers.push(("x-amz-date", date_text.as_bytes()));
    if let Some(token) = creds.session_token {
        headers.push(("x-amz-security-token", token.as_bytes()));
    }
    let mut names: Vec<String> = headers
        .iter()
        .map(|(n, _)| n.to_ascii_lowercase())
        .collect();
    names.sort();
    names.dedup();
    let canonical_headers: Vec<(String, Vec<u8>)> = names
        .into_iter()
        .filter_map(|name| header_value(&name, &headers).map(|v| (name, v)))
        .collect();

    let query = canonical_query(&parse_query(req.raw_query.unwrap_or("")), |_| false);
    let signature = compute(
        req,
        creds,
        region,
        service,
        date,
        &query,
        &canonical_headers,
    );
    let signed_headers: Vec<&str> = canonical_headers.iter().map(|(n, _)| n.as_str()).collect();
    let authorization = format!(
        "{ALGORITHM} Credential={}/{}, SignedHeaders={}, Signature={signature}",
        creds.access_key_id,
        credential_scope(&date.date_stamp(), region, service),
        signed_headers.join(";"),
    );

    let mut out = vec![("x-amz-date".to_owned(), date_text)];
    if let Some(token) = creds.session_token {
        out.push(("x-amz-security-token".to_owned(), token.to_owned()));
    }
    out.push(("authorization".to_owned(), authorization));
    out
}

/// Presigns `req` at `now`, valid for `expires` (clamped to 1 s ..= 7 days), signing only
/// `host`; returns the complete query string to send (the original query followed by the
/// `X-Amz-*` parameters, `X-Amz-Signature` last). The session token, if any, is signed.
pub fn presign(
    req: &HttpRequest<'_>,
    creds: &Credentials<'_>,
    region: &str,
    service: &str,
    now: SystemTime,
    expires: Duration,
) -> Result<String, SigV4Error> {
    let date = AmzDate::from_system_time(now);
    let host = header_value("host", req.headers).ok_or_else(|| SigV4Error::SignedHeaderAbsent {
        header: "host".to_owned(),
    })?;
    let scope = credential_scope(&date.date_stamp(), region, service);
    let mut auth: Vec<(&str, String)> = vec![
        ("X-Amz-Algorithm", ALGORITHM.to_owned()),
        (
            "X-Amz-Credential",
            format!("{}/{scope}", creds.access_key_id),
        ),
        ("X-Amz-Date", date.to_string()),
        (
            "X-Amz-Expires",
            expires.as_secs().clamp(1, 604_800).to_string(),
        ),
        ("X-Amz-SignedHeaders", "host".to_owned()),
    ];
    if let Some(token) = creds.session_token {
        auth.push(("X-Amz-Security-Token", token.to_owned()));
    }

    let raw_query = req.raw_query.filter(|q| !q.is_empty());
    let mut params = raw_query.map(parse_query).unwrap_or_default();
    params.extend(auth.iter().map(|(name, value)| QueryParam {
        name: name.as_bytes().to_vec(),
        value: value.as_bytes().to_vec(),
    }));
    let query = canonical_query(&params, |_| false);
    let headers = [("host".to_owned(), host)];
    let signature = compute(req, creds, region, service, date, &query, &headers);

    let mut out = String::new();
    if let Some(q) = raw_query {
        out.push_str(q);
        out.push('&');
    }
    for (name, value) in &auth {
        out.push_str(name);
        out.push('=');
        out.push_str(&encode_query_component(value.as_bytes()));
        out.push('&');
    }
    out.push_str("X-Amz-Signature=");
    out.push_str(&signature);
    Ok(out)
}

fn compute(
    req: &HttpRequest<'_>,
    creds: &Credentials<'_>,
    region: &str,
    service: &str,
    date: AmzDate,
    canonical_query: &str,
    headers: &[(String, Vec<u8>)],
) -> String {
    let payload_hash = match req.header("x-amz-content-sha256") {
        Some(v) => String::from_utf8_lossy(v).trim().to_owned(),
        None => sha256_hex(req.body),
    };
    let cr = canonical_request(&CanonicalInput {
        method: req.method,
        canonical_uri: &canonical_uri(req.raw_path),
        canonical_query,
        headers,
        payload_hash: &payload_hash,
    });
    let date_stamp = date.date_stamp();
    let key = signing_key(creds.secret_access_key, &date_stamp, region, service);
    signature_hex(
        &key,
        &string_to_sign(date, &credential_scope(&date_stamp, region, service), &cr),
    )
}
