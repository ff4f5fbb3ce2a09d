//! Input constraints from the AWS IoT API model, checked wherever a value enters the registry
//! (API calls and provisioning alike), with AWS's own validation message so that callers see
//! the same text as from AWS.

use crate::error::RegistryError;

/// A string constraint from the botocore model: length bounds and an allowed alphabet.
#[derive(Debug, Clone, Copy)]
pub struct Constraint {
    min: usize,
    max: usize,
    allowed: fn(char) -> bool,
    /// The model's regular expression, quoted in error messages.
    pattern: &'static str,
}

impl Constraint {
    /// Checks `value` of the API member `field`.
    pub fn check(&self, field: &str, value: &str) -> Result<(), RegistryError> {
        let len = value.chars().count();
        let failure = if len < self.min {
            roost_validation::Constraint::LengthAtLeast(self.min)
        } else if len > self.max {
            roost_validation::Constraint::LengthAtMost(self.max)
        } else if !value.chars().all(self.allowed) {
            roost_validation::Constraint::Pattern(self.pattern)
        } else {
            return Ok(());
        };
        Err(RegistryError::constraint(field, value, failure))
    }
}

fn resource_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, ':' | '_' | '-')
}

/// Thing, thing type, thing group and billing group names.
pub const RESOURCE_NAME: Constraint = Constraint {
    min: 1,
    max: 128,
    allowed: resource_name_char,
    pattern: "[a-zA-Z0-9:_-]+",
};

/// Policy names.
pub const POLICY_NAME: Constraint = Constraint {
    min: 1,
    max: 128,
    allowed: |c| c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '=' | ',' | '.' | '@' | '-'),
    pattern: "[\\w+=,.@-]+",
};

/// Thing attribute names.
pub const ATTRIBUTE_NAME: Constraint = Constraint {
    min: 1,
    max: 128,
    allowed: |c| {
        c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ',' | '@' | '/' | ':' | '#' | '-')
    },
    pattern: "[a-zA-Z0-9_.,@/:#-]+",
};

/// Thing attribute values (may be empty: an empty value removes the attribute on update).
pub const ATTRIBUTE_VALUE: Constraint = Constraint {
    min: 0,
    max: 800,
    allowed: |c| {
        c.is_ascii_alphanumeric()
            || matches!(
                c,
                '_' | '.' | ',' | '@' | '/' | ':' | '#' | '=' | '[' | ']' | '-'
            )
    },
    pattern: "[a-zA-Z0-9_.,@/:#=\\[\\]-]*",
};

/// Descriptions of thing types, thing groups and billing groups.
pub const DESCRIPTION: Constraint = Constraint {
    min: 0,
    max: 2028,
    allowed: |c| c == ' ' || !(c.is_control() || c.is_whitespace()),
    pattern: "[\\p{Graph}\\x20]*",
};

/// Tag keys.
pub const TAG_KEY: Constraint = Constraint {
    min: 1,
    max: 128,
    allowed: |c| {
        // \p{Z} is the separators (spaces), not every whitespace: tabs and newlines are
        // control characters and are refused.
        c.is_alphanumeric()
            || (c.is_whitespace() && !c.is_control())
            || matches!(c, '_' | '.' | ':' | '/' | '=' | '+' | '-' | '@')
    },
    pattern: "^([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*)$",
};

/// Tag values.
pub const TAG_VALUE: Constraint = Constraint {
    min: 0,
    max: 256,
    // The model has no pattern, but no backend stores a NUL in text (PostgreSQL refuses it).
    allowed: |c| c != '\0',
    pattern: "[^\\x00]*",
};

/// Provisioning template names.
pub const TEMPLATE_NAME: Constraint = Constraint {
    min: 1,
    max: 36,
    allowed: |c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'),
    pattern: "^[0-9A-Za-z_-]+$",
};

/// IAM role ARNs (stored and echoed; Roost has no IAM).
pub const ROLE_ARN: Constraint = Constraint {
    min: 20,
    max: 2048,
    allowed: |c| !c.is_control(),
    pattern: ".*",
};

/// A certificate id: the lowercase hex SHA-256 of the certificate's DER (AWS's certificateId).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CertificateId(String);

impl CertificateId {
    /// Parses an id as the API accepts it: 64 hex digits, optionally `0x`-prefixed, any case.
    pub fn parse(field: &str, value: &str) -> Result<Self, RegistryError> {
        let digits = value.strip_prefix("0x").unwrap_or(value);
        if digits.len() == 64 && digits.chars().all(|c| c.is_ascii_hexdigit()) {
            Ok(Self(digits.to_ascii_lowercase()))
        } else {
            Err(RegistryError::constraint(
                field,
                value,
                roost_validation::Constraint::Other(
                    "Member must have length 64 and satisfy regular expression pattern: \
                     (0x)?[a-fA-F0-9]+",
                ),
            ))
        }
    }

    /// Wraps an id computed by us (from a fingerprint), already in canonical form.
    pub fn from_fingerprint(hex_sha256: String) -> Self {
        Self(hex_sha256)
    }

    /// The canonical lowercase hex form.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for CertificateId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thing_names_allow_colons_and_dashes_but_not_spaces() {
        assert!(RESOURCE_NAME.check("thingName", "my:thing-1_a").is_ok());
        let err = RESOURCE_NAME.check("thingName", "my thing").unwrap_err();
        assert_eq!(
            err.to_string(),
            "1 validation error detected: Value 'my thing' at 'thingName' failed to satisfy \
             constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9:_-]+"
        );
    }

    #[test]
    fn names_longer_than_the_model_allows_are_refused() {
        let long = "a".repeat(129);
        let err = RESOURCE_NAME.check("thingName", &long).unwrap_err();
        assert!(err.to_string().contains("length less than or equal to 128"));
        assert!(RESOURCE_NAME.check("thingName", "").is_err());
    }

    #[test]
    fn policy_names_allow_the_word_class_and_punctuation() {
        assert!(
            POLICY_NAME
                .check("policyName", "Pub+Sub=1,a.b@c-d_e")
                .is_ok()
        );
        assert!(POLICY_NAME.check("policyName", "a/b").is_err());
    }

    #[test]
    fn certificate_ids_are_normalised_to_lowercase_without_prefix() {
        let upper = "AB".repeat(32);
        let id = CertificateId::parse("certificateId", &format!("0x{upper}")).unwrap();
        assert_eq!(id.as_str(), "ab".repeat(32));
        assert!(CertificateId::parse("certificateId", "abc").is_err());
        assert!(CertificateId::parse("certificateId", &"g".repeat(64)).is_err());
    }
}
