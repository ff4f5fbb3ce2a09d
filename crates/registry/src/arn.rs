//! ARNs of registry resources (`arn:aws:iot:<region>:<account>:<type>/<name>`).

use crate::error::RegistryError;
use crate::names::CertificateId;

/// Builds and parses the ARNs of this Roost's region and account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arns {
    region: String,
    account: String,
    prefix: String,
}

/// A registry resource named by an ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResourceArn {
    Certificate(CertificateId),
    CaCertificate(CertificateId),
    Thing(String),
    ThingType(String),
    ThingGroup(String),
    BillingGroup(String),
    Policy(String),
    ProvisioningTemplate(String),
    TopicRule(String),
}

impl Arns {
    /// ARNs for `region` (e.g. `us-east-1`) and the 12-digit `account`.
    pub fn new(region: &str, account: &str) -> Self {
        Self {
            region: region.to_owned(),
            account: account.to_owned(),
            prefix: format!("arn:aws:iot:{region}:{account}:"),
        }
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    pub fn account(&self) -> &str {
        &self.account
    }

    fn make(&self, kind: &str, name: &str) -> String {
        format!("{}{kind}/{name}", self.prefix)
    }

    pub fn certificate(&self, id: &str) -> String {
        self.make("cert", id)
    }

    pub fn ca_certificate(&self, id: &str) -> String {
        self.make("cacert", id)
    }

    pub fn thing(&self, name: &str) -> String {
        self.make("thing", name)
    }

    pub fn thing_type(&self, name: &str) -> String {
        self.make("thingtype", name)
    }

    pub fn thing_group(&self, name: &str) -> String {
        self.make("thinggroup", name)
    }

    pub fn billing_group(&self, name: &str) -> String {
        self.make("billinggroup", name)
    }

    pub fn policy(&self, name: &str) -> String {
        self.make("policy", name)
    }

    pub fn provisioning_template(&self, name: &str) -> String {
        self.make("provisioningtemplate", name)
    }

    pub fn topic_rule(&self, name: &str) -> String {
        self.make("rule", name)
    }

    /// A topic rule destination's ARN: `ruledestination/http/<id>`.
    pub fn topic_rule_destination(&self, id: &str) -> String {
        self.make("ruledestination", &format!("http/{id}"))
    }

    /// Parses an ARN of this region and account; `field` names the API member for errors.
    pub fn parse(&self, field: &str, arn: &str) -> Result<ResourceArn, RegistryError> {
        let rest = arn.strip_prefix(&self.prefix).ok_or_else(|| {
            RegistryError::InvalidRequest(format!(
                "{field} '{arn}' is not an ARN of this server (expected it to start with '{}')",
                self.prefix
            ))
        })?;
        let (kind, name) = rest.split_once('/').ok_or_else(|| {
            RegistryError::InvalidRequest(format!(
                "{field} '{arn}' is not a resource ARN (expected <type>/<name> after the account)"
            ))
        })?;
        if name.is_empty() {
            return Err(RegistryError::InvalidRequest(format!(
                "{field} '{arn}' has an empty resource name"
            )));
        }
        let name = name.to_owned();
        Ok(match kind {
            "cert" => ResourceArn::Certificate(CertificateId::parse(field, &name)?),
            "cacert" => ResourceArn::CaCertificate(CertificateId::parse(field, &name)?),
            "thing" => ResourceArn::Thing(name),
            "thingtype" => ResourceArn::ThingType(name),
            "thinggroup" => ResourceArn::ThingGroup(name),
            "billinggroup" => ResourceArn::BillingGroup(name),
            "policy" => ResourceArn::Policy(name),
            "provisioningtemplate" => ResourceArn::ProvisioningTemplate(name),
            "rule" => ResourceArn::TopicRule(name),
            other => {
                return Err(RegistryError::InvalidRequest(format!(
                    "{field} '{arn}' names a resource type '{other}' that Roost does not manage"
                )));
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_round_trip_through_parse() {
        let arns = Arns::new("eu-west-1", "123456789012");
        let id = "a".repeat(64);
        assert_eq!(
            arns.certificate(&id),
            format!("arn:aws:iot:eu-west-1:123456789012:cert/{id}")
        );
        assert_eq!(
            arns.parse("target", &arns.certificate(&id)).unwrap(),
            ResourceArn::Certificate(CertificateId::parse("x", &id).unwrap())
        );
        assert_eq!(
            arns.parse("target", &arns.thing_group("g1")).unwrap(),
            ResourceArn::ThingGroup("g1".into())
        );
    }

    #[test]
    fn arns_of_another_account_are_refused_with_the_expected_prefix() {
        let arns = Arns::new("us-east-1", "123456789012");
        let err = arns
            .parse("target", "arn:aws:iot:us-east-1:999999999999:thing/x")
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("expected it to start with 'arn:aws:iot:us-east-1:123456789012:'")
        );
    }
}
