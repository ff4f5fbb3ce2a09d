//! Provisioning: a template's plan applied in one transaction — the certificate registered, the
//! thing created or updated, policies created or reused, attachments made, the certificate's
//! final status set — or nothing at all. Shared by just-in-time provisioning (JITP) and
//! registration (JITR), fleet provisioning, and RegisterThing (single and bulk), which may also
//! name an existing certificate, register a PEM, or attach one Roost issued from a CSR.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;

use roost_pki::CertificateInfo;
use roost_template::{CertificatePlan, OverrideAction, Plan, ThingPlan};
use sqlx::AnyConnection;

use crate::Registry;
use crate::error::RegistryError;
use crate::events::RegistryEvent;
use crate::model::{CaCertificate, Certificate, CertificateStatus, Thing, ThingPrincipalType};
use crate::names::{POLICY_NAME, RESOURCE_NAME};
use crate::ops::billing_groups::set_billing_group_in;
use crate::ops::ca_certificates::{cas_with_subject, invalid_certificate, require_ca};
use crate::ops::certificates::{
    CertificateSource, find_certificate, insert_ca_signed_in, register_certificate_in,
    set_status_in, signers_of,
};
use crate::ops::fleet::{OwnershipTokenError, spend_ownership_token_in, token_digest};
use crate::ops::identity::ProvisionedGrants;
use crate::ops::policies::{
    MAX_POLICIES_PER_TARGET, attach_policy_in, create_policy_in, find_policy, insert_attachment_in,
    validate_document,
};
use crate::ops::principals::{attach_principal_in, insert_thing_principal_in};
use crate::ops::thing_groups::add_member_in;
use crate::ops::things::{
    NewThing, check_attribute_count, check_attributes, check_usable_type, find_thing,
    insert_thing_in,
};
use crate::row;
use crate::store::now_ms;

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
    /// What applies to the certificate, when provisioning made all of it (then it needs not be
    /// read back for the connection that brought the certificate).
    pub grants: Option<ProvisionedGrants>,
}

/// A provisioning failure that is the template's or the registry's state's fault (as opposed
/// to storage), so the device is refused with this message.
fn plan_error(message: impl Into<String>) -> RegistryError {
    RegistryError::InvalidRequest(message.into())
}

/// RegisterThing's view of a failure: the plan could not be applied, unless storage failed or
/// an `OverrideSettings` FAIL conflict stopped it.
fn registration_failure(error: RegistryError) -> RegistryError {
    match error {
        RegistryError::Storage(_)
        | RegistryError::ConflictingResourceUpdate(_)
        | RegistryError::ResourceRegistrationFailure(_) => error,
        other => RegistryError::ResourceRegistrationFailure(other.to_string()),
    }
}

/// Checks what can be checked without the database, for a just-in-time provisioning plan: its
/// certificate, if it names one, must be the connecting certificate.
pub fn check_plan(plan: &Plan, leaf: &CertificateInfo) -> Result<(), RegistryError> {
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
    check_plan_resources(plan)
}

