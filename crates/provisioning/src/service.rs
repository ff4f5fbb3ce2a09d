//! [`Provisioning`]: each way of provisioning a device, from its inputs to the registry's one
//! transaction.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use roost_pki::{CertificateAuthority, CertificateInfo};
use roost_registry::model::{CaCertificate, Certificate, CertificateStatus};
use roost_registry::{Provisioned, RegisteredThing, Registry, RegistryError, check_plan};
use roost_template::{CertificateSource, Parameters, Plan, Template};

use crate::error::ProvisioningError;
use crate::hook::{HookDecision, HookRequest, PreProvisioningHook};
use crate::issuance;
use crate::parameters::{certificate_parameters, jitp_parameters};
use crate::templates::{CaTemplate, TemplateCache, check_fleet, check_jitp};

/// The provisioning service. Cheap to clone: clones share the registry, the issuer and the
/// parsed templates.
#[derive(Debug, Clone)]
pub struct Provisioning {
    registry: Registry,
    /// Signs the certificates Roost issues to devices; without it, issuing is refused.
    issuer: Option<Arc<CertificateAuthority>>,
    templates: Arc<TemplateCache>,
}

/// What a device's first connect did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JustInTime {
    /// JITP: the CA's template was applied (or had been, by a concurrent connect).
    Provisioned(Box<Provisioned>),
    /// JITR: the CA has no template; the certificate is registered PENDING_ACTIVATION (`new`
    /// when this connect registered it).
    Registered { certificate: Certificate, new: bool },
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

/// A certificate fleet provisioning issued, PENDING_ACTIVATION until RegisterThing presents
/// its ownership token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetCertificate {
    pub certificate_id: String,
    pub certificate_pem: String,
    /// The new key, when Roost made it (CreateKeysAndCertificate).
    pub private_key_pem: Option<String>,
    pub ownership_token: String,
}

/// Fleet provisioning's RegisterThing, as the device asked for it.
#[derive(Debug, Clone)]
pub struct FleetRegisterThing<'a> {
    pub template_name: &'a str,
    pub ownership_token: &'a str,
    /// The device's parameters (pseudo-parameters are Roost's: they are replaced).
    pub parameters: Parameters,
    /// The claim certificate the device connected with, if any.
    pub claim_certificate_id: Option<&'a str>,
    pub client_id: &'a str,
}

/// What fleet provisioning's RegisterThing did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetRegistration {
    pub certificate_id: String,
    pub thing_name: Option<String>,
    /// The template's evaluated `DeviceConfiguration`.
    pub device_configuration: BTreeMap<String, String>,
}

impl Provisioning {
    pub fn new(registry: Registry, issuer: Option<Arc<CertificateAuthority>>) -> Self {
        Self {
            registry,
            issuer,
            templates: Arc::default(),
        }
    }

    /// `body` parsed once per text; `what` says what is wrong when it is not a template.
    pub fn parse_template(
        &self,
        body: &str,
        what: &str,
    ) -> Result<Arc<Template>, ProvisioningError> {
        self.templates.parse(body, what)
    }

    /// The JITP template of `ca`, if it has one (none: its devices are registered instead).
    pub async fn ca_template(
        &self,
        ca: &CaCertificate,
    ) -> Result<Option<Arc<Template>>, ProvisioningError> {
        let body = match CaTemplate::of(ca) {
            CaTemplate::Inline(body) => body.to_owned(),
            CaTemplate::Named(name) => {
                let template =
                    self.registry
                        .provisioning_template(name)
                        .await
                        .map_err(|source| ProvisioningError::TemplateUnavailable {
                            ca_id: ca.id.clone(),
                            name: name.to_owned(),
                            source,
                        })?;
                check_jitp(&template, &ca.id)?;
                template.body
            }
            CaTemplate::None => return Ok(None),
        };
        self.parse_template(&body, "the CA's provisioning template is invalid")
            .map(Some)
    }

    /// A device's first connect with `leaf`, signed by registered CA `ca`: JITP with the CA's
    /// template, in one registry transaction; or JITR when it has none.
    pub async fn just_in_time(
        &self,
        leaf: &Arc<CertificateInfo>,
        ca: &CaCertificate,
    ) -> Result<JustInTime, ProvisioningError> {
        let Some(template) = self.ca_template(ca).await? else {
            let (certificate, new) = self
                .registry
                .auto_register_certificate(&leaf.pem, &ca.id)
                .await?;
            return Ok(JustInTime::Registered { certificate, new });
        };
        let parameters = jitp_parameters(leaf, &ca.id);
        let plan = template
            .evaluate(&parameters)
            .map_err(ProvisioningError::Evaluation)?;
        let provisioned = self
            .registry
            .provision_certificate(leaf.clone(), &ca.id, plan)
            .await?;
        Ok(JustInTime::Provisioned(Box::new(provisioned)))
    }

    /// What [`Self::just_in_time`] would do for `certificate_pem` (signed by `ca_id`, or by the
    /// registered CA found to have signed it), changing nothing.
    pub async fn dry_run(
        &self,
        certificate_pem: &str,
        ca_id: Option<&str>,
    ) -> Result<DryRun, ProvisioningError> {
        let leaf = CertificateInfo::from_pem(certificate_pem)
            .map_err(|e| RegistryError::CertificateValidation(format!("certificatePem: {e}")))?;
        let ca = self.registry.signing_ca(&leaf, ca_id).await?;
        let template =
            self.ca_template(&ca)
                .await?
                .ok_or_else(|| ProvisioningError::NoTemplate {
                    ca_id: ca.id.clone(),
                })?;
        let parameters = jitp_parameters(&leaf, &ca.id);
        let plan = template
            .evaluate(&parameters)
            .map_err(ProvisioningError::Evaluation)?;
        check_plan(&plan, &leaf)?;
        let registered_status = match self.registry.describe_certificate(&leaf.id).await {
            Ok(certificate) => Some(certificate.status),
            Err(RegistryError::NotFound(_)) => None,
            Err(other) => return Err(other.into()),
        };
        Ok(DryRun {
            ca_id: ca.id,
            parameters,
            plan,
            registered_status,
        })
    }

