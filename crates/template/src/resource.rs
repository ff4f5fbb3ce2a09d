//! The `Resources` section: at most one thing, at most one certificate, any number of
//! policies, each with its properties, `OverrideSettings` and optional `Condition`.

use std::collections::BTreeMap;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::body;
use crate::error::{FieldPath, TemplateError};
use crate::evaluation::Env;
use crate::intrinsic::{self, Expr, Node, Scope, Want, as_call, describe};
use crate::plan::{
    CertificatePlan, CertificateSource, CertificateStatus, OverrideAction, PolicyPlan,
    ThingOverrides, ThingPlan,
};

const THING: &str = "AWS::IoT::Thing";
const CERTIFICATE: &str = "AWS::IoT::Certificate";
const POLICY: &str = "AWS::IoT::Policy";

/// The parsed `Resources` section.
#[derive(Debug, Clone, Default)]
pub(crate) struct Resources {
    pub(crate) thing: Option<Resource<ThingSpec>>,
    pub(crate) certificate: Option<Resource<CertificateSpec>>,
    pub(crate) policies: Vec<Resource<PolicySpec>>,
}

/// One resource: its logical id, the condition that gates it, and its type's properties.
#[derive(Debug, Clone)]
pub(crate) struct Resource<T> {
    pub(crate) logical_id: String,
    pub(crate) condition: Option<(String, FieldPath)>,
    pub(crate) spec: T,
}

#[derive(Debug, Clone)]
pub(crate) struct ThingSpec {
    name: Expr,
    attributes: Option<BTreeMap<String, Expr>>,
    thing_type: Option<Expr>,
    groups: Option<Expr>,
    billing_group: Option<Expr>,
    overrides: ThingOverrides,
}

#[derive(Debug, Clone)]
pub(crate) struct CertificateSpec {
    source: SourceSpec,
    status: Option<Expr>,
    status_override: Option<OverrideAction>,
}

#[derive(Debug, Clone)]
enum SourceSpec {
    Id(Expr),
    Csr(Expr),
    Pem { pem: Expr, ca_pem: Option<Expr> },
}

#[derive(Debug, Clone)]
pub(crate) enum PolicySpec {
    Named(Expr),
    Document(Expr),
}

/// Parses the `Resources` section at `at`.
pub(crate) fn parse_section(
    value: &Value,
    at: &FieldPath,
    scope: &Scope<'_>,
) -> Result<Resources, TemplateError> {
    let entries = object(value, at, "an object of resources")?;
    let mut resources = Resources::default();
    for (logical_id, declaration) in entries {
        let at = at.key(logical_id);
        let declaration = Declaration::parse(declaration, &at, scope)?;
        match declaration.type_name.as_str() {
            THING => {
                if let Some(first) = &resources.thing {
                    return Err(duplicate(&at, THING, first));
                }
                let spec = parse_thing(&declaration, &at, scope)?;
                resources.thing = Some(Resource::new(logical_id, &declaration, spec));
            }
            CERTIFICATE => {
                if let Some(first) = &resources.certificate {
                    return Err(duplicate(&at, CERTIFICATE, first));
                }
                let spec = parse_certificate(&declaration, &at, scope)?;
                resources.certificate = Some(Resource::new(logical_id, &declaration, spec));
            }
            POLICY => {
                let spec = parse_policy(&declaration, &at, scope)?;
                resources
                    .policies
                    .push(Resource::new(logical_id, &declaration, spec));
            }
            other => {
                return Err(TemplateError::UnknownResourceType {
                    at: at.key("Type"),
                    found: other.to_owned(),
                });
            }
        }
    }
    Ok(resources)
}

impl<T> Resource<T> {
    fn new(logical_id: &str, declaration: &Declaration<'_>, spec: T) -> Self {
        Self {
            logical_id: logical_id.to_owned(),
            condition: declaration.condition.clone(),
            spec,
        }
    }
}

fn duplicate<T>(at: &FieldPath, resource_type: &'static str, first: &Resource<T>) -> TemplateError {
    TemplateError::DuplicateResource {
        at: at.clone(),
        resource_type,
        first: first.logical_id.clone(),
    }
}

