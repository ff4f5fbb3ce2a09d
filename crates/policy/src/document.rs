//! Policy documents: parsing and validation of the IAM-style JSON grammar.

use std::str::FromStr;

use crate::action::{Action, ActionSet};
use crate::condition::{self, Condition};
use crate::error::{JsonPath, PolicyError, Problem};
use crate::json::Node;
use crate::pattern::{Glob, MULTI, SINGLE, Template, VARIABLE_MARK, Wildcards, is_dynamic};

/// A validated AWS IoT policy document.
///
/// Parsing checks everything that can be checked without a connection: the grammar, action and
/// resource syntax, variable names, condition operators, keys and values. Evaluation happens
/// through [`crate::PolicySet`].
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyDocument {
    version: Option<PolicyVersion>,
    statements: Vec<Statement>,
}

/// The policy language version named by `Version`.
///
/// Both versions substitute policy variables here; IAM treats them as literal text under
/// `2008-10-17`, but AWS IoT does not document that, and literal `${iot:ClientId}` text could
/// only ever match by accident.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyVersion {
    /// `2012-10-17`, the current version.
    V2012_10_17,
    /// `2008-10-17`, the original version.
    V2008_10_17,
}

/// Whether a statement grants or refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Grants, unless a matching Deny exists.
    Allow,
    /// Refuses, whatever else allows.
    Deny,
}

/// One statement of a document.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    sid: Option<String>,
    effect: Effect,
    actions: ActionSet,
    pub(crate) resources: Resources,
    pub(crate) conditions: Vec<Condition>,
}

/// A statement's `Resource` or `NotResource` list.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Resources {
    /// `NotResource`: the statement applies to resources matching none of the patterns.
    pub(crate) negated: bool,
    pub(crate) patterns: Vec<Template>,
}

impl PolicyDocument {
    /// Longest document AWS accepts, in characters, whitespace excluded.
    pub const MAX_LENGTH: usize = 2048;

    /// Parses and validates a policy document.
    pub fn parse(text: &str) -> Result<Self, PolicyError> {
        let length = text.chars().filter(|c| !c.is_whitespace()).count();
        if length > Self::MAX_LENGTH {
            return Err(PolicyError::TooLong {
                length,
                max: Self::MAX_LENGTH,
            });
        }
        let root = JsonPath::root();
        let node = Node::parse(text)?;
        let entries = object(&node, &root)?;
        check_keys(entries, &root, &["Version", "Id", "Statement"])?;

        let version = match field(entries, "Version") {
            None => None,
            Some(node) => Some(parse_version(node, &root.key("Version"))?),
        };
        if let Some(id) = field(entries, "Id") {
            string(id, &root.key("Id"))?;
        }
        let statements_path = root.key("Statement");
        let statements = match field(entries, "Statement") {
            None => return Err(root.error(Problem::MissingKey { key: "Statement" })),
            Some(Node::Array(items)) if items.is_empty() => {
                return Err(statements_path.error(Problem::EmptyList));
            }
            Some(Node::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, item)| Statement::parse(item, &statements_path.index(i)))
                .collect::<Result<_, _>>()?,
            Some(node @ Node::Object(_)) => vec![Statement::parse(node, &statements_path)?],
            Some(node) => {
                return Err(statements_path.error(Problem::WrongType {
                    expected: "an object or an array of objects",
                    found: node.kind(),
                }));
            }
        };
        Ok(Self {
            version,
            statements,
        })
    }

    /// The declared `Version`, if any (AWS accepts documents without one).
    pub fn version(&self) -> Option<PolicyVersion> {
        self.version
    }

    /// The statements in document order; [`crate::Decision`] indexes into this.
    pub fn statements(&self) -> &[Statement] {
        &self.statements
    }
}

