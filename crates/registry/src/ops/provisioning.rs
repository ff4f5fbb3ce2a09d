//! Provisioning: a template's plan applied in one transaction — the certificate registered, the
//! thing created or updated, policies created or reused, attachments made, the certificate's
//! final status set — or nothing at all. Shared by just-in-time provisioning (JITP) and
//! registration (JITR); fleet provisioning and RegisterThing will use it too.

use std::collections::BTreeSet;

use std::collections::HashMap;

use roost_pki::{AttributeType, CertificateInfo, DistinguishedName, GeneralName};
use roost_template::{CertificatePlan, OverrideAction, Parameters, Plan, ThingPlan};
use sqlx::AnyConnection;

use crate::Registry;
use crate::error::RegistryError;
use crate::events::RegistryEvent;
use crate::model::{Certificate, CertificateStatus, ThingPrincipalType};
use crate::names::{POLICY_NAME, RESOURCE_NAME};
use crate::ops::billing_groups::set_billing_group_in;
use crate::ops::ca_certificates::{cas_with_subject, invalid_certificate, require_ca};
use crate::ops::certificates::{
    CertificateSource, find_certificate, register_certificate_in, set_status_in,
};
use crate::ops::policies::{attach_policy_in, create_policy_in, find_policy, validate_document};
use crate::ops::principals::attach_principal_in;
use crate::ops::thing_groups::add_member_in;
use crate::ops::things::{
    NewThing, check_attribute_count, check_attributes, check_usable_type, create_thing_in,
    find_thing,
};
use crate::row;
use crate::store::{now_ms, storage};

/// The AWS names of the subject attributes JITP passes to templates.
const AWS_SUBJECT_PARAMETERS: &[(AttributeType, &str)] = &[
    (AttributeType::Country, "Country"),
    (AttributeType::Organization, "Organization"),
    (AttributeType::OrganizationalUnit, "OrganizationalUnit"),
    (AttributeType::DnQualifier, "DistinguishedNameQualifier"),
    (AttributeType::StateOrProvince, "StateName"),
    (AttributeType::CommonName, "CommonName"),
    (AttributeType::SerialNumber, "SerialNumber"),
];

/// Every name attribute Roost's own `Roost::Certificate::Subject::*` and `…::Issuer::*`
/// parameters cover.
const ROOST_NAME_PARAMETERS: &[(AttributeType, &str)] = &[
    (AttributeType::Country, "Country"),
    (AttributeType::StateOrProvince, "StateName"),
    (AttributeType::Locality, "Locality"),
    (AttributeType::Organization, "Organization"),
    (AttributeType::OrganizationalUnit, "OrganizationalUnit"),
    (AttributeType::CommonName, "CommonName"),
    (AttributeType::DnQualifier, "DistinguishedNameQualifier"),
    (AttributeType::SerialNumber, "SerialNumber"),
    (AttributeType::Title, "Title"),
    (AttributeType::Surname, "Surname"),
    (AttributeType::GivenName, "GivenName"),
    (AttributeType::Initials, "Initials"),
    (AttributeType::Pseudonym, "Pseudonym"),
    (AttributeType::GenerationQualifier, "GenerationQualifier"),
    (AttributeType::EmailAddress, "EmailAddress"),
];

fn name_parameters(parameters: &mut Parameters, prefix: &str, name: &DistinguishedName) {
    for (kind, label) in ROOST_NAME_PARAMETERS {
        if let Some(value) = name.first(kind) {
            parameters.insert(format!("{prefix}::{label}"), value.to_owned());
        }
    }
}

fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// The template parameters JITP supplies for `certificate`, signed by `ca`: AWS's eight
/// (`AWS::IoT::Certificate::*`, from the subject, and the certificate id) and Roost's own,
/// documented in README.md (`Roost::Certificate::*`: every subject and issuer attribute, the
/// subject alternative names, the validity window, the X.509 serial, the fingerprint and the
/// CA's id).
pub fn jitp_parameters(certificate: &CertificateInfo, ca_id: &str) -> Parameters {
    let mut parameters = Parameters::new();
    for (kind, label) in AWS_SUBJECT_PARAMETERS {
        if let Some(value) = certificate.subject.first(kind) {
            parameters.insert(format!("AWS::IoT::Certificate::{label}"), value.to_owned());
        }
    }
    parameters.insert(
        "AWS::IoT::Certificate::Id".to_owned(),
        certificate.id.clone(),
    );

    name_parameters(
        &mut parameters,
        "Roost::Certificate::Subject",
        &certificate.subject,
    );
    name_parameters(
        &mut parameters,
        "Roost::Certificate::Issuer",
        &certificate.issuer,
    );
    let mut alt_names: HashMap<&str, Vec<String>> = HashMap::new();
    for name in &certificate.subject_alt_names {
        let (kind, value) = match name {
            GeneralName::Dns(v) => ("DNSName", v.clone()),
            GeneralName::Uri(v) => ("URI", v.clone()),
            GeneralName::Email(v) => ("Email", v.clone()),
            GeneralName::Ip(ip) => ("IPAddress", ip.to_string()),
            GeneralName::DirectoryName(_) | GeneralName::Other(_) => continue,
        };
        alt_names.entry(kind).or_default().push(value);
    }
    for (kind, values) in alt_names {
        let prefix = "Roost::Certificate::SubjectAlternativeName";
        parameters.insert(format!("{prefix}::{kind}"), values[0].clone());
        parameters.insert(format!("{prefix}::{kind}List"), values.join(","));
    }
    parameters.insert(
        "Roost::Certificate::NotBefore".to_owned(),
        rfc3339(certificate.validity.not_before),
    );
    parameters.insert(
        "Roost::Certificate::NotAfter".to_owned(),
        rfc3339(certificate.validity.not_after),
    );
    parameters.insert(
        "Roost::Certificate::SerialNumber".to_owned(),
        certificate.serial_hex.clone(),
    );
    parameters.insert(
        "Roost::Certificate::Fingerprint".to_owned(),
        certificate.id.clone(),
    );
    parameters.insert(
        "Roost::Certificate::CACertificateId".to_owned(),
        ca_id.to_owned(),
    );
    parameters
}

/// What provisioning did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provisioned {
    /// The certificate as registered, with its final status.
    pub certificate: Certificate,
    /// The thing it was attached to, if the plan had one.
    pub thing_name: Option<String>,
    /// The policies attached to it.
    pub policies: Vec<String>,
    /// False when the certificate had been provisioned already (a concurrent first connect
    /// won): nothing was changed.
    pub created: bool,
}

/// A provisioning failure that is the template's or the registry's state's fault (as opposed
/// to storage), so the device is refused with this message.
fn plan_error(message: impl Into<String>) -> RegistryError {
    RegistryError::InvalidRequest(message.into())
}

/// Checks what can be checked without the database.
fn check_plan(plan: &Plan, leaf: &CertificateInfo) -> Result<(), RegistryError> {
    match &plan.certificate {
        Some(CertificatePlan {
            source: roost_template::CertificateSource::Id(id),
            ..
        }) if !id.eq_ignore_ascii_case(&leaf.id) => {
            return Err(plan_error(format!(
                "the template's certificate resource names certificate {id}, not the \
                 connecting certificate {}",
                leaf.id
            )));
        }
        Some(CertificatePlan {
            source: roost_template::CertificateSource::Id(_),
            ..
        })
        | None => {}
        Some(_) => {
            return Err(plan_error(
                "a just-in-time provisioning template must identify its certificate with \
                 CertificateId (Ref AWS::IoT::Certificate::Id)",
            ));
        }
    }
    if let Some(thing) = &plan.thing {
        RESOURCE_NAME.check("ThingName", &thing.name)?;
        if let Some(attributes) = &thing.attributes {
            check_attributes(attributes)?;
        }
        if let Some(t) = &thing.thing_type {
            RESOURCE_NAME.check("ThingTypeName", t)?;
        }
        for group in &thing.thing_groups {
            RESOURCE_NAME.check("ThingGroups", group)?;
        }
        if let Some(group) = &thing.billing_group {
            RESOURCE_NAME.check("BillingGroup", group)?;
        }
    }
    for policy in &plan.policies {
        POLICY_NAME.check("PolicyName", &policy.name)?;
        if let Some(document) = &policy.document {
            validate_document(document)?;
        }
    }
    Ok(())
}

