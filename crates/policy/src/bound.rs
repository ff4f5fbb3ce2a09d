//! Evaluation: policies bound to one connection, and the per-packet decision.
//!
//! Binding does everything that depends only on the connection: it substitutes variables,
//! decides conditions, drops statements that cannot apply, resolves the ARN prefix of each
//! resource kind and compiles what is left into matchers indexed by action.
//! [`BoundPolicy::authorize`] then only walks the statements of one action and matches strings;
//! it does not allocate.
//!
//! A statement whose variables (in resources or condition values) do not all resolve does not
//! apply at all, for Allow and Deny alike, as AWS IoT documents ("the statement doesn't
//! match"). So a Deny that uses a variable protects only connections where the variable
//! resolves; a Deny that must always hold should not depend on one.

use std::sync::Arc;

use crate::action::Action;
use crate::context::Context;
use crate::document::{Effect, PolicyDocument, Statement};
use crate::pattern::Matcher;

/// The policies attached to a principal (each the default version of a named policy).
#[derive(Debug, Clone, Default)]
pub struct PolicySet {
    policies: Vec<(Arc<str>, Arc<PolicyDocument>)>,
}

/// The outcome of an authorization, naming the statement that decided it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// A statement allowed the request and none denied it (the first Allow, in policy order).
    Allowed {
        /// Policy name.
        policy: Arc<str>,
        /// 0-based index into the policy's `Statement` list.
        statement: usize,
    },
    /// A statement denied the request (the first Deny, in policy order).
    ExplicitDeny {
        /// Policy name.
        policy: Arc<str>,
        /// 0-based index into the policy's `Statement` list.
        statement: usize,
    },
    /// No statement allowed the request.
    ImplicitDeny,
}

impl Decision {
    /// Whether the request may proceed.
    pub fn is_allowed(&self) -> bool {
        matches!(self, Self::Allowed { .. })
    }
}

