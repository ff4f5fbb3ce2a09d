//! The data directory: created on first start with everything Roost needs to run with no
//! setup — the server CA that devices trust, the server certificate, the CA that issues device
//! certificates for CreateKeysAndCertificate, and the admin access keys. Existing files are
//! kept across restarts; secrets are written readable by the owner only.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use roost_pki::{CertificateAuthority, Validity};
use serde::{Deserialize, Serialize};

/// Lifetime of the generated CAs.
const CA_LIFETIME: Duration = Duration::from_secs(20 * 365 * 86_400);
/// Lifetime of the generated server certificate.
const SERVER_LIFETIME: Duration = Duration::from_secs(5 * 365 * 86_400);

/// Paths of the files in a data directory.
#[derive(Debug, Clone)]
pub(crate) struct DataDir {
    root: PathBuf,
}

/// The generated admin access keys.
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AdminCredentials {
    pub(crate) access_key_id: String,
    pub(crate) secret_access_key: String,
}

/// What a running server writes so that `roost env` (and scripts) find it, with the
/// addresses actually bound (a configured port 0 becomes the real port).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Endpoints {
    pub(crate) api_url: String,
    pub(crate) mqtt_host: String,
    pub(crate) mqtt_port: u16,
    pub(crate) region: String,
    /// The insecure plaintext MQTT listener's port, when one is served.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) insecure_tcp_port: Option<u16>,
    /// The device HTTPS listener's port, when one is served.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) https_data_port: Option<u16>,
    /// The MQTT-over-WebSocket TLS listener's port, when one is served.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) wss_port: Option<u16>,
}

impl DataDir {
    pub(crate) fn new(root: &Path) -> Self {
        Self {
            root: root.to_owned(),
        }
    }

    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// The server CA certificate devices trust (`--cafile`, AWS's root CA equivalent).
    pub(crate) fn server_ca_cert(&self) -> PathBuf {
        self.root.join("server-ca.pem")
    }

    fn server_ca_key(&self) -> PathBuf {
        self.root.join("server-ca.key")
    }

    pub(crate) fn server_cert(&self) -> PathBuf {
        self.root.join("server.pem")
    }

    pub(crate) fn server_key(&self) -> PathBuf {
        self.root.join("server.key")
    }

    fn device_ca_cert(&self) -> PathBuf {
        self.root.join("device-issuer-ca.pem")
    }

    fn device_ca_key(&self) -> PathBuf {
        self.root.join("device-issuer-ca.key")
    }

    fn credentials_file(&self) -> PathBuf {
        self.root.join("admin-credentials.json")
    }

