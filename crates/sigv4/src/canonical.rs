//! The canonical request and string to sign, built the way botocore builds them for every
//! service except S3 (normalized, double-encoded path).

use hmac::{Hmac, KeyInit, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, percent_encode};
use sha2::{Digest, Sha256};

use crate::date::AmzDate;

/// The only algorithm SigV4 defines.
pub(crate) const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// `x-amz-content-sha256` value for a body the signature does not cover.
pub(crate) const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// Everything but RFC 3986 unreserved characters is encoded in query keys and values.
const QUERY_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');
/// Paths keep `/` as the segment separator.
const PATH_ENCODE: &AsciiSet = &QUERY_ENCODE.remove(b'/');

pub(crate) type HmacSha256 = Hmac<Sha256>;

/// The canonical URI: dot segments and empty segments removed (as botocore's
/// `remove_dot_segments`), then every byte outside the unreserved set and `/` percent-encoded.
/// The raw path is encoded again, so `%3A` becomes `%253A`: that is what non-S3 signers do.
pub(crate) fn canonical_uri(raw_path: &str) -> String {
    if raw_path.is_empty() {
        return "/".to_owned();
    }
    let mut segments: Vec<&str> = Vec::new();
    for segment in raw_path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut normalized = String::with_capacity(raw_path.len() + 1);
    if raw_path.starts_with('/') {
        normalized.push('/');
    }
    normalized.push_str(&segments.join("/"));
    if raw_path.ends_with('/') && !segments.is_empty() {
        normalized.push('/');
    }
    percent_encode(normalized.as_bytes(), PATH_ENCODE).to_string()
}

/// One query parameter, percent-decoded (bytes: `%FF` need not be UTF-8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct QueryParam {
    pub(crate) name: Vec<u8>,
    pub(crate) value: Vec<u8>,
}

impl QueryParam {
    /// Whether this parameter is named `name` (exact, case-sensitive, as AWS compares).
    pub(crate) fn is(&self, name: &str) -> bool {
        self.name == name.as_bytes()
    }
}

/// Splits a raw query on `&` and the first `=`, percent-decoding names and values. `+` stays a
/// literal plus (SigV4 is not form decoding). Empty pieces (`a=1&&b=2`) are skipped.
pub(crate) fn parse_query(raw_query: &str) -> Vec<QueryParam> {
    raw_query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            QueryParam {
                name: decode(name),
                value: decode(value),
            }
        })
        .collect()
}

fn decode(s: &str) -> Vec<u8> {
    percent_decode_str(s).collect()
}

/// Percent-encodes a query name or value with the unreserved set.
pub(crate) fn encode_query_component(s: &[u8]) -> String {
    percent_encode(s, QUERY_ENCODE).to_string()
}

/// The canonical query string of `params`, skipping those for which `skip` is true: each name
/// and value re-encoded, pairs sorted by encoded name then value.
pub(crate) fn canonical_query(params: &[QueryParam], skip: impl Fn(&QueryParam) -> bool) -> String {
    let mut pairs: Vec<(String, String)> = params
        .iter()
        .filter(|p| !skip(p))
        .map(|p| {
            (
                encode_query_component(&p.name),
                encode_query_component(&p.value),
            )
        })
        .collect();
    pairs.sort();
    let mut out = String::new();
    for (i, (name, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(name);
        out.push('=');
        out.push_str(value);
    }
    out
}

/// A header value trimmed, with runs of whitespace collapsed to one space (botocore's
/// `' '.join(value.split())`).
fn push_trimmed(out: &mut Vec<u8>, value: &[u8]) {
    let mut first = true;
    for word in value
        .split(|b| b.is_ascii_whitespace())
        .filter(|w| !w.is_empty())
    {
        if !first {
            out.push(b' ');
        }
        out.extend_from_slice(word);
        first = false;
    }
}

/// The canonical value of header `name`: every value it has in `headers` (ASCII
/// case-insensitive), trimmed and joined with `,` in request order; `None` if it has none.
pub(crate) fn header_value(name: &str, headers: &[(&str, &[u8])]) -> Option<Vec<u8>> {
    let mut out: Option<Vec<u8>> = None;
    for (_, value) in headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)) {
        let buf = match &mut out {
            Some(buf) => {
                buf.push(b',');
                buf
            }
            None => out.insert(Vec::with_capacity(value.len())),
        };
        push_trimmed(buf, value);
    }
    out
}

/// The inputs of a canonical request.
pub(crate) struct CanonicalInput<'a> {
    pub(crate) method: &'a str,
    pub(crate) canonical_uri: &'a str,
    pub(crate) canonical_query: &'a str,
    /// Lower-case names paired with their canonical values, in the order they are to appear.
    pub(crate) headers: &'a [(String, Vec<u8>)],
    pub(crate) payload_hash: &'a str,
}