/// The keys of one entry of `Resources`.
struct Declaration<'v> {
    type_name: String,
    properties: &'v Map<String, Value>,
    overrides: Option<&'v Value>,
    condition: Option<(String, FieldPath)>,
}

impl<'v> Declaration<'v> {
    fn parse(value: &'v Value, at: &FieldPath, scope: &Scope<'_>) -> Result<Self, TemplateError> {
        let fields = object(value, at, "an object with Type and Properties")?;
        let (mut type_name, mut properties, mut overrides, mut condition) =
            (None, None, None, None);
        for (key, field) in fields {
            let key_at = at.key(key);
            match key.as_str() {
                "Type" => type_name = Some(string(field, &key_at)?.to_owned()),
                "Properties" => {
                    properties = Some(object(field, &key_at, "an object of properties")?)
                }
                "OverrideSettings" => overrides = Some(field),
                "Condition" => {
                    let name = string(field, &key_at)?;
                    if !scope.conditions.contains(name) {
                        return Err(TemplateError::UndefinedCondition {
                            at: key_at,
                            name: name.to_owned(),
                        });
                    }
                    condition = Some((name.to_owned(), key_at));
                }
                _ => {
                    return Err(TemplateError::UnknownKey {
                        at: key_at,
                        expected: "Type, Properties, OverrideSettings or Condition",
                    });
                }
            }
        }
        let missing = |key| TemplateError::MissingKey {
            at: at.clone(),
            key,
        };
        Ok(Self {
            type_name: type_name.ok_or_else(|| missing("Type"))?,
            properties: properties.ok_or_else(|| missing("Properties"))?,
            overrides,
            condition,
        })
    }
}

fn parse_thing(
    declaration: &Declaration<'_>,
    at: &FieldPath,
    scope: &Scope<'_>,
) -> Result<ThingSpec, TemplateError> {
    let props_at = at.key("Properties");
    let (mut name, mut attributes, mut thing_type, mut groups, mut billing_group) =
        (None, None, None, None, None);
    for (key, value) in declaration.properties {
        let key_at = props_at.key(key);
        let string = || intrinsic::parse(value, &key_at, Want::Str, scope);
        match key.as_str() {
            "ThingName" => name = Some(string()?),
            "AttributePayload" => attributes = Some(parse_attributes(value, &key_at, scope)?),
            "ThingTypeName" => thing_type = Some(string()?),
            "ThingGroups" => groups = Some(intrinsic::parse(value, &key_at, Want::List, scope)?),
            "BillingGroup" => billing_group = Some(string()?),
            _ => {
                return Err(TemplateError::UnknownProperty {
                    at: key_at,
                    resource_type: THING,
                    expected: "ThingName, AttributePayload, ThingTypeName, ThingGroups or BillingGroup",
                });
            }
        }
    }
    let name = name.ok_or(TemplateError::MissingProperty {
        at: props_at,
        property: "ThingName",
    })?;
    let overrides = match declaration.overrides {
        Some(value) => parse_thing_overrides(value, &at.key("OverrideSettings"))?,
        None => ThingOverrides::default(),
    };
    Ok(ThingSpec {
        name,
        attributes,
        thing_type,
        groups,
        billing_group,
        overrides,
    })
}

/// `AttributePayload` is always a literal object of attribute names (not wrapped in
/// `attributes`, unlike CreateThing); functions may compute only the values.
fn parse_attributes(
    value: &Value,
    at: &FieldPath,
    scope: &Scope<'_>,
) -> Result<BTreeMap<String, Expr>, TemplateError> {
    object(value, at, "an object of attribute names to strings")?
        .iter()
        .map(|(name, value)| {
            Ok((
                name.clone(),
                intrinsic::parse(value, &at.key(name), Want::Str, scope)?,
            ))
        })
        .collect()
}

/// One override setting a resource type accepts: CamelCase key (as every AWS example writes
/// it), UPPER_SNAKE key (as the prose writes it), and whether MERGE is allowed.
struct Setting {
    camel: &'static str,
    snake: &'static str,
    merge: bool,
}

