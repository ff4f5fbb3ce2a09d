//! Reading the signature's claims from a request: the `Authorization` header form and the
//! presigned (query-string) form.

use crate::canonical::{ALGORITHM, QueryParam};
use crate::date::AmzDate;
use crate::error::SigV4Error;
use crate::request::HttpRequest;

/// Where the request carried its signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthLocation {
    /// `Authorization: AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`.
    Header,
    /// Presigned URL: `X-Amz-Algorithm`, `X-Amz-Credential`, … `X-Amz-Signature` in the query.
    Query,
}

/// The claims of a signed request, before any of them is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SignedClaims {
    pub(crate) location: AuthLocation,
    pub(crate) access_key_id: String,
    pub(crate) scope_date: String,
    pub(crate) region: String,
    pub(crate) service: String,
    pub(crate) terminator: String,
    /// Lower-cased, in the order the client listed them.
    pub(crate) signed_headers: Vec<String>,
    pub(crate) signature: String,
    pub(crate) date: AmzDate,
    /// `X-Amz-Expires` of a presigned request, in seconds.
    pub(crate) expires_secs: Option<u32>,
    pub(crate) session_token: Option<String>,
}

/// Longest validity AWS allows a presigned request: seven days.
const MAX_EXPIRES_SECS: u32 = 604_800;

/// Finds and parses the request's signature claims.
pub(crate) fn read_claims(
    req: &HttpRequest<'_>,
    query: &[QueryParam],
) -> Result<SignedClaims, SigV4Error> {
    let mut auth_headers = req.header_values("authorization");
    let auth_header = auth_headers.next();
    if auth_headers.next().is_some() {
        return Err(SigV4Error::MalformedAuthorizationHeader {
            reason: "more than one Authorization header",
        });
    }
    let query_auth = query
        .iter()
        .any(|p| p.is("X-Amz-Algorithm") || p.is("X-Amz-Credential") || p.is("X-Amz-Signature"));
    match (auth_header, query_auth) {
        (Some(_), true) => Err(SigV4Error::ConflictingAuthentication),
        (Some(value), false) => from_header(req, value),
        (None, true) => from_query(query),
        (None, false) => Err(SigV4Error::MissingAuthentication),
    }
}

fn from_header(req: &HttpRequest<'_>, value: &[u8]) -> Result<SignedClaims, SigV4Error> {
    let value = std::str::from_utf8(value)
        .map_err(|_| SigV4Error::MalformedAuthorizationHeader {
            reason: "not valid UTF-8",
        })?
        .trim();
    let (algorithm, rest) = value.split_once(' ').unwrap_or((value, ""));
    if algorithm != ALGORITHM {
        return Err(SigV4Error::UnsupportedAlgorithm {
            algorithm: algorithm.to_owned(),
        });
    }
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let Some((key, val)) = part.trim().split_once('=') else {
            continue;
        };
        let slot = match key.trim() {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed_headers,
            "Signature" => &mut signature,
            _ => continue,
        };
        slot.get_or_insert(val.trim());
    }
    let missing = |parameter| SigV4Error::MissingAuthorizationParameter { parameter };
    let credential = credential.ok_or_else(|| missing("Credential"))?;
    let signed_headers = signed_headers.ok_or_else(|| missing("SignedHeaders"))?;
    let signature = signature.ok_or_else(|| missing("Signature"))?;
    let date = header_date(req)?;
    let session_token = req
        .header("x-amz-security-token")
        .map(|t| String::from_utf8_lossy(t).trim().to_owned());
    claims(
        AuthLocation::Header,
        credential,
        signed_headers,
        signature,
        date,
        None,
        session_token,
    )
}

/// The request time from `X-Amz-Date`, or failing that from `Date` (HTTP date or basic format).
fn header_date(req: &HttpRequest<'_>) -> Result<AmzDate, SigV4Error> {
    let malformed = |v: &[u8]| SigV4Error::MalformedDate {
        value: String::from_utf8_lossy(v).into_owned(),
    };
    if let Some(v) = req.header("x-amz-date") {
        let s = std::str::from_utf8(v).map_err(|_| malformed(v))?;
        return AmzDate::parse_basic(s.trim()).ok_or_else(|| malformed(v));
    }
    if let Some(v) = req.header("date") {
        let s = std::str::from_utf8(v).map_err(|_| malformed(v))?.trim();
        return AmzDate::parse_basic(s)
            .or_else(|| AmzDate::parse_http_date(s))
            .ok_or_else(|| malformed(v));
    }
    Err(SigV4Error::MissingDate)
}

