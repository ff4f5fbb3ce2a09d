//! Why a request failed authentication, in AWS's vocabulary.

use std::time::Duration;

use crate::date::AmzDate;

/// Why a request failed SigV4 authentication.
///
/// `Display` is the message AWS sends (or, where AWS is vague, one that says what to fix);
/// [`SigV4Error::aws_error_type`] is the `x-amzn-ErrorType` to send with HTTP 403.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SigV4Error {
    /// No `Authorization` header and no query-string authentication
    /// (`MissingAuthenticationTokenException`).
    #[error("Missing Authentication Token")]
    MissingAuthentication,

    /// Both an `Authorization` header and `X-Amz-*` query authentication were sent
    /// (`IncompleteSignatureException`).
    #[error(
        "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter or the \
         Authorization header should be specified"
    )]
    ConflictingAuthentication,

    /// The `Authorization` header could not be read at all (`IncompleteSignatureException`).
    #[error("Authorization header is malformed: {reason}.")]
    MalformedAuthorizationHeader {
        /// What is wrong with it.
        reason: &'static str,
    },

    /// The algorithm is not `AWS4-HMAC-SHA256` (`IncompleteSignatureException`).
    #[error("Unsupported AWS 'algorithm': '{algorithm}'.")]
    UnsupportedAlgorithm {
        /// The algorithm the client named.
        algorithm: String,
    },

    /// The `Authorization` header lacks `Credential`, `SignedHeaders` or `Signature`
    /// (`IncompleteSignatureException`).
    #[error("Authorization header requires '{parameter}' parameter.")]
    MissingAuthorizationParameter {
        /// The missing parameter's name.
        parameter: &'static str,
    },

    /// Query authentication lacks one of the `X-Amz-*` parameters (`IncompleteSignatureException`).
    #[error(
        "AWS query-string parameters must include '{parameter}'. Re-examine the query-string \
         parameters."
    )]
    MissingQueryParameter {
        /// The missing parameter's name.
        parameter: &'static str,
    },

    /// The credential is not `AKID/YYYYMMDD/region/service/aws4_request`
    /// (`IncompleteSignatureException`).
    #[error(
        "Credential must have exactly 5 slash-delimited elements, e.g. \
         keyid/date/region/service/term, got '{credential}'"
    )]
    MalformedCredential {
        /// The credential as sent.
        credential: String,
    },

    /// The credential scope does not end in `aws4_request` (`IncompleteSignatureException`).
    #[error(
        "Credential should be scoped with a valid terminator: 'aws4_request', not '{terminator}'."
    )]
    InvalidTerminator {
        /// The terminator as sent.
        terminator: String,
    },

    /// Neither `X-Amz-Date` nor `Date` was sent (`IncompleteSignatureException`).
    #[error("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")]
    MissingDate,

    /// The request date is not ISO 8601 basic format (or, for `Date`, an HTTP date)
    /// (`IncompleteSignatureException`).
    #[error("Date must be in ISO-8601 'basic format'. Got '{value}'.")]
    MalformedDate {
        /// The date as sent.
        value: String,
    },

    /// `X-Amz-Expires` is not a number of seconds from 1 to 604800 (`IncompleteSignatureException`).
    #[error("X-Amz-Expires must be a whole number of seconds from 1 to 604800, got '{value}'.")]
    InvalidExpires {
        /// The value as sent.
        value: String,
    },

    /// `host` is not among the signed headers (`IncompleteSignatureException`).
    #[error("'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")]
    HostNotSigned,

    /// A header listed in `SignedHeaders` is not in the request (`InvalidSignatureException`).
    #[error("The signed header '{header}' is not present in the request.")]
    SignedHeaderAbsent {
        /// The lower-case header name.
        header: String,
    },

    /// An `x-amz-*`/`x-amzn-*` header was sent but not signed (`InvalidSignatureException`):
    /// such headers change what a request does (`x-amzn-iot-principal`, MQTT 5 properties…),
    /// so one added after signing must not be acted on.
    #[error("The header '{header}' must be signed; include it in SignedHeaders.")]
    UnsignedAmzHeader {
        /// The lower-case header name.
        header: String,
    },

    /// The credential is scoped to another service (`InvalidSignatureException`).
    #[error("Credential should be scoped to correct service: '{expected}', not '{found}'.")]
    WrongService {
        /// The service this endpoint verifies for.
        expected: String,
        /// The service in the credential scope.
        found: String,
    },

    /// The credential is scoped to another region (`InvalidSignatureException`).
    #[error(
        "Credential should be scoped to a valid region, not '{found}'; this endpoint is in '{expected}'."
    )]
    WrongRegion {
        /// The region this endpoint verifies for.
        expected: String,
        /// The region in the credential scope.
        found: String,
    },

    /// The credential scope's date is not the request date's day (`InvalidSignatureException`).
    #[error(
        "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from \
         HTTP: '{scope_date}' != '{}', from '{request_date}'.",
        request_date.date_stamp()
    )]
    ScopeDateMismatch {
        /// The `YYYYMMDD` in the credential scope.
        scope_date: String,
        /// The request's `X-Amz-Date` (or `Date`).
        request_date: AmzDate,
    },

    /// The access key id is unknown (`UnrecognizedClientException`).
    #[error("The security token included in the request is invalid.")]
    UnrecognizedAccessKey {
        /// The access key id the client sent.
        access_key_id: String,
    },

    /// The request was signed more than the allowed skew ago (`InvalidSignatureException`).
    #[error(
        "Signature expired: {signed_at} is now earlier than {} ({now} - {} min.)",
        now.plus_seconds(-(max_skew.as_secs() as i64)),
        max_skew.as_secs() / 60
    )]
    SignatureExpired {
        /// The request's date.
        signed_at: AmzDate,
        /// The server's time.
        now: AmzDate,
        /// The allowed clock skew.
        max_skew: Duration,
    },

    /// The request is dated further in the future than the allowed skew
    /// (`InvalidSignatureException`).
    #[error(
        "Signature not yet current: {signed_at} is still later than {} ({now} + {} min.)",
        now.plus_seconds(max_skew.as_secs() as i64),
        max_skew.as_secs() / 60
    )]
    SignatureNotYetCurrent {
        /// The request's date.
        signed_at: AmzDate,
        /// The server's time.
        now: AmzDate,
        /// The allowed clock skew.
        max_skew: Duration,
    },

    /// A presigned request is past `X-Amz-Date + X-Amz-Expires` (`InvalidSignatureException`).
    #[error(
        "Signature expired: {} is now earlier than {now} ({signed_at} + {expires_secs} s X-Amz-Expires).",
        signed_at.plus_seconds(*expires_secs as i64)
    )]
    PresignedRequestExpired {
        /// The request's `X-Amz-Date`.
        signed_at: AmzDate,
        /// The request's `X-Amz-Expires`, in seconds.
        expires_secs: u32,
        /// The server's time.
        now: AmzDate,
    },

    /// `x-amz-content-sha256` is neither a hex SHA-256 nor `UNSIGNED-PAYLOAD`
    /// (`InvalidSignatureException`).
    #[error(
        "x-amz-content-sha256 must be the hex SHA-256 of the body or 'UNSIGNED-PAYLOAD', got '{value}'."
    )]
    UnsupportedPayloadHash {
        /// The header value as sent.
        value: String,
    },

    /// `x-amz-content-sha256` does not match the body (`InvalidSignatureException`).
    #[error("The provided 'x-amz-content-sha256' header does not match what was computed.")]
    PayloadHashMismatch {
        /// The hash the client sent.
        provided: String,
        /// The hash of the body received.
        computed: String,
    },

    /// The signature does not match the request (`InvalidSignatureException`).
    #[error(
        "The request signature we calculated does not match the signature you provided. Check \
         your AWS Secret Access Key and signing method. Consult the service documentation for \
         details."
    )]
    SignatureMismatch,
}

