//! Shared by the integration tests: the OpenSSL-made fixtures and a fixed clock.

#![allow(dead_code, unreachable_pub)]

use std::path::Path;
use std::process::Command;

use roost_pki::CertificateInfo;

/// 2027-01-15T08:00:00Z: inside every fixture's validity.
pub const NOW: i64 = 1_800_000_000;

/// The registration code the fixture verification certificate carries as its CN.
pub const REGISTRATION_CODE: &str =
    "4f1c1b6d0e0a9c3b2a1f8e7d6c5b4a39281706f5e4d3c2b1a0918273645f5e4d";

pub fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/openssl")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn cert(name: &str) -> CertificateInfo {
    CertificateInfo::from_pem(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Runs `openssl verify -CAfile <ca> [-untrusted <chain>] <leaf>`; `None` when the binary is missing.
pub fn openssl_verify(
    ca_pem: &str,
    untrusted_pem: Option<&str>,
    leaf_pem: &str,
) -> Option<(bool, String)> {
    if Command::new("openssl").arg("version").output().is_err() {
        println!("note: the openssl binary is missing; skipping the openssl cross-check");
        return None;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let write = |name: &str, pem: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, pem).expect("write PEM");
        path
    };
    let ca = write("ca.pem", ca_pem);
    let leaf = write("leaf.pem", leaf_pem);
    let mut cmd = Command::new("openssl");
    cmd.arg("verify").arg("-CAfile").arg(&ca);
    if let Some(chain) = untrusted_pem {
        cmd.arg("-untrusted").arg(write("chain.pem", chain));
    }
    let out = cmd.arg(&leaf).output().expect("run openssl");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some((out.status.success(), text))
}
