//! The configuration tree: one TOML file plus `ROOST__…` environment overrides, validated at
//! start-up. `roost config default` prints `default-config.toml`, which documents every key.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Deserialize;

/// The documented default configuration, printed by `roost config default`.
pub(crate) const DEFAULT_CONFIG: &str = include_str!("default-config.toml");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Config {
    pub(crate) data_dir: PathBuf,
    pub(crate) region: String,
    pub(crate) account_id: String,
    pub(crate) api: ApiConfig,
    pub(crate) mqtt: MqttConfig,
    pub(crate) identity: IdentityConfig,
    pub(crate) tls: TlsConfig,
    pub(crate) database: DatabaseConfig,
    pub(crate) cluster: ClusterConfig,
    pub(crate) provisioning: ProvisioningConfig,
    pub(crate) rules: RulesConfig,
    #[serde(default)]
    pub(crate) credentials: Vec<CredentialConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ApiConfig {
    pub(crate) listen: SocketAddr,
    pub(crate) max_clock_skew_secs: u64,
    pub(crate) max_connections: usize,
    pub(crate) max_tls_handshakes: usize,
    pub(crate) header_read_timeout_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MqttConfig {
    pub(crate) listen: SocketAddr,
    pub(crate) public_host: String,
    pub(crate) alpn_listen: Option<SocketAddr>,
    pub(crate) https_data_listen: Option<SocketAddr>,
    pub(crate) wss_listen: Option<SocketAddr>,
    pub(crate) insecure_tcp_listen: Option<SocketAddr>,
    pub(crate) insecure_tcp_policy: Option<PathBuf>,
    pub(crate) max_packet_size: u32,
    pub(crate) max_connections: usize,
    pub(crate) max_inflight: u16,
    pub(crate) max_queued_messages: usize,
    pub(crate) max_queued_bytes: usize,
    pub(crate) max_topic_bytes: usize,
    pub(crate) max_topic_levels: usize,
    pub(crate) max_filters_per_subscribe: usize,
    pub(crate) max_subscriptions_per_connection: usize,
    pub(crate) max_retained_messages: usize,
    pub(crate) max_retained_bytes: usize,
    pub(crate) max_session_expiry_secs: u32,
    pub(crate) persistent_session_expiry_secs: u32,
    pub(crate) durable_sessions: bool,
    pub(crate) connect_timeout_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct IdentityConfig {
    pub(crate) expired_ca_refuses_all: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProvisioningConfig {
    pub(crate) aws_compatible_first_connect: bool,
    pub(crate) ownership_token_ttl_secs: u64,
    pub(crate) fleet_requests_per_second: f64,
    pub(crate) fleet_request_burst: u32,
    /// Bulk registration's stand-in for S3: `inputFileBucket` name → directory.
    #[serde(default)]
    pub(crate) bulk_registration_dirs: BTreeMap<String, PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RulesConfig {
    pub(crate) workers: usize,
    pub(crate) queue_capacity: usize,
    pub(crate) http_timeout_ms: u64,
    pub(crate) http_attempts: u32,
    pub(crate) http_ca_file: Option<PathBuf>,
    pub(crate) destinations_enabled_on_create: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TlsConfig {
    pub(crate) server_names: Vec<String>,
    pub(crate) session_tickets: bool,
    pub(crate) session_ticket_lifetime_secs: u64,
    pub(crate) cert_file: Option<PathBuf>,
    pub(crate) key_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DatabaseConfig {
    pub(crate) url: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ClusterConfig {
    pub(crate) nats_url: String,
    pub(crate) node_id: String,
    pub(crate) subject_prefix: String,
    pub(crate) registry_poll_ms: u64,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CredentialConfig {
    pub(crate) access_key_id: String,
    pub(crate) secret_access_key: String,
}

impl std::fmt::Debug for CredentialConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialConfig")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// Command-line values that override the file and the environment.
#[derive(Debug, Default, Clone)]
pub(crate) struct Overrides {
    pub(crate) data_dir: Option<PathBuf>,
    pub(crate) api_listen: Option<SocketAddr>,
    pub(crate) mqtt_listen: Option<SocketAddr>,
    pub(crate) https_data_listen: Option<SocketAddr>,
    pub(crate) wss_listen: Option<SocketAddr>,
    pub(crate) insecure_tcp_listen: Option<SocketAddr>,
    pub(crate) insecure_tcp_policy: Option<PathBuf>,
    pub(crate) database_url: Option<String>,
    pub(crate) nats_url: Option<String>,
    pub(crate) node_id: Option<String>,
}

impl Config {
    /// Loads defaults, then `file` (if given), then `ROOST__…` variables, then `overrides`.
    pub(crate) fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Self> {
        let mut builder = config::Config::builder().add_source(config::File::from_str(
            DEFAULT_CONFIG,
            config::FileFormat::Toml,
        ));
        if let Some(file) = file {
            if !file.exists() {
                bail!("the configuration file {} does not exist", file.display());
            }
            builder = builder.add_source(config::File::from(file).format(config::FileFormat::Toml));
        }
        builder = builder.add_source(
            config::Environment::with_prefix("ROOST")
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true),
        );
        let mut config: Config = builder
            .build()
            .context("reading the configuration")?
            .try_deserialize()
            .context("invalid configuration")?;
        if let Some(dir) = &overrides.data_dir {
            config.data_dir = dir.clone();
        }
        if let Some(addr) = overrides.api_listen {
            config.api.listen = addr;
        }
        if let Some(addr) = overrides.mqtt_listen {
            config.mqtt.listen = addr;
        }
        if let Some(addr) = overrides.https_data_listen {
            config.mqtt.https_data_listen = Some(addr);
        }
        if let Some(addr) = overrides.wss_listen {
            config.mqtt.wss_listen = Some(addr);
        }
        if let Some(addr) = overrides.insecure_tcp_listen {
            config.mqtt.insecure_tcp_listen = Some(addr);
        }
        if let Some(path) = &overrides.insecure_tcp_policy {
            config.mqtt.insecure_tcp_policy = Some(path.clone());
        }
        if let Some(url) = &overrides.database_url {
            config.database.url = url.clone();
        }
        if let Some(url) = &overrides.nats_url {
            config.cluster.nats_url = url.clone();
        }
        if let Some(id) = &overrides.node_id {
            config.cluster.node_id = id.clone();
        }
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<()> {
        if self.account_id.len() != 12 || !self.account_id.chars().all(|c| c.is_ascii_digit()) {
            bail!("account_id must be 12 digits, found {:?}", self.account_id);
        }
        if self.region.is_empty()
            || !self
                .region
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            bail!("region must look like us-east-1, found {:?}", self.region);
        }
        if self.mqtt.public_host.is_empty() {
            bail!("mqtt.public_host must not be empty");
        }
        if self.mqtt.insecure_tcp_listen.is_some() != self.mqtt.insecure_tcp_policy.is_some() {
            bail!("mqtt.insecure_tcp_listen and mqtt.insecure_tcp_policy must be given together");
        }
        if self.mqtt.max_packet_size < 64 {
            bail!("mqtt.max_packet_size must be at least 64 bytes");
        }
        let rate = self.provisioning.fleet_requests_per_second;
        if !rate.is_finite() || rate <= 0.0 || self.provisioning.fleet_request_burst == 0 {
            bail!(
                "provisioning.fleet_requests_per_second and provisioning.fleet_request_burst \
                 must be positive"
            );
        }
        if self.provisioning.ownership_token_ttl_secs == 0 {
            bail!("provisioning.ownership_token_ttl_secs must be positive");
        }
        if self.api.max_connections == 0
            || self.api.max_tls_handshakes == 0
            || self.api.header_read_timeout_secs == 0
        {
            bail!(
                "api.max_connections, api.max_tls_handshakes and api.header_read_timeout_secs \
                 must be positive"
            );
        }
        if self.mqtt.max_inflight == 0 || self.mqtt.max_connections == 0 {
            bail!("mqtt.max_inflight and mqtt.max_connections must be positive");
        }
        let positive = [
            ("mqtt.max_queued_bytes", self.mqtt.max_queued_bytes),
            (
                "mqtt.max_filters_per_subscribe",
                self.mqtt.max_filters_per_subscribe,
            ),
            (
                "mqtt.max_subscriptions_per_connection",
                self.mqtt.max_subscriptions_per_connection,
            ),
        ];
        for (key, value) in positive {
            if value == 0 {
                bail!("{key} must be positive");
            }
        }
        if self.mqtt.max_topic_bytes < 16 || self.mqtt.max_topic_levels < 2 {
            bail!("mqtt.max_topic_bytes must be at least 16 and mqtt.max_topic_levels at least 2");
        }
        for (bucket, dir) in &self.provisioning.bulk_registration_dirs {
            let valid = (3..=256).contains(&bucket.len())
                && bucket
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
            if !valid {
                bail!(
                    "provisioning.bulk_registration_dirs: {bucket:?} is not a bucket name \
                     (3 to 256 of a-z A-Z 0-9 . _ -)"
                );
            }
            if dir.as_os_str().is_empty() {
                bail!("provisioning.bulk_registration_dirs.{bucket} names no directory");
            }
        }
        if self.tls.session_ticket_lifetime_secs < 2 {
            bail!("tls.session_ticket_lifetime_secs must be at least 2");
        }
        if self.tls.cert_file.is_some() != self.tls.key_file.is_some() {
            bail!("tls.cert_file and tls.key_file must be given together");
        }
        if self.is_clustered() && !self.database.url.starts_with("postgres") {
            bail!(
                "cluster.nats_url is set but database.url is not a PostgreSQL URL \
                 (postgres://…): the nodes of a cluster share one PostgreSQL registry"
            );
        }
        let token = |s: &str| {
            !s.is_empty()
                && s.split('.').all(|t| {
                    !t.is_empty()
                        && t.chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                })
        };
        if !token(&self.cluster.subject_prefix) {
            bail!(
                "cluster.subject_prefix must be NATS subject tokens (letters, digits, - and _, \
                 separated by dots), found {:?}",
                self.cluster.subject_prefix
            );
        }
        if !(10..=5_000).contains(&self.cluster.registry_poll_ms) {
            bail!("cluster.registry_poll_ms must be between 10 and 5000");
        }
        for credential in &self.credentials {
            if credential.access_key_id.is_empty() || credential.secret_access_key.is_empty() {
                bail!("every [[credentials]] entry needs access_key_id and secret_access_key");
            }
        }
        Ok(())
    }

    /// The SQLite file of the embedded registry, when no database URL is configured.
    pub(crate) fn sqlite_path(&self) -> Option<PathBuf> {
        self.database
            .url
            .is_empty()
            .then(|| self.data_dir.join("registry.db"))
    }

    /// This node's name in a cluster: the configured one, or the host name and process id.
    pub(crate) fn node_id(&self) -> String {
        if !self.cluster.node_id.is_empty() {
            return self.cluster.node_id.clone();
        }
        let host = std::fs::read_to_string("/etc/hostname")
            .ok()
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "roost".to_owned());
        format!("{host}-{}", std::process::id())
    }

    /// Whether this node joins a cluster (a NATS URL is configured).
    pub(crate) fn is_clustered(&self) -> bool {
        !self.cluster.nats_url.is_empty()
    }

    /// The registry URL: the configured one, or the SQLite file in the data directory.
    pub(crate) fn database_url(&self) -> String {
        match self.sqlite_path() {
            Some(path) => format!("sqlite://{}", path.display()),
            None => self.database.url.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_defaults_parse_and_validate() {
        let config = Config::load(None, &Overrides::default()).unwrap();
        assert_eq!(config.region, "us-east-1");
        assert_eq!(config.mqtt.listen.port(), 8883);
        assert!(config.api.listen.ip().is_loopback());
        assert!(config.database_url().ends_with("registry.db"));
    }

    #[test]
    fn command_line_overrides_win() {
        let overrides = Overrides {
            data_dir: Some("/tmp/x".into()),
            api_listen: Some("127.0.0.1:1".parse().unwrap()),
            mqtt_listen: Some("127.0.0.1:2".parse().unwrap()),
            wss_listen: Some("127.0.0.1:3".parse().unwrap()),
            ..Overrides::default()
        };
        let config = Config::load(None, &overrides).unwrap();
        assert_eq!(config.data_dir, PathBuf::from("/tmp/x"));
        assert_eq!(config.api.listen.port(), 1);
        assert_eq!(config.mqtt.listen.port(), 2);
        assert_eq!(config.mqtt.wss_listen.map(|a| a.port()), Some(3));
    }

    #[test]
    fn a_cluster_needs_a_postgresql_registry() {
        let standalone = Config::load(None, &Overrides::default()).unwrap();
        assert!(!standalone.is_clustered());
        let nats = Some("nats://127.0.0.1:4222".to_owned());
        let error = Config::load(
            None,
            &Overrides {
                nats_url: nats.clone(),
                ..Overrides::default()
            },
        )
        .unwrap_err();
        assert!(format!("{error:#}").contains("PostgreSQL"), "{error:#}");
        let clustered = Config::load(
            None,
            &Overrides {
                nats_url: nats,
                database_url: Some("postgres://roost@127.0.0.1/roost".into()),
                node_id: Some("n1".into()),
                ..Overrides::default()
            },
        )
        .unwrap();
        assert!(clustered.is_clustered());
        assert_eq!(clustered.cluster.node_id, "n1");
        assert_eq!(clustered.sqlite_path(), None);
    }

    #[test]
    fn the_websocket_listener_is_off_by_default() {
        let config = Config::load(None, &Overrides::default()).unwrap();
        assert_eq!(config.mqtt.wss_listen, None);
    }

    #[test]
    fn bulk_registration_dirs_map_bucket_names_kept_as_written_to_directories() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("roost.toml");
        std::fs::write(
            &file,
            "[provisioning.bulk_registration_dirs]\n\
             Factory-Batches = \"/srv/batches\"\n\
             \"line.3\" = \"/srv/line3\"\n",
        )
        .unwrap();
        let config = Config::load(Some(&file), &Overrides::default()).unwrap();
        let dirs = &config.provisioning.bulk_registration_dirs;
        assert_eq!(dirs["Factory-Batches"], PathBuf::from("/srv/batches"));
        assert_eq!(dirs["line.3"], PathBuf::from("/srv/line3"));
        assert!(
            Config::load(None, &Overrides::default())
                .unwrap()
                .provisioning
                .bulk_registration_dirs
                .is_empty()
        );

        std::fs::write(
            &file,
            "[provisioning.bulk_registration_dirs]\n\"a b\" = \"/srv\"\n",
        )
        .unwrap();
        let err = format!(
            "{:#}",
            Config::load(Some(&file), &Overrides::default()).unwrap_err()
        );
        assert!(err.contains("bulk_registration_dirs"), "{err}");
    }

    #[test]
    fn unknown_keys_in_a_file_are_refused_with_their_name() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("roost.toml");
        std::fs::write(&file, "[mqtt]\nlisen = \"0.0.0.0:1\"\n").unwrap();
        let err = format!(
            "{:#}",
            Config::load(Some(&file), &Overrides::default()).unwrap_err()
        );
        assert!(err.contains("lisen"), "{err}");
    }
}
