//! What every test of the suite needs: a fresh registry with a recorder of its change events,
//! certificates, and assertions on error variants.

use std::sync::{Arc, Mutex};

use roost_pki::testing::{self, validity};
use roost_pki::{CertificateAuthority, KeyKind};
use roost_registry::model::{CertificateMode, CertificateStatus};
use roost_registry::{
    Arns, CertificateSource, ChangeListener, NewCaCertificate, NewCertificate, Registry,
    RegistryEvent, StoreOptions,
};

use crate::postgres::{self, TestDatabase};

pub(crate) const REGION: &str = "us-east-1";
pub(crate) const ACCOUNT: &str = "123456789012";

/// Records the events of every commit, one entry per commit, and the commits' numbers.
#[derive(Default)]
pub(crate) struct Recorder {
    commits: Mutex<Vec<Vec<RegistryEvent>>>,
    numbers: Mutex<Vec<u64>>,
}

impl ChangeListener for Recorder {
    fn on_commit(&self, commit: u64, events: &[RegistryEvent]) {
        self.commits
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(events.to_vec());
        self.numbers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(commit);
    }
}

impl Recorder {
    /// The numbers of the commits recorded so far, in the order they were heard of.
    pub(crate) fn commit_numbers(&self) -> Vec<u64> {
        self.numbers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The events recorded since the last call, in commit order.
    pub(crate) fn take(&self) -> Vec<RegistryEvent> {
        let mut commits = self.commits.lock().unwrap_or_else(|p| p.into_inner());
        commits.drain(..).flatten().collect()
    }

    /// The commits recorded since the last call, each with its events.
    pub(crate) fn take_commits(&self) -> Vec<Vec<RegistryEvent>> {
        let mut commits = self.commits.lock().unwrap_or_else(|p| p.into_inner());
        commits.drain(..).collect()
    }
}

/// A registry opened for one test, with its event recorder; the storage lives as long as it.
pub(crate) struct Harness {
    pub(crate) registry: Registry,
    pub(crate) events: Arc<Recorder>,
    pub(crate) url: String,
    /// Dropped after the registry (fields drop in order): the PostgreSQL database, or the
    /// SQLite file's directory.
    _storage: Storage,
}

/// What holds a test's storage until the test ends.
struct Storage {
    _database: Option<TestDatabase>,
    _dir: Option<tempfile::TempDir>,
}

impl std::ops::Deref for Harness {
    type Target = Registry;

    fn deref(&self) -> &Registry {
        &self.registry
    }
}

impl Harness {
    /// A fresh registry: a new SQLite file, or a new database on `ROOST_TEST_DATABASE_URL`.
    pub(crate) async fn new() -> Self {
        match postgres::server_url() {
            Some(server) => {
                let database = TestDatabase::create(&server).await;
                let url = database.url.clone();
                let storage = Storage {
                    _database: Some(database),
                    _dir: None,
                };
                Self::open_at(url, storage).await
            }
            None => {
                let dir = tempfile::tempdir().expect("a temporary directory");
                let url = format!("sqlite://{}", dir.path().join("registry.db").display());
                let storage = Storage {
                    _database: None,
                    _dir: Some(dir),
                };
                Self::open_at(url, storage).await
            }
        }
    }

    async fn open_at(url: String, storage: Storage) -> Self {
        let registry = open(&url).await;
        let events = Arc::new(Recorder::default());
        registry.subscribe(events.clone());
        Self {
            registry,
            events,
            url,
            _storage: storage,
        }
    }

    /// Closes the registry and opens the same storage again (a restart).
    pub(crate) async fn reopen(self) -> Self {
        self.registry.close().await;
        Self::open_at(self.url, self._storage).await
    }

    pub(crate) fn arns(&self) -> Arns {
        arns()
    }
}

/// Opens the registry at `url` with the suite's region and account.
pub(crate) async fn open(url: &str) -> Registry {
    Registry::open(
        &StoreOptions {
            url: url.to_owned(),
            max_readers: 4,
        },
        arns(),
    )
    .await
    .expect("the registry opens")
}

pub(crate) fn arns() -> Arns {
    Arns::new(REGION, ACCOUNT)
}

/// Asserts `$result` is `Err(RegistryError::$variant…)`, and returns the error's message.
#[macro_export]
macro_rules! assert_err {
    ($result:expr, $variant:ident) => {{
        match $result {
            Err(error @ roost_registry::RegistryError::$variant { .. }) => error.to_string(),
            other => panic!(
                "expected RegistryError::{}, got {:?}",
                stringify!($variant),
                other
            ),
        }
    }};
}

/// A new CA (EC P-256) named `CN=<name>`.
pub(crate) fn ca(name: &str) -> CertificateAuthority {
    testing::ca(name).expect("a test CA")
}

/// A device certificate PEM signed by `ca`, subject `CN=<cn>`.
pub(crate) fn leaf(ca: &CertificateAuthority, cn: &str) -> String {
    ca.issue_with_new_key(KeyKind::EcP256, cn, validity())
        .expect("a device certificate")
        .certificate_pem
}

/// The proof of possession for `code`: a certificate with CN = the code, signed by `ca`.
pub(crate) fn verification(ca: &CertificateAuthority, code: &str) -> String {
    leaf(ca, code)
}

/// The certificate id (lowercase hex SHA-256 of the DER) of `pem`.
pub(crate) fn id_of(pem: &str) -> String {
    roost_pki::CertificateInfo::from_pem(pem)
        .expect("a certificate")
        .id
}

/// RegisterCACertificate input in SNI_ONLY mode (no proof needed), active.
pub(crate) fn sni_only_ca(ca: &CertificateAuthority) -> NewCaCertificate {
    NewCaCertificate {
        ca_pem: ca.cert_pem().to_owned(),
        verification_pem: None,
        set_as_active: true,
        allow_auto_registration: false,
        registration_config: None,
        mode: CertificateMode::SniOnly,
        tags: Vec::new(),
    }
}

/// Registers `ca` with its proof of possession; returns its id.
pub(crate) async fn register_ca(
    registry: &Registry,
    ca: &CertificateAuthority,
    active: bool,
) -> String {
    let code = registry
        .get_registration_code()
        .await
        .expect("a registration code");
    registry
        .register_ca_certificate(NewCaCertificate {
            ca_pem: ca.cert_pem().to_owned(),
            verification_pem: Some(verification(ca, &code)),
            set_as_active: active,
            allow_auto_registration: false,
            registration_config: None,
            mode: CertificateMode::Default,
            tags: Vec::new(),
        })
        .await
        .expect("the CA registers")
        .id
}

/// Registers a new self-signed certificate (RegisterCertificateWithoutCA) with `status`;
/// returns its id.
pub(crate) async fn certificate(registry: &Registry, status: CertificateStatus) -> String {
    let pem = testing::self_signed_pem("device").expect("a certificate");
    registry
        .register_certificate(NewCertificate {
            pem,
            source: CertificateSource::WithoutCa,
            status,
        })
        .await
        .expect("the certificate registers")
        .id
}

/// A minimal valid policy document allowing `action`.
pub(crate) fn policy_document(action: &str) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"{action}","Resource":"*"}}]}}"#
    )
}
