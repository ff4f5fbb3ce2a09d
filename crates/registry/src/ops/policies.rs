//! IoT policies, their versions and their attachments to certificates and thing groups.

use sqlx::AnyConnection;
use uuid::Uuid;

use crate::Registry;
use crate::ResourceArn;
use crate::error::RegistryError;
use crate::events::RegistryEvent;
use crate::model::{Policy, PolicyVersion, Tag};
use crate::names::POLICY_NAME;
use crate::ops::tags::{tag_in, untag_in};
use crate::ops::thing_groups::{ancestors, require_group};
use crate::page::{Page, PageRequest};
use crate::row;
use crate::store::now_ms;
use roost_validation::Constraint;

/// Most versions a policy may have (AWS quota).
pub const MAX_POLICY_VERSIONS: usize = 5;
/// Most policies attached to one target (AWS quota).
pub const MAX_POLICIES_PER_TARGET: usize = 10;

/// Checks a policy document is a valid IoT policy.
pub(crate) fn validate_document(document: &str) -> Result<(), RegistryError> {
    roost_policy::PolicyDocument::parse(document)
        .map(|_| ())
        .map_err(|e| RegistryError::MalformedPolicy(e.to_string()))
}

fn policy_from_row(row: &sqlx::any::AnyRow) -> Result<Policy, RegistryError> {
    Ok(Policy {
        name: row::text(row, "name")?,
        document: row::text(row, "document")?,
        default_version: row::int(row, "default_version")?,
        generation_id: row::text(row, "generation_id")?,
        created_ms: row::int(row, "created_ms")?,
        modified_ms: row::int(row, "modified_ms")?,
    })
}

const POLICY_SELECT: &str = "SELECT p.name, v.document, p.default_version, p.generation_id, \
     p.created_ms, p.modified_ms FROM policies p \
     JOIN policy_versions v ON v.policy_name = p.name AND v.version = p.default_version";

pub(crate) async fn find_policy(
    conn: &mut AnyConnection,
    name: &str,
) -> Result<Option<Policy>, RegistryError> {
    let sql = format!("{POLICY_SELECT} WHERE p.name = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(name.to_owned())
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(policy_from_row).transpose()
}

pub(crate) async fn require_policy(
    conn: &mut AnyConnection,
    name: &str,
) -> Result<Policy, RegistryError> {
    find_policy(conn, name)
        .await?
        .ok_or_else(|| RegistryError::not_found(format!("Policy {name} cannot be found.")))
}

/// Creates policy `name` with `document` as version 1 (shared with provisioning).
pub(crate) async fn create_policy_in(
    conn: &mut AnyConnection,
    arns: &crate::Arns,
    name: &str,
    document: &str,
) -> Result<Policy, RegistryError> {
    if find_policy(conn, name).await?.is_some() {
        return Err(RegistryError::AlreadyExists {
            message: format!("Policy cannot be created - name already exists (name={name})"),
            resource_id: name.to_owned(),
            resource_arn: arns.policy(name),
        });
    }
    let now = now_ms();
    let policy = Policy {
        name: name.to_owned(),
        document: document.to_owned(),
        default_version: 1,
        generation_id: Uuid::new_v4().simple().to_string(),
        created_ms: now,
        modified_ms: now,
    };
    sqlx::query(
        "INSERT INTO policies (name, default_version, last_version, generation_id, created_ms, modified_ms) \
         VALUES ($1, 1, 1, $2, $3, $3)",
    )
    .bind(policy.name.clone())
    .bind(policy.generation_id.clone())
    .bind(now)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO policy_versions (policy_name, version, document, created_ms) VALUES ($1, 1, $2, $3)",
    )
    .bind(policy.name.clone())
    .bind(policy.document.clone())
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(policy)
}

/// A policy attachment target, checked to exist.
async fn resolve_target(
    conn: &mut AnyConnection,
    registry_arns: &crate::Arns,
    field: &str,
    target: &str,
) -> Result<ResourceArn, RegistryError> {
    let parsed = registry_arns.parse(field, target)?;
    match &parsed {
        ResourceArn::Certificate(id) => {
            let found = sqlx::query("SELECT id FROM certificates WHERE id = $1")
                .bind(id.as_str().to_owned())
                .fetch_optional(&mut *conn)
                .await?;
            if found.is_none() {
                return Err(RegistryError::not_found(format!(
                    "The certificate given in the principal does not exist: {target}"
                )));
            }
        }
        ResourceArn::ThingGroup(name) => {
            require_group(conn, name).await?;
        }
        _ => {
            return Err(RegistryError::invalid(format!(
                "Policies can be attached to certificates and thing groups, not to {target}"
            )));
        }
    }
    Ok(parsed)
}