const THING_SETTINGS: [Setting; 3] = [
    Setting {
        camel: "AttributePayload",
        snake: "ATTRIBUTE_PAYLOAD",
        merge: true,
    },
    Setting {
        camel: "ThingTypeName",
        snake: "THING_TYPE_NAME",
        merge: false,
    },
    Setting {
        camel: "ThingGroups",
        snake: "THING_GROUPS",
        merge: true,
    },
];

const CERTIFICATE_SETTINGS: [Setting; 1] = [Setting {
    camel: "Status",
    snake: "STATUS",
    merge: false,
}];

/// Reads an `OverrideSettings` object into one action per entry of `settings`.
fn parse_overrides<const N: usize>(
    value: &Value,
    at: &FieldPath,
    resource_type: &'static str,
    settings: &[Setting; N],
    expected: &'static str,
) -> Result<[Option<OverrideAction>; N], TemplateError> {
    let mut actions = [None; N];
    let mut seen: [Option<&'static str>; N] = [None; N];
    for (key, action) in object(value, at, "an object of override settings")? {
        let key_at = at.key(key);
        let slot = settings
            .iter()
            .position(|s| s.camel == key || s.snake == key)
            .ok_or_else(|| TemplateError::UnknownOverrideSetting {
                at: key_at.clone(),
                resource_type,
                expected,
            })?;
        let setting = &settings[slot];
        let spelled = if setting.camel == key {
            setting.camel
        } else {
            setting.snake
        };
        if let Some(first) = seen[slot] {
            return Err(TemplateError::ConflictingProperties {
                at: at.clone(),
                first,
                second: spelled,
            });
        }
        seen[slot] = Some(spelled);
        actions[slot] = Some(parse_action(action, &key_at, setting.merge)?);
    }
    Ok(actions)
}

fn parse_action(
    value: &Value,
    at: &FieldPath,
    merge_allowed: bool,
) -> Result<OverrideAction, TemplateError> {
    let action = match string(value, at)? {
        "DO_NOTHING" => OverrideAction::DoNothing,
        "REPLACE" => OverrideAction::Replace,
        "FAIL" => OverrideAction::Fail,
        "MERGE" if merge_allowed => OverrideAction::Merge,
        "MERGE" => return Err(TemplateError::MergeNotAllowed { at: at.clone() }),
        other => {
            return Err(TemplateError::InvalidOverrideAction {
                at: at.clone(),
                found: other.to_owned(),
            });
        }
    };
    Ok(action)
}

fn parse_thing_overrides(value: &Value, at: &FieldPath) -> Result<ThingOverrides, TemplateError> {
    let [attribute_payload, thing_type_name, thing_groups] = parse_overrides(
        value,
        at,
        THING,
        &THING_SETTINGS,
        "AttributePayload, ThingTypeName or ThingGroups",
    )?;
    Ok(ThingOverrides {
        attribute_payload,
        thing_type_name,
        thing_groups,
    })
}

fn parse_certificate(
    declaration: &Declaration<'_>,
    at: &FieldPath,
    scope: &Scope<'_>,
) -> Result<CertificateSpec, TemplateError> {
    let props_at = at.key("Properties");
    let mut sources: Vec<(&'static str, Expr)> = Vec::new();
    let (mut ca_pem, mut status) = (None, None);
    for (key, value) in declaration.properties {
        let key_at = props_at.key(key);
        let expr = || intrinsic::parse(value, &key_at, Want::Str, scope);
        match key.as_str() {
            // The docs' property list spells it CertificateID, every example CertificateId.
            "CertificateId" => sources.push(("CertificateId", expr()?)),
            "CertificateID" => sources.push(("CertificateID", expr()?)),
            "CertificateSigningRequest" => sources.push(("CertificateSigningRequest", expr()?)),
            "CertificatePem" => sources.push(("CertificatePem", expr()?)),
            "CACertificatePem" => ca_pem = Some(expr()?),
            "Status" => {
                let expr = expr()?;
                if let Some(text) = expr.literal() {
                    check_status(text, &key_at)?;
                }
                status = Some(expr);
            }
            _ => {
                return Err(TemplateError::UnknownProperty {
                    at: key_at,
                    resource_type: CERTIFICATE,
                    expected: "CertificateId, CertificateSigningRequest, CertificatePem, CACertificatePem or Status",
                });
            }
        }
    }
    if let [(first, _), (second, _), ..] = sources.as_slice() {
        return Err(TemplateError::ConflictingProperties {
            at: props_at,
            first,
            second,
        });
    }
    let Some((kind, expr)) = sources.pop() else {
        return Err(TemplateError::MissingProperty {
            at: props_at,
            property: "(one of CertificateId, CertificateSigningRequest or CertificatePem)",
        });
    };
    let source = match kind {
        "CertificateSigningRequest" => SourceSpec::Csr(expr),
        "CertificatePem" => SourceSpec::Pem {
            pem: expr,
            ca_pem: ca_pem.take(),
        },
        _ => SourceSpec::Id(expr),
    };
    if ca_pem.is_some() {
        return Err(TemplateError::CaPemWithoutPem {
            at: props_at.key("CACertificatePem"),
        });
    }
    let status_override = match declaration.overrides {
        Some(value) => {
            let [status] = parse_overrides(
                value,
                &at.key("OverrideSettings"),
                CERTIFICATE,
                &CERTIFICATE_SETTINGS,
                "Status",
            )?;
            status
        }
        None => None,
    };
    Ok(CertificateSpec {
        source,
        status,
        status_override,
    })
}

fn check_status(text: &str, at: &FieldPath) -> Result<CertificateStatus, TemplateError> {
    CertificateStatus::parse(text).ok_or_else(|| TemplateError::InvalidStatus {
        at: at.clone(),
        found: text.to_owned(),
    })
}

fn parse_policy(
    declaration: &Declaration<'_>,
    at: &FieldPath,
    scope: &Scope<'_>,
) -> Result<PolicySpec, TemplateError> {
    if declaration.overrides.is_some() {
        return Err(TemplateError::OverridesNotSupported {
            at: at.key("OverrideSettings"),
            resource_type: POLICY,
        });
    }
    let props_at = at.key("Properties");
    let (mut name, mut document) = (None, None);
    for (key, value) in declaration.properties {
        let key_at = props_at.key(key);
        match key.as_str() {
            "PolicyName" => name = Some(intrinsic::parse(value, &key_at, Want::Str, scope)?),
            "PolicyDocument" => document = Some(parse_document(value, &key_at, scope)?),
            _ => {
                return Err(TemplateError::UnknownProperty {
                    at: key_at,
                    resource_type: POLICY,
                    expected: "PolicyName or PolicyDocument",
                });
            }
        }
    }
    match (name, document) {
        (Some(name), None) => Ok(PolicySpec::Named(name)),
        (None, Some(document)) => Ok(PolicySpec::Document(document)),
        (Some(_), Some(_)) => Err(TemplateError::ConflictingProperties {
            at: props_at,
            first: "PolicyName",
            second: "PolicyDocument",
        }),
        (None, None) => Err(TemplateError::MissingProperty {
            at: props_at,
            property: "(one of PolicyName or PolicyDocument)",
        }),
    }
}

/// A `PolicyDocument`: an escaped JSON string (as the docs say), a raw JSON object (as the
/// fleet example writes it), or a function that yields a string.
fn parse_document(value: &Value, at: &FieldPath, scope: &Scope<'_>) -> Result<Expr, TemplateError> {
    let expr = intrinsic::parse(value, at, Want::Document, scope)?;
    match &expr.node {
        Node::Str(text) => {
            check_document(text, at)?;
        }
        Node::Scalar(_) | Node::List(_) | Node::Split { .. } => {
            return Err(TemplateError::WrongType {
                at: at.clone(),
                expected: "a JSON object or a string holding one",
                found: if matches!(expr.node, Node::Scalar(_)) {
                    describe(value)
                } else {
                    "a list"
                },
            });
        }
        _ => {}
    }
    Ok(expr)
}

fn check_document(text: &str, at: &FieldPath) -> Result<(), TemplateError> {
    match body::parse_json(text) {
        Ok(Value::Object(_)) => Ok(()),
        Ok(other) => Err(TemplateError::InvalidPolicyDocument {
            at: at.clone(),
            reason: format!("expected a JSON object, found {}", describe(&other)),
        }),
        Err(e) => Err(TemplateError::InvalidPolicyDocument {
            at: at.clone(),
            reason: e.to_string(),
        }),
    }
}

impl Resource<ThingSpec> {
    pub(crate) fn evaluate(&self, env: &Env<'_>) -> Result<ThingPlan, TemplateError> {
        let spec = &self.spec;
        let optional = |expr: &Option<Expr>| expr.as_ref().map(|e| env.string(e)).transpose();
        let attributes = spec
            .attributes
            .as_ref()
            .map(|attributes| {
                attributes
                    .iter()
                    .map(|(name, value)| Ok((name.clone(), env.string(value)?)))
                    .collect::<Result<BTreeMap<_, _>, TemplateError>>()
            })
            .transpose()?;
        Ok(ThingPlan {
            logical_id: self.logical_id.clone(),
            name: env.string(&spec.name)?,
            attributes,
            thing_type: optional(&spec.thing_type)?,
            thing_groups: spec
                .groups
                .as_ref()
                .map(|g| env.list(g))
                .transpose()?
                .unwrap_or_default(),
            billing_group: optional(&spec.billing_group)?,
            overrides: spec.overrides,
        })
    }
}

impl Resource<CertificateSpec> {
    pub(crate) fn evaluate(&self, env: &Env<'_>) -> Result<CertificatePlan, TemplateError> {
        let spec = &self.spec;
        let source = match &spec.source {
            SourceSpec::Id(id) => CertificateSource::Id(env.string(id)?),
            SourceSpec::Csr(csr) => CertificateSource::Csr(env.string(csr)?),
            SourceSpec::Pem { pem, ca_pem } => CertificateSource::Pem {
                pem: env.string(pem)?,
                ca_pem: ca_pem.as_ref().map(|e| env.string(e)).transpose()?,
            },
        };
        let status = match &spec.status {
            Some(expr) => check_status(&env.string(expr)?, &expr.at)?,
            None => CertificateStatus::Active,
        };
        Ok(CertificatePlan {
            logical_id: self.logical_id.clone(),
            source,
            status,
            status_override: spec.status_override,
        })
    }
}

impl Resource<PolicySpec> {
    pub(crate) fn evaluate(&self, env: &Env<'_>) -> Result<PolicyPlan, TemplateError> {
        let (name, document) = match &self.spec {
            PolicySpec::Named(name) => (env.string(name)?, None),
            PolicySpec::Document(expr) => {
                let text = match env.document(expr)? {
                    Value::String(text) => {
                        check_document(&text, &expr.at)?;
                        text
                    }
                    object @ Value::Object(_) => object.to_string(),
                    other => {
                        return Err(TemplateError::WrongType {
                            at: expr.at.clone(),
                            expected: "a JSON object or a string holding one",
                            found: describe(&other),
                        });
                    }
                };
                (hex::encode(Sha256::digest(text.as_bytes())), Some(text))
            }
        };
        Ok(PolicyPlan {
            logical_id: self.logical_id.clone(),
            name,
            document,
        })
    }
}

fn object<'v>(
    value: &'v Value,
    at: &FieldPath,
    expected: &'static str,
) -> Result<&'v Map<String, Value>, TemplateError> {
    match value {
        Value::Object(fields) if as_call(value).is_none() => Ok(fields),
        _ => Err(TemplateError::WrongType {
            at: at.clone(),
            expected,
            found: describe(value),
        }),
    }
}

fn string<'v>(value: &'v Value, at: &FieldPath) -> Result<&'v str, TemplateError> {
    value.as_str().ok_or_else(|| TemplateError::WrongType {
        at: at.clone(),
        expected: "a literal string",
        found: describe(value),
    })
}