/// Builds the canonical request.
pub(crate) fn canonical_request(input: &CanonicalInput<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(input.method.to_ascii_uppercase().as_bytes());
    out.push(b'\n');
    out.extend_from_slice(input.canonical_uri.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(input.canonical_query.as_bytes());
    out.push(b'\n');
    for (name, value) in input.headers {
        out.extend_from_slice(name.as_bytes());
        out.push(b':');
        out.extend_from_slice(value);
        out.push(b'\n');
    }
    out.push(b'\n');
    for (i, (name, _)) in input.headers.iter().enumerate() {
        if i > 0 {
            out.push(b';');
        }
        out.extend_from_slice(name.as_bytes());
    }
    out.push(b'\n');
    out.extend_from_slice(input.payload_hash.as_bytes());
    out
}

/// Lower-case hex SHA-256 of `data`.
pub(crate) fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// The credential scope `YYYYMMDD/region/service/aws4_request`.
pub(crate) fn credential_scope(date_stamp: &str, region: &str, service: &str) -> String {
    format!("{date_stamp}/{region}/{service}/aws4_request")
}

/// The string to sign for a canonical request made at `date` under `scope`.
pub(crate) fn string_to_sign(date: AmzDate, scope: &str, canonical_request: &[u8]) -> String {
    format!(
        "{ALGORITHM}\n{date}\n{scope}\n{}",
        sha256_hex(canonical_request)
    )
}

fn hmac(key: &[u8], data: &[u8]) -> HmacSha256 {
    let mut mac =
        <HmacSha256 as KeyInit>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(data);
    mac
}

/// The signing key `HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request")`.
pub(crate) fn signing_key(secret: &str, date_stamp: &str, region: &str, service: &str) -> Vec<u8> {
    let k_date = hmac(format!("AWS4{secret}").as_bytes(), date_stamp.as_bytes())
        .finalize()
        .into_bytes();
    let k_region = hmac(&k_date, region.as_bytes()).finalize().into_bytes();
    let k_service = hmac(&k_region, service.as_bytes()).finalize().into_bytes();
    hmac(&k_service, b"aws4_request")
        .finalize()
        .into_bytes()
        .to_vec()
}

/// The hex signature of `string_to_sign` under `key`.
pub(crate) fn signature_hex(key: &[u8], string_to_sign: &str) -> String {
    hex::encode(hmac(key, string_to_sign.as_bytes()).finalize().into_bytes())
}

/// Whether `provided_hex` is the signature of `string_to_sign`, compared in constant time.
pub(crate) fn signature_matches(key: &[u8], string_to_sign: &str, provided: &[u8]) -> bool {
    hmac(key, string_to_sign.as_bytes())
        .verify_slice(provided)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_path_characters_are_encoded_again() {
        assert_eq!(canonical_uri("/things/my%3Athing"), "/things/my%253Athing");
        assert_eq!(
            canonical_uri("/attached-policies/arn%3Aaws%3Aiot%3Aus-east-1%3A1%3Acert%2Fab"),
            "/attached-policies/arn%253Aaws%253Aiot%253Aus-east-1%253A1%253Acert%252Fab"
        );
    }

    #[test]
    fn path_is_normalized_like_botocore() {
        assert_eq!(canonical_uri(""), "/");
        assert_eq!(canonical_uri("/"), "/");
        assert_eq!(canonical_uri("//"), "/");
        assert_eq!(canonical_uri("/./"), "/");
        assert_eq!(canonical_uri("/example/.."), "/");
        assert_eq!(canonical_uri("/a/b/../.."), "/");
        assert_eq!(canonical_uri("/../a"), "/a");
        assert_eq!(canonical_uri("//example//"), "/example/");
        assert_eq!(canonical_uri("/./example"), "/example");
        assert_eq!(canonical_uri("/example space/"), "/example%20space/");
        assert_eq!(canonical_uri("/ሴ"), "/%E1%88%B4");
        assert_eq!(canonical_uri("/-._~AZaz09"), "/-._~AZaz09");
    }

    #[test]
    fn query_is_decoded_reencoded_and_sorted() {
        let params = parse_query("b=2&a=x%2Fy+z&a=%20&empty&=v&&c=%zz&d=%ff");
        assert_eq!(
            canonical_query(&params, |_| false),
            "=v&a=%20&a=x%2Fy%2Bz&b=2&c=%25zz&d=%FF&empty="
        );
    }

    #[test]
    fn query_parameters_can_be_left_out() {
        let params = parse_query("X-Amz-Signature=abc&a=1");
        assert_eq!(canonical_query(&params, |p| p.is("X-Amz-Signature")), "a=1");
    }

    #[test]
    fn header_values_are_trimmed_and_joined_in_request_order() {
        let headers: &[(&str, &[u8])] = &[
            ("My-Header", b"  b   c "),
            ("Host", b"example.com"),
            ("my-header", b"\ta\t"),
        ];
        assert_eq!(
            header_value("my-header", headers).as_deref(),
            Some(&b"b c,a"[..])
        );
        assert_eq!(header_value("absent", headers), None);
    }

    #[test]
    fn canonical_request_lists_headers_then_their_names() {
        let headers = [
            ("host".to_owned(), b"example.com".to_vec()),
            ("x-a".to_owned(), b"1".to_vec()),
        ];
        let cr = canonical_request(&CanonicalInput {
            method: "get",
            canonical_uri: "/",
            canonical_query: "a=1",
            headers: &headers,
            payload_hash: "UNSIGNED-PAYLOAD",
        });
        assert_eq!(
            String::from_utf8(cr).expect("utf-8"),
            "GET\n/\na=1\nhost:example.com\nx-a:1\n\nhost;x-a\nUNSIGNED-PAYLOAD"
        );
    }

    #[test]
    fn signing_key_matches_the_aws_documentation_example() {
        // From the AWS General Reference "Examples of how to derive a signing key".
        let key = signing_key(
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "20120215",
            "us-east-1",
            "iam",
        );
        assert_eq!(
            hex::encode(key),
            "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
        );
    }
}