impl FromStr for PolicyDocument {
    type Err = PolicyError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl Statement {
    fn parse(node: &Node, path: &JsonPath) -> Result<Self, PolicyError> {
        let entries = object(node, path)?;
        check_keys(
            entries,
            path,
            &[
                "Sid",
                "Effect",
                "Action",
                "NotAction",
                "Resource",
                "NotResource",
                "Condition",
            ],
        )?;
        let sid = field(entries, "Sid")
            .map(|sid| string(sid, &path.key("Sid")).map(str::to_owned))
            .transpose()?;
        let effect = match field(entries, "Effect") {
            None => return Err(path.error(Problem::MissingKey { key: "Effect" })),
            Some(node) => {
                let effect_path = path.key("Effect");
                match string(node, &effect_path)? {
                    "Allow" => Effect::Allow,
                    "Deny" => Effect::Deny,
                    other => {
                        return Err(effect_path.error(Problem::InvalidEffect {
                            found: other.to_owned(),
                        }));
                    }
                }
            }
        };
        let (key, negated, node) = exactly_one(entries, path, "Action", "NotAction")?;
        let mut actions = ActionSet::EMPTY;
        for (item_path, pattern) in string_list(node, &path.key(key))? {
            actions = actions.union(
                ActionSet::from_pattern(pattern).map_err(|problem| item_path.error(problem))?,
            );
        }
        if negated {
            actions = actions.complement();
        }
        let (key, negated, node) = exactly_one(entries, path, "Resource", "NotResource")?;
        let patterns = string_list(node, &path.key(key))?
            .into_iter()
            .map(|(item_path, raw)| parse_resource(raw).map_err(|problem| item_path.error(problem)))
            .collect::<Result<_, _>>()?;
        let conditions = match field(entries, "Condition") {
            None => Vec::new(),
            Some(node) => condition::parse_block(node, &path.key("Condition"))?,
        };
        Ok(Self {
            sid,
            effect,
            actions,
            resources: Resources { negated, patterns },
            conditions,
        })
    }

    /// The statement's `Sid`, if it has one.
    pub fn sid(&self) -> Option<&str> {
        self.sid.as_deref()
    }

    /// Allow or Deny.
    pub fn effect(&self) -> Effect {
        self.effect
    }

    /// Whether `Action`/`NotAction` covers `action` (resources and conditions aside).
    pub fn covers(&self, action: Action) -> bool {
        self.actions.contains(action)
    }

    pub(crate) fn actions(&self) -> ActionSet {
        self.actions
    }
}

/// Resource types AWS IoT ARNs use (IAM's list for the `iot` service).
const RESOURCE_TYPES: &[&str] = &[
    "authorizer",
    "billinggroup",
    "cacert",
    "cert",
    "certificateprovider",
    "client",
    "command",
    "custommetric",
    "destination",
    "dimension",
    "domainconfiguration",
    "encryptionconfiguration",
    "fleetmetric",
    "index",
    "job",
    "jobtemplate",
    "mitigationaction",
    "otaupdate",
    "package",
    "policy",
    "provisioningtemplate",
    "rolealias",
    "rule",
    "scheduledaudit",
    "securityprofile",
    "stream",
    "thing",
    "thinggroup",
    "thingtype",
    "topic",
    "topicfilter",
    "tunnel",
];

/// Parses one `Resource` entry: `*` or an `iot` ARN, each part possibly with wildcards and
/// variables.
fn parse_resource(raw: &str) -> Result<Template, Problem> {
    let template = Template::parse(raw, Wildcards::Match)?;
    let shape = template.shape();
    if !shape.is_empty() && shape.chars().all(|c| c == MULTI) {
        return Ok(template);
    }
    let invalid = || Problem::InvalidResource {
        found: raw.to_owned(),
    };
    let rest = shape.strip_prefix("arn:").ok_or_else(invalid)?;
    let parts: Vec<&str> = rest.splitn(5, ':').collect();
    let [partition, service, _region, _account, resource] = parts[..] else {
        // `arn:aws:iot:*` is fine: the trailing `*` covers the missing parts.
        match parts[..] {
            [.., last] if !last.contains(MULTI) => return Err(invalid()),
            [_, service, _, ..] => check_service(service)?,
            _ => {}
        }
        return Ok(template);
    };
    if partition.is_empty() || resource.is_empty() {
        return Err(invalid());
    }
    check_service(service)?;
    // A literal type must be one AWS IoT has; a bare name without `/<name>` never is.
    let kind = match resource.split_once('/') {
        Some((kind, _)) if !RESOURCE_TYPES.contains(&kind) => kind,
        None => resource,
        Some(_) => return Ok(template),
    };
    if is_dynamic(kind) {
        return Ok(template);
    }
    Err(Problem::UnknownResourceType {
        resource_type: kind.to_owned(),
    })
}

fn check_service(service: &str) -> Result<(), Problem> {
    let ok = if service.contains(VARIABLE_MARK) {
        true
    } else if is_dynamic(service) {
        Glob::new(service).matches("iot")
    } else {
        service == "iot"
    };
    if ok {
        Ok(())
    } else {
        Err(Problem::UnsupportedResourceService {
            service: service.replace(MULTI, "*").replace(SINGLE, "?"),
        })
    }
}

fn parse_version(node: &Node, path: &JsonPath) -> Result<PolicyVersion, PolicyError> {
    match string(node, path)? {
        "2012-10-17" => Ok(PolicyVersion::V2012_10_17),
        "2008-10-17" => Ok(PolicyVersion::V2008_10_17),
        other => Err(path.error(Problem::UnsupportedVersion {
            found: other.to_owned(),
        })),
    }
}

fn object<'n>(node: &'n Node, path: &JsonPath) -> Result<&'n [(String, Node)], PolicyError> {
    match node {
        Node::Object(entries) => Ok(entries),
        other => Err(path.error(Problem::WrongType {
            expected: "an object",
            found: other.kind(),
        })),
    }
}