/// Creates or updates the plan's thing; returns its name and whether anything changed.
async fn apply_thing(
    conn: &mut AnyConnection,
    arns: &crate::Arns,
    plan: &ThingPlan,
) -> Result<bool, RegistryError> {
    let Some(existing) = find_thing(conn, &plan.name).await? else {
        check_attribute_count(
            &plan.name,
            plan.attributes.as_ref().map_or(0, |a| a.len()),
            plan.thing_type.is_some(),
        )?;
        create_thing_in(
            conn,
            arns,
            NewThing {
                name: plan.name.clone(),
                type_name: plan.thing_type.clone(),
                attributes: plan.attributes.clone().unwrap_or_default(),
                billing_group: plan.billing_group.clone(),
            },
        )
        .await?;
        for group in &plan.thing_groups {
            add_member_in(conn, group, &plan.name).await?;
        }
        return Ok(true);
    };
    let conflict = |what: &str| {
        plan_error(format!(
            "thing {} exists and the template's OverrideSettings say FAIL for {what}",
            plan.name
        ))
    };
    let mut attributes = existing.attributes.clone();
    match (plan.overrides.attribute_payload, &plan.attributes) {
        (Some(OverrideAction::Replace), Some(new)) => attributes = new.clone(),
        (Some(OverrideAction::Merge), Some(new)) => attributes.extend(new.clone()),
        (Some(OverrideAction::Fail), Some(new)) if *new != existing.attributes => {
            return Err(conflict("AttributePayload"));
        }
        _ => {}
    }
    let mut type_name = existing.type_name.clone();
    match (plan.overrides.thing_type_name, &plan.thing_type) {
        (Some(OverrideAction::Replace), Some(new)) => {
            if type_name.as_deref() != Some(new.as_str()) {
                check_usable_type(conn, new).await?;
            }
            type_name = Some(new.clone());
        }
        (Some(OverrideAction::Fail), Some(new)) if type_name.as_deref() != Some(new.as_str()) => {
            return Err(conflict("ThingTypeName"));
        }
        _ => {}
    }
    check_attribute_count(&plan.name, attributes.len(), type_name.is_some())?;
    let mut changed = attributes != existing.attributes || type_name != existing.type_name;
    if changed {
        sqlx::query(
            "UPDATE things SET type_name = $1, attributes = $2, version = $3 WHERE name = $4",
        )
        .bind(type_name)
        .bind(row::attributes_json(&attributes))
        .bind(existing.version + 1)
        .bind(plan.name.clone())
        .execute(&mut *conn)
        .await
        .map_err(storage)?;
    }
    if !plan.thing_groups.is_empty() {
        let rows = sqlx::query("SELECT group_name FROM thing_group_members WHERE thing_name = $1")
            .bind(plan.name.clone())
            .fetch_all(&mut *conn)
            .await
            .map_err(storage)?;
        let current = rows
            .iter()
            .map(|r| row::text(r, "group_name"))
            .collect::<Result<BTreeSet<_>, _>>()?;
        let wanted: BTreeSet<String> = plan.thing_groups.iter().cloned().collect();
        match plan.overrides.thing_groups {
            Some(OverrideAction::Merge) => {
                for group in wanted.difference(&current) {
                    changed |= add_member_in(conn, group, &plan.name).await?;
                }
            }
            Some(OverrideAction::Replace) => {
                for group in current.difference(&wanted) {
                    sqlx::query(
                        "DELETE FROM thing_group_members WHERE group_name = $1 AND thing_name = $2",
                    )
                    .bind(group.clone())
                    .bind(plan.name.clone())
                    .execute(&mut *conn)
                    .await
                    .map_err(storage)?;
                    changed = true;
                }
                for group in wanted.difference(&current) {
                    changed |= add_member_in(conn, group, &plan.name).await?;
                }
            }
            Some(OverrideAction::Fail) if wanted != current => {
                return Err(conflict("ThingGroups"));
            }
            _ => {}
        }
    }
    if let Some(group) = &plan.billing_group
        && existing.billing_group.as_deref() != Some(group.as_str())
    {
        set_billing_group_in(conn, group, &plan.name).await?;
        changed = true;
    }
    Ok(changed)
}

