//! The parts of an HTTP request that SigV4 covers, borrowed from whatever HTTP stack holds it.

/// A received (or to-be-sent) HTTP request, as raw as the wire had it.
///
/// `raw_path` must be the path exactly as received, still percent-encoded (`/things/my%3Athing`),
/// not a decoded router path; `raw_query` is the text after `?` (without it). Header names are
/// matched case-insensitively; values are bytes because HTTP allows non-UTF-8 values.
/// For HTTP/2, pass the `:authority` as a `host` header.
#[derive(Debug, Clone, Copy)]
pub struct HttpRequest<'a> {
    /// Method, e.g. `GET`; compared upper-cased.
    pub method: &'a str,
    /// Path as received, percent-encoded, starting with `/`.
    pub raw_path: &'a str,
    /// Query string as received, without the leading `?`.
    pub raw_query: Option<&'a str>,
    /// All request headers in the order received; a name may repeat.
    pub headers: &'a [(&'a str, &'a [u8])],
    /// The complete body.
    pub body: &'a [u8],
}

impl<'a> HttpRequest<'a> {
    /// Values of every header named `name` (ASCII case-insensitive), in request order.
    pub fn header_values<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'a [u8]> + 's {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }

    /// The first value of header `name`, if present.
    pub fn header(&self, name: &str) -> Option<&'a [u8]> {
        self.header_values(name).next()
    }
}

/// Keys to sign with; `session_token` is set for temporary (STS) credentials.
#[derive(Clone, Copy)]
pub struct Credentials<'a> {
    /// The access key id, e.g. `AKIAIOSFODNN7EXAMPLE`.
    pub access_key_id: &'a str,
    /// The secret access key.
    pub secret_access_key: &'a str,
    /// The session token of temporary credentials, sent as `X-Amz-Security-Token`.
    pub session_token: Option<&'a str>,
}

impl std::fmt::Debug for Credentials<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field("session_token", &self.session_token.map(|_| "<redacted>"))
            .finish()
    }
}