/// Checks the names and documents of a plan's thing and policies against the registry's rules.
fn check_plan_resources(plan: &Plan) -> Result<(), RegistryError> {
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

/// What applying the plan's thing did.
struct ThingOutcome {
    changed: bool,
    /// The thing, when this plan created it.
    created: Option<Thing>,
}

/// Creates or updates the plan's thing.
async fn apply_thing(
    conn: &mut AnyConnection,
    plan: &ThingPlan,
) -> Result<ThingOutcome, RegistryError> {
    let Some(existing) = find_thing(conn, &plan.name).await? else {
        check_attribute_count(
            &plan.name,
            plan.attributes.as_ref().map_or(0, |a| a.len()),
            plan.thing_type.is_some(),
        )?;
        let thing = insert_thing_in(
            conn,
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
        return Ok(ThingOutcome {
            changed: true,
            created: Some(thing),
        });
    };
    let conflict = |what: &str| {
        RegistryError::ConflictingResourceUpdate(format!(
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
        .await?;
    }
    if !plan.thing_groups.is_empty() {
        let rows = sqlx::query("SELECT group_name FROM thing_group_members WHERE thing_name = $1")
            .bind(plan.name.clone())
            .fetch_all(&mut *conn)
            .await?;
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
                    .await?;
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
    Ok(ThingOutcome {
        changed,
        created: None,
    })
}

/// The certificate a plan's thing and policies attach to, made ready before the transaction.
#[derive(Debug, Clone)]
enum PlanCertificate {
    /// Just-in-time or fleet provisioning: the connecting certificate, signed by registered
    /// CA `ca_id` and registered if new (fleet provisioning's is registered already and has
    /// no `ca_id`); one no longer PENDING_ACTIVATION is left alone.
    Connecting {
        leaf: Box<CertificateInfo>,
        ca_id: Option<String>,
    },
    /// `CertificateId`: a registered certificate.
    Registered(String),
    /// `CertificatePem` (and `CACertificatePem`): registered now, under the registered CA that
    /// signed it if there is one, unless it is registered already.
    Pem {
        leaf: Box<CertificateInfo>,
        ca_pem: Option<String>,
    },
    /// `CertificateSigningRequest`: the certificate Roost's device CA issued from it.
    Issued(Box<CertificateInfo>),
    /// The plan has no certificate.
    Absent,
}

/// What applying a plan did.
#[derive(Debug)]
struct Applied {
    /// The plan's certificate with its final status.
    certificate: Option<Certificate>,
    /// False when a just-in-time certificate had been provisioned already: nothing changed.
    created: bool,
    /// (logical id, policy name) of each policy, in plan order.
    policies: Vec<(String, String)>,
    /// Everything attached to the certificate, when this plan registered it and made all of it.
    grants: Option<KnownGrants>,
}

/// What a plan that registered its certificate attached to it (all there is).
#[derive(Debug)]
struct KnownGrants {
    thing: Option<Thing>,
    policies: Vec<(String, String)>,
}

/// The status the template gives its certificate.
fn planned_status(plan: &Plan) -> CertificateStatus {
    match plan.certificate.as_ref().map(|c| c.status) {
        Some(roost_template::CertificateStatus::Inactive) => CertificateStatus::Inactive,
        _ => CertificateStatus::Active,
    }
}

/// The status change a plan asks of a certificate that is registered already, following its
/// `OverrideSettings.Status` (none and REPLACE set the template's status).
fn status_change(
    existing: &Certificate,
    plan: &Plan,
) -> Result<Option<CertificateStatus>, RegistryError> {
    if matches!(
        existing.status,
        CertificateStatus::Revoked | CertificateStatus::PendingTransfer
    ) {
        return Err(RegistryError::ResourceRegistrationFailure(format!(
            "Certificate {} is {}; it cannot be provisioned",
            existing.id, existing.status
        )));
    }
    let wanted = planned_status(plan);
    if wanted == existing.status {
        return Ok(None);
    }
    match plan.certificate.as_ref().and_then(|c| c.status_override) {
        Some(OverrideAction::DoNothing | OverrideAction::Merge) => Ok(None),
        Some(OverrideAction::Fail) => Err(RegistryError::ConflictingResourceUpdate(format!(
            "certificate {} is {} and the template's OverrideSettings say FAIL for Status \
             (the template sets {wanted})",
            existing.id, existing.status
        ))),
        Some(OverrideAction::Replace) | None => Ok(Some(wanted)),
    }
}

/// Applies `plan` inside the writer's transaction: the certificate first, then the thing, the
/// policies and the attachments, then the certificate's final status.
async fn provision_in(
    conn: &mut AnyConnection,
    arns: &crate::Arns,
    target: &PlanCertificate,
    plan: &Plan,
) -> Result<(Applied, Vec<RegistryEvent>), RegistryError> {
    let mut events = Vec::new();
    // (certificate, status to set at the end, whether to announce it, whether it was registered
    // just now — then it has no attachments yet, and attaching needs no checks)
    let (certificate, final_status, announce, fresh) = match target {
        PlanCertificate::Connecting { leaf, ca_id } => {
            let existing = find_certificate(conn, &leaf.id).await?;
            if let Some(existing) = &existing
                && existing.status != CertificateStatus::PendingActivation
            {
                // Provisioned already (a concurrent first connect won), or deliberately
                // changed since: leave it as it is.
                let applied = Applied {
                    certificate: Some(existing.clone()),
                    created: false,
                    policies: plan
                        .policies
                        .iter()
                        .map(|p| (p.logical_id.clone(), p.name.clone()))
                        .collect(),
                    grants: None,
                };
                return Ok((applied, Vec::new()));
            }
            match (existing, ca_id) {
                (Some(pending), _) => (Some(pending), Some(planned_status(plan)), true, false),
                (None, None) => {
                    return Err(RegistryError::NotFound(format!(
                        "The certificate {} is no longer registered",
                        leaf.id
                    )));
                }
                (None, Some(ca_id)) => {
                    // Registered with its final status at once: the transaction makes the
                    // whole plan visible together or not at all.
                    let certificate =
                        insert_ca_signed_in(conn, leaf, ca_id, planned_status(plan)).await?;
                    (Some(certificate), None, true, true)
                }
            }
        }
        PlanCertificate::Registered(id) => {
            let existing = find_certificate(conn, id).await?.ok_or_else(|| {
                RegistryError::ResourceRegistrationFailure(format!(
                    "The template's CertificateId names certificate {id}, which is not registered"
                ))
            })?;
            let change = status_change(&existing, plan)?;
            (Some(existing), change, change.is_some(), false)
        }
        PlanCertificate::Pem { leaf, ca_pem } => match find_certificate(conn, &leaf.id).await? {
            Some(existing) => {
                let change = status_change(&existing, plan)?;
                (Some(existing), change, change.is_some(), false)
            }
            None => {
                let signed_by_registered_ca =
                    ca_pem.is_some() || !cas_with_subject(conn, &leaf.issuer_der).await?.is_empty();
                let source = if signed_by_registered_ca {
                    CertificateSource::WithCa {
                        ca_pem: ca_pem.clone(),
                    }
                } else {
                    CertificateSource::WithoutCa
                };
                let certificate =
                    register_certificate_in(conn, arns, leaf, &source, planned_status(plan))
                        .await?;
                (Some(certificate), None, true, true)
            }
        },
        PlanCertificate::Issued(leaf) => {
            let certificate = register_certificate_in(
                conn,
                arns,
                leaf,
                &CertificateSource::Issued,
                planned_status(plan),
            )
            .await?;
            (Some(certificate), None, true, true)
        }
        PlanCertificate::Absent => (None, None, false, false),
    };
    let principal = certificate.as_ref().map(|c| arns.certificate(&c.id));

    // A fresh certificate whose thing (if any) is new and in no group has exactly what this
    // plan attaches: the connection it came with needs not read it back.
    let mut known_thing = None;
    let mut grants_known = fresh;
    if let Some(thing) = &plan.thing {
        let outcome = apply_thing(conn, thing).await?;
        if outcome.changed {
            events.push(RegistryEvent::ThingChanged {
                thing_name: thing.name.clone(),
            });
        }
        grants_known &= outcome.created.is_some() && thing.thing_groups.is_empty();
        known_thing = outcome.created;
    }
    let mut policies = Vec::with_capacity(plan.policies.len());
    let mut attached = HashSet::new();
    let mut known_policies = Vec::new();
    for policy in &plan.policies {
        let stored = match (find_policy(conn, &policy.name).await?, &policy.document) {
            (Some(stored), _) => stored,
            (None, Some(document)) => {
                let created = create_policy_in(conn, arns, &policy.name, document).await?;
                events.push(RegistryEvent::PolicyChanged {
                    policy_name: policy.name.clone(),
                });
                created
            }
            (None, None) => {
                return Err(plan_error(format!(
                    "the template names policy {} but no such policy exists",
                    policy.name
                )));
            }
        };
        let newly_attached = match &principal {
            // Nothing is attached to a certificate registered just now but what this plan
            // attached already.
            Some(principal) if fresh => {
                if !attached.insert(policy.name.as_str()) {
                    false
                } else if attached.len() > MAX_POLICIES_PER_TARGET {
                    return Err(RegistryError::LimitExceeded(format!(
                        "the template attaches more than {MAX_POLICIES_PER_TARGET} policies to \
                         {principal}, the most it may have"
                    )));
                } else {
                    insert_attachment_in(conn, &policy.name, principal).await?;
                    known_policies.push((stored.name, stored.document));
                    true
                }
            }
            Some(principal) => attach_policy_in(conn, arns, &policy.name, principal).await?,
            None => false,
        };
        if let Some(principal) = &principal
            && newly_attached
        {
            events.push(RegistryEvent::PolicyAttachmentChanged {
                policy_name: policy.name.clone(),
                target: principal.clone(),
            });
        }
        policies.push((policy.logical_id.clone(), policy.name.clone()));
    }
    let thing_attached = match (&plan.thing, &principal) {
        // A certificate registered just now is attached to no thing yet; the plan's thing
        // exists by now.
        (Some(thing), Some(principal)) if fresh => {
            insert_thing_principal_in(
                conn,
                &thing.name,
                principal,
                ThingPrincipalType::NonExclusiveThing,
            )
            .await?;
            true
        }
        (Some(thing), Some(principal)) => {
            attach_principal_in(
                conn,
                arns,
                &thing.name,
                principal,
                ThingPrincipalType::NonExclusiveThing,
            )
            .await?
        }
        _ => false,
    };
    if let (Some(thing), Some(principal)) = (&plan.thing, &principal)
        && thing_attached
    {
        events.push(RegistryEvent::ThingPrincipalChanged {
            thing_name: thing.name.clone(),
            principal: principal.clone(),
        });
    }
    let mut certificate = certificate;
    if let Some(certificate) = &mut certificate {
        if let Some(status) = final_status {
            set_status_in(conn, &certificate.id, status).await?;
            certificate.status = status;
            certificate.modified_ms = now_ms();
        }
        if announce {
            events.push(RegistryEvent::CertificateChanged {
                certificate_id: certificate.id.clone(),
            });
        }
    }
    let grants = grants_known.then_some(KnownGrants {
        thing: known_thing,
        policies: known_policies,
    });
    Ok((
        Applied {
            certificate,
            created: true,
            policies,
            grants,
        },
        events,
    ))
}

/// The common case of just-in-time provisioning, checked by reads alone: a certificate not yet
/// registered, a thing (if any) that does not exist and has no type, billing group or groups,
/// and policies that all exist. Then the writes that follow can fail only in storage, and the
/// job needs no savepoint of its own (see [`crate::store::Store::write_unguarded`]).
struct FreshProvisioning {
    /// (policy name, default-version document), each policy once, in plan order.
    policies: Vec<(String, String)>,
}

/// Whether `plan` for the connecting `leaf` is [`FreshProvisioning`]; `None` when it takes
/// the general path. Reads only.
async fn fresh_provisioning(
    conn: &mut AnyConnection,
    leaf: &CertificateInfo,
    plan: &Plan,
) -> Result<Option<FreshProvisioning>, RegistryError> {
    if let Some(thing) = &plan.thing {
        if thing.thing_type.is_some()
            || thing.billing_group.is_some()
            || !thing.thing_groups.is_empty()
        {
            return Ok(None);
        }
        check_attribute_count(
            &thing.name,
            thing.attributes.as_ref().map_or(0, |a| a.len()),
            false,
        )?;
    }
    let mut policies: Vec<(String, String)> = Vec::with_capacity(plan.policies.len());
    for policy in &plan.policies {
        if policies.iter().any(|(name, _)| *name == policy.name) {
            continue;
        }
        match find_policy(conn, &policy.name).await? {
            Some(stored) => policies.push((stored.name, stored.document)),
            None => return Ok(None),
        }
    }
    if policies.len() > MAX_POLICIES_PER_TARGET {
        return Ok(None);
    }
    if find_certificate(conn, &leaf.id).await?.is_some() {
        return Ok(None);
    }
    if let Some(thing) = &plan.thing
        && find_thing(conn, &thing.name).await?.is_some()
    {
        return Ok(None);
    }
    Ok(Some(FreshProvisioning { policies }))
}

/// Applies a [`FreshProvisioning`] plan: nothing but inserts, the certificate's first (it is
/// the only one that can fail other than in storage: its CA may have been deleted, and then
/// nothing has been written yet).
async fn provision_fresh_in(
    conn: &mut AnyConnection,
    arns: &crate::Arns,
    leaf: &CertificateInfo,
    ca_id: &str,
    plan: &Plan,
    fresh: FreshProvisioning,
) -> Result<(Applied, Vec<RegistryEvent>), RegistryError> {
    let certificate = insert_ca_signed_in(conn, leaf, ca_id, planned_status(plan)).await?;
    let principal = arns.certificate(&certificate.id);
    let mut events = Vec::new();
    let mut thing = None;
    if let Some(planned) = &plan.thing {
        let created = insert_thing_in(
            conn,
            NewThing {
                name: planned.name.clone(),
                type_name: None,
                attributes: planned.attributes.clone().unwrap_or_default(),
                billing_group: None,
            },
        )
        .await?;
        events.push(RegistryEvent::ThingChanged {
            thing_name: created.name.clone(),
        });
        thing = Some(created);
    }
    for (name, _) in &fresh.policies {
        insert_attachment_in(conn, name, &principal).await?;
        events.push(RegistryEvent::PolicyAttachmentChanged {
            policy_name: name.clone(),
            target: principal.clone(),
        });
    }
    if let Some(thing) = &thing {
        insert_thing_principal_in(
            conn,
            &thing.name,
            &principal,
            ThingPrincipalType::NonExclusiveThing,
        )
        .await?;
        events.push(RegistryEvent::ThingPrincipalChanged {
            thing_name: thing.name.clone(),
            principal: principal.clone(),
        });
    }
    events.push(RegistryEvent::CertificateChanged {
        certificate_id: certificate.id.clone(),
    });
    let applied = Applied {
        certificate: Some(certificate),
        created: true,
        policies: plan
            .policies
            .iter()
            .map(|p| (p.logical_id.clone(), p.name.clone()))
            .collect(),
        grants: Some(KnownGrants {
            thing,
            policies: fresh.policies,
        }),
    };
    Ok((applied, events))
}

/// Runs `apply` inside a savepoint of the job's own, so that its failure undoes its writes
/// (for a job sent with [`crate::store::Store::write_unguarded`] that takes the general path).
async fn in_savepoint<T>(
    conn: &mut AnyConnection,
    apply: impl AsyncFnOnce(&mut AnyConnection) -> Result<T, RegistryError>,
) -> Result<T, RegistryError> {
    sqlx::query("SAVEPOINT provisioning")
        .execute(&mut *conn)
        .await?;
    let result = apply(&mut *conn).await;
    if result.is_err() {
        sqlx::query("ROLLBACK TO SAVEPOINT provisioning")
            .execute(&mut *conn)
            .await?;
    }
    sqlx::query("RELEASE SAVEPOINT provisioning")
        .execute(&mut *conn)
        .await?;
    result
}

/// What RegisterThing made: the certificate and the ARN of every resource of the template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredThing {
    /// The PEM of the template's certificate (issued, registered or named), if it has one.
    pub certificate_pem: Option<String>,
    /// As AWS keys them: `thing`, `certificate`, and each policy's logical id.
    pub resource_arns: BTreeMap<String, String>,
    /// The thing's name, if the template has a thing.
    pub thing_name: Option<String>,
}

impl Registry {
    /// The registered CA that signed `leaf`: `ca_id` when given (refused if it did not sign
    /// it), else the one among the CAs with the leaf's issuer as subject whose key verifies it.
    pub async fn signing_ca(
        &self,
        leaf: &CertificateInfo,
        ca_id: Option<&str>,
    ) -> Result<CaCertificate, RegistryError> {
        let mut conn = self.store.reader().acquire().await?;
        let candidates = match ca_id {
            Some(id) => {
                let id = crate::names::CertificateId::parse("caCertificateId", id)?;
                vec![require_ca(&mut conn, id.as_str()).await?]
            }
            None => cas_with_subject(&mut conn, &leaf.issuer_der).await?,
        };
        match signers_of(leaf, candidates)?.into_iter().next() {
            Some((ca, _)) => Ok(ca),
            None => Err(RegistryError::CertificateValidation(format!(
                "no registered CA certificate signed this certificate (issuer '{}')",
                leaf.issuer
            ))),
        }
    }

    /// Just-in-time provisioning: registers `leaf` (signed by registered CA `ca_id`) and
    /// applies `plan`, all in one transaction. A certificate that is already provisioned
    /// is left alone (`created: false`); one still PENDING_ACTIVATION is completed.
    pub async fn provision_certificate(
        &self,
        leaf: Arc<CertificateInfo>,
        ca_id: &str,
        plan: Plan,
    ) -> Result<Provisioned, RegistryError> {
        self.provision(leaf, Some(ca_id.to_owned()), plan, None)
            .await?
            .map_err(|_| RegistryError::storage("no ownership token was asked for"))
    }

    /// Fleet provisioning's RegisterThing: applies `plan` to `leaf`, the PENDING_ACTIVATION
    /// certificate `ownership_token` stands for, and spends the token, in one transaction: a
    /// token is spent exactly when its device is provisioned, and two RegisterThing calls
    /// racing with one token provision once.
    pub async fn provision_with_ownership_token(
        &self,
        leaf: Arc<CertificateInfo>,
        ownership_token: &str,
        plan: Plan,
    ) -> Result<Result<Provisioned, OwnershipTokenError>, RegistryError> {
        let token = token_digest(ownership_token);
        self.provision(leaf, None, plan, Some(token)).await
    }

    /// Applies `plan` to `leaf`: registered under CA `ca_id` if new (JITP), or already
    /// registered and PENDING_ACTIVATION with the ownership token whose digest is `token`,
    /// spent in the same transaction (fleet provisioning).
    async fn provision(
        &self,
        leaf: Arc<CertificateInfo>,
        ca_id: Option<String>,
        plan: Plan,
        token: Option<String>,
    ) -> Result<Result<Provisioned, OwnershipTokenError>, RegistryError> {
        check_plan(&plan, &leaf)?;
        let arns = self.arns.clone();
        let thing_name = plan.thing.as_ref().map(|t| t.name.clone());
        let (applied, commit) = self
            .store
            .write_unguarded(job!(|conn| {
                if let Some(token) = token
                    && !spend_ownership_token_in(conn, &token, &leaf.id).await?
                {
                    return Ok((Err(OwnershipTokenError::Unknown), Vec::new()));
                }
                if let Some(ca_id) = &ca_id
                    && let Some(fresh) = fresh_provisioning(conn, &leaf, &plan).await?
                {
                    let (applied, events) =
                        provision_fresh_in(conn, &arns, &leaf, ca_id, &plan, fresh).await?;
                    return Ok((Ok(applied), events));
                }
                let target = PlanCertificate::Connecting {
                    leaf: Box::new(CertificateInfo::clone(&leaf)),
                    ca_id,
                };
                let (applied, events) = in_savepoint(conn, async |conn| {
                    provision_in(conn, &arns, &target, &plan).await
                })
                .await?;
                Ok((Ok(applied), events))
            }))
            .await?;
        let Ok(applied) = applied else {
            return Ok(Err(OwnershipTokenError::Unknown));
        };
        let certificate = applied.certificate.ok_or_else(|| {
            RegistryError::storage("just-in-time provisioning applied no certificate")
        })?;
        Ok(Ok(Provisioned {
            certificate,
            thing_name,
            policies: applied.policies.into_iter().map(|(_, name)| name).collect(),
            created: applied.created,
            grants: applied.grants.map(|known| ProvisionedGrants {
                thing: known.thing,
                policies: known.policies,
                as_of_commit: commit,
            }),
        }))
    }

    /// RegisterThing: applies `plan` (a template evaluated with the caller's parameters) in one
    /// transaction. A plan whose certificate is a `CertificateSigningRequest` needs
    /// `issued_certificate_pem`, the certificate Roost's device CA issued from it. A plan that
    /// cannot be applied (a missing thing type, group or policy, an unusable certificate…) is
    /// ResourceRegistrationFailure; an `OverrideSettings` FAIL conflict is
    /// ConflictingResourceUpdate; either way nothing is changed.
    pub async fn register_thing(
        &self,
        plan: Plan,
        issued_certificate_pem: Option<&str>,
    ) -> Result<RegisteredThing, RegistryError> {
        check_plan_resources(&plan).map_err(registration_failure)?;
        let target = match plan.certificate.as_ref().map(|c| &c.source) {
            None => PlanCertificate::Absent,
            Some(roost_template::CertificateSource::Id(id)) => PlanCertificate::Registered(
                crate::names::CertificateId::parse("CertificateId", id)
                    .map_err(registration_failure)?
                    .to_string(),
            ),
            Some(roost_template::CertificateSource::Pem { pem, ca_pem }) => {
                let leaf = CertificateInfo::from_pem(pem)
                    .map_err(|e| invalid_certificate("CertificatePem", e))
                    .map_err(registration_failure)?;
                leaf.check_validity_at(now_ms() / 1000)
                    .map_err(|e| invalid_certificate("CertificatePem", e))
                    .map_err(registration_failure)?;
                PlanCertificate::Pem {
                    leaf: Box::new(leaf),
                    ca_pem: ca_pem.clone().filter(|p| !p.trim().is_empty()),
                }
            }
            Some(roost_template::CertificateSource::Csr(_)) => {
                let pem = issued_certificate_pem.ok_or_else(|| {
                    RegistryError::invalid(
                        "the template's certificate is a CertificateSigningRequest: RegisterThing \
                         needs the certificate issued from it",
                    )
                })?;
                let leaf = CertificateInfo::from_pem(pem)
                    .map_err(|e| invalid_certificate("issued certificate", e))?;
                PlanCertificate::Issued(Box::new(leaf))
            }
        };
        let arns = self.arns.clone();
        let thing_name = plan.thing.as_ref().map(|t| t.name.clone());
        let applied = self
            .store
            .write(job!(|conn| {
                provision_in(conn, &arns, &target, &plan).await
            }))
            .await
            .map_err(registration_failure)?;
        let mut resource_arns = BTreeMap::new();
        for (logical_id, name) in &applied.policies {
            resource_arns.insert(logical_id.clone(), self.arns.policy(name));
        }
        if let Some(certificate) = &applied.certificate {
            resource_arns.insert(
                "certificate".to_owned(),
                self.arns.certificate(&certificate.id),
            );
        }
        if let Some(thing) = &thing_name {
            resource_arns.insert("thing".to_owned(), self.arns.thing(thing));
        }
        Ok(RegisteredThing {
            certificate_pem: applied.certificate.map(|c| c.pem),
            resource_arns,
            thing_name,
        })
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
            .write(job!(|conn| {
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
            }))
            .await
    }
}