    /// RegisterThing (one call, or one line of a bulk registration task): `template` evaluated
    /// with `parameters`, a certificate issued for the template's CSR if it has one, and the
    /// plan applied in one transaction.
    pub async fn register_thing(
        &self,
        template: &Template,
        parameters: &Parameters,
    ) -> Result<RegisteredThing, ProvisioningError> {
        let plan = template
            .evaluate(parameters)
            .map_err(ProvisioningError::Evaluation)?;
        let issued = match plan.certificate.as_ref().map(|c| &c.source) {
            Some(CertificateSource::Csr(csr)) => {
                Some(issuance::issue_from_csr_here(&*self.issuer()?, csr)?)
            }
            _ => None,
        };
        Ok(self
            .registry
            .register_thing(plan, issued.as_deref())
            .await?)
    }

    /// Fleet provisioning's CreateKeysAndCertificate: a new key and certificate, registered
    /// PENDING_ACTIVATION with an ownership token valid for `token_ttl`.
    pub async fn create_keys_and_certificate(
        &self,
        token_ttl: Duration,
    ) -> Result<FleetCertificate, ProvisioningError> {
        let issued = issuance::issue_with_new_key(self.issuer()?).await?;
        let (certificate, token) = self
            .registry
            .register_pending_with_token(&issued.certificate_pem, token_ttl.as_millis() as i64)
            .await?;
        Ok(FleetCertificate {
            certificate_id: certificate.id,
            certificate_pem: issued.certificate_pem,
            private_key_pem: Some(issued.private_key_pem),
            ownership_token: token,
        })
    }

    /// Fleet provisioning's CreateCertificateFromCsr: a certificate for the device's `csr`,
    /// registered PENDING_ACTIVATION with an ownership token valid for `token_ttl`.
    pub async fn create_certificate_from_csr(
        &self,
        csr: &str,
        token_ttl: Duration,
    ) -> Result<FleetCertificate, ProvisioningError> {
        let pem = issuance::issue_from_csr(self.issuer()?, csr.to_owned()).await?;
        let (certificate, token) = self
            .registry
            .register_pending_with_token(&pem, token_ttl.as_millis() as i64)
            .await?;
        Ok(FleetCertificate {
            certificate_id: certificate.id,
            certificate_pem: pem,
            private_key_pem: None,
            ownership_token: token,
        })
    }

    /// Fleet provisioning's RegisterThing: the fleet template `request.template_name`, the
    /// certificate the ownership token stands for, the device's parameters with those the
    /// certificate supplies, the pre-provisioning hook's say, and the plan applied with the
    /// token spent in the same transaction.
    pub async fn register_thing_by_token(
        &self,
        request: FleetRegisterThing<'_>,
        hook: &dyn PreProvisioningHook,
    ) -> Result<FleetRegistration, ProvisioningError> {
        let template = self
            .registry
            .provisioning_template(request.template_name)
            .await?;
        check_fleet(&template)?;
        let certificate = self
            .registry
            .ownership_token_certificate(request.ownership_token)
            .await??;
        if certificate.status != CertificateStatus::PendingActivation {
            return Err(ProvisioningError::TokenCertificateNotPending(
                certificate.status,
            ));
        }
        let info = CertificateInfo::from_pem(&certificate.pem).map_err(|e| {
            RegistryError::storage(format!("stored certificate {}: {e}", certificate.id))
        })?;
        let mut parameters = request.parameters;
        parameters.extend(certificate_parameters(&info));

        if let Some(configured) = &template.pre_provisioning_hook {
            let asked = HookRequest {
                claim_certificate_id: request.claim_certificate_id,
                certificate_id: &certificate.id,
                certificate_pem: &certificate.pem,
                template_arn: &template.arn,
                client_id: request.client_id,
                parameters: &parameters,
            }
            .to_json();
            let answer = hook
                .ask(&configured.target_arn, &asked)
                .await
                .map_err(|error| {
                    tracing::warn!(hook = %configured.target_arn, %error, "the pre-provisioning hook failed");
                    ProvisioningError::HookUnavailable
                })?;
            match HookDecision::from_answer(&answer) {
                HookDecision::Allow { overrides } => parameters.extend(overrides),
                HookDecision::Refuse(reason) => return Err(ProvisioningError::HookRefused(reason)),
            }
        }

        let parsed = self.parse_template(&template.body, "The provisioning template is invalid")?;
        let plan = parsed
            .evaluate(&parameters)
            .map_err(ProvisioningError::Evaluation)?;
        let device_configuration = plan.device_configuration.clone();
        let provisioned = self
            .registry
            .provision_with_ownership_token(Arc::new(info), request.ownership_token, plan)
            .await??;
        Ok(FleetRegistration {
            certificate_id: certificate.id,
            thing_name: provisioned.thing_name,
            device_configuration,
        })
    }

    fn issuer(&self) -> Result<Arc<CertificateAuthority>, ProvisioningError> {
        self.issuer.clone().ok_or(ProvisioningError::NoIssuer)
    }
}