fn from_query(query: &[QueryParam]) -> Result<SignedClaims, SigV4Error> {
    let find = |name: &'static str| -> Result<Option<String>, SigV4Error> {
        match query.iter().find(|p| p.is(name)) {
            None => Ok(None),
            Some(p) => Ok(Some(String::from_utf8_lossy(&p.value).into_owned())),
        }
    };
    let require = |name: &'static str| -> Result<String, SigV4Error> {
        find(name)?.ok_or(SigV4Error::MissingQueryParameter { parameter: name })
    };
    let algorithm = require("X-Amz-Algorithm")?;
    if algorithm != ALGORITHM {
        return Err(SigV4Error::UnsupportedAlgorithm { algorithm });
    }
    let credential = require("X-Amz-Credential")?;
    let date_text = require("X-Amz-Date")?;
    let signed_headers = require("X-Amz-SignedHeaders")?;
    let signature = require("X-Amz-Signature")?;
    let date =
        AmzDate::parse_basic(&date_text).ok_or(SigV4Error::MalformedDate { value: date_text })?;
    // X-Amz-Expires is optional: AWS IoT's own WebSocket examples omit it.
    let expires_secs = match find("X-Amz-Expires")? {
        None => None,
        Some(text) => match text.parse::<u32>() {
            Ok(n) if (1..=MAX_EXPIRES_SECS).contains(&n) => Some(n),
            _ => return Err(SigV4Error::InvalidExpires { value: text }),
        },
    };
    let session_token = find("X-Amz-Security-Token")?;
    claims(
        AuthLocation::Query,
        &credential,
        &signed_headers,
        &signature,
        date,
        expires_secs,
        session_token,
    )
}

