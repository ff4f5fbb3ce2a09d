//! CLI commands that act on a running Roost through its control plane, signed with SigV4 like
//! any AWS client: `roost ca register`, `roost ca revoke-all`, `roost provision test`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use roost_pki::{
    AttributeType, CertificateAuthority, DistinguishedName, KeyKind, NameAttribute, Validity,
};
use serde_json::{Value, json};

use crate::client::{ApiFailure, ClientSettings, ControlPlaneClient, encode_label};
use crate::config::Config;
use crate::data_dir::{DataDir, unix_now};
use crate::env_command::configured_endpoints;

/// Where the commands find the server and their credentials.
#[derive(Debug, Clone, Default)]
pub(crate) struct Target {
    /// Control-plane URL; default: `AWS_ENDPOINT_URL_IOT`, else the data directory's server.
    pub(crate) endpoint: Option<String>,
    /// CA of the control plane's certificate (https); default: `ROOST_ROOT_CA`, else the data
    /// directory's server CA.
    pub(crate) cafile: Option<PathBuf>,
}

/// The role ARN stored when a template comes without one: Roost has no IAM, AWS requires the
/// field, so a recognisable placeholder is kept.
pub(crate) fn placeholder_role_arn(account: &str) -> String {
    format!("arn:aws:iam::{account}:role/roost-provisioning-placeholder")
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn client(config: &Config, target: &Target) -> Result<ControlPlaneClient> {
    let data = DataDir::new(&config.data_dir);
    let endpoint = target
        .endpoint
        .clone()
        .or_else(|| env("AWS_ENDPOINT_URL_IOT"))
        .or_else(|| data.endpoints().map(|e| e.api_url))
        .unwrap_or_else(|| configured_endpoints(config).api_url);
    let (access_key_id, secret_access_key) =
        match (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
            (Some(id), Some(secret)) => (id, secret),
            _ => {
                let admin = data.admin_credentials()?;
                (admin.access_key_id, admin.secret_access_key)
            }
        };
    let region = env("AWS_REGION")
        .or_else(|| env("AWS_DEFAULT_REGION"))
        .unwrap_or_else(|| config.region.clone());
    let cafile = target
        .cafile
        .clone()
        .or_else(|| env("ROOST_ROOT_CA").map(PathBuf::from))
        .unwrap_or_else(|| data.server_ca_cert());
    let ca_pem = std::fs::read_to_string(&cafile).ok();
    ControlPlaneClient::new(ClientSettings {
        endpoint,
        access_key_id,
        secret_access_key,
        region,
        ca_pem,
    })
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

/// The registrationConfig for `template_file`: the walkthrough's file
/// (`{"templateBody": …, "roleArn": …}`) as it is, or a bare template wrapped into one.
pub(crate) fn registration_config(
    text: &str,
    role_arn: Option<&str>,
    account: &str,
) -> Result<Value> {
    let parsed: Value = serde_json::from_str(text).context("the template file is not JSON")?;
    let mut config = if parsed.get("templateBody").is_some() || parsed.get("templateName").is_some()
    {
        parsed
    } else if parsed.get("Resources").is_some() {
        json!({ "templateBody": text })
    } else {
        bail!(
            "the template file holds neither a registration config ({{\"templateBody\": …}}) \
             nor a provisioning template ({{\"Resources\": …}})"
        );
    };
    if let Some(role) = role_arn {
        config["roleArn"] = role.into();
    } else if config.get("roleArn").is_none() && config.get("templateBody").is_some() {
        config["roleArn"] = placeholder_role_arn(account).into();
    }
    Ok(config)
}

/// `roost ca register`: the whole proof-of-possession dance in one command — registration
/// code, verification certificate signed with the CA key, register (or update an already
/// registered CA), active, auto-registration on, with the template.
pub(crate) async fn register_ca(
    config: &Config,
    target: &Target,
    ca_cert: &Path,
    ca_key: &Path,
    template: Option<&Path>,
    role_arn: Option<&str>,
) -> Result<Value> {
    let client = client(config, target)?;
    let ca_pem = read(ca_cert)?;
    let authority = CertificateAuthority::from_pem(&ca_pem, &read(ca_key)?)
        .context("the CA certificate and key do not make a usable CA")?;
    let registration_config = template
        .map(|path| registration_config(&read(path)?, role_arn, &config.account_id))
        .transpose()?;

    let code = client.call("GET", "/registrationcode", None, None).await?;
    let code = code["registrationCode"]
        .as_str()
        .context("GetRegistrationCode returned no code")?
        .to_owned();
    let subject = DistinguishedName::from_attributes(vec![NameAttribute {
        kind: AttributeType::CommonName,
        value: code,
    }]);
    let now = unix_now();
    let verification = authority.issue_client_certificate(
        &subject,
        &[],
        KeyKind::EcP256,
        Validity::new(now - 300, now + 86_400)?,
    )?;
    let mut body = json!({
        "caCertificate": ca_pem,
        "verificationCertificate": verification.certificate_pem,
    });
    if let Some(config) = &registration_config {
        body["registrationConfig"] = config.clone();
    }
    let registered = client
        .call(
            "POST",
            "/cacertificate",
            Some("allowAutoRegistration=true&setAsActive=true"),
            Some(&body),
        )
        .await;
    match registered {
        Ok(answer) => Ok(answer),
        Err(error) => match error.downcast_ref::<ApiFailure>() {
            Some(failure) if failure.error_type == "ResourceAlreadyExistsException" => {
                let id = &authority.certificate().id;
                let mut update = json!({});
                if let Some(config) = registration_config {
                    update["registrationConfig"] = config;
                }
                client
                    .call(
                        "PUT",
                        &format!("/cacertificate/{}", encode_label(id)),
                        Some("newAutoRegistrationStatus=ENABLE&newStatus=ACTIVE"),
                        Some(&update),
                    )
                    .await?;
                Ok(json!({
                    "certificateArn": format!("arn:aws:iot:{}:{}:cacert/{id}", config.region, config.account_id),
                    "certificateId": id,
                    "updated": true,
                }))
            }
            _ => Err(error),
        },
    }
}

/// `roost ca revoke-all`: revokes every certificate a CA signed and cuts their connections.
pub(crate) async fn revoke_all(config: &Config, target: &Target, ca_id: &str) -> Result<Value> {
    client(config, target)?
        .call(
            "POST",
            &format!("/roost/cacertificates/{}/revoke-all", encode_label(ca_id)),
            None,
            Some(&json!({})),
        )
        .await
}

/// `roost provision test`: the plan just-in-time provisioning would apply for a certificate.
pub(crate) async fn provision_test(
    config: &Config,
    target: &Target,
    cert: &Path,
    ca_id: Option<&str>,
) -> Result<Value> {
    let mut body = json!({ "certificatePem": read(cert)? });
    if let Some(ca) = ca_id {
        body["caCertificateId"] = ca.into();
    }
    client(config, target)?
        .call("POST", "/roost/provisioning/dry-run", None, Some(&body))
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_walkthrough_registration_config_is_kept_as_is() {
        let text = r#"{"templateBody":"{\"Resources\":{}}","roleArn":"arn:aws:iam::123456789012:role/JITPRole"}"#;
        let config = registration_config(text, None, "123456789012").unwrap();
        assert_eq!(config["roleArn"], "arn:aws:iam::123456789012:role/JITPRole");
        assert_eq!(config["templateBody"], "{\"Resources\":{}}");
    }

    #[test]
    fn a_bare_template_is_wrapped_with_the_placeholder_role() {
        let text = r#"{"Resources":{}}"#;
        let config = registration_config(text, None, "123456789012").unwrap();
        assert_eq!(config["templateBody"], text);
        assert_eq!(config["roleArn"], placeholder_role_arn("123456789012"));
        let config =
            registration_config(text, Some("arn:aws:iam::1:role/x"), "123456789012").unwrap();
        assert_eq!(config["roleArn"], "arn:aws:iam::1:role/x");
    }

    #[test]
    fn other_json_is_refused() {
        assert!(registration_config(r#"{"a":1}"#, None, "123456789012").is_err());
        assert!(registration_config("not json", None, "123456789012").is_err());
    }
}