fn string<'n>(node: &'n Node, path: &JsonPath) -> Result<&'n str, PolicyError> {
    match node {
        Node::String(text) => Ok(text),
        other => Err(path.error(Problem::WrongType {
            expected: "a string",
            found: other.kind(),
        })),
    }
}

/// A string or a non-empty array of non-empty strings, each with its own path.
fn string_list<'n>(
    node: &'n Node,
    path: &JsonPath,
) -> Result<Vec<(JsonPath, &'n str)>, PolicyError> {
    let items: Vec<(JsonPath, &Node)> = match node {
        Node::String(_) => vec![(path.clone(), node)],
        Node::Array(items) if items.is_empty() => return Err(path.error(Problem::EmptyList)),
        Node::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| (path.index(i), item))
            .collect(),
        other => {
            return Err(path.error(Problem::WrongType {
                expected: "a string or an array of strings",
                found: other.kind(),
            }));
        }
    };
    items
        .into_iter()
        .map(|(path, item)| match string(item, &path)? {
            "" => Err(path.error(Problem::EmptyString)),
            text => Ok((path, text)),
        })
        .collect()
}

fn field<'n>(entries: &'n [(String, Node)], key: &str) -> Option<&'n Node> {
    entries.iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

fn check_keys(
    entries: &[(String, Node)],
    path: &JsonPath,
    known: &[&str],
) -> Result<(), PolicyError> {
    match entries
        .iter()
        .find(|(key, _)| !known.contains(&key.as_str()))
    {
        Some((key, _)) => Err(path.error(Problem::UnknownKey { key: key.clone() })),
        None => Ok(()),
    }
}

/// The one present key of a `first`/`second` pair (`Action`/`NotAction`), and whether it is
/// the negated one.
fn exactly_one<'n>(
    entries: &'n [(String, Node)],
    path: &JsonPath,
    first: &'static str,
    second: &'static str,
) -> Result<(&'static str, bool, &'n Node), PolicyError> {
    match (field(entries, first), field(entries, second)) {
        (Some(node), None) => Ok((first, false, node)),
        (None, Some(node)) => Ok((second, true, node)),
        (Some(_), Some(_)) => Err(path.error(Problem::ExclusiveKeys { first, second })),
        (None, None) => Err(path.error(Problem::MissingOneOf { first, second })),
    }
}

#[cfg(test)]
mod tests;
