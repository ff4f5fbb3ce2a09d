//! `roost env`: shell `export` lines that point the AWS CLI, boto3 and MQTT clients at a
//! Roost data directory, so that `eval "$(roost env)"` is all a shell needs.

use anyhow::Result;

use crate::config::Config;
use crate::data_dir::{DataDir, Endpoints};

/// The export lines for `config`'s data directory. Addresses come from the running server's
/// `endpoints.json` when present (it knows the real ports), else from the configuration.
pub(crate) fn render(config: &Config) -> Result<String> {
    let data = DataDir::new(&config.data_dir);
    let credentials = data.admin_credentials()?;
    let endpoints = data
        .endpoints()
        .unwrap_or_else(|| configured_endpoints(config));
    let root_ca = std::path::absolute(data.server_ca_cert())?;
    let lines = [
        ("AWS_ACCESS_KEY_ID", credentials.access_key_id),
        ("AWS_SECRET_ACCESS_KEY", credentials.secret_access_key),
        ("AWS_DEFAULT_REGION", endpoints.region.clone()),
        ("AWS_REGION", endpoints.region),
        ("AWS_ENDPOINT_URL_IOT", endpoints.api_url.clone()),
        // boto3's and the CLI's `iot-data` client (service id "IoT Data Plane").
        ("AWS_ENDPOINT_URL_IOT_DATA_PLANE", endpoints.api_url),
        ("ROOST_MQTT_HOST", endpoints.mqtt_host),
        ("ROOST_MQTT_PORT", endpoints.mqtt_port.to_string()),
        ("ROOST_ROOT_CA", root_ca.display().to_string()),
    ];
    Ok(lines
        .iter()
        .map(|(name, value)| format!("export {name}={}\n", shell_quote(value)))
        .collect())
}

/// `aws configure set` commands that create an AWS CLI profile for this Roost. They are only
/// printed: Roost never touches `~/.aws` itself.
pub(crate) fn render_profile(config: &Config, profile: &str) -> Result<String> {
    let data = DataDir::new(&config.data_dir);
    let credentials = data.admin_credentials()?;
    let endpoints = data
        .endpoints()
        .unwrap_or_else(|| configured_endpoints(config));
    let settings = [
        ("aws_access_key_id", credentials.access_key_id),
        ("aws_secret_access_key", credentials.secret_access_key),
        ("region", endpoints.region),
        ("endpoint_url", endpoints.api_url),
    ];
    Ok(settings
        .iter()
        .map(|(key, value)| {
            format!(
                "aws configure set {key} {} --profile {}\n",
                shell_quote(value),
                shell_quote(profile)
            )
        })
        .collect())
}

/// The endpoints as configured (used when the server is not running).
pub(crate) fn configured_endpoints(config: &Config) -> Endpoints {
    let api = config.api.listen;
    let scheme = if api.ip().is_loopback() {
        "http"
    } else {
        "https"
    };
    let host = if api.ip().is_unspecified() || api.ip().is_loopback() {
        "localhost".to_owned()
    } else {
        api.ip().to_string()
    };
    Endpoints {
        api_url: format!("{scheme}://{host}:{}", api.port()),
        mqtt_host: config.mqtt.public_host.clone(),
        mqtt_port: config.mqtt.listen.port(),
        region: config.region.clone(),
        insecure_tcp_port: config.mqtt.insecure_tcp_listen.map(|addr| addr.port()),
        https_data_port: config.mqtt.https_data_listen.map(|addr| addr.port()),
        wss_port: config.mqtt.wss_listen.map(|addr| addr.port()),
    }
}

/// Quotes `value` for POSIX shells.
fn shell_quote(value: &str) -> String {
    if !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:@%+=,".contains(c))
    {
        value.to_owned()
    } else {
        format!("'{}'", value.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_with_shell_characters_are_single_quoted() {
        assert_eq!(shell_quote("abc/DEF:1"), "abc/DEF:1");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }
}