/// Applies `plan` for `leaf`, registered under `ca_id`, inside the writer's transaction.
async fn provision_in(
    conn: &mut AnyConnection,
    arns: &crate::Arns,
    leaf: &CertificateInfo,
    ca_id: &str,
    plan: &Plan,
) -> Result<(Provisioned, Vec<RegistryEvent>), RegistryError> {
    let existing = find_certificate(conn, &leaf.id).await?;
    if let Some(existing) = &existing
        && existing.status != CertificateStatus::PendingActivation
    {
        // Provisioned already (a concurrent first connect won), or deliberately changed
        // since: leave it as it is.
        return Ok((
            Provisioned {
                certificate: existing.clone(),
                thing_name: plan.thing.as_ref().map(|t| t.name.clone()),
                policies: plan.policies.iter().map(|p| p.name.clone()).collect(),
                created: false,
            },
            Vec::new(),
        ));
    }
    let mut events = Vec::new();
    let mut certificate = match existing {
        Some(pending) => pending,
        None => {
            register_certificate_in(
                conn,
                arns,
                leaf,
                &CertificateSource::AutoRegistered {
                    ca_id: ca_id.to_owned(),
                },
                CertificateStatus::PendingActivation,
            )
            .await?
        }
    };
    let principal = arns.certificate(&leaf.id);
    if let Some(thing) = &plan.thing
        && apply_thing(conn, arns, thing).await?
    {
        events.push(RegistryEvent::ThingChanged {
            thing_name: thing.name.clone(),
        });
    }
    let mut policies = Vec::with_capacity(plan.policies.len());
    for policy in &plan.policies {
        match &policy.document {
            Some(document) => {
                if find_policy(conn, &policy.name).await?.is_none() {
                    create_policy_in(conn, arns, &policy.name, document).await?;
                    events.push(RegistryEvent::PolicyChanged {
                        policy_name: policy.name.clone(),
                    });
                }
            }
            None => {
                if find_policy(conn, &policy.name).await?.is_none() {
                    return Err(plan_error(format!(
                        "the template names policy {} but no such policy exists",
                        policy.name
                    )));
                }
            }
        }
        if attach_policy_in(conn, arns, &policy.name, &principal).await? {
            events.push(RegistryEvent::PolicyAttachmentChanged {
                policy_name: policy.name.clone(),
                target: principal.clone(),
            });
        }
        policies.push(policy.name.clone());
    }
    if let Some(thing) = &plan.thing
        && attach_principal_in(
            conn,
            arns,
            &thing.name,
            &principal,
            ThingPrincipalType::NonExclusiveThing,
        )
        .await?
    {
        events.push(RegistryEvent::ThingPrincipalChanged {
            thing_name: thing.name.clone(),
            principal: principal.clone(),
        });
    }
    let status = match plan.certificate.as_ref().map(|c| c.status) {
        Some(roost_template::CertificateStatus::Inactive) => CertificateStatus::Inactive,
        _ => CertificateStatus::Active,
    };
    set_status_in(conn, &leaf.id, status).await?;
    certificate.status = status;
    certificate.modified_ms = now_ms();
    events.push(RegistryEvent::CertificateChanged {
        certificate_id: leaf.id.clone(),
    });
    Ok((
        Provisioned {
            certificate,
            thing_name: plan.thing.as_ref().map(|t| t.name.clone()),
            policies,
            created: true,
        },
        events,
    ))
}

/// What just-in-time provisioning would do for a certificate, without doing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DryRun {
    /// The registered CA that signed the certificate.
    pub ca_id: String,
    /// The parameters the template was given.
    pub parameters: Parameters,
    /// The resources it would create or update.
    pub plan: Plan,
    /// The certificate's status if it is registered already (provisioning would then leave it).
    pub registered_status: Option<CertificateStatus>,
}

impl Registry {
    /// Evaluates the provisioning template of the CA that signed `certificate_pem` (or of
    /// `ca_id`) against it and returns the plan, changing nothing.
    pub async fn dry_run_provisioning(
        &self,
        certificate_pem: &str,
        ca_id: Option<&str>,
    ) -> Result<DryRun, RegistryError> {
        let leaf = CertificateInfo::from_pem(certificate_pem)
            .map_err(|e| invalid_certificate("certificatePem", e))?;
        let mut conn = self.store.reader().acquire().await.map_err(storage)?;
        let candidates = match ca_id {
            Some(id) => {
                let id = crate::names::CertificateId::parse("caCertificateId", id)?;
                vec![require_ca(&mut conn, id.as_str()).await?]
            }
            None => cas_with_subject(&mut conn, &leaf.issuer_der).await?,
        };
        let mut signer = None;
        for candidate in candidates {
            let ca = CertificateInfo::from_pem(&candidate.pem)
                .map_err(|e| RegistryError::Storage(format!("stored CA {}: {e}", candidate.id)))?;
            if roost_pki::verify_signed_by(&leaf, &ca).is_ok() {
                signer = Some(candidate);
                break;
            }
        }
        let ca = signer.ok_or_else(|| {
            RegistryError::CertificateValidation(format!(
                "no registered CA certificate signed this certificate (issuer '{}')",
                leaf.issuer
            ))
        })?;
        let body = ca
            .registration_config
            .as_ref()
            .and_then(|c| c.template_body.as_deref())
            .ok_or_else(|| {
                plan_error(format!(
                    "CA {} has no provisioning template: a device it signed would be registered \
                     as PENDING_ACTIVATION (just-in-time registration) instead",
                    ca.id
                ))
            })?;
        let template = roost_template::Template::parse(body)
            .map_err(|e| plan_error(format!("the CA's provisioning template is invalid: {e}")))?;
        let parameters = jitp_parameters(&leaf, &ca.id);
        let plan = template
            .evaluate(&parameters)
            .map_err(|e| plan_error(format!("the provisioning template failed: {e}")))?;
        check_plan(&plan, &leaf)?;
        let registered_status = find_certificate(&mut conn, &leaf.id)
            .await?
            .map(|c| c.status);
        Ok(DryRun {
            ca_id: ca.id,
            parameters,
            plan,
            registered_status,
        })
    }