    /// Makes the SQLite registry file `db` (in this directory) readable by its owner only,
    /// creating it empty if needed so that SQLite's WAL and shared-memory files, which take its
    /// permissions, are private from the start. They hold ownership tokens and the fleet.
    pub(crate) fn secure_database(&self, db: &Path) -> Result<()> {
        if fs::symlink_metadata(db).is_err() {
            let mut options = fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                options.mode(0o600);
            }
            options
                .open(db)
                .with_context(|| format!("creating {}", db.display()))?;
        }
        for suffix in ["", "-wal", "-shm"] {
            let mut name = db.as_os_str().to_owned();
            name.push(suffix);
            restrict_to_owner(Path::new(&name), 0o600)?;
        }
        Ok(())
    }

    fn endpoints_file(&self) -> PathBuf {
        self.root.join("endpoints.json")
    }

    /// Creates the directory and every missing file. `server_names` are the SANs a newly
    /// generated server certificate gets; an existing one is regenerated when it lacks one.
    pub(crate) fn prepare(&self, server_names: &[String]) -> Result<()> {
        create_private_dir(&self.root)?;
        for secret in [
            self.server_ca_key(),
            self.server_key(),
            self.device_ca_key(),
            self.credentials_file(),
        ] {
            restrict_to_owner(&secret, 0o600)?;
        }
        let server_ca = self.load_or_generate_ca(
            &self.server_ca_cert(),
            &self.server_ca_key(),
            "Roost Server CA",
        )?;
        self.ensure_server_certificate(&server_ca, server_names)?;
        self.load_or_generate_ca(
            &self.device_ca_cert(),
            &self.device_ca_key(),
            "Roost Device Issuing CA",
        )?;
        if !self.credentials_file().exists() {
            let credentials = AdminCredentials {
                access_key_id: format!("AKIA{}", random_token(16).to_ascii_uppercase()),
                secret_access_key: random_token(40),
            };
            write_secret(
                &self.credentials_file(),
                &serde_json::to_string_pretty(&credentials)?,
            )?;
        }
        Ok(())
    }

    fn load_or_generate_ca(
        &self,
        cert: &Path,
        key: &Path,
        name: &str,
    ) -> Result<CertificateAuthority> {
        if cert.exists() && key.exists() {
            return load_ca(cert, key);
        }
        if cert.exists() != key.exists() {
            bail!(
                "{} and {} must both exist or both be absent",
                cert.display(),
                key.display()
            );
        }
        let validity = Validity::starting_at(unix_now() - 3600, CA_LIFETIME)?;
        let ca = CertificateAuthority::generate(name, validity)?;
        write_secret(key, &ca.key_pem())?;
        fs::write(cert, ca.cert_pem()).with_context(|| format!("writing {}", cert.display()))?;
        Ok(ca)
    }

    fn ensure_server_certificate(
        &self,
        ca: &CertificateAuthority,
        server_names: &[String],
    ) -> Result<()> {
        let (cert, key) = (self.server_cert(), self.server_key());
        if cert.exists() && key.exists() {
            let pem = fs::read_to_string(&cert)?;
            let info = roost_pki::CertificateInfo::from_pem(&pem)
                .with_context(|| format!("reading {}", cert.display()))?;
            let covered = server_names.iter().all(|name| {
                info.subject_alt_names
                    .iter()
                    .any(|san| san_matches(san, name))
            });
            if covered && info.validity.contains(unix_now()) {
                return Ok(());
            }
            tracing::info!("regenerating the server certificate for the configured names");
        }
        let validity = Validity::starting_at(unix_now() - 3600, SERVER_LIFETIME)?;
        let issued = ca.issue_server_certificate(server_names, validity)?;
        write_secret(&key, &issued.private_key_pem)?;
        fs::write(&cert, issued.certificate_pem)
            .with_context(|| format!("writing {}", cert.display()))?;
        Ok(())
    }

    /// The secrets every node of a cluster must hold alike: the server CA (devices trust it
    /// whichever node they reach), the device-issuing CA and the admin keys. The server
    /// certificate itself is each node's own, issued by the shared CA.
    fn shared_secrets(&self) -> [(&'static str, PathBuf); 5] {
        [
            ("server-ca.pem", self.server_ca_cert()),
            ("server-ca.key", self.server_ca_key()),
            ("device-issuer-ca.pem", self.device_ca_cert()),
            ("device-issuer-ca.key", self.device_ca_key()),
            ("admin-credentials.json", self.credentials_file()),
        ]
    }

    /// This directory's shared secrets as one JSON object (file name → contents).
    pub(crate) fn cluster_secrets(&self) -> Result<String> {
        let mut files = BTreeMap::new();
        for (name, path) in self.shared_secrets() {
            let text =
                fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
            files.insert(name, text);
        }
        Ok(serde_json::to_string(&files)?)
    }

    /// Takes the cluster's shared secrets (from [`DataDir::cluster_secrets`] of the node that
    /// set them) in place of this directory's own where they differ; the server certificate
    /// is issued again when the server CA changed. Returns whether anything changed.
    pub(crate) fn adopt_cluster_secrets(
        &self,
        secrets: &str,
        server_names: &[String],
    ) -> Result<bool> {
        let files: BTreeMap<String, String> =
            serde_json::from_str(secrets).context("the cluster's shared secrets are malformed")?;
        let mut changed = false;
        let mut server_ca_changed = false;
        for (name, path) in self.shared_secrets() {
            let Some(text) = files.get(name) else {
                bail!("the cluster's shared secrets lack {name}");
            };
            if fs::read_to_string(&path).ok().as_deref() == Some(text.as_str()) {
                continue;
            }
            if name.ends_with(".pem") {
                fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
            } else {
                write_secret(&path, text)?;
            }
            changed = true;
            server_ca_changed |= name.starts_with("server-ca");
        }
        if server_ca_changed {
            let ca = load_ca(&self.server_ca_cert(), &self.server_ca_key())?;
            let _ = fs::remove_file(self.server_cert());
            self.ensure_server_certificate(&ca, server_names)?;
        }
        Ok(changed)
    }

    /// The CA that signs CreateKeysAndCertificate / CreateCertificateFromCsr certificates.
    pub(crate) fn device_issuer(&self) -> Result<CertificateAuthority> {
        load_ca(&self.device_ca_cert(), &self.device_ca_key())
    }

    pub(crate) fn admin_credentials(&self) -> Result<AdminCredentials> {
        let text = fs::read_to_string(self.credentials_file()).with_context(|| {
            format!(
                "reading {} (has `roost serve` run with this data directory?)",
                self.credentials_file().display()
            )
        })?;
        serde_json::from_str(&text).context("admin-credentials.json is malformed")
    }

    pub(crate) fn write_endpoints(&self, endpoints: &Endpoints) -> Result<()> {
        fs::write(
            self.endpoints_file(),
            serde_json::to_string_pretty(endpoints)?,
        )
        .context("writing endpoints.json")
    }

    pub(crate) fn endpoints(&self) -> Option<Endpoints> {
        let text = fs::read_to_string(self.endpoints_file()).ok()?;
        serde_json::from_str(&text).ok()
    }

    pub(crate) fn remove_endpoints(&self) {
        let _ = fs::remove_file(self.endpoints_file());
    }
}

