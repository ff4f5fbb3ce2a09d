//! Which template applies, parsed once per text: a CA's JITP template (inline in its
//! registration config, or named) and a fleet provisioning template.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use roost_registry::model::CaCertificate;
use roost_registry::{ProvisioningTemplate, TemplateType};
use roost_template::Template;

use crate::error::ProvisioningError;

/// Parsed templates kept at most; past it the cache starts over (RegisterThing may send a new
/// template body with every request).
const MAX_CACHED: usize = 1024;

/// Parsed templates by their text: a template is parsed once for all the devices it
/// provisions, and an edited one (a new text) is parsed again.
#[derive(Debug, Default)]
pub struct TemplateCache {
    parsed: Mutex<HashMap<Arc<str>, Arc<Template>>>,
}

impl TemplateCache {
    /// `body` parsed; `what` says what is wrong when it is not a template ("the CA's
    /// provisioning template is invalid"…).
    pub fn parse(&self, body: &str, what: &str) -> Result<Arc<Template>, ProvisioningError> {
        if let Some(template) = self.lock().get(body) {
            return Ok(template.clone());
        }
        let template = Arc::new(Template::parse(body).map_err(|source| {
            ProvisioningError::InvalidTemplate {
                what: what.to_owned(),
                source,
            }
        })?);
        let mut parsed = self.lock();
        if parsed.len() >= MAX_CACHED {
            parsed.clear();
        }
        parsed.insert(Arc::from(body), template.clone());
        Ok(template)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Arc<str>, Arc<Template>>> {
        self.parsed.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Where a CA's JITP template comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaTemplate<'a> {
    /// `registrationConfig.templateBody` (it wins when both are set, as on AWS).
    Inline(&'a str),
    /// `registrationConfig.templateName`: a JITP provisioning template.
    Named(&'a str),
    /// Neither: devices are registered PENDING_ACTIVATION (JITR).
    None,
}

impl<'a> CaTemplate<'a> {
    pub fn of(ca: &'a CaCertificate) -> Self {
        let config = ca.registration_config.as_ref();
        match (
            config.and_then(|c| c.template_body.as_deref()),
            config.and_then(|c| c.template_name.as_deref()),
        ) {
            (Some(body), _) => Self::Inline(body),
            (None, Some(name)) => Self::Named(name),
            (None, None) => Self::None,
        }
    }
}

/// A named template is a JITP template, for a CA's devices.
pub(crate) fn check_jitp(
    template: &ProvisioningTemplate,
    ca_id: &str,
) -> Result<(), ProvisioningError> {
    if template.template_type == TemplateType::Jitp {
        Ok(())
    } else {
        Err(ProvisioningError::NotJitpTemplate {
            ca_id: ca_id.to_owned(),
            name: template.name.clone(),
        })
    }
}

/// A named template may serve fleet provisioning's RegisterThing now.
pub(crate) fn check_fleet(template: &ProvisioningTemplate) -> Result<(), ProvisioningError> {
    if template.template_type != TemplateType::FleetProvisioning {
        return Err(ProvisioningError::NotFleetTemplate {
            name: template.name.clone(),
        });
    }
    if !template.enabled {
        return Err(ProvisioningError::TemplateDisabled {
            name: template.name.clone(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE: &str = r#"{"Resources": {"thing": {"Type": "AWS::IoT::Thing",
        "Properties": {"ThingName": "fixed"}}}}"#;

    #[test]
    fn a_text_is_parsed_once_and_an_edited_one_again() {
        let cache = TemplateCache::default();
        let first = cache.parse(TEMPLATE, "t").unwrap();
        let again = cache.parse(TEMPLATE, "t").unwrap();
        assert!(Arc::ptr_eq(&first, &again));
        let edited = TEMPLATE.replace("fixed", "other");
        let other = cache.parse(&edited, "t").unwrap();
        assert!(!Arc::ptr_eq(&first, &other));
    }

    #[test]
    fn an_invalid_text_is_refused_naming_it_and_not_cached() {
        let cache = TemplateCache::default();
        let error = cache
            .parse(
                "{\"Resources\": 3}",
                "the CA's provisioning template is invalid",
            )
            .unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("the CA's provisioning template is invalid: "),
            "{error}"
        );
        assert!(cache.lock().is_empty());
    }

    #[test]
    fn the_cache_starts_over_past_its_bound() {
        let cache = TemplateCache::default();
        for n in 0..=MAX_CACHED {
            let body = TEMPLATE.replace("fixed", &format!("thing-{n}"));
            cache.parse(&body, "t").unwrap();
        }
        assert_eq!(cache.lock().len(), 1);
    }
}
