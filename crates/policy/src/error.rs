//! Why a policy document was refused, and where in it.

use std::fmt;

/// A policy document the control plane must refuse with `MalformedPolicyException`.
///
/// `Display` is the exception's message: it names the place in the document and what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// The text is not JSON (or repeats a key in one object).
    #[error("Policy document is malformed: invalid JSON at line {line} column {column}: {message}")]
    InvalidJson {
        /// 1-based line of the problem.
        line: usize,
        /// 1-based column of the problem.
        column: usize,
        /// What the JSON parser found.
        message: String,
    },
    /// The document is longer than AWS allows.
    #[error(
        "Policy document is malformed: the document has {length} characters excluding \
         whitespace, more than the maximum of {max}"
    )]
    TooLong {
        /// Characters in the document, whitespace excluded.
        length: usize,
        /// The limit ([`crate::PolicyDocument::MAX_LENGTH`]).
        max: usize,
    },
    /// The JSON is well formed but one of its elements breaks the policy grammar.
    #[error("Policy document is malformed: {path}{}{problem}", problem.separator())]
    Invalid {
        /// Where the problem is, e.g. `Statement[1].Effect`.
        path: JsonPath,
        /// What is wrong there.
        problem: Problem,
    },
}

/// What is wrong with one element of a policy document.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Problem {
    /// The element has the wrong JSON type.
    WrongType {
        /// What the grammar wants, e.g. `"a string or an array of strings"`.
        expected: &'static str,
        /// What the document has, e.g. `"a number"`.
        found: &'static str,
    },
    /// A required key is absent.
    MissingKey {
        /// The key, e.g. `Effect`.
        key: &'static str,
    },
    /// A key the grammar does not know.
    UnknownKey {
        /// The key as written.
        key: String,
    },
    /// Both of two mutually exclusive keys are present.
    ExclusiveKeys {
        /// E.g. `Action`.
        first: &'static str,
        /// E.g. `NotAction`.
        second: &'static str,
    },
    /// Neither of two alternative keys is present.
    MissingOneOf {
        /// E.g. `Resource`.
        first: &'static str,
        /// E.g. `NotResource`.
        second: &'static str,
    },
    /// A list that must hold at least one item is empty.
    EmptyList,
    /// A string that must not be empty is empty.
    EmptyString,
    /// `Version` is not one IAM knows.
    UnsupportedVersion {
        /// The version as written.
        found: String,
    },
    /// `Effect` is not exactly `Allow` or `Deny`.
    InvalidEffect {
        /// The effect as written.
        found: String,
    },
    /// An action is not `*` or `service:Name`.
    InvalidAction {
        /// The action as written.
        found: String,
    },
    /// An action names a service other than `iot`.
    UnsupportedService {
        /// The service prefix as written.
        service: String,
    },
    /// A resource is neither `*` nor an ARN.
    InvalidResource {
        /// The resource as written.
        found: String,
    },
    /// A resource ARN names a service other than `iot`.
    UnsupportedResourceService {
        /// The ARN's service component.
        service: String,
    },
    /// A resource ARN names a resource type AWS IoT does not have.
    UnknownResourceType {
        /// The type as written, e.g. `topics`.
        resource_type: String,
    },
    /// `${...}` names a variable this server does not know.
    UnknownVariable {
        /// The text between `${` and `}`.
        name: String,
    },
    /// `${` without its closing `}`.
    UnterminatedVariable {
        /// 1-based character position of the `$` in the string.
        position: usize,
    },
    /// A multi-valued key (`….List`, `iot:ConnectAttributes`) used as `${...}`.
    MultiValuedVariable {
        /// The variable name.
        name: String,
    },
    /// A control character, which can never appear in a resource or a pattern.
    ControlCharacter {
        /// Its code point.
        code: u32,
    },
    /// A condition operator IAM does not define (or a combination it forbids).
    UnknownOperator {
        /// The operator as written.
        operator: String,
    },
    /// A condition key this server does not know.
    UnknownConditionKey {
        /// The key as written.
        key: String,
    },
    /// A condition value the operator cannot use.
    InvalidConditionValue {
        /// The operator, e.g. `NumericLessThan`.
        operator: String,
        /// What the operator needs, e.g. `"a number"`.
        expected: &'static str,
        /// The value as written.
        found: String,
    },
}