impl SigV4Error {
    /// The AWS error type (`x-amzn-ErrorType` / `__type`) for this error; all are HTTP 403.
    pub fn aws_error_type(&self) -> &'static str {
        use SigV4Error::*;
        match self {
            MissingAuthentication => "MissingAuthenticationTokenException",
            UnrecognizedAccessKey { .. } => "UnrecognizedClientException",
            ConflictingAuthentication
            | MalformedAuthorizationHeader { .. }
            | UnsupportedAlgorithm { .. }
            | MissingAuthorizationParameter { .. }
            | MissingQueryParameter { .. }
            | MalformedCredential { .. }
            | InvalidTerminator { .. }
            | MissingDate
            | MalformedDate { .. }
            | InvalidExpires { .. }
            | HostNotSigned => "IncompleteSignatureException",
            SignedHeaderAbsent { .. }
            | UnsignedAmzHeader { .. }
            | WrongService { .. }
            | WrongRegion { .. }
            | ScopeDateMismatch { .. }
            | SignatureExpired { .. }
            | SignatureNotYetCurrent { .. }
            | PresignedRequestExpired { .. }
            | UnsupportedPayloadHash { .. }
            | PayloadHashMismatch { .. }
            | SignatureMismatch => "InvalidSignatureException",
        }
    }

    /// The HTTP status AWS answers with: 403 for every authentication failure.
    pub fn http_status(&self) -> u16 {
        403
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> AmzDate {
        AmzDate::parse_basic(s).expect("valid date")
    }

    #[test]
    fn expired_signature_message_matches_aws() {
        let e = SigV4Error::SignatureExpired {
            signed_at: at("20261129T010000Z"),
            now: at("20261129T012500Z"),
            max_skew: Duration::from_secs(15 * 60),
        };
        assert_eq!(
            e.to_string(),
            "Signature expired: 20261129T010000Z is now earlier than 20261129T011000Z \
             (20261129T012500Z - 15 min.)"
        );
        assert_eq!(e.aws_error_type(), "InvalidSignatureException");
    }

    #[test]
    fn future_signature_message_matches_aws() {
        let e = SigV4Error::SignatureNotYetCurrent {
            signed_at: at("20261129T020000Z"),
            now: at("20261129T012500Z"),
            max_skew: Duration::from_secs(15 * 60),
        };
        assert_eq!(
            e.to_string(),
            "Signature not yet current: 20261129T020000Z is still later than 20261129T014000Z \
             (20261129T012500Z + 15 min.)"
        );
    }

    #[test]
    fn scope_date_mismatch_names_both_dates() {
        let e = SigV4Error::ScopeDateMismatch {
            scope_date: "20261128".into(),
            request_date: at("20261129T012500Z"),
        };
        assert_eq!(
            e.to_string(),
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from \
             HTTP: '20261128' != '20261129', from '20261129T012500Z'."
        );
    }

    #[test]
    fn each_failure_maps_to_the_aws_exception_clients_expect() {
        assert_eq!(
            SigV4Error::MissingAuthentication.to_string(),
            "Missing Authentication Token"
        );
        assert_eq!(
            SigV4Error::MissingAuthentication.aws_error_type(),
            "MissingAuthenticationTokenException"
        );
        let unknown = SigV4Error::UnrecognizedAccessKey {
            access_key_id: "AKIA".into(),
        };
        assert_eq!(
            unknown.to_string(),
            "The security token included in the request is invalid."
        );
        assert_eq!(unknown.aws_error_type(), "UnrecognizedClientException");
        assert_eq!(
            SigV4Error::SignatureMismatch.aws_error_type(),
            "InvalidSignatureException"
        );
        assert!(SigV4Error::SignatureMismatch.to_string().starts_with(
            "The request signature we calculated does not match the signature you provided."
        ));
        assert_eq!(
            SigV4Error::HostNotSigned.aws_error_type(),
            "IncompleteSignatureException"
        );
        assert_eq!(SigV4Error::SignatureMismatch.http_status(), 403);
    }
}