/// What a request acts on.
///
/// The first four kinds name the resource without its ARN prefix, which the bound policy
/// already knows; use [`Resource::Arn`] for anything else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource<'a> {
    /// `arn:…:client/<client id>` (`iot:Connect`).
    Client(&'a str),
    /// `arn:…:topic/<topic name>` (`iot:Publish`, `iot:Receive`, `iot:RetainPublish`, …).
    Topic(&'a str),
    /// `arn:…:topicfilter/<filter as written>` (`iot:Subscribe`).
    TopicFilter(&'a str),
    /// `arn:…:thing/<thing name>[/<shadow name>]` (shadows, jobs).
    Thing(&'a str),
    /// A full ARN, or `*` for actions without resource-level permissions.
    Arn(&'a str),
}

impl<'a> Resource<'a> {
    const KINDS: [&'static str; 4] = ["client", "topic", "topicfilter", "thing"];

    /// The index into [`Resource::KINDS`] and the name, or the full ARN.
    fn split(self) -> Result<(usize, &'a str), &'a str> {
        match self {
            Self::Client(name) => Ok((0, name)),
            Self::Topic(name) => Ok((1, name)),
            Self::TopicFilter(name) => Ok((2, name)),
            Self::Thing(name) => Ok((3, name)),
            Self::Arn(arn) => Err(arn),
        }
    }

    /// The full ARN for a context, e.g. for logs and TestAuthorization output.
    pub fn to_arn(self, ctx: &Context) -> String {
        match self.split() {
            Ok((kind, name)) => format!("{}{}/{name}", arn_prefix(ctx), Self::KINDS[kind]),
            Err(arn) => arn.to_owned(),
        }
    }
}

fn arn_prefix(ctx: &Context) -> String {
    format!(
        "arn:{}:iot:{}:{}:",
        ctx.partition(),
        ctx.region,
        ctx.account
    )
}

impl PolicySet {
    /// A set of named policy documents; order only decides which statement a decision names.
    pub fn new(policies: impl IntoIterator<Item = (String, Arc<PolicyDocument>)>) -> Self {
        Self {
            policies: policies
                .into_iter()
                .map(|(name, document)| (Arc::from(name), document))
                .collect(),
        }
    }

    /// The policies, in order.
    pub fn policies(&self) -> impl ExactSizeIterator<Item = (&str, &PolicyDocument)> {
        self.policies
            .iter()
            .map(|(name, document)| (&**name, &**document))
    }

    /// Binds every policy to a connection: do this once per connection (and again when its
    /// policies or context change), then call [`BoundPolicy::authorize`] per packet.
    pub fn bind(&self, ctx: &Context) -> BoundPolicy {
        let prefix = arn_prefix(ctx);
        let kind_prefixes = Resource::KINDS.map(|kind| format!("{prefix}{kind}/"));
        let mut bound = BoundPolicy::default();
        for (name, document) in &self.policies {
            for (index, statement) in document.statements().iter().enumerate() {
                let Some(rule) = bind_statement(statement, ctx, &kind_prefixes) else {
                    continue;
                };
                let position = bound.rules.len();
                bound.rules.push(Rule {
                    policy: Arc::clone(name),
                    statement: index,
                    resources: rule,
                });
                for action in Action::ALL {
                    if statement.covers(action) {
                        let lists = &mut bound.by_action[action.index()];
                        match statement.effect() {
                            Effect::Allow => lists.allow.push(position),
                            Effect::Deny => lists.deny.push(position),
                        }
                    }
                }
            }
        }
        bound
    }

    /// Binds and authorizes one request: for one-off checks such as TestAuthorization.
    pub fn explain(&self, ctx: &Context, action: Action, resource: Resource<'_>) -> Decision {
        self.bind(ctx).authorize(action, resource)
    }
}

/// A [`PolicySet`] bound to one connection's [`Context`]; cheap to query, immutable.
#[derive(Debug, Clone, Default)]
pub struct BoundPolicy {
    rules: Vec<Rule>,
    by_action: [ActionRules; Action::COUNT],
}

#[derive(Debug, Clone, Default)]
struct ActionRules {
    deny: Vec<usize>,
    allow: Vec<usize>,
}

/// A statement that applies to this connection.
#[derive(Debug, Clone)]
struct Rule {
    policy: Arc<str>,
    statement: usize,
    resources: BoundResources,
}

#[derive(Debug, Clone)]
struct BoundResources {
    negated: bool,
    patterns: Vec<BoundPattern>,
}

/// One resource pattern, compiled for full ARNs and for each kind with its prefix consumed.
#[derive(Debug, Clone)]
struct BoundPattern {
    full: Matcher,
    by_kind: [Vec<Matcher>; Resource::KINDS.len()],
}

impl BoundResources {
    fn matches(&self, resource: Resource<'_>) -> bool {
        let hit = self.patterns.iter().any(|pattern| match resource.split() {
            Ok((kind, name)) => pattern.by_kind[kind].iter().any(|m| m.matches(name)),
            Err(arn) => pattern.full.matches(arn),
        });
        hit != self.negated
    }
}

fn bind_statement(
    statement: &Statement,
    ctx: &Context,
    kind_prefixes: &[String; Resource::KINDS.len()],
) -> Option<BoundResources> {
    if statement.actions().is_empty() {
        return None;
    }
    for condition in &statement.conditions {
        if !condition.evaluate(ctx)? {
            return None;
        }
    }
    let patterns = statement
        .resources
        .patterns
        .iter()
        .map(|template| {
            let encoded = template.bind(ctx)?;
            Some(BoundPattern {
                full: Matcher::new(&encoded),
                by_kind: kind_prefixes
                    .each_ref()
                    .map(|prefix| Matcher::residuals(&encoded, prefix)),
            })
        })
        .collect::<Option<Vec<_>>>()?;
    Some(BoundResources {
        negated: statement.resources.negated,
        patterns,
    })
}

impl BoundPolicy {
    /// Decides one request: an explicit Deny wins, then any Allow, else an implicit deny.
    ///
    /// Does not allocate; cost is linear in the statements that name `action`.
    pub fn authorize(&self, action: Action, resource: Resource<'_>) -> Decision {
        let rules = &self.by_action[action.index()];
        let first = |positions: &[usize]| {
            positions
                .iter()
                .map(|&position| &self.rules[position])
                .find(|rule| rule.resources.matches(resource))
        };
        if let Some(rule) = first(&rules.deny) {
            return Decision::ExplicitDeny {
                policy: Arc::clone(&rule.policy),
                statement: rule.statement,
            };
        }
        if let Some(rule) = first(&rules.allow) {
            return Decision::Allowed {
                policy: Arc::clone(&rule.policy),
                statement: rule.statement,
            };
        }
        Decision::ImplicitDeny
    }

    /// Whether no statement applies to this connection for any action (everything is denied).
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

#[cfg(test)]
mod tests;