impl Problem {
    /// Problems phrased as a predicate read "`<path> must be …`", the others "`<path>: …`".
    fn separator(&self) -> &'static str {
        match self {
            Self::WrongType { .. }
            | Self::MissingKey { .. }
            | Self::UnknownKey { .. }
            | Self::ExclusiveKeys { .. }
            | Self::MissingOneOf { .. }
            | Self::EmptyList
            | Self::EmptyString
            | Self::UnsupportedVersion { .. }
            | Self::InvalidEffect { .. }
            | Self::InvalidAction { .. }
            | Self::InvalidResource { .. } => " ",
            _ => ": ",
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::WrongType { expected, found } => write!(f, "must be {expected}, found {found}"),
            Self::MissingKey { key } => write!(f, "is missing \"{key}\""),
            Self::UnknownKey { key } => write!(f, "has unknown key \"{key}\""),
            Self::ExclusiveKeys { first, second } => {
                write!(f, "has both \"{first}\" and \"{second}\"; use exactly one")
            }
            Self::MissingOneOf { first, second } => {
                write!(f, "must have \"{first}\" or \"{second}\"")
            }
            Self::EmptyList => f.write_str("must not be an empty list"),
            Self::EmptyString => f.write_str("must not be empty"),
            Self::UnsupportedVersion { found } => {
                write!(
                    f,
                    "must be \"2012-10-17\" or \"2008-10-17\", found \"{found}\""
                )
            }
            Self::InvalidEffect { found } => {
                write!(f, "must be \"Allow\" or \"Deny\", found \"{found}\"")
            }
            Self::InvalidAction { found } => write!(
                f,
                "must be \"*\" or \"iot:<ActionName>\" (letters, digits, \"*\" and \"?\"), \
                 found \"{found}\""
            ),
            Self::UnsupportedService { service } => write!(
                f,
                "action service \"{service}\" is not allowed; AWS IoT policies only grant \
                 \"iot:\" actions"
            ),
            Self::InvalidResource { found } => write!(
                f,
                "must be \"*\" or an ARN like \"arn:aws:iot:<region>:<account>:<type>/<name>\", \
                 found \"{found}\""
            ),
            Self::UnsupportedResourceService { service } => write!(
                f,
                "resource service \"{service}\" is not allowed; AWS IoT policies only name \
                 \"iot\" resources"
            ),
            Self::UnknownResourceType { resource_type } => write!(
                f,
                "unknown resource type \"{resource_type}\" (expected client, topic, topicfilter, \
                 thing, rolealias, …)"
            ),
            Self::UnknownVariable { name } => write!(f, "unknown policy variable ${{{name}}}"),
            Self::UnterminatedVariable { position } => {
                write!(f, "\"${{\" at character {position} has no closing \"}}\"")
            }
            Self::MultiValuedVariable { name } => write!(
                f,
                "policy variable ${{{name}}} has several values; use it as a condition key with \
                 ForAllValues: or ForAnyValue: instead"
            ),
            Self::ControlCharacter { code } => {
                write!(f, "control character U+{code:04X} is not allowed")
            }
            Self::UnknownOperator { operator } => {
                write!(f, "unknown condition operator \"{operator}\"")
            }
            Self::UnknownConditionKey { key } => write!(f, "unknown condition key \"{key}\""),
            Self::InvalidConditionValue {
                operator,
                expected,
                found,
            } => write!(f, "{operator} needs {expected}, found \"{found}\""),
        }
    }
}

/// A location in a policy document, e.g. `Statement[1].Condition.StringEquals.iot:ClientId[0]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JsonPath(Vec<Segment>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Key(String),
    Index(usize),
}

impl JsonPath {
    /// The document itself.
    pub fn root() -> Self {
        Self(Vec::new())
    }

    /// This path extended by an object key.
    pub fn key(&self, key: &str) -> Self {
        let mut segments = self.0.clone();
        segments.push(Segment::Key(key.to_owned()));
        Self(segments)
    }

    /// This path extended by an array index (0-based).
    pub fn index(&self, index: usize) -> Self {
        let mut segments = self.0.clone();
        segments.push(Segment::Index(index));
        Self(segments)
    }

    /// Attaches a problem to this place.
    pub(crate) fn error(&self, problem: Problem) -> PolicyError {
        PolicyError::Invalid {
            path: self.clone(),
            problem,
        }
    }
}

impl fmt::Display for JsonPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("the document");
        }
        for (i, segment) in self.0.iter().enumerate() {
            match segment {
                Segment::Key(key) if i == 0 => f.write_str(key)?,
                Segment::Key(key) => write!(f, ".{key}")?,
                Segment::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_reads_like_the_document_structure() {
        let path = JsonPath::root().key("Statement").index(1).key("Effect");
        assert_eq!(path.to_string(), "Statement[1].Effect");
        assert_eq!(JsonPath::root().to_string(), "the document");
    }

    #[test]
    fn predicate_problems_follow_the_path_without_a_colon() {
        let error = JsonPath::root()
            .key("Statement")
            .index(1)
            .key("Effect")
            .error(Problem::InvalidEffect {
                found: "allow".into(),
            });
        assert_eq!(
            error.to_string(),
            "Policy document is malformed: Statement[1].Effect must be \"Allow\" or \"Deny\", \
             found \"allow\""
        );
    }

    #[test]
    fn other_problems_follow_the_path_after_a_colon() {
        let error = JsonPath::root()
            .key("Statement")
            .index(0)
            .key("Resource")
            .index(2)
            .error(Problem::UnknownVariable {
                name: "iot:Connection.Thing.Foo".into(),
            });
        assert_eq!(
            error.to_string(),
            "Policy document is malformed: Statement[0].Resource[2]: unknown policy variable \
             ${iot:Connection.Thing.Foo}"
        );
    }
}
