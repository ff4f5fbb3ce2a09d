//! Provisioning templates as resources (CreateProvisioningTemplate and its family): fleet
//! provisioning and JITP templates, their versions (at most five, one of them the default), the
//! pre-provisioning hook, and the rule that a template a CA's `registrationConfig` names is a
//! JITP template that cannot be deleted while the CA names it.

use std::fmt;

use sqlx::AnyConnection;

use crate::Registry;
use crate::error::RegistryError;
use crate::model::{RegistrationConfig, Tag};
use crate::names::{ROLE_ARN, TEMPLATE_NAME};
use crate::ops::tags::tag_in;
use crate::page::{Page, PageRequest};
use crate::row;
use crate::store::now_ms;
use roost_validation::Constraint;

/// Most versions a provisioning template may have (AWS quota).
pub const MAX_TEMPLATE_VERSIONS: usize = 5;
/// Longest template description, in characters (model).
pub const MAX_TEMPLATE_DESCRIPTION: usize = 500;
/// Longest pre-provisioning hook target, in characters (model).
pub const MAX_HOOK_TARGET: usize = 2048;

/// What a provisioning template is for; fixed when the template is created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TemplateType {
    /// `FLEET_PROVISIONING` (the default): devices provision themselves over MQTT.
    #[default]
    FleetProvisioning,
    /// `JITP`: named by a CA's `registrationConfig.templateName`.
    Jitp,
}

impl TemplateType {
    /// The wire spelling: `FLEET_PROVISIONING` or `JITP`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FleetProvisioning => "FLEET_PROVISIONING",
            Self::Jitp => "JITP",
        }
    }

    /// Parses the wire spelling; `field` names the API member in the error.
    pub fn parse(field: &str, value: &str) -> Result<Self, RegistryError> {
        match value {
            "FLEET_PROVISIONING" => Ok(Self::FleetProvisioning),
            "JITP" => Ok(Self::Jitp),
            _ => Err(RegistryError::constraint(
                field,
                value,
                Constraint::OneOf(&["FLEET_PROVISIONING", "JITP"]),
            )),
        }
    }
}

impl fmt::Display for TemplateType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A fleet provisioning template's pre-provisioning hook. On AWS `target_arn` is a Lambda ARN;
/// Roost also accepts, and calls, an `https://` or `http://` webhook URL. Stored as given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvisioningHook {
    pub target_arn: String,
    /// `payloadVersion` (e.g. `2020-04-01`), when given.
    pub payload_version: Option<String>,
}

/// A provisioning template with its default version's body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvisioningTemplate {
    pub name: String,
    pub arn: String,
    pub description: Option<String>,
    pub template_type: TemplateType,
    /// Fleet provisioning refuses a disabled template; false unless created or updated enabled.
    pub enabled: bool,
    /// Stored and echoed; Roost has no IAM.
    pub provisioning_role_arn: String,
    pub pre_provisioning_hook: Option<ProvisioningHook>,
    /// The id of the default version (the first is 1).
    pub default_version: i64,
    /// The default version's template body, verbatim.
    pub body: String,
    pub created_ms: i64,
    pub modified_ms: i64,
}

/// One version of a provisioning template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvisioningTemplateVersion {
    pub template_name: String,
    pub version: i64,
    pub body: String,
    pub is_default: bool,
    pub created_ms: i64,
}

/// Input of CreateProvisioningTemplate.
#[derive(Debug, Clone, Default)]
pub struct NewProvisioningTemplate {
    pub name: String,
    pub description: Option<String>,
    pub body: String,
    pub enabled: bool,
    pub provisioning_role_arn: String,
    pub pre_provisioning_hook: Option<ProvisioningHook>,
    pub template_type: TemplateType,
    pub tags: Vec<Tag>,
}

/// Input of UpdateProvisioningTemplate; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ProvisioningTemplateUpdate {
    pub description: Option<String>,
    pub enabled: Option<bool>,
    pub default_version: Option<i64>,
    pub provisioning_role_arn: Option<String>,
    pub pre_provisioning_hook: Option<ProvisioningHook>,
    pub remove_pre_provisioning_hook: bool,
}

