//! The little URL syntax the http action and destinations need: an `http(s)://` scheme, a
//! non-empty authority, and prefixes that cannot end inside a host name.

/// Longest URL the model allows (`Url`).
pub(crate) const MAX_URL_CHARS: usize = 2000;

/// An absolute `http://` or `https://` URL, split after its authority.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HttpUrl<'a> {
    /// `host[:port]`, possibly with user information.
    pub(crate) authority: &'a str,
    /// Path, query and fragment; may be empty.
    pub(crate) rest: &'a str,
}

/// The scheme prefix of `text` (`http://` or `https://`, any case) and what follows it.
pub(crate) fn strip_scheme(text: &str) -> Option<&str> {
    ["https://", "http://"].iter().find_map(|scheme| {
        let head = text.get(..scheme.len())?;
        head.eq_ignore_ascii_case(scheme)
            .then(|| text.get(scheme.len()..))
            .flatten()
    })
}

/// Parses a literal URL; the error says what is wrong with it.
pub(crate) fn parse_http_url(text: &str) -> Result<HttpUrl<'_>, &'static str> {
    let after = strip_scheme(text).ok_or("it must start with https:// or http://")?;
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("it must not contain whitespace or control characters");
    }
    let end = after.find(['/', '?', '#']).unwrap_or(after.len());
    let (authority, rest) = after.split_at(end);
    let host_port = authority.rsplit('@').next().unwrap_or(authority);
    let host = match host_port.rsplit_once(':') {
        // An IPv6 literal's colons are inside brackets.
        Some((host, port)) if !port.contains(']') => {
            if port.parse::<u16>().map_or(true, |p| p == 0) {
                return Err("its port must be a number from 1 to 65535");
            }
            host
        }
        _ => host_port,
    };
    if host.is_empty() {
        return Err("it must name a host");
    }
    Ok(HttpUrl { authority, rest })
}

/// Whether `prefix` is a prefix of `url` that covers at least `url`'s whole authority, so
/// that `https://example.com` covers `https://example.com/a` but not
/// `https://example.com.evil.net/`. AWS states the rule as a plain string prefix; this one
/// differs only where a prefix would end inside a host name.
pub(crate) fn covers(prefix: &str, url: &str) -> bool {
    let Some(rest) = url.strip_prefix(prefix) else {
        return false;
    };
    match parse_http_url(prefix) {
        Ok(parsed) if parsed.rest.is_empty() => {
            rest.is_empty() || rest.starts_with(['/', '?', '#'])
        }
        Ok(_) => true,
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_and_https_urls_with_a_host_parse() {
        for ok in [
            "https://example.com",
            "http://127.0.0.1:8080/hook?x=1",
            "HTTPS://Example.com/a/b",
            "https://user@host:443/",
            "https://[::1]:8443/x",
        ] {
            assert!(parse_http_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "ftp://example.com",
            "https://",
            "https:///path",
            "https://host:0/",
            "https://host:99999/",
            "https://host/a b",
            "example.com",
        ] {
            assert!(parse_http_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_prefix_covers_paths_below_it_but_never_ends_inside_a_host() {
        assert!(covers("https://example.com", "https://example.com"));
        assert!(covers("https://example.com", "https://example.com/a/b"));
        assert!(covers("https://example.com", "https://example.com?x"));
        assert!(covers(
            "https://example.com/api",
            "https://example.com/api/v1"
        ));
        assert!(covers("https://example.com/ap", "https://example.com/api"));
        assert!(!covers(
            "https://example.com",
            "https://example.com.evil.net/"
        ));
        assert!(!covers("https://example.com", "https://example.com:8443/"));
        assert!(!covers("https://other.com", "https://example.com/"));
        assert!(!covers("https://", "https://example.com/"));
    }
}