fn claims(
    location: AuthLocation,
    credential: &str,
    signed_headers: &str,
    signature: &str,
    date: AmzDate,
    expires_secs: Option<u32>,
    session_token: Option<String>,
) -> Result<SignedClaims, SigV4Error> {
    let parts: Vec<&str> = credential.split('/').collect();
    let [access_key_id, scope_date, region, service, terminator] = parts.as_slice() else {
        return Err(SigV4Error::MalformedCredential {
            credential: credential.to_owned(),
        });
    };
    if access_key_id.is_empty() {
        return Err(SigV4Error::MalformedCredential {
            credential: credential.to_owned(),
        });
    }
    Ok(SignedClaims {
        location,
        access_key_id: (*access_key_id).to_owned(),
        scope_date: (*scope_date).to_owned(),
        region: (*region).to_owned(),
        service: (*service).to_owned(),
        terminator: (*terminator).to_owned(),
        signed_headers: signed_headers
            .split(';')
            .map(|h| h.trim().to_ascii_lowercase())
            .filter(|h| !h.is_empty())
            .collect(),
        signature: signature.to_owned(),
        date,
        expires_secs,
        session_token,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical::parse_query;

    fn read(headers: &[(&str, &[u8])], query: &str) -> Result<SignedClaims, SigV4Error> {
        let req = HttpRequest {
            method: "GET",
            raw_path: "/",
            raw_query: Some(query),
            headers,
            body: b"",
        };
        read_claims(&req, &parse_query(query))
    }

    const AUTH: &[u8] = b"AWS4-HMAC-SHA256 Credential=AKID/20261129/us-east-1/iot/aws4_request, \
        SignedHeaders=host;X-Amz-Date, Signature=abc";

    #[test]
    fn header_claims_are_read() {
        let c = read(
            &[("Authorization", AUTH), ("X-Amz-Date", b"20261129T012500Z")],
            "",
        )
        .expect("valid");
        assert_eq!(c.location, AuthLocation::Header);
        assert_eq!(c.access_key_id, "AKID");
        assert_eq!(
            (c.scope_date.as_str(), c.region.as_str(), c.service.as_str()),
            ("20261129", "us-east-1", "iot")
        );
        assert_eq!(c.signed_headers, ["host", "x-amz-date"]);
        assert_eq!(c.signature, "abc");
        assert_eq!(c.date.to_string(), "20261129T012500Z");
    }

    #[test]
    fn parameters_without_spaces_after_commas_are_read() {
        let auth = b"AWS4-HMAC-SHA256 Credential=A/20261129/r/s/aws4_request,SignedHeaders=host,Signature=00";
        let c = read(
            &[
                ("authorization", auth),
                ("date", b"Sun, 29 Nov 2026 01:25:00 GMT"),
            ],
            "",
        )
        .expect("valid");
        assert_eq!(c.signature, "00");
        assert_eq!(c.date.to_string(), "20261129T012500Z");
    }

    #[test]
    fn no_signature_anywhere_is_missing_authentication() {
        assert_eq!(
            read(&[("Host", b"h")], "a=b"),
            Err(SigV4Error::MissingAuthentication)
        );
    }

    #[test]
    fn header_and_query_signatures_together_are_refused() {
        assert_eq!(
            read(&[("Authorization", AUTH)], "X-Amz-Signature=00"),
            Err(SigV4Error::ConflictingAuthentication)
        );
    }

    #[test]
    fn another_algorithm_is_unsupported() {
        assert_eq!(
            read(&[("Authorization", b"Bearer abc")], ""),
            Err(SigV4Error::UnsupportedAlgorithm {
                algorithm: "Bearer".into()
            })
        );
    }

    #[test]
    fn each_missing_header_parameter_is_named() {
        let date: (&str, &[u8]) = ("X-Amz-Date", b"20261129T012500Z");
        assert_eq!(
            read(
                &[
                    (
                        "Authorization",
                        b"AWS4-HMAC-SHA256 SignedHeaders=host, Signature=0"
                    ),
                    date
                ],
                ""
            ),
            Err(SigV4Error::MissingAuthorizationParameter {
                parameter: "Credential"
            })
        );
        assert_eq!(
            read(
                &[
                    (
                        "Authorization",
                        b"AWS4-HMAC-SHA256 Credential=A/d/r/s/aws4_request, Signature=0"
                    ),
                    date
                ],
                ""
            ),
            Err(SigV4Error::MissingAuthorizationParameter {
                parameter: "SignedHeaders"
            })
        );
        assert_eq!(
            read(
                &[
                    (
                        "Authorization",
                        b"AWS4-HMAC-SHA256 Credential=A/d/r/s/aws4_request, SignedHeaders=host"
                    ),
                    date
                ],
                ""
            ),
            Err(SigV4Error::MissingAuthorizationParameter {
                parameter: "Signature"
            })
        );
    }

    #[test]
    fn a_missing_or_malformed_date_is_reported() {
        assert_eq!(
            read(&[("Authorization", AUTH)], ""),
            Err(SigV4Error::MissingDate)
        );
        assert_eq!(
            read(
                &[
                    ("Authorization", AUTH),
                    ("X-Amz-Date", b"2026-11-29T01:25:00Z")
                ],
                ""
            ),
            Err(SigV4Error::MalformedDate {
                value: "2026-11-29T01:25:00Z".into()
            })
        );
    }

    #[test]
    fn a_credential_needs_five_parts() {
        let auth = b"AWS4-HMAC-SHA256 Credential=AKID/20261129/us-east-1/iot, SignedHeaders=host, Signature=0";
        assert_eq!(
            read(
                &[("Authorization", auth), ("X-Amz-Date", b"20261129T012500Z")],
                ""
            ),
            Err(SigV4Error::MalformedCredential {
                credential: "AKID/20261129/us-east-1/iot".into()
            })
        );
    }

    #[test]
    fn two_authorization_headers_are_refused() {
        assert!(matches!(
            read(&[("Authorization", AUTH), ("authorization", AUTH)], ""),
            Err(SigV4Error::MalformedAuthorizationHeader { .. })
        ));
    }

    #[test]
    fn presigned_claims_are_read_from_the_query() {
        let q = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20261129%2Fus-east-1%2Fiotdevicegateway%2Faws4_request\
                 &X-Amz-Date=20261129T012500Z&X-Amz-Expires=300&X-Amz-SignedHeaders=host&X-Amz-Signature=ff\
                 &X-Amz-Security-Token=tok%2B%2F";
        let c = read(&[("Host", b"h")], q).expect("valid");
        assert_eq!(c.location, AuthLocation::Query);
        assert_eq!(c.service, "iotdevicegateway");
        assert_eq!(c.expires_secs, Some(300));
        assert_eq!(c.session_token.as_deref(), Some("tok+/"));
    }

    #[test]
    fn presigned_parameters_are_required_in_order() {
        assert_eq!(
            read(&[], "X-Amz-Signature=ff"),
            Err(SigV4Error::MissingQueryParameter {
                parameter: "X-Amz-Algorithm"
            })
        );
        assert_eq!(
            read(
                &[],
                "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=a%2Fb%2Fc%2Fd%2Fe&X-Amz-Date=20261129T012500Z&X-Amz-SignedHeaders=host"
            ),
            Err(SigV4Error::MissingQueryParameter {
                parameter: "X-Amz-Signature"
            })
        );
    }

    #[test]
    fn presigned_expiry_beyond_seven_days_is_refused() {
        let q = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=a%2Fb%2Fc%2Fd%2Fe&X-Amz-Date=20261129T012500Z\
                 &X-Amz-SignedHeaders=host&X-Amz-Signature=ff&X-Amz-Expires=604801";
        assert_eq!(
            read(&[], q),
            Err(SigV4Error::InvalidExpires {
                value: "604801".into()
            })
        );
    }
}
