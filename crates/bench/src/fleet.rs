//! The bench's certificates: one CA, a server certificate for the peers (and the TLS ceiling
//! server), and N device certificates, each with its own key, written to a directory and loaded
//! back as rustls identities.
//!
//! Layout of a fleet directory: `ca.pem`, `ca.key`, `server.pem`, `server.key`, and
//! `devices/<CN>.pem` + `devices/<CN>.key` for each device, CN = `<prefix><index, 5 digits>`.
//!
//! Also the keys and CSRs of fleet provisioning ([`ec_key_and_csr`], [`csrs`]): devices that
//! ask the broker for their certificate instead of having one.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use roost_pki::{
    AttributeType, CertificateAuthority, DistinguishedName, KeyKind, NameAttribute, Validity,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::error::BenchError;

/// How long generated certificates stay valid.
const LIFETIME: Duration = Duration::from_secs(2 * 365 * 86_400);
/// Certificates start being valid this long before "now", for clocks slightly behind.
const BACKDATE_SECS: i64 = 3_600;

/// What to generate.
#[derive(Debug, Clone)]
pub struct FleetSpec {
    /// Number of device certificates.
    pub devices: usize,
    /// Key type of the CA and the devices (the server key is always EC P-256).
    pub key: KeyKind,
    /// Subject C of each device.
    pub country: String,
    /// Subject O of each device.
    pub organization: String,
    /// Device CN prefix; the index follows, zero-padded to five digits.
    pub cn_prefix: String,
    /// DNS names or IP addresses of the server certificate.
    pub server_names: Vec<String>,
}

impl FleetSpec {
    /// The CN of device `index`.
    pub fn device_name(&self, index: usize) -> String {
        format!("{}{index:05}", self.cn_prefix)
    }
}

/// The files of a fleet directory.
#[derive(Debug, Clone)]
pub struct FleetDir {
    root: PathBuf,
}

impl FleetDir {
    /// The fleet at `root`.
    pub fn new(root: impl Into<PathBuf>) -> FleetDir {
        FleetDir { root: root.into() }
    }

    /// The directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The CA certificate (PEM): what brokers trust for clients, and clients for peers.
    pub fn ca_cert(&self) -> PathBuf {
        self.root.join("ca.pem")
    }

    /// The CA private key (PKCS#8 PEM).
    pub fn ca_key(&self) -> PathBuf {
        self.root.join("ca.key")
    }

    /// The server certificate (PEM), issued by the CA.
    pub fn server_cert(&self) -> PathBuf {
        self.root.join("server.pem")
    }

    /// The server private key (PEM).
    pub fn server_key(&self) -> PathBuf {
        self.root.join("server.key")
    }

    /// The directory of device certificates and keys.
    pub fn devices(&self) -> PathBuf {
        self.root.join("devices")
    }
}

/// What [`generate`] made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generated {
    /// Device certificates written.
    pub devices: usize,
}

/// Writes a CA, a server certificate and `spec.devices` device certificates under `dir`, on
/// every core. `now` is Unix seconds; certificates are valid from an hour before it for two
/// years. An existing fleet in `dir` is overwritten.
pub fn generate(dir: &FleetDir, spec: &FleetSpec, now: i64) -> Result<Generated, BenchError> {
    let validity = Validity::starting_at(now - BACKDATE_SECS, LIFETIME)?;
    fs::create_dir_all(dir.devices()).map_err(|source| BenchError::File {
        path: dir.devices(),
        source,
    })?;
    let ca = CertificateAuthority::generate_with_key("Roost Bench CA", spec.key, validity)?;
    write_file(&dir.ca_cert(), ca.cert_pem(), false)?;
    write_file(&dir.ca_key(), &ca.key_pem(), true)?;
    let server = ca.issue_server_certificate(&spec.server_names, validity)?;
    write_file(&dir.server_cert(), &server.certificate_pem, false)?;
    write_file(&dir.server_key(), &server.private_key_pem, true)?;

    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let first_error: Mutex<Option<BenchError>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for thread in 0..threads {
            let (ca, first_error) = (&ca, &first_error);
            scope.spawn(move || {
                for index in (thread..spec.devices).step_by(threads) {
                    if let Err(error) = write_device(dir, spec, ca, index, validity) {
                        let mut slot = first_error.lock().unwrap_or_else(|p| p.into_inner());
                        slot.get_or_insert(error);
                        return;
                    }
                }
            });
        }
    });
    match first_error.into_inner().unwrap_or_else(|p| p.into_inner()) {
        Some(error) => Err(error),
        None => Ok(Generated {
            devices: spec.devices,
        }),
    }
}