fn san_matches(san: &roost_pki::GeneralName, name: &str) -> bool {
    match san {
        roost_pki::GeneralName::Dns(dns) => dns.eq_ignore_ascii_case(name),
        roost_pki::GeneralName::Ip(ip) => name.parse::<std::net::IpAddr>().ok() == Some(*ip),
        _ => false,
    }
}

fn load_ca(cert: &Path, key: &Path) -> Result<CertificateAuthority> {
    let cert_pem =
        fs::read_to_string(cert).with_context(|| format!("reading {}", cert.display()))?;
    let key_pem = fs::read_to_string(key).with_context(|| format!("reading {}", key.display()))?;
    CertificateAuthority::from_pem(&cert_pem, &key_pem)
        .with_context(|| format!("loading the CA in {}", cert.display()))
}

/// Creates `dir` (and its parents) readable by its owner only; an existing one with looser
/// permissions is tightened, with a warning: it holds keys and the registry.
fn create_private_dir(dir: &Path) -> Result<()> {
    if !dir.exists() {
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        builder
            .create(dir)
            .with_context(|| format!("creating the data directory {}", dir.display()))?;
    }
    restrict_to_owner(dir, 0o700)
}

/// Sets `path`'s permissions to `mode` if it exists with any bit for group or others, and says
/// so. A symlink is refused: secrets are never reached through one.
pub(crate) fn restrict_to_owner(path: &Path, mode: u32) -> Result<()> {
    let Ok(metadata) = fs::symlink_metadata(path) else {
        return Ok(());
    };
    if metadata.file_type().is_symlink() {
        anyhow::bail!(
            "{} is a symbolic link; Roost keeps its secrets in plain files",
            path.display()
        );
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let current = metadata.permissions().mode() & 0o777;
        if current & 0o077 != 0 {
            tracing::warn!(
                path = %path.display(),
                mode = format!("{current:o}"),
                "readable by others; restricting it to its owner"
            );
            fs::set_permissions(path, fs::Permissions::from_mode(mode))
                .with_context(|| format!("restricting the permissions of {}", path.display()))?;
        }
    }
    #[cfg(not(unix))]
    let _ = mode;
    Ok(())
}

/// Writes `contents` to a new file only its owner can read. An existing file is removed first
/// and the new one created exclusively, so a symlink planted in its place is never followed.
fn write_secret(path: &Path, contents: &str) -> Result<()> {
    if fs::symlink_metadata(path).is_ok() {
        fs::remove_file(path).with_context(|| format!("replacing {}", path.display()))?;
    }
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()?;
    Ok(())
}

/// `len` random characters from [a-z0-9], drawn from the OS generator (through UUID v4).
fn random_token(len: usize) -> String {
    let mut out = String::with_capacity(len);
    while out.len() < len {
        let bytes = uuid::Uuid::new_v4().into_bytes();
        for byte in bytes {
            // 252 = 7 * 36: reject the tail so every character is equally likely.
            if byte < 252 && out.len() < len {
                let n = byte % 36;
                out.push(char::from_digit(u32::from(n), 36).unwrap_or('0'));
            }
        }
    }
    out
}

