//! Thing and shadow names, validated against the iot-data model's `ThingName` and `ShadowName`.

use std::fmt;

use roost_validation::Constraint;
use serde::Serialize;

use crate::error::ShadowError;

/// The longest thing name, in characters (model `ThingName`: 1–128, `[a-zA-Z0-9:_-]+`).
pub const MAX_THING_NAME_CHARS: usize = 128;

/// The longest shadow name, in characters (model `ShadowName`: 1–64, `[$a-zA-Z0-9:_-]+`).
pub const MAX_SHADOW_NAME_CHARS: usize = 64;

/// Which rule of the model a name breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NameViolation {
    /// The name is empty; both models require at least one character.
    Empty,
    /// The name is longer than `max` characters.
    TooLong { max: usize },
    /// The name holds a character outside the model's pattern (which also excludes `/`, so a
    /// name can never split a topic level).
    InvalidCharacter,
}

impl NameViolation {
    /// AWS's validation message for `name` at `field`, whose model pattern is `pattern`.
    pub(crate) fn message(self, field: &str, name: &str, pattern: &str) -> String {
        let constraint = match self {
            Self::Empty => Constraint::LengthAtLeast(1),
            Self::TooLong { max } => Constraint::LengthAtMost(max),
            Self::InvalidCharacter => Constraint::Pattern(pattern),
        };
        roost_validation::message(field, name, constraint)
    }
}

/// The model's pattern for thing names, quoted in error messages.
pub(crate) const THING_NAME_PATTERN: &str = "[a-zA-Z0-9:_-]+";

/// The model's pattern for shadow names, quoted in error messages.
pub(crate) const SHADOW_NAME_PATTERN: &str = "[$a-zA-Z0-9:_-]+";

fn thing_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, ':' | '_' | '-')
}

fn shadow_name_char(c: char) -> bool {
    thing_name_char(c) || c == '$'
}

fn check(value: &str, max: usize, allowed: fn(char) -> bool) -> Result<(), NameViolation> {
    if value.is_empty() {
        Err(NameViolation::Empty)
    } else if value.chars().count() > max {
        Err(NameViolation::TooLong { max })
    } else if !value.chars().all(allowed) {
        Err(NameViolation::InvalidCharacter)
    } else {
        Ok(())
    }
}

/// A thing name as a shadow is keyed by. The shadow service does not check that the thing is
/// registered: any valid name has shadows.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct ThingName(String);

impl ThingName {
    /// Validates `value`: 1–128 characters of `[a-zA-Z0-9:_-]`.
    pub fn new(value: &str) -> Result<Self, ShadowError> {
        check(value, MAX_THING_NAME_CHARS, thing_name_char)
            .map(|()| Self(value.to_owned()))
            .map_err(|violation| ShadowError::InvalidThingName {
                name: value.to_owned(),
                violation,
            })
    }

    /// The name as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ThingName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for ThingName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// The name of a named shadow; the classic shadow has none (`Option<ShadowName>` is `None`).
///
/// Names starting with `$` are allowed: the model allows them, and AWS itself creates such
/// shadows (the Software Package Catalog's `$package`) for devices to read and write.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct ShadowName(String);

impl ShadowName {
    /// Validates `value`: 1–64 characters of `[$a-zA-Z0-9:_-]`.
    pub fn new(value: &str) -> Result<Self, ShadowError> {
        check(value, MAX_SHADOW_NAME_CHARS, shadow_name_char)
            .map(|()| Self(value.to_owned()))
            .map_err(|violation| ShadowError::InvalidShadowName {
                name: value.to_owned(),
                violation,
            })
    }

    /// The name as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ShadowName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for ShadowName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thing_names_allow_letters_digits_colons_underscores_and_dashes() {
        assert_eq!(
            ThingName::new("my:Thing_1-a").unwrap().as_str(),
            "my:Thing_1-a"
        );
    }

    #[test]
    fn thing_names_refuse_dollar_slash_space_and_non_ascii() {
        for bad in ["$thing", "a/b", "a b", "caf\u{e9}", "a+b", "a#b"] {
            let err = ThingName::new(bad).unwrap_err();
            assert_eq!(
                err,
                ShadowError::InvalidThingName {
                    name: bad.to_owned(),
                    violation: NameViolation::InvalidCharacter
                },
                "{bad}"
            );
        }
    }

    #[test]
    fn thing_names_are_between_one_and_128_characters() {
        assert!(ThingName::new(&"a".repeat(128)).is_ok());
        assert!(matches!(
            ThingName::new(&"a".repeat(129)),
            Err(ShadowError::InvalidThingName {
                violation: NameViolation::TooLong { max: 128 },
                ..
            })
        ));
        assert!(matches!(
            ThingName::new(""),
            Err(ShadowError::InvalidThingName {
                violation: NameViolation::Empty,
                ..
            })
        ));
    }

    #[test]
    fn shadow_names_allow_a_dollar_but_not_a_slash() {
        assert!(ShadowName::new("$package").is_ok());
        assert!(ShadowName::new("fw:v2_main-1").is_ok());
        assert!(matches!(
            ShadowName::new("a/b"),
            Err(ShadowError::InvalidShadowName {
                violation: NameViolation::InvalidCharacter,
                ..
            })
        ));
    }

    #[test]
    fn shadow_names_are_between_one_and_64_characters() {
        assert!(ShadowName::new(&"s".repeat(64)).is_ok());
        assert!(matches!(
            ShadowName::new(&"s".repeat(65)),
            Err(ShadowError::InvalidShadowName {
                violation: NameViolation::TooLong { max: 64 },
                ..
            })
        ));
        assert!(ShadowName::new("").is_err());
    }

    #[test]
    fn an_invalid_name_reads_like_aws_request_validation() {
        let err = ThingName::new("my thing").unwrap_err();
        assert_eq!(
            err.to_string(),
            "1 validation error detected: Value 'my thing' at 'thingName' failed to satisfy \
             constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9:_-]+"
        );
        let err = ShadowName::new(&"s".repeat(65)).unwrap_err();
        assert!(err.to_string().ends_with(
            "at 'shadowName' failed to satisfy constraint: Member must have length less than or equal to 64"
        ));
    }
}