/// Attaches `policy` to `target` (shared with provisioning). Returns whether it was new.
pub(crate) async fn attach_policy_in(
    conn: &mut AnyConnection,
    arns: &crate::Arns,
    policy: &str,
    target: &str,
) -> Result<bool, RegistryError> {
    require_policy(conn, policy).await?;
    resolve_target(conn, arns, "target", target).await?;
    let current = sqlx::query("SELECT policy_name FROM policy_attachments WHERE target = $1")
        .bind(target.to_owned())
        .fetch_all(&mut *conn)
        .await?;
    for row in &current {
        if row::text(row, "policy_name")? == policy {
            return Ok(false);
        }
    }
    if current.len() >= MAX_POLICIES_PER_TARGET {
        return Err(RegistryError::LimitExceeded(format!(
            "{target} already has {MAX_POLICIES_PER_TARGET} policies attached, the most it may have"
        )));
    }
    insert_attachment_in(conn, policy, target).await?;
    Ok(true)
}

/// Attaches existing policy `policy` to `target`, known to exist and not to have it attached
/// nor to be at its limit (the caller made sure).
pub(crate) async fn insert_attachment_in(
    conn: &mut AnyConnection,
    policy: &str,
    target: &str,
) -> Result<(), RegistryError> {
    sqlx::query(
        "INSERT INTO policy_attachments (policy_name, target, created_ms) VALUES ($1, $2, $3)",
    )
    .bind(policy.to_owned())
    .bind(target.to_owned())
    .bind(now_ms())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

impl Registry {
    /// CreatePolicy: version 1, the default.
    pub async fn create_policy(&self, name: &str, document: &str) -> Result<Policy, RegistryError> {
        self.create_policy_tagged(name, document, Vec::new()).await
    }

    /// CreatePolicy with `tags`, written in the same transaction (a bad tag creates nothing).
    pub async fn create_policy_tagged(
        &self,
        name: &str,
        document: &str,
        tags: Vec<Tag>,
    ) -> Result<Policy, RegistryError> {
        POLICY_NAME.check("policyName", name)?;
        validate_document(document)?;
        let (name, document) = (name.to_owned(), document.to_owned());
        let arns = self.arns.clone();
        self.store
            .write(job!(|conn| {
                let policy = create_policy_in(conn, &arns, &name, &document).await?;
                tag_in(conn, &arns.policy(&name), &tags).await?;
                Ok((
                    policy,
                    vec![RegistryEvent::PolicyChanged { policy_name: name }],
                ))
            }))
            .await
    }

    /// GetPolicy: the default version's document.
    pub async fn get_policy(&self, name: &str) -> Result<Policy, RegistryError> {
        POLICY_NAME.check("policyName", name)?;
        let mut conn = self.store.reader().acquire().await?;
        require_policy(&mut conn, name).await
    }

    /// ListPolicies, by name.
    pub async fn list_policies(&self, page: &PageRequest) -> Result<Page<Policy>, RegistryError> {
        let (cmp, order) = if page.ascending {
            (">", "ASC")
        } else {
            ("<", "DESC")
        };
        let sql = format!(
            "{POLICY_SELECT} WHERE ($1 IS NULL OR p.name {cmp} $1) ORDER BY p.name {order} LIMIT $2"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(page.after.clone())
            .bind(i64::from(page.limit) + 1)
            .fetch_all(self.store.reader())
            .await?;
        let items = rows
            .iter()
            .map(policy_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(items, page.limit, |p| p.name.clone()))
    }

    /// DeletePolicy: refused while attached or while it has versions besides the default.
    pub async fn delete_policy(&self, name: &str) -> Result<(), RegistryError> {
        POLICY_NAME.check("policyName", name)?;
        let name = name.to_owned();
        let arn = self.arns.policy(&name);
        self.store
            .write(job!(|conn| {
                let policy = require_policy(conn, &name).await?;
                let attached =
                    sqlx::query("SELECT target FROM policy_attachments WHERE policy_name = $1 LIMIT 1")
                        .bind(name.clone())
                        .fetch_optional(&mut *conn)
                        .await?;
                if attached.is_some() {
                    return Err(RegistryError::DeleteConflict(format!(
                        "The policy cannot be deleted as the policy is attached to one or more principals (name={name})"
                    )));
                }
                let others = sqlx::query(
                    "SELECT version FROM policy_versions WHERE policy_name = $1 AND version <> $2 LIMIT 1",
                )
                .bind(name.clone())
                .bind(policy.default_version)
                .fetch_optional(&mut *conn)
                .await?;
                if others.is_some() {
                    return Err(RegistryError::DeleteConflict(format!(
                        "Cannot delete the policy because it has one or more policy versions attached to it (name={name})"
                    )));
                }
                for sql in [
                    "DELETE FROM policy_versions WHERE policy_name = $1",
                    "DELETE FROM policies WHERE name = $1",
                ] {
                    sqlx::query(sql)
                        .bind(name.clone())
                        .execute(&mut *conn)
                        .await?;
                }
                untag_in(conn, &arn).await?;
                Ok(((), vec![RegistryEvent::PolicyChanged { policy_name: name }]))
            }))
            .await
    }

    /// CreatePolicyVersion; at most five versions.
    pub async fn create_policy_version(
        &self,
        name: &str,
        document: &str,
        set_as_default: bool,
    ) -> Result<PolicyVersion, RegistryError> {
        POLICY_NAME.check("policyName", name)?;
        validate_document(document)?;
        let (name, document) = (name.to_owned(), document.to_owned());
        self.store
            .write(job!(|conn| {
                require_policy(conn, &name).await?;
                let state = sqlx::query(
                    "SELECT last_version, (SELECT COUNT(*) FROM policy_versions WHERE policy_name = $1) AS versions \
                     FROM policies WHERE name = $1",
                )
                .bind(name.clone())
                .fetch_one(&mut *conn)
                .await?;
                if row::int(&state, "versions")? as usize >= MAX_POLICY_VERSIONS {
                    return Err(RegistryError::VersionsLimitExceeded(format!(
                        "The policy {name} already has the maximum number of versions ({MAX_POLICY_VERSIONS})"
                    )));
                }
                let version = row::int(&state, "last_version")? + 1;
                let now = now_ms();
                sqlx::query(
                    "INSERT INTO policy_versions (policy_name, version, document, created_ms) VALUES ($1, $2, $3, $4)",
                )
                .bind(name.clone())
                .bind(version)
                .bind(document.clone())
                .bind(now)
                .execute(&mut *conn)
                .await?;
                let generation_id = Uuid::new_v4().simple().to_string();
                let sql = if set_as_default {
                    "UPDATE policies SET last_version = $1, default_version = $1, generation_id = $2, modified_ms = $3 WHERE name = $4"
                } else {
                    "UPDATE policies SET last_version = $1, generation_id = $2, modified_ms = $3 WHERE name = $4"
                };
                sqlx::query(sql)
                    .bind(version)
                    .bind(generation_id.clone())
                    .bind(now)
                    .bind(name.clone())
                    .execute(&mut *conn)
                    .await?;
                let events = if set_as_default {
                    vec![RegistryEvent::PolicyChanged { policy_name: name.clone() }]
                } else {
                    Vec::new()
                };
                Ok((
                    PolicyVersion {
                        policy_name: name,
                        version,
                        document,
                        is_default: set_as_default,
                        created_ms: now,
                        generation_id,
                        modified_ms: now,
                    },
                    events,
                ))
            }))
            .await
    }

    /// GetPolicyVersion.
    pub async fn get_policy_version(
        &self,
        name: &str,
        version: &str,
    ) -> Result<PolicyVersion, RegistryError> {
        POLICY_NAME.check("policyName", name)?;
        let number = parse_version_id(version)?;
        let mut conn = self.store.reader().acquire().await?;
        let policy = require_policy(&mut conn, name).await?;
        let row = sqlx::query(
            "SELECT document, created_ms FROM policy_versions WHERE policy_name = $1 AND version = $2",
        )
        .bind(name.to_owned())
        .bind(number)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| {
            RegistryError::not_found(format!("Policy {name} version {version} cannot be found."))
        })?;
        Ok(PolicyVersion {
            policy_name: name.to_owned(),
            version: number,
            document: row::text(&row, "document")?,
            is_default: number == policy.default_version,
            created_ms: row::int(&row, "created_ms")?,
            generation_id: policy.generation_id,
            modified_ms: policy.modified_ms,
        })
    }

    /// ListPolicyVersions, newest first.
    pub async fn list_policy_versions(
        &self,
        name: &str,
    ) -> Result<Vec<PolicyVersion>, RegistryError> {
        POLICY_NAME.check("policyName", name)?;
        let mut conn = self.store.reader().acquire().await?;
        let policy = require_policy(&mut conn, name).await?;
        let rows = sqlx::query(
            "SELECT version, document, created_ms FROM policy_versions WHERE policy_name = $1 ORDER BY version DESC",
        )
        .bind(name.to_owned())
        .fetch_all(&mut *conn)
        .await?;
        rows.iter()
            .map(|row| {
                let version = row::int(row, "version")?;
                Ok(PolicyVersion {
                    policy_name: name.to_owned(),
                    version,
                    document: row::text(row, "document")?,
                    is_default: version == policy.default_version,
                    created_ms: row::int(row, "created_ms")?,
                    generation_id: policy.generation_id.clone(),
                    modified_ms: policy.modified_ms,
                })
            })
            .collect()
    }

    /// SetDefaultPolicyVersion.
    pub async fn set_default_policy_version(
        &self,
        name: &str,
        version: &str,
    ) -> Result<(), RegistryError> {
        POLICY_NAME.check("policyName", name)?;
        let number = parse_version_id(version)?;
        let (name, version) = (name.to_owned(), version.to_owned());
        self.store
            .write(job!(|conn| {
                require_policy(conn, &name).await?;
                version_exists(conn, &name, number, &version).await?;
                sqlx::query(
                    "UPDATE policies SET default_version = $1, generation_id = $2, modified_ms = $3 WHERE name = $4",
                )
                .bind(number)
                .bind(Uuid::new_v4().simple().to_string())
                .bind(now_ms())
                .bind(name.clone())
                .execute(&mut *conn)
                .await?;
                Ok(((), vec![RegistryEvent::PolicyChanged { policy_name: name }]))
            }))
            .await
    }

    /// DeletePolicyVersion: not the default one.
    pub async fn delete_policy_version(
        &self,
        name: &str,
        version: &str,
    ) -> Result<(), RegistryError> {
        POLICY_NAME.check("policyName", name)?;
        let number = parse_version_id(version)?;
        let (name, version) = (name.to_owned(), version.to_owned());
        self.store
            .write(job!(|conn| {
                let policy = require_policy(conn, &name).await?;
                version_exists(conn, &name, number, &version).await?;
                if policy.default_version == number {
                    return Err(RegistryError::DeleteConflict(format!(
                        "Cannot delete the default version {version} of policy {name}; \
                             set another version as the default or delete the policy"
                    )));
                }
                sqlx::query("DELETE FROM policy_versions WHERE policy_name = $1 AND version = $2")
                    .bind(name)
                    .bind(number)
                    .execute(&mut *conn)
                    .await?;
                Ok(((), Vec::new()))
            }))
            .await
    }

    /// AttachPolicy (and the legacy AttachPrincipalPolicy): `target` is a certificate or
    /// thing-group ARN.
    pub async fn attach_policy(&self, name: &str, target: &str) -> Result<(), RegistryError> {
        POLICY_NAME.check("policyName", name)?;
        let (name, target) = (name.to_owned(), target.to_owned());
        let arns = self.arns.clone();
        self.store
            .write(job!(|conn| {
                let added = attach_policy_in(conn, &arns, &name, &target).await?;
                let events = if added {
                    vec![RegistryEvent::PolicyAttachmentChanged {
                        policy_name: name,
                        target,
                    }]
                } else {
                    Vec::new()
                };
                Ok(((), events))
            }))
            .await
    }

    /// DetachPolicy (and DetachPrincipalPolicy).
    pub async fn detach_policy(&self, name: &str, target: &str) -> Result<(), RegistryError> {
        POLICY_NAME.check("policyName", name)?;
        let (name, target) = (name.to_owned(), target.to_owned());
        let arns = self.arns.clone();
        self.store
            .write(job!(|conn| {
                require_policy(conn, &name).await?;
                arns.parse("target", &target)?;
                let done = sqlx::query(
                    "DELETE FROM policy_attachments WHERE policy_name = $1 AND target = $2",
                )
                .bind(name.clone())
                .bind(target.clone())
                .execute(&mut *conn)
                .await?;
                let events = if done.rows_affected() > 0 {
                    vec![RegistryEvent::PolicyAttachmentChanged {
                        policy_name: name,
                        target,
                    }]
                } else {
                    Vec::new()
                };
                Ok(((), events))
            }))
            .await
    }

    /// ListAttachedPolicies: the policies attached to `target`; with `recursive` and a thing
    /// group, those of its ancestors too.
    pub async fn list_attached_policies(
        &self,
        target: &str,
        recursive: bool,
        page: &PageRequest,
    ) -> Result<Page<Policy>, RegistryError> {
        let mut conn = self.store.reader().acquire().await?;
        let parsed = resolve_target(&mut conn, &self.arns, "target", target).await?;
        let mut targets = vec![target.to_owned()];
        if let (true, ResourceArn::ThingGroup(name)) = (recursive, &parsed) {
            let group = require_group(&mut conn, name).await?;
            targets.extend(
                ancestors(&mut conn, &group)
                    .await?
                    .iter()
                    .map(|g| self.arns.thing_group(g)),
            );
        }
        let mut names = std::collections::BTreeSet::new();
        for target in targets {
            let rows = sqlx::query(
                "SELECT policy_name FROM policy_attachments WHERE target = $1 AND ($2 IS NULL OR policy_name > $2)",
            )
            .bind(target)
            .bind(page.after.clone())
            .fetch_all(&mut *conn)
            .await?;
            for row in &rows {
                names.insert(row::text(row, "policy_name")?);
            }
        }
        let mut items = Vec::new();
        for name in names.into_iter().take(page.limit as usize + 1) {
            items.push(require_policy(&mut conn, &name).await?);
        }
        Ok(Page::from_rows(items, page.limit, |p| p.name.clone()))
    }

    /// ListTargetsForPolicy (and, filtered to certificates, ListPolicyPrincipals).
    pub async fn list_targets_for_policy(
        &self,
        name: &str,
        certificates_only: bool,
        page: &PageRequest,
    ) -> Result<Page<String>, RegistryError> {
        POLICY_NAME.check("policyName", name)?;
        let mut conn = self.store.reader().acquire().await?;
        require_policy(&mut conn, name).await?;
        let cert_prefix = self.arns.certificate("");
        let rows = sqlx::query(
            "SELECT target FROM policy_attachments WHERE policy_name = $1 AND ($2 IS NULL OR target > $2) \
             AND ($3 IS NULL OR substr(target, 1, length($3)) = $3) ORDER BY target LIMIT $4",
        )
        .bind(name.to_owned())
        .bind(page.after.clone())
        .bind(certificates_only.then_some(cert_prefix))
        .bind(i64::from(page.limit) + 1)
        .fetch_all(&mut *conn)
        .await?;
        let items = rows
            .iter()
            .map(|r| row::text(r, "target"))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(items, page.limit, Clone::clone))
    }

    /// The default-version documents of the policies attached to any of `targets`, by name:
    /// what the broker evaluates for a connection.
    pub async fn policies_for_targets(
        &self,
        targets: &[String],
    ) -> Result<Vec<(String, String)>, RegistryError> {
        let mut conn = self.store.reader().acquire().await?;
        let mut names = std::collections::BTreeSet::new();
        for target in targets {
            let rows = sqlx::query("SELECT policy_name FROM policy_attachments WHERE target = $1")
                .bind(target.clone())
                .fetch_all(&mut *conn)
                .await?;
            for row in &rows {
                names.insert(row::text(row, "policy_name")?);
            }
        }
        let mut documents = Vec::with_capacity(names.len());
        for name in names {
            if let Some(policy) = find_policy(&mut conn, &name).await? {
                documents.push((policy.name, policy.document));
            }
        }
        Ok(documents)
    }
}

fn parse_version_id(version: &str) -> Result<i64, RegistryError> {
    version
        .parse::<i64>()
        .ok()
        .filter(|v| *v > 0 && version.chars().all(|c| c.is_ascii_digit()))
        .ok_or_else(|| {
            RegistryError::constraint("policyVersionId", version, Constraint::Pattern("[0-9]+"))
        })
}

async fn version_exists(
    conn: &mut AnyConnection,
    name: &str,
    number: i64,
    version: &str,
) -> Result<(), RegistryError> {
    let found =
        sqlx::query("SELECT version FROM policy_versions WHERE policy_name = $1 AND version = $2")
            .bind(name.to_owned())
            .bind(number)
            .fetch_optional(&mut *conn)
            .await?;
    match found {
        Some(_) => Ok(()),
        None => Err(RegistryError::not_found(format!(
            "Policy {name} version {version} cannot be found."
        ))),
    }
}