pub(crate) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs() as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_data_directory_gets_cas_a_server_certificate_and_keys() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::new(dir.path());
        let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
        data.prepare(&names).unwrap();
        let server =
            roost_pki::CertificateInfo::from_pem(&fs::read_to_string(data.server_cert()).unwrap())
                .unwrap();
        let ca = roost_pki::CertificateInfo::from_pem(
            &fs::read_to_string(data.server_ca_cert()).unwrap(),
        )
        .unwrap();
        roost_pki::verify_signed_by(&server, &ca).unwrap();
        assert!(
            names
                .iter()
                .all(|n| server.subject_alt_names.iter().any(|s| san_matches(s, n)))
        );
        let creds = data.admin_credentials().unwrap();
        assert!(creds.access_key_id.starts_with("AKIA"));
        assert_eq!(creds.secret_access_key.len(), 40);
        data.device_issuer().unwrap();
    }

    #[test]
    fn a_node_takes_the_clusters_secrets_and_reissues_its_server_certificate() {
        let (first, second) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let names = vec!["localhost".to_owned()];
        let a = DataDir::new(first.path());
        let b = DataDir::new(second.path());
        a.prepare(&names).unwrap();
        b.prepare(&names).unwrap();
        let own =
            roost_pki::CertificateInfo::from_pem(&fs::read_to_string(b.server_cert()).unwrap())
                .unwrap();
        let a_ca =
            roost_pki::CertificateInfo::from_pem(&fs::read_to_string(a.server_ca_cert()).unwrap())
                .unwrap();
        assert!(roost_pki::verify_signed_by(&own, &a_ca).is_err());
        let shared = a.cluster_secrets().unwrap();
        assert!(b.adopt_cluster_secrets(&shared, &names).unwrap());
        assert!(
            !b.adopt_cluster_secrets(&shared, &names).unwrap(),
            "nothing left to change"
        );
        assert_eq!(b.cluster_secrets().unwrap(), shared);
        assert_eq!(
            b.admin_credentials().unwrap().access_key_id,
            a.admin_credentials().unwrap().access_key_id
        );
        // b's own server certificate now chains to the shared server CA.
        let ca = fs::read_to_string(a.server_ca_cert()).unwrap();
        let server = fs::read_to_string(b.server_cert()).unwrap();
        let ca = roost_pki::CertificateInfo::from_pem(&ca).unwrap();
        let server = roost_pki::CertificateInfo::from_pem(&server).unwrap();
        roost_pki::verify_signed_by(&server, &ca).expect("signed by the shared server CA");
    }

    #[test]
    fn preparing_again_keeps_the_existing_keys_and_cas() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::new(dir.path());
        let names = vec!["localhost".to_owned()];
        data.prepare(&names).unwrap();
        let before = fs::read_to_string(data.server_ca_cert()).unwrap();
        let creds = data.admin_credentials().unwrap().secret_access_key;
        data.prepare(&names).unwrap();
        assert_eq!(before, fs::read_to_string(data.server_ca_cert()).unwrap());
        assert_eq!(creds, data.admin_credentials().unwrap().secret_access_key);
    }

    #[test]
    fn a_new_server_name_reissues_the_server_certificate_under_the_same_ca() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::new(dir.path());
        data.prepare(&["localhost".to_owned()]).unwrap();
        let ca = fs::read_to_string(data.server_ca_cert()).unwrap();
        data.prepare(&["localhost".to_owned(), "broker.example".to_owned()])
            .unwrap();
        let server =
            roost_pki::CertificateInfo::from_pem(&fs::read_to_string(data.server_cert()).unwrap())
                .unwrap();
        assert!(
            server
                .subject_alt_names
                .iter()
                .any(|s| san_matches(s, "broker.example"))
        );
        assert_eq!(ca, fs::read_to_string(data.server_ca_cert()).unwrap());
    }

    #[test]
    fn a_data_directory_readable_by_others_is_tightened_with_its_secrets() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("data");
        let data = DataDir::new(&root);
        data.prepare(&["localhost".to_owned()]).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&root), 0o700);
        fs::set_permissions(&root, fs::Permissions::from_mode(0o755)).unwrap();
        fs::set_permissions(data.server_ca_key(), fs::Permissions::from_mode(0o644)).unwrap();
        data.prepare(&["localhost".to_owned()]).unwrap();
        assert_eq!(mode(&root), 0o700);
        assert_eq!(mode(&data.server_ca_key()), 0o600);
    }

    #[test]
    fn the_registry_file_and_its_wal_are_private_even_when_they_existed_loosely() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::new(dir.path());
        let db = dir.path().join("registry.db");
        data.secure_database(&db).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&db), 0o600);
        let wal = dir.path().join("registry.db-wal");
        fs::write(&wal, "").unwrap();
        fs::set_permissions(&wal, fs::Permissions::from_mode(0o644)).unwrap();
        fs::set_permissions(&db, fs::Permissions::from_mode(0o664)).unwrap();
        data.secure_database(&db).unwrap();
        assert_eq!(mode(&db), 0o600);
        assert_eq!(mode(&wal), 0o600);
    }

    #[test]
    fn a_secret_is_never_written_through_a_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("elsewhere");
        fs::write(&target, "untouched").unwrap();
        let link = dir.path().join("secret.key");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        write_secret(&link, "key material").unwrap();
        assert_eq!(fs::read_to_string(&target).unwrap(), "untouched");
        assert!(
            !fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert!(restrict_to_owner(&link, 0o600).is_ok());
    }

    #[test]
    fn secrets_are_readable_by_the_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::new(dir.path());
        data.prepare(&["localhost".to_owned()]).unwrap();
        for file in [
            "server-ca.key",
            "server.key",
            "device-issuer-ca.key",
            "admin-credentials.json",
        ] {
            let mode = fs::metadata(dir.path().join(file))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "{file} is readable by others");
        }
    }
}
