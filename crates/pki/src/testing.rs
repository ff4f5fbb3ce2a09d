//! Helpers for tests elsewhere in Roost (broker, API): names, validity windows and quick CAs.
//! Certificates with arbitrary subject fields and SANs come from
//! [`CertificateAuthority::issue_client_certificate`](crate::CertificateAuthority::issue_client_certificate).

use std::time::Duration;

use crate::authority::CertificateAuthority;
use crate::certificate::Validity;
use crate::error::PkiError;
use crate::name::{AttributeType, DistinguishedName, NameAttribute};

/// 2020-01-01T00:00:00Z, the start of [`validity`].
pub const NOT_BEFORE: i64 = 1_577_836_800;
/// 2050-01-01T00:00:00Z, the end of [`validity`].
pub const NOT_AFTER: i64 = 2_524_608_000;

/// A fixed window, 2020 to 2050, that contains any test's "now".
pub fn validity() -> Validity {
    Validity {
        not_before: NOT_BEFORE,
        not_after: NOT_AFTER,
    }
}

/// A window of `days` starting at `now` (Unix seconds).
pub fn validity_for_days(now: i64, days: u64) -> Validity {
    Validity::starting_at(now, Duration::from_secs(days * 86_400)).unwrap_or(Validity {
        not_before: now,
        not_after: now + 1,
    })
}

/// A name from `(type, value)` pairs, in order; repeat a type for several values.
pub fn name(attributes: &[(AttributeType, &str)]) -> DistinguishedName {
    DistinguishedName::from_attributes(
        attributes
            .iter()
            .map(|(kind, value)| NameAttribute {
                kind: kind.clone(),
                value: (*value).to_owned(),
            })
            .collect(),
    )
}

/// A new EC P-256 CA named `CN=<common_name>`, valid 2020 to 2050.
pub fn ca(common_name: &str) -> Result<CertificateAuthority, PkiError> {
    CertificateAuthority::generate(common_name, validity())
}

/// The PEM of a throwaway self-signed CA certificate named `CN=<common_name>`.
pub fn self_signed_pem(common_name: &str) -> Result<String, PkiError> {
    ca(common_name).map(|ca| ca.cert_pem().to_owned())
}
