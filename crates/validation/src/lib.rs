//! AWS's message for a request member outside its model's constraints, written once for the
//! registry, the control plane, shadows and rules: `1 validation error detected: Value '…' at '…' failed to
//! satisfy constraint: …`. Clients match on it, so its wording is AWS's, not ours.

use std::fmt;

/// The model constraint a member failed, worded as AWS words it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Constraint<'a> {
    /// A length in characters outside `min..=max`.
    LengthBetween(usize, usize),
    /// A length in characters below the minimum.
    LengthAtLeast(usize),
    /// A length in characters above the maximum.
    LengthAtMost(usize),
    /// A character outside the model's pattern (given as the model writes it).
    Pattern(&'a str),
    /// A number outside `min..=max`.
    ValueBetween(i64, i64),
    /// A number below the minimum.
    ValueAtLeast(i64),
    /// A number above the maximum.
    ValueAtMost(i64),
    /// A value that is none of the enum's, listed in the model's order.
    OneOf(&'a [&'a str]),
    /// A constraint AWS words in its own way (several at once, a type mismatch).
    Other(&'a str),
}

impl fmt::Display for Constraint<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::LengthBetween(min, max) => {
                write!(f, "Member must have length between {min} and {max}")
            }
            Self::LengthAtLeast(min) => {
                write!(f, "Member must have length greater than or equal to {min}")
            }
            Self::LengthAtMost(max) => {
                write!(f, "Member must have length less than or equal to {max}")
            }
            Self::Pattern(pattern) => {
                write!(
                    f,
                    "Member must satisfy regular expression pattern: {pattern}"
                )
            }
            Self::ValueBetween(min, max) => {
                write!(f, "Member must have value between {min} and {max}")
            }
            Self::ValueAtLeast(min) => {
                write!(f, "Member must have value greater than or equal to {min}")
            }
            Self::ValueAtMost(max) => {
                write!(f, "Member must have value less than or equal to {max}")
            }
            Self::OneOf(values) => {
                write!(
                    f,
                    "Member must satisfy enum value set: [{}]",
                    values.join(", ")
                )
            }
            Self::Other(text) => f.write_str(text),
        }
    }
}

/// The message for `value` at `field` failing `constraint`.
pub fn message(field: &str, value: impl fmt::Display, constraint: Constraint<'_>) -> String {
    format!(
        "1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: \
         {constraint}"
    )
}

/// The message for `field` failing `constraint`, without echoing the value (AWS leaves out
/// values that are too long to repeat, such as certificates and templates, or not a scalar).
pub fn message_without_value(field: &str, constraint: Constraint<'_>) -> String {
    format!(
        "1 validation error detected: Value at '{field}' failed to satisfy constraint: \
         {constraint}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_names_the_value_the_member_and_the_constraint() {
        assert_eq!(
            message(
                "thingName",
                "my thing",
                Constraint::Pattern("[a-zA-Z0-9:_-]+")
            ),
            "1 validation error detected: Value 'my thing' at 'thingName' failed to satisfy \
             constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9:_-]+"
        );
    }

    #[test]
    fn a_message_without_value_leaves_the_value_out() {
        assert_eq!(
            message_without_value("certificatePem", Constraint::LengthBetween(1, 65536)),
            "1 validation error detected: Value at 'certificatePem' failed to satisfy \
             constraint: Member must have length between 1 and 65536"
        );
    }

    #[test]
    fn each_constraint_is_worded_as_aws_words_it() {
        let cases = [
            (
                Constraint::LengthBetween(1, 128),
                "Member must have length between 1 and 128",
            ),
            (
                Constraint::LengthAtLeast(1),
                "Member must have length greater than or equal to 1",
            ),
            (
                Constraint::LengthAtMost(128),
                "Member must have length less than or equal to 128",
            ),
            (
                Constraint::Pattern("[0-9]+"),
                "Member must satisfy regular expression pattern: [0-9]+",
            ),
            (
                Constraint::ValueBetween(1, 250),
                "Member must have value between 1 and 250",
            ),
            (
                Constraint::ValueAtLeast(0),
                "Member must have value greater than or equal to 0",
            ),
            (
                Constraint::ValueAtMost(1),
                "Member must have value less than or equal to 1",
            ),
            (
                Constraint::OneOf(&["ERRORS", "RESULTS"]),
                "Member must satisfy enum value set: [ERRORS, RESULTS]",
            ),
            (Constraint::Other("anything else"), "anything else"),
        ];
        for (constraint, wording) in cases {
            assert_eq!(constraint.to_string(), wording);
        }
    }

    #[test]
    fn a_numeric_value_is_quoted_like_a_string() {
        assert_eq!(
            message("qos", 2, Constraint::ValueAtMost(1)),
            "1 validation error detected: Value '2' at 'qos' failed to satisfy constraint: \
             Member must have value less than or equal to 1"
        );
    }
}
