//! Just-in-time provisioning (JITP) and registration (JITR) of unknown certificates signed by
//! an auto-registering CA, at their first CONNECT.
//!
//! JITP evaluates the CA's template against the certificate and applies the plan in one
//! registry transaction; by default the same connection then proceeds (AWS instead drops it and
//! makes the device reconnect — [`ProvisioningMode::AwsCompatible`] does that too). JITR
//! registers the certificate as PENDING_ACTIVATION, announces it on
//! `$aws/events/certificates/registered/<caId>` and refuses the connection until an operator
//! activates it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use roost_pki::CertificateInfo;
use roost_registry::model::CertificateStatus;
use roost_registry::{ProvisionedGrants, TemplateType, jitp_parameters};
use roost_template::Template;

use crate::BrokerCore;
use crate::identity::principal::Principal;
use crate::identity::trust::TrustedCa;
use crate::lifecycle;

/// What the first connection of a just-provisioned device gets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ProvisioningMode {
    /// Provision in-line and let the first connection through (Roost's default).
    #[default]
    Inline,
    /// Provision, then refuse the first connection as AWS IoT does; the device reconnects.
    AwsCompatible,
}

/// Parsed templates, by CA, reparsed when the CA's template text changes.
#[derive(Debug)]
pub(crate) struct Provisioner {
    mode: ProvisioningMode,
    templates: Mutex<HashMap<String, (String, Arc<Template>)>>,
}

impl Provisioner {
    pub(crate) fn new(mode: ProvisioningMode) -> Self {
        Self {
            mode,
            templates: Mutex::default(),
        }
    }

    fn template(&self, ca_id: &str, body: &str) -> Result<Arc<Template>, String> {
        let mut cache = self.templates.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((text, template)) = cache.get(ca_id)
            && text == body
        {
            return Ok(template.clone());
        }
        let template = Arc::new(
            Template::parse(body)
                .map_err(|e| format!("the CA's provisioning template is invalid: {e}"))?,
        );
        cache.insert(ca_id.to_owned(), (body.to_owned(), template.clone()));
        Ok(template)
    }
}

impl BrokerCore {
    /// Registers (JITR) or provisions (JITP) `certificate`, signed by `ca`. `Ok` lets the
    /// connection proceed, with what is attached to the certificate when provisioning made all
    /// of it; `Err` refuses it with that reason.
    pub(crate) async fn provision(
        &self,
        certificate: &Arc<CertificateInfo>,
        ca: &TrustedCa,
    ) -> Result<(Principal, Option<ProvisionedGrants>), String> {
        let config = ca.record.registration_config.as_ref();
        let body = match (
            config.and_then(|c| c.template_body.as_deref()),
            config.and_then(|c| c.template_name.as_deref()),
        ) {
            (Some(body), _) => body.to_owned(),
            (None, Some(name)) => {
                let template = self
                    .registry
                    .provisioning_template(name)
                    .await
                    .map_err(|e| {
                        format!(
                            "the JITP template {name} of CA {} is unavailable: {e}",
                            ca.record.id
                        )
                    })?;
                if template.template_type != TemplateType::Jitp {
                    return Err(format!(
                        "the template {name} named by CA {} is not a JITP template",
                        ca.record.id
                    ));
                }
                template.body
            }
            (None, None) => {
                return Err(self.register_just_in_time(certificate, ca).await);
            }
        };
        let body = body.as_str();
        let template = self.provisioning.template(&ca.record.id, body)?;
        let parameters = jitp_parameters(certificate, &ca.record.id);
        let plan = template.evaluate(&parameters).map_err(|e| {
            format!(
                "the provisioning template of CA {} failed: {e}",
                ca.record.id
            )
        })?;
        let provisioned = self
            .registry
            .provision_certificate(certificate.clone(), &ca.record.id, plan)
            .await
            .map_err(|e| match e {
                roost_registry::RegistryError::Storage(_) => {
                    tracing::error!(error = %e, "provisioning failed in storage");
                    "provisioning failed (server error)".to_owned()
                }
                other => format!("provisioning failed: {other}"),
            })?;
        // The trust view learns of the certificate from the registry's change events, its one
        // writer; this connection goes on with what provisioning returned.
        let status = provisioned.certificate.status;
        if provisioned.created {
            metrics::counter!("roost_jitp_provisioned_total").increment(1);
            tracing::info!(
                certificate = %certificate.id,
                ca = %ca.record.id,
                thing = provisioned.thing_name.as_deref().unwrap_or("-"),
                "provisioned just in time"
            );
        }
        if status != CertificateStatus::Active {
            return Err(format!(
                "the provisioning template set the certificate {status}, not ACTIVE"
            ));
        }
        if self.provisioning.mode == ProvisioningMode::AwsCompatible && provisioned.created {
            return Err(
                "provisioned; as AWS IoT does, the first connection is closed (reconnect)".into(),
            );
        }
        let principal = Principal {
            certificate_id: certificate.id.clone(),
            certificate: certificate.clone(),
            ca_id: Some(ca.record.id.clone()),
            claim_template: None,
        };
        Ok((principal, provisioned.grants))
    }

    /// Registers `certificate` PENDING_ACTIVATION; returns why its connection is refused.
    async fn register_just_in_time(&self, certificate: &CertificateInfo, ca: &TrustedCa) -> String {
        let (registered, new) = match self
            .registry
            .auto_register_certificate(&certificate.pem, &ca.record.id)
            .await
        {
            Ok(registered) => registered,
            Err(e) => return format!("automatic registration failed: {e}"),
        };
        if new {
            metrics::counter!("roost_jitr_registered_total").increment(1);
        }
        self.publish_event(lifecycle::certificate_registered(
            &registered.id,
            &ca.record.id,
            &self.config.account,
            registered.created_ms,
        ));
        format!(
            "the certificate was registered as {} by just-in-time registration; it can connect \
             once activated (UpdateCertificate --new-status ACTIVE) and given a policy",
            registered.status
        )
    }
}