/// `description`: at most 500 characters, none of them control or format characters
/// (`[^\p{C}]*`).
fn check_description(field: &str, description: &str) -> Result<(), RegistryError> {
    if description.chars().count() > MAX_TEMPLATE_DESCRIPTION {
        return Err(RegistryError::constraint(
            field,
            description,
            Constraint::LengthAtMost(MAX_TEMPLATE_DESCRIPTION),
        ));
    }
    if description.chars().any(is_other_category) {
        return Err(RegistryError::constraint(
            field,
            description,
            Constraint::Pattern("[^\\p{C}]*"),
        ));
    }
    Ok(())
}

/// Unicode category C as far as Rust can tell without tables: controls, and the format,
/// private-use and noncharacter code points that commonly appear.
fn is_other_category(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{00AD}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}')
        || matches!(c, '\u{2060}'..='\u{2064}' | '\u{FEFF}' | '\u{E000}'..='\u{F8FF}')
}

/// Checks a template body: a valid provisioning template (the error names the place in it).
pub(crate) fn check_template_body(field: &str, body: &str) -> Result<(), RegistryError> {
    roost_template::Template::parse(body).map_err(|e| {
        RegistryError::invalid(format!("{field} is not a valid provisioning template: {e}"))
    })?;
    Ok(())
}

fn check_hook(field: &str, hook: &ProvisioningHook) -> Result<(), RegistryError> {
    let target = &hook.target_arn;
    let target_field = format!("{field}.targetArn");
    if target.is_empty() || target.chars().count() > MAX_HOOK_TARGET {
        return Err(RegistryError::constraint(
            &target_field,
            target,
            Constraint::LengthBetween(1, MAX_HOOK_TARGET),
        ));
    }
    let is_url = target
        .strip_prefix("https://")
        .or_else(|| target.strip_prefix("http://"))
        .is_some_and(|rest| !rest.is_empty());
    if !is_url && !target.starts_with("arn:") {
        return Err(RegistryError::invalid(format!(
            "{target_field} '{target}' must be a Lambda function ARN or, on Roost, an https:// \
             or http:// webhook URL"
        )));
    }
    if target.chars().any(char::is_whitespace) {
        return Err(RegistryError::invalid(format!(
            "{target_field} '{target}' must not contain whitespace"
        )));
    }
    if let Some(version) = &hook.payload_version {
        let length = version.chars().count();
        if !(10..=32).contains(&length) {
            return Err(RegistryError::constraint(
                &format!("{field}.payloadVersion"),
                version,
                Constraint::LengthBetween(10, 32),
            ));
        }
        if !version.chars().all(|c| c.is_ascii_digit() || c == '-') {
            return Err(RegistryError::constraint(
                &format!("{field}.payloadVersion"),
                version,
                Constraint::Pattern("^[0-9-]+$"),
            ));
        }
    }
    Ok(())
}

fn check_version_id(version: i64) -> Result<(), RegistryError> {
    if version < 1 {
        return Err(RegistryError::invalid(format!(
            "versionId {version} is not a template version id (they start at 1)"
        )));
    }
    Ok(())
}

fn template_not_found(name: &str) -> RegistryError {
    RegistryError::not_found(format!("The provisioning template {name} does not exist."))
}

fn version_not_found(name: &str, version: i64) -> RegistryError {
    RegistryError::not_found(format!(
        "Version {version} of provisioning template {name} does not exist."
    ))
}

const TEMPLATE_SELECT: &str = "SELECT t.name, t.description, t.template_type, t.enabled, \
     t.provisioning_role_arn, t.hook_target_arn, t.hook_payload_version, t.default_version, \
     t.created_ms, t.modified_ms, v.body FROM provisioning_templates t \
     JOIN provisioning_template_versions v \
     ON v.template_name = t.name AND v.version = t.default_version";

