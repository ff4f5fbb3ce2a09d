//! The crate's one error type and the path that says where in a template an error is.

use std::fmt;

use crate::{MAX_EVALUATED_BYTES, MAX_TEMPLATE_CHARS};

/// Where in a template something is: keys joined by `.`, list positions as `[i]`, such as
/// `Resources.thing.Properties.ThingGroups[1]`. The empty path (the whole template) displays as
/// `template`.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FieldPath(String);

impl FieldPath {
    /// The path of the whole template.
    pub(crate) fn root() -> Self {
        Self::default()
    }

    /// This path extended by an object key.
    pub(crate) fn key(&self, key: &str) -> Self {
        let mut path = self.0.clone();
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(key);
        Self(path)
    }

    /// This path extended by a list position.
    pub(crate) fn index(&self, index: usize) -> Self {
        Self(format!("{}[{index}]", self.0))
    }

    /// The path as written in error messages, empty for the whole template.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            f.write_str("template")
        } else {
            f.write_str(&self.0)
        }
    }
}

/// Why a template was rejected at parse time or failed to evaluate. Every variant but the two
/// about the body as a whole names the path where the problem is, and its `Display` starts with
/// that path: the control plane returns it verbatim as `InvalidRequestException`'s message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TemplateError {
    /// The body is longer than [`MAX_TEMPLATE_CHARS`] characters.
    #[error("template body is {chars} characters long; the limit is {MAX_TEMPLATE_CHARS}")]
    TooLarge { chars: usize },

    /// The body is not JSON, or an object in it repeats a key. Line and column are 1-based.
    #[error("invalid JSON at line {line}, column {column}: {reason}")]
    InvalidJson {
        line: usize,
        column: usize,
        reason: String,
    },

    /// A value has the wrong JSON type for its position.
    #[error("{at}: expected {expected}, found {found}")]
    WrongType {
        at: FieldPath,
        expected: &'static str,
        found: &'static str,
    },

    /// A top-level key other than Parameters, Mappings, Conditions, Resources, DeviceConfiguration.
    #[error(
        "{at}: unknown top-level section (expected Parameters, Mappings, Conditions, Resources or DeviceConfiguration)"
    )]
    UnknownSection { at: FieldPath },

    /// A section the template must have is absent.
    #[error("{at}: missing required section")]
    MissingSection { at: FieldPath },

    /// A key that is not allowed in a parameter declaration or a resource declaration.
    #[error("{at}: unknown key (expected {expected})")]
    UnknownKey {
        at: FieldPath,
        expected: &'static str,
    },

    /// A parameter declaration or a resource declaration lacks a required key.
    #[error("{at}: missing required key {key}")]
    MissingKey { at: FieldPath, key: &'static str },

    /// A parameter `Type` other than String, Number, `List<String>` or CommaDelimitedList.
    #[error(
        "{at}: unknown parameter type \"{found}\" (expected String, Number, List<String> or CommaDelimitedList)"
    )]
    UnknownParameterType { at: FieldPath, found: String },

    /// A value declared or supplied for a Number parameter is not a number.
    #[error("{at}: \"{value}\" is not a number")]
    InvalidNumber { at: FieldPath, value: String },

    /// An object key that looks like an intrinsic function (`Fn::…`) names none we know.
    #[error("{at}: unknown function \"{name}\"")]
    UnknownFunction { at: FieldPath, name: String },

    /// An intrinsic function was given the wrong number of arguments.
    #[error("{at}: {function} takes {}, found {found}", arity(*min, *max))]
    WrongArity {
        at: FieldPath,
        function: &'static str,
        min: usize,
        max: usize,
        found: usize,
    },

    /// An intrinsic function's argument has the wrong shape; `reason` completes the sentence
    /// that starts with the function's name.
    #[error("{at}: {function} {reason}")]
    InvalidArgument {
        at: FieldPath,
        function: &'static str,
        reason: &'static str,
    },

    /// `Fn::Equals`, `Fn::And`, `Fn::Or` or `Fn::Not` where a value is expected.
    #[error(
        "{at}: {function} is a condition function, allowed only in Conditions and inside other condition functions"
    )]
    ConditionFunctionAsValue {
        at: FieldPath,
        function: &'static str,
    },

    /// Something other than a condition function where a condition is expected.
    #[error(
        "{at}: expected a condition (Fn::Equals, Fn::And, Fn::Or, Fn::Not or {{\"Condition\": name}})"
    )]
    NotACondition { at: FieldPath },

    /// `Ref` (or a `${Name}` in `Fn::Sub`) names a parameter the template does not declare.
    #[error("{at}: Ref to undefined parameter \"{name}\"")]
    UndefinedParameter { at: FieldPath, name: String },

    /// A `${Name}` in `Fn::Sub` is neither in its variable map nor a declared parameter.
    #[error(
        "{at}: Fn::Sub variable \"{name}\" is neither in the variable map nor a declared parameter"
    )]
    UndefinedSubVariable { at: FieldPath, name: String },

    /// A `${Name}` in `Fn::Sub` names a list parameter, which cannot be substituted into a string.
    #[error(
        "{at}: Fn::Sub variable \"{name}\" is a list parameter; only strings can be substituted"
    )]
    SubVariableIsList { at: FieldPath, name: String },

    /// A condition name (in `Condition`, `Fn::If` or a resource's `Condition`) is not declared.
    #[error("{at}: undefined condition \"{name}\"")]
    UndefinedCondition { at: FieldPath, name: String },

    /// A condition refers, directly or through others, to itself.
    #[error("{at}: condition \"{name}\" refers to itself")]
    ConditionCycle { at: FieldPath, name: String },

    /// `Fn::FindInMap` names a mapping the template does not declare.
    #[error("{at}: Fn::FindInMap on undefined mapping \"{name}\"")]
    UndefinedMapping { at: FieldPath, name: String },

    /// `Fn::FindInMap` looks up a key its mapping lacks (`map` is `Name` or `Name.TopKey`).
    #[error("{at}: mapping \"{map}\" has no key \"{key}\"")]
    MissingMappingKey {
        at: FieldPath,
        map: String,
        key: String,
    },

    /// A resource `Type` other than `AWS::IoT::Thing`, `AWS::IoT::Certificate`, `AWS::IoT::Policy`.
    #[error(
        "{at}: unknown resource type \"{found}\" (expected AWS::IoT::Thing, AWS::IoT::Certificate or AWS::IoT::Policy)"
    )]
    UnknownResourceType { at: FieldPath, found: String },

    /// A property its resource type does not have.
    #[error("{at}: unknown property of {resource_type} (expected {expected})")]
    UnknownProperty {
        at: FieldPath,
        resource_type: &'static str,
        expected: &'static str,
    },

    /// A resource lacks a required property.
    #[error("{at}: missing required property {property}")]
    MissingProperty {
        at: FieldPath,
        property: &'static str,
    },

    /// Two properties (or override settings) that exclude each other are both present.
    #[error("{at}: {first} and {second} cannot both be given")]
    ConflictingProperties {
        at: FieldPath,
        first: &'static str,
        second: &'static str,
    },

    /// `CACertificatePem` without the `CertificatePem` it qualifies.
    #[error("{at}: CACertificatePem is only allowed together with CertificatePem")]
    CaPemWithoutPem { at: FieldPath },

    /// A second Thing or Certificate resource; a template may have at most one of each.
    #[error(
        "{at}: a template may declare only one {resource_type}, and \"{first}\" already is one"
    )]
    DuplicateResource {
        at: FieldPath,
        resource_type: &'static str,
        first: String,
    },

    /// An `OverrideSettings` key its resource type does not support.
    #[error("{at}: not an override setting of {resource_type} (expected {expected})")]
    UnknownOverrideSetting {
        at: FieldPath,
        resource_type: &'static str,
        expected: &'static str,
    },

    /// An override action other than DO_NOTHING, REPLACE, FAIL or MERGE.
    #[error(
        "{at}: invalid override action \"{found}\" (expected DO_NOTHING, REPLACE, FAIL or MERGE)"
    )]
    InvalidOverrideAction { at: FieldPath, found: String },

    /// MERGE on a setting other than the thing's AttributePayload or ThingGroups.
    #[error("{at}: MERGE is allowed only for AttributePayload and ThingGroups")]
    MergeNotAllowed { at: FieldPath },

    /// `OverrideSettings` on a resource type that takes none (policies).
    #[error("{at}: {resource_type} does not support OverrideSettings")]
    OverridesNotSupported {
        at: FieldPath,
        resource_type: &'static str,
    },

    /// A certificate `Status` other than ACTIVE or INACTIVE (compared case-insensitively).
    #[error("{at}: invalid certificate status \"{found}\" (expected ACTIVE or INACTIVE)")]
    InvalidStatus { at: FieldPath, found: String },

    /// A `PolicyDocument` that is not a JSON object.
    #[error("{at}: invalid PolicyDocument: {reason}")]
    InvalidPolicyDocument { at: FieldPath, reason: String },

    /// Evaluation: a declared parameter has no supplied value and no `Default`.
    #[error("{at}: no value supplied for parameter \"{name}\" and it has no Default")]
    MissingParameter { at: FieldPath, name: String },

    /// Evaluation: an `Fn::Select` index that is not a non-negative integer.
    #[error("{at}: Fn::Select index \"{found}\" is not a non-negative integer")]
    InvalidIndex { at: FieldPath, found: String },

    /// Evaluation: an `Fn::Select` index past the end of its list.
    #[error("{at}: Fn::Select index {index} is out of bounds for a list of {len}")]
    IndexOutOfBounds {
        at: FieldPath,
        index: usize,
        len: usize,
    },

    /// Evaluation would build more than [`MAX_EVALUATED_BYTES`] of strings in total.
    #[error("{at}: evaluation would produce more than {MAX_EVALUATED_BYTES} bytes")]
    OutputTooLarge { at: FieldPath },
}

/// "2 arguments", "1 argument", "2 to 10 arguments".
fn arity(min: usize, max: usize) -> String {
    match (min, max) {
        (1, 1) => "1 argument".to_owned(),
        (min, max) if min == max => format!("{min} arguments"),
        (min, max) => format!("{min} to {max} arguments"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_join_keys_with_dots_and_lists_with_brackets() {
        let path = FieldPath::root()
            .key("Resources")
            .key("thing")
            .key("Properties")
            .key("ThingGroups")
            .index(1);
        assert_eq!(
            path.to_string(),
            "Resources.thing.Properties.ThingGroups[1]"
        );
    }

    #[test]
    fn the_root_path_displays_as_template() {
        assert_eq!(FieldPath::root().to_string(), "template");
        assert_eq!(FieldPath::root().as_str(), "");
    }

    #[test]
    fn arity_messages_read_naturally() {
        assert_eq!(arity(1, 1), "1 argument");
        assert_eq!(arity(3, 3), "3 arguments");
        assert_eq!(arity(2, 10), "2 to 10 arguments");
    }
}