fn write_device(
    dir: &FleetDir,
    spec: &FleetSpec,
    ca: &CertificateAuthority,
    index: usize,
    validity: Validity,
) -> Result<(), BenchError> {
    let name = spec.device_name(index);
    let subject = DistinguishedName::from_attributes(vec![
        NameAttribute {
            kind: AttributeType::Country,
            value: spec.country.clone(),
        },
        NameAttribute {
            kind: AttributeType::Organization,
            value: spec.organization.clone(),
        },
        NameAttribute {
            kind: AttributeType::CommonName,
            value: name.clone(),
        },
    ]);
    let issued = ca.issue_client_certificate(&subject, &[], spec.key, validity)?;
    let devices = dir.devices();
    write_file(
        &devices.join(format!("{name}.pem")),
        &issued.certificate_pem,
        false,
    )?;
    write_file(
        &devices.join(format!("{name}.key")),
        &issued.private_key_pem,
        true,
    )
}

fn write_file(path: &Path, contents: &str, secret: bool) -> Result<(), BenchError> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    if secret {
        options.mode(0o600);
    }
    options
        .open(path)
        .and_then(|mut file| file.write_all(contents.as_bytes()))
        .map_err(|source| BenchError::File {
            path: path.to_owned(),
            source,
        })
}

/// One device identity, ready for a TLS client configuration.
#[derive(Debug)]
pub struct Device {
    /// The certificate's CN, used as the MQTT client id.
    pub name: String,
    /// The certificate chain, leaf first.
    pub chain: Vec<CertificateDer<'static>>,
    /// The private key.
    pub key: PrivateKeyDer<'static>,
}

/// Loads the first `limit` devices of the fleet (all when `None`), in CN order.
pub fn load_devices(dir: &FleetDir, limit: Option<usize>) -> Result<Vec<Device>, BenchError> {
    let devices = dir.devices();
    let entries = fs::read_dir(&devices).map_err(|source| BenchError::File {
        path: devices.clone(),
        source,
    })?;
    let mut names: Vec<String> = entries
        .filter_map(|entry| entry.ok())
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            name.strip_suffix(".pem").map(str::to_owned)
        })
        .collect();
    names.sort_unstable();
    let wanted = limit.unwrap_or(names.len());
    if wanted > names.len() {
        return Err(BenchError::NotEnoughDevices {
            dir: dir.root().to_owned(),
            available: names.len(),
            needed: wanted,
        });
    }
    names
        .into_iter()
        .take(wanted)
        .map(|name| {
            let chain = read_certificates(&devices.join(format!("{name}.pem")))?;
            let key = read_private_key(&devices.join(format!("{name}.key")))?;
            Ok(Device { name, chain, key })
        })
        .collect()
}

/// Every certificate in a PEM file, in order; at least one.
pub fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, BenchError> {
    let bytes = fs::read(path).map_err(|source| BenchError::File {
        path: path.to_owned(),
        source,
    })?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| BenchError::BadPem {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(BenchError::BadPem {
            path: path.to_owned(),
            reason: "no CERTIFICATE block".into(),
        });
    }
    Ok(certs)
}

/// The private key in a PEM file (PKCS#8, PKCS#1 or SEC1).
pub fn read_private_key(path: &Path) -> Result<PrivateKeyDer<'static>, BenchError> {
    let bytes = fs::read(path).map_err(|source| BenchError::File {
        path: path.to_owned(),
        source,
    })?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| BenchError::BadPem {
        path: path.to_owned(),
        reason: e.to_string(),
    })
}

/// Reads a whole text file (a PEM) with the path in the error.
pub fn read_text(path: &Path) -> Result<String, BenchError> {
    fs::read_to_string(path).map_err(|source| BenchError::File {
        path: path.to_owned(),
        source,
    })
}