fn template_from_row(
    arns: &crate::Arns,
    row: &sqlx::any::AnyRow,
) -> Result<ProvisioningTemplate, RegistryError> {
    let name = row::text(row, "name")?;
    let hook = match row::opt_text(row, "hook_target_arn")? {
        Some(target_arn) => Some(ProvisioningHook {
            target_arn,
            payload_version: row::opt_text(row, "hook_payload_version")?,
        }),
        None => None,
    };
    Ok(ProvisioningTemplate {
        arn: arns.provisioning_template(&name),
        name,
        description: row::opt_text(row, "description")?,
        template_type: TemplateType::parse("type", &row::text(row, "template_type")?)?,
        enabled: row::int(row, "enabled")? != 0,
        provisioning_role_arn: row::text(row, "provisioning_role_arn")?,
        pre_provisioning_hook: hook,
        default_version: row::int(row, "default_version")?,
        body: row::text(row, "body")?,
        created_ms: row::int(row, "created_ms")?,
        modified_ms: row::int(row, "modified_ms")?,
    })
}

pub(crate) async fn find_template(
    conn: &mut AnyConnection,
    arns: &crate::Arns,
    name: &str,
) -> Result<Option<ProvisioningTemplate>, RegistryError> {
    let sql = format!("{TEMPLATE_SELECT} WHERE t.name = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(name.to_owned())
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref()
        .map(|row| template_from_row(arns, row))
        .transpose()
}

async fn require_template(
    conn: &mut AnyConnection,
    arns: &crate::Arns,
    name: &str,
) -> Result<ProvisioningTemplate, RegistryError> {
    find_template(conn, arns, name)
        .await?
        .ok_or_else(|| template_not_found(name))
}

/// The ids of a template's versions, ascending.
async fn version_ids(conn: &mut AnyConnection, name: &str) -> Result<Vec<i64>, RegistryError> {
    let rows = sqlx::query(
        "SELECT version FROM provisioning_template_versions WHERE template_name = $1 \
         ORDER BY version",
    )
    .bind(name.to_owned())
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(|r| row::int(r, "version")).collect()
}

/// Refuses a `registrationConfig.templateName` that names no template, or a template that is
/// not of type JITP: a CA can only provision from a JITP template.
pub(crate) async fn check_named_jitp_template(
    conn: &mut AnyConnection,
    config: Option<&RegistrationConfig>,
) -> Result<(), RegistryError> {
    let Some(name) = config.and_then(|c| c.template_name.as_deref()) else {
        return Ok(());
    };
    let row = sqlx::query("SELECT template_type FROM provisioning_templates WHERE name = $1")
        .bind(name.to_owned())
        .fetch_optional(&mut *conn)
        .await?;
    let Some(row) = row else {
        return Err(RegistryError::invalid(format!(
            "registrationConfig.templateName names the provisioning template {name}, which does \
             not exist; create it with CreateProvisioningTemplate --type JITP first"
        )));
    };
    let template_type = TemplateType::parse("type", &row::text(&row, "template_type")?)?;
    if template_type != TemplateType::Jitp {
        return Err(RegistryError::invalid(format!(
            "registrationConfig.templateName names the provisioning template {name}, which is of \
             type {template_type}; a CA's registration config needs a template of type JITP"
        )));
    }
    Ok(())
}

/// The CAs whose registration config names template `name`.
async fn cas_naming(conn: &mut AnyConnection, name: &str) -> Result<Vec<String>, RegistryError> {
    let rows = sqlx::query(
        "SELECT id, registration_config FROM ca_certificates \
         WHERE registration_config IS NOT NULL ORDER BY id",
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut naming = Vec::new();
    for r in &rows {
        let Some(json) = row::opt_text(r, "registration_config")? else {
            continue;
        };
        let config: RegistrationConfig = serde_json::from_str(&json)
            .map_err(|e| RegistryError::storage(format!("registration_config: {e}")))?;
        if config.template_name.as_deref() == Some(name) {
            naming.push(row::text(r, "id")?);
        }
    }
    Ok(naming)
}

impl Registry {
    /// CreateProvisioningTemplate: the template and its version 1, the default. The body must
    /// be a valid provisioning template; a hook is allowed only on a fleet provisioning one.
    pub async fn create_provisioning_template(
        &self,
        input: NewProvisioningTemplate,
    ) -> Result<ProvisioningTemplate, RegistryError> {
        TEMPLATE_NAME.check("templateName", &input.name)?;
        if let Some(description) = &input.description {
            check_description("description", description)?;
        }
        ROLE_ARN.check("provisioningRoleArn", &input.provisioning_role_arn)?;
        if let Some(hook) = &input.pre_provisioning_hook {
            check_hook("preProvisioningHook", hook)?;
            if input.template_type != TemplateType::FleetProvisioning {
                return Err(RegistryError::invalid(
                    "preProvisioningHook is allowed only on templates of type FLEET_PROVISIONING",
                ));
            }
        }
        check_template_body("templateBody", &input.body)?;
        let arns = self.arns.clone();
        self.store
            .write(job!(|conn| {
                let arn = arns.provisioning_template(&input.name);
                let exists = sqlx::query("SELECT name FROM provisioning_templates WHERE name = $1")
                    .bind(input.name.clone())
                    .fetch_optional(&mut *conn)
                    .await?;
                if exists.is_some() {
                    return Err(RegistryError::AlreadyExists {
                        message: format!(
                            "The provisioning template {} already exists.",
                            input.name
                        ),
                        resource_id: input.name.clone(),
                        resource_arn: arn,
                    });
                }
                let now = now_ms();
                let hook = input.pre_provisioning_hook.as_ref();
                sqlx::query(
                    "INSERT INTO provisioning_templates (name, description, template_type, \
                         enabled, provisioning_role_arn, hook_target_arn, hook_payload_version, \
                         default_version, last_version, created_ms, modified_ms) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, 1, 1, $8, $9)",
                )
                .bind(input.name.clone())
                .bind(input.description.clone())
                .bind(input.template_type.as_str())
                .bind(i64::from(input.enabled))
                .bind(input.provisioning_role_arn.clone())
                .bind(hook.map(|h| h.target_arn.clone()))
                .bind(hook.and_then(|h| h.payload_version.clone()))
                .bind(now)
                .bind(now)
                .execute(&mut *conn)
                .await?;
                sqlx::query(
                    "INSERT INTO provisioning_template_versions (template_name, version, body, \
                         created_ms) VALUES ($1, 1, $2, $3)",
                )
                .bind(input.name.clone())
                .bind(input.body.clone())
                .bind(now)
                .execute(&mut *conn)
                .await?;
                tag_in(conn, &arn, &input.tags).await?;
                let template = ProvisioningTemplate {
                    name: input.name,
                    arn,
                    description: input.description,
                    template_type: input.template_type,
                    enabled: input.enabled,
                    provisioning_role_arn: input.provisioning_role_arn,
                    pre_provisioning_hook: input.pre_provisioning_hook,
                    default_version: 1,
                    body: input.body,
                    created_ms: now,
                    modified_ms: now,
                };
                Ok((template, Vec::new()))
            }))
            .await
    }

    /// DescribeProvisioningTemplate, and the read fleet provisioning and JITP use: the
    /// template with its default version's body.
    pub async fn provisioning_template(
        &self,
        name: &str,
    ) -> Result<ProvisioningTemplate, RegistryError> {
        TEMPLATE_NAME.check("templateName", name)?;
        let mut conn = self.store.reader().acquire().await?;
        require_template(&mut conn, &self.arns, name).await
    }

    /// ListProvisioningTemplates, by name.
    pub async fn list_provisioning_templates(
        &self,
        page: &PageRequest,
    ) -> Result<Page<ProvisioningTemplate>, RegistryError> {
        let sql =
            format!("{TEMPLATE_SELECT} WHERE ($1 IS NULL OR t.name > $1) ORDER BY t.name LIMIT $2");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(page.after.clone())
            .bind(i64::from(page.limit) + 1)
            .fetch_all(self.store.reader())
            .await?;
        let items = rows
            .iter()
            .map(|row| template_from_row(&self.arns, row))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(items, page.limit, |t| t.name.clone()))
    }

    /// UpdateProvisioningTemplate: description, enabled, default version, role, hook.
    pub async fn update_provisioning_template(
        &self,
        name: &str,
        update: ProvisioningTemplateUpdate,
    ) -> Result<(), RegistryError> {
        TEMPLATE_NAME.check("templateName", name)?;
        if let Some(description) = &update.description {
            check_description("description", description)?;
        }
        if let Some(role) = &update.provisioning_role_arn {
            ROLE_ARN.check("provisioningRoleArn", role)?;
        }
        if let Some(version) = update.default_version {
            check_version_id(version)?;
        }
        if let Some(hook) = &update.pre_provisioning_hook {
            check_hook("preProvisioningHook", hook)?;
            if update.remove_pre_provisioning_hook {
                return Err(RegistryError::invalid(
                    "Give either preProvisioningHook or removePreProvisioningHook, not both",
                ));
            }
        }
        let name = name.to_owned();
        let arns = self.arns.clone();
        self.store
            .write(job!(|conn| {
                let mut template = require_template(conn, &arns, &name).await?;
                if let Some(version) = update.default_version
                    && !version_ids(conn, &name).await?.contains(&version)
                {
                    return Err(version_not_found(&name, version));
                }
                if update.pre_provisioning_hook.is_some()
                    && template.template_type != TemplateType::FleetProvisioning
                {
                    return Err(RegistryError::invalid(format!(
                        "The provisioning template {name} is of type {}; a \
                             preProvisioningHook is allowed only on FLEET_PROVISIONING templates",
                        template.template_type
                    )));
                }
                if let Some(description) = update.description {
                    template.description = Some(description);
                }
                if let Some(enabled) = update.enabled {
                    template.enabled = enabled;
                }
                if let Some(version) = update.default_version {
                    template.default_version = version;
                }
                if let Some(role) = update.provisioning_role_arn {
                    template.provisioning_role_arn = role;
                }
                if update.remove_pre_provisioning_hook {
                    template.pre_provisioning_hook = None;
                }
                if let Some(hook) = update.pre_provisioning_hook {
                    template.pre_provisioning_hook = Some(hook);
                }
                let hook = template.pre_provisioning_hook.as_ref();
                sqlx::query(
                    "UPDATE provisioning_templates SET description = $1, enabled = $2, \
                         default_version = $3, provisioning_role_arn = $4, hook_target_arn = $5, \
                         hook_payload_version = $6, modified_ms = $7 WHERE name = $8",
                )
                .bind(template.description.clone())
                .bind(i64::from(template.enabled))
                .bind(template.default_version)
                .bind(template.provisioning_role_arn.clone())
                .bind(hook.map(|h| h.target_arn.clone()))
                .bind(hook.and_then(|h| h.payload_version.clone()))
                .bind(now_ms())
                .bind(name.clone())
                .execute(&mut *conn)
                .await?;
                Ok(((), Vec::new()))
            }))
            .await
    }

    /// DeleteProvisioningTemplate with all its versions and tags; refused while a CA's
    /// registration config names it.
    pub async fn delete_provisioning_template(&self, name: &str) -> Result<(), RegistryError> {
        TEMPLATE_NAME.check("templateName", name)?;
        let name = name.to_owned();
        let arns = self.arns.clone();
        self.store
            .write(job!(|conn| {
                require_template(conn, &arns, &name).await?;
                let naming = cas_naming(conn, &name).await?;
                if !naming.is_empty() {
                    return Err(RegistryError::DeleteConflict(format!(
                        "The provisioning template {name} is named by the registration config \
                             of CA certificate(s) {}; update or delete them first",
                        naming.join(", ")
                    )));
                }
                for (sql, key) in [
                    (
                        "DELETE FROM provisioning_template_versions WHERE template_name = $1",
                        name.clone(),
                    ),
                    (
                        "DELETE FROM provisioning_templates WHERE name = $1",
                        name.clone(),
                    ),
                    (
                        "DELETE FROM tags WHERE resource_arn = $1",
                        arns.provisioning_template(&name),
                    ),
                ] {
                    sqlx::query(sql).bind(key).execute(&mut *conn).await?;
                }
                Ok(((), Vec::new()))
            }))
            .await
    }

    /// CreateProvisioningTemplateVersion; at most five versions, ids never reused.
    pub async fn create_provisioning_template_version(
        &self,
        name: &str,
        body: &str,
        set_as_default: bool,
    ) -> Result<ProvisioningTemplateVersion, RegistryError> {
        TEMPLATE_NAME.check("templateName", name)?;
        check_template_body("templateBody", body)?;
        let (name, body) = (name.to_owned(), body.to_owned());
        let arns = self.arns.clone();
        self.store
            .write(job!(|conn| {
                require_template(conn, &arns, &name).await?;
                if version_ids(conn, &name).await?.len() >= MAX_TEMPLATE_VERSIONS {
                    return Err(RegistryError::VersionsLimitExceeded(format!(
                        "The provisioning template {name} already has the maximum number of \
                             versions ({MAX_TEMPLATE_VERSIONS}); delete one first"
                    )));
                }
                let state =
                    sqlx::query("SELECT last_version FROM provisioning_templates WHERE name = $1")
                        .bind(name.clone())
                        .fetch_one(&mut *conn)
                        .await?;
                let version = row::int(&state, "last_version")? + 1;
                let now = now_ms();
                sqlx::query(
                    "INSERT INTO provisioning_template_versions (template_name, version, body, \
                         created_ms) VALUES ($1, $2, $3, $4)",
                )
                .bind(name.clone())
                .bind(version)
                .bind(body.clone())
                .bind(now)
                .execute(&mut *conn)
                .await?;
                let sql = if set_as_default {
                    "UPDATE provisioning_templates SET last_version = $1, default_version = $1, \
                         modified_ms = $2 WHERE name = $3"
                } else {
                    "UPDATE provisioning_templates SET last_version = $1, modified_ms = $2 \
                         WHERE name = $3"
                };
                sqlx::query(sql)
                    .bind(version)
                    .bind(now)
                    .bind(name.clone())
                    .execute(&mut *conn)
                    .await?;
                let created = ProvisioningTemplateVersion {
                    template_name: name,
                    version,
                    body,
                    is_default: set_as_default,
                    created_ms: now,
                };
                Ok((created, Vec::new()))
            }))
            .await
    }

    /// DescribeProvisioningTemplateVersion.
    pub async fn provisioning_template_version(
        &self,
        name: &str,
        version: i64,
    ) -> Result<ProvisioningTemplateVersion, RegistryError> {
        TEMPLATE_NAME.check("templateName", name)?;
        check_version_id(version)?;
        let mut conn = self.store.reader().acquire().await?;
        let template = require_template(&mut conn, &self.arns, name).await?;
        let row = sqlx::query(
            "SELECT body, created_ms FROM provisioning_template_versions \
             WHERE template_name = $1 AND version = $2",
        )
        .bind(name.to_owned())
        .bind(version)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| version_not_found(name, version))?;
        Ok(ProvisioningTemplateVersion {
            template_name: name.to_owned(),
            version,
            body: row::text(&row, "body")?,
            is_default: version == template.default_version,
            created_ms: row::int(&row, "created_ms")?,
        })
    }

    /// ListProvisioningTemplateVersions, oldest first.
    pub async fn list_provisioning_template_versions(
        &self,
        name: &str,
        page: &PageRequest,
    ) -> Result<Page<ProvisioningTemplateVersion>, RegistryError> {
        TEMPLATE_NAME.check("templateName", name)?;
        let after = page
            .after
            .as_deref()
            .map(|token| {
                token.parse::<i64>().map_err(|_| {
                    RegistryError::invalid(
                        "nextToken: the pagination token is not one this list issued",
                    )
                })
            })
            .transpose()?;
        let mut conn = self.store.reader().acquire().await?;
        let template = require_template(&mut conn, &self.arns, name).await?;
        let rows = sqlx::query(
            "SELECT version, body, created_ms FROM provisioning_template_versions \
             WHERE template_name = $1 AND ($2 IS NULL OR version > $2) ORDER BY version LIMIT $3",
        )
        .bind(name.to_owned())
        .bind(after)
        .bind(i64::from(page.limit) + 1)
        .fetch_all(&mut *conn)
        .await?;
        let items = rows
            .iter()
            .map(|r| {
                let version = row::int(r, "version")?;
                Ok(ProvisioningTemplateVersion {
                    template_name: name.to_owned(),
                    version,
                    body: row::text(r, "body")?,
                    is_default: version == template.default_version,
                    created_ms: row::int(r, "created_ms")?,
                })
            })
            .collect::<Result<Vec<_>, RegistryError>>()?;
        Ok(Page::from_rows(items, page.limit, |v| {
            v.version.to_string()
        }))
    }

    /// DeleteProvisioningTemplateVersion; the default version cannot be deleted.
    pub async fn delete_provisioning_template_version(
        &self,
        name: &str,
        version: i64,
    ) -> Result<(), RegistryError> {
        TEMPLATE_NAME.check("templateName", name)?;
        check_version_id(version)?;
        let name = name.to_owned();
        let arns = self.arns.clone();
        self.store
            .write(job!(|conn| {
                let template = require_template(conn, &arns, &name).await?;
                if !version_ids(conn, &name).await?.contains(&version) {
                    return Err(version_not_found(&name, version));
                }
                if version == template.default_version {
                    return Err(RegistryError::DeleteConflict(format!(
                        "Version {version} is the default version of provisioning template \
                             {name}; make another version the default before deleting it"
                    )));
                }
                sqlx::query(
                    "DELETE FROM provisioning_template_versions \
                         WHERE template_name = $1 AND version = $2",
                )
                .bind(name.clone())
                .bind(version)
                .execute(&mut *conn)
                .await?;
                Ok(((), Vec::new()))
            }))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(target: &str, version: Option<&str>) -> ProvisioningHook {
        ProvisioningHook {
            target_arn: target.to_owned(),
            payload_version: version.map(str::to_owned),
        }
    }

    #[test]
    fn template_types_spell_as_in_the_model() {
        for t in [TemplateType::FleetProvisioning, TemplateType::Jitp] {
            assert_eq!(TemplateType::parse("type", t.as_str()).unwrap(), t);
        }
        let err = TemplateType::parse("type", "fleet")
            .unwrap_err()
            .to_string();
        assert!(err.contains("[FLEET_PROVISIONING, JITP]"), "{err}");
    }

    #[test]
    fn a_hook_targets_a_lambda_arn_or_a_webhook_url() {
        for target in [
            "arn:aws:lambda:us-east-1:123456789012:function:pre-provision",
            "https://hooks.example.com/provision",
            "http://127.0.0.1:9000/hook",
        ] {
            assert!(
                check_hook("h", &hook(target, Some("2020-04-01"))).is_ok(),
                "{target}"
            );
        }
        for target in ["", "ftp://x", "https://", "lambda", "https://a b"] {
            assert!(check_hook("h", &hook(target, None)).is_err(), "{target:?}");
        }
    }

    #[test]
    fn a_hook_payload_version_is_ten_to_thirty_two_digits_and_dashes() {
        let url = "https://hooks.example.com";
        assert!(check_hook("h", &hook(url, Some("2020-04-01"))).is_ok());
        let err = check_hook("h", &hook(url, Some("2020")))
            .unwrap_err()
            .to_string();
        assert!(err.contains("'h.payloadVersion'"), "{err}");
        assert!(check_hook("h", &hook(url, Some("2020-04-0x"))).is_err());
    }

    #[test]
    fn descriptions_refuse_control_characters_and_more_than_500_characters() {
        assert!(check_description("description", "Factory line 3 — EU").is_ok());
        assert!(check_description("description", "tab\there").is_err());
        assert!(check_description("description", &"x".repeat(501)).is_err());
    }

    #[test]
    fn an_invalid_body_is_refused_naming_the_place_in_the_template() {
        let err = check_template_body(
            "templateBody",
            r#"{"Resources": {"thing": {"Type": "AWS::IoT::Thing", "Properties": {"ThingName": {"Ref": "Missing"}}}}}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("templateBody is not a valid provisioning template: "),
            "{err}"
        );
        assert!(
            err.contains("Resources.thing.Properties.ThingName"),
            "{err}"
        );
    }
}