    /// Just-in-time provisioning: registers `certificate_pem` (signed by registered CA `ca_id`)
    /// and applies `plan`, all in one transaction. A certificate that is already provisioned
    /// is left alone (`created: false`); one still PENDING_ACTIVATION is completed.
    pub async fn provision_certificate(
        &self,
        certificate_pem: &str,
        ca_id: &str,
        plan: Plan,
    ) -> Result<Provisioned, RegistryError> {
        let leaf = CertificateInfo::from_pem(certificate_pem)
            .map_err(|e| invalid_certificate("certificate", e))?;
        check_plan(&plan, &leaf)?;
        let arns = self.arns.clone();
        let ca_id = ca_id.to_owned();
        self.store
            .write(move |conn| {
                Box::pin(async move { provision_in(conn, &arns, &leaf, &ca_id, &plan).await })
            })
            .await
    }

    /// Just-in-time registration: registers `certificate_pem` under CA `ca_id` as
    /// PENDING_ACTIVATION. Returns the certificate and whether it was new.
    pub async fn auto_register_certificate(
        &self,
        certificate_pem: &str,
        ca_id: &str,
    ) -> Result<(Certificate, bool), RegistryError> {
        let leaf = CertificateInfo::from_pem(certificate_pem)
            .map_err(|e| invalid_certificate("certificate", e))?;
        let arns = self.arns.clone();
        let ca_id = ca_id.to_owned();
        self.store
            .write(move |conn| {
                Box::pin(async move {
                    if let Some(existing) = find_certificate(conn, &leaf.id).await? {
                        return Ok(((existing, false), Vec::new()));
                    }
                    let certificate = register_certificate_in(
                        conn,
                        &arns,
                        &leaf,
                        &CertificateSource::AutoRegistered { ca_id },
                        CertificateStatus::PendingActivation,
                    )
                    .await?;
                    let event = RegistryEvent::CertificateChanged {
                        certificate_id: certificate.id.clone(),
                    };
                    Ok(((certificate, true), vec![event]))
                })
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use roost_pki::testing;

    #[test]
    fn jitp_parameters_carry_the_aws_names_and_roost_extensions() {
        let ca = testing::ca("Factory CA").unwrap();
        let subject = testing::name(&[
            (AttributeType::Country, "US"),
            (AttributeType::CommonName, "device-1"),
            (AttributeType::Locality, "Seattle"),
        ]);
        let issued = ca
            .issue_client_certificate(
                &subject,
                &[
                    GeneralName::Dns("d1.example".into()),
                    GeneralName::Dns("d1.local".into()),
                ],
                roost_pki::KeyKind::EcP256,
                testing::validity(),
            )
            .unwrap();
        let info = CertificateInfo::from_pem(&issued.certificate_pem).unwrap();
        let p = jitp_parameters(&info, "ca1");
        assert_eq!(p["AWS::IoT::Certificate::Country"], "US");
        assert_eq!(p["AWS::IoT::Certificate::CommonName"], "device-1");
        assert_eq!(p["AWS::IoT::Certificate::Id"], info.id);
        assert!(!p.contains_key("AWS::IoT::Certificate::Organization"));
        assert_eq!(p["Roost::Certificate::Subject::Locality"], "Seattle");
        assert_eq!(p["Roost::Certificate::Issuer::CommonName"], "Factory CA");
        assert_eq!(
            p["Roost::Certificate::SubjectAlternativeName::DNSName"],
            "d1.example"
        );
        assert_eq!(
            p["Roost::Certificate::SubjectAlternativeName::DNSNameList"],
            "d1.example,d1.local"
        );
        assert_eq!(p["Roost::Certificate::NotBefore"], "2020-01-01T00:00:00Z");
        assert_eq!(p["Roost::Certificate::CACertificateId"], "ca1");
    }
}