/// A new ECDSA P-256 key and a PEM CSR for it with subject `CN=<common_name>`: what a device
/// makes before CreateCertificateFromCsr.
pub fn ec_key_and_csr(common_name: &str) -> Result<(PrivateKeyDer<'static>, String), BenchError> {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, common_name);
    let csr = params.serialize_request(&key)?.pem()?;
    Ok((PrivateKeyDer::Pkcs8(key.serialize_der().into()), csr))
}

/// A P-256 CSR for each of `common_names`, in order, made on every core. The keys are
/// dropped: the fleet scenario never connects as the devices it provisions.
pub fn csrs(common_names: &[String]) -> Result<Vec<String>, BenchError> {
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let per_thread = common_names.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let parts: Vec<_> = common_names
            .chunks(per_thread)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|name| ec_key_and_csr(name).map(|(_, csr)| csr))
                        .collect::<Result<Vec<_>, _>>()
                })
            })
            .collect();
        let mut all = Vec::with_capacity(common_names.len());
        for part in parts {
            all.extend(
                part.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))?,
            );
        }
        Ok(all)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(devices: usize) -> FleetSpec {
        FleetSpec {
            devices,
            key: KeyKind::EcP256,
            country: "US".into(),
            organization: "Roost Bench".into(),
            cn_prefix: "device-".into(),
            server_names: vec!["localhost".into(), "127.0.0.1".into()],
        }
    }

    #[test]
    fn device_names_are_zero_padded_to_five_digits() {
        assert_eq!(spec(1).device_name(7), "device-00007");
        assert_eq!(spec(1).device_name(123_456), "device-123456");
    }

    #[test]
    fn a_generated_fleet_loads_back_with_subjects_signed_by_its_ca() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = FleetDir::new(tmp.path());
        let now = 1_800_000_000;
        assert_eq!(generate(&dir, &spec(5), now).expect("generate").devices, 5);

        let devices = load_devices(&dir, None).expect("load");
        let names: Vec<&str> = devices.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "device-00000",
                "device-00001",
                "device-00002",
                "device-00003",
                "device-00004"
            ]
        );

        let ca = roost_pki::CertificateInfo::from_pem(&read_text(&dir.ca_cert()).expect("ca"))
            .expect("ca parses");
        let device = roost_pki::CertificateInfo::from_der(&devices[3].chain[0]).expect("parses");
        assert_eq!(device.subject.common_name(), Some("device-00003"));
        assert_eq!(device.subject.first(&AttributeType::Country), Some("US"));
        assert!(roost_pki::verify_signed_by(&device, &ca).is_ok());
        assert!(device.validity.contains(now));
    }

    #[test]
    fn loading_more_devices_than_exist_says_how_many_there_are() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = FleetDir::new(tmp.path());
        generate(&dir, &spec(2), 1_800_000_000).expect("generate");
        match load_devices(&dir, Some(3)) {
            Err(BenchError::NotEnoughDevices {
                available: 2,
                needed: 3,
                ..
            }) => {}
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn device_csrs_are_p256_requests_in_the_order_of_their_names() {
        let names: Vec<String> = (0..5).map(|i| format!("sn-{i}")).collect();
        let csrs = csrs(&names).expect("CSRs");
        assert_eq!(csrs.len(), 5);
        for (name, csr) in names.iter().zip(&csrs) {
            assert!(
                csr.starts_with("-----BEGIN CERTIFICATE REQUEST-----"),
                "{csr}"
            );
            let ca = roost_pki::testing::ca("Fleet CA").expect("CA");
            let issued = ca
                .issue_from_csr(csr, roost_pki::testing::validity())
                .expect("a CSR Roost signs");
            let info = roost_pki::CertificateInfo::from_pem(&issued).expect("parses");
            assert_eq!(info.subject.common_name(), Some(name.as_str()));
            assert!(matches!(
                info.key_algorithm,
                roost_pki::KeyAlgorithm::Ec {
                    curve: roost_pki::EcCurve::P256
                }
            ));
        }
    }
}
