//! The real `roost serve` binary speaks MQTT: a device with a registered certificate over
//! mutual TLS (`--mqtt-listen 127.0.0.1:0`), and a plaintext client on the insecure listener
//! (`--insecure-tcp-listen 127.0.0.1:0 --insecure-tcp-policy FILE`) governed by that policy.
//! The ports come from `<data-dir>/endpoints.json`; the clients are mosquitto_pub/sub.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use roost_pki::{KeyKind, testing};
use roost_registry::model::CertificateStatus;
use roost_registry::{Arns, CertificateSource, NewCertificate, Registry, StoreOptions};

const TLS_POLICY: &str = r#"{"Version":"2012-10-17","Statement":[
  {"Effect":"Allow","Action":"iot:Connect","Resource":"arn:aws:iot:us-east-1:123456789012:client/device-*"},
  {"Effect":"Allow","Action":["iot:Publish","iot:RetainPublish","iot:Receive"],"Resource":"arn:aws:iot:us-east-1:123456789012:topic/tls/*"},
  {"Effect":"Allow","Action":"iot:Subscribe","Resource":"arn:aws:iot:us-east-1:123456789012:topicfilter/tls/*"}]}"#;

const INSECURE_POLICY: &str = r#"{"Version":"2012-10-17","Statement":[
  {"Effect":"Allow","Action":"iot:Connect","Resource":"*"},
  {"Effect":"Allow","Action":["iot:Publish","iot:RetainPublish","iot:Receive"],"Resource":"arn:aws:iot:us-east-1:123456789012:topic/open/*"},
  {"Effect":"Allow","Action":"iot:Subscribe","Resource":"arn:aws:iot:us-east-1:123456789012:topicfilter/open/*"}]}"#;

struct Server {
    child: Child,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `roost serve` on `data_dir` and waits for its endpoints.json.
fn start(data_dir: &Path, policy_file: &Path) -> (Server, serde_json::Value) {
    let child = Command::new(env!("CARGO_BIN_EXE_roost"))
        .args([
            "serve",
            "--api-listen",
            "127.0.0.1:0",
            "--mqtt-listen",
            "127.0.0.1:0",
        ])
        .args([
            "--insecure-tcp-listen",
            "127.0.0.1:0",
            "--insecure-tcp-policy",
        ])
        .arg(policy_file)
        .arg("--data-dir")
        .arg(data_dir)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("roost serve starts");
    let server = Server { child };
    let endpoints = data_dir.join("endpoints.json");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(text) = std::fs::read_to_string(&endpoints)
            && let Ok(json) = serde_json::from_str::<serde_json::Value>(&text)
        {
            return (server, json);
        }
        assert!(Instant::now() < deadline, "roost serve did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn mosquitto(program: &str, args: &[String]) -> Output {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("running {program} (is mosquitto-clients installed?): {e}"))
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Registers a new device certificate ACTIVE with [`TLS_POLICY`] in the registry of
/// `data_dir` (before the server opens it); returns (cert file, key file).
async fn register_device(data_dir: &Path) -> (PathBuf, PathBuf) {
    std::fs::create_dir_all(data_dir).unwrap();
    let registry = Registry::open(
        &StoreOptions {
            url: format!("sqlite://{}", data_dir.join("registry.db").display()),
            max_readers: 1,
        },
        Arns::new("us-east-1", "123456789012"),
    )
    .await
    .unwrap();
    let issuer = testing::ca("Factory CA").unwrap();
    let device = issuer
        .issue_with_new_key(KeyKind::Rsa2048, "device-1", testing::validity())
        .unwrap();
    let certificate = registry
        .register_certificate(NewCertificate {
            pem: device.certificate_pem.clone(),
            source: CertificateSource::Issued,
            status: CertificateStatus::Active,
        })
        .await
        .unwrap();
    registry
        .create_policy("device-policy", TLS_POLICY)
        .await
        .unwrap();
    registry
        .attach_policy(
            "device-policy",
            &registry.arns().certificate(&certificate.id),
        )
        .await
        .unwrap();
    registry.close().await;
    let cert = data_dir.join("device.pem");
    let key = data_dir.join("device.key");
    std::fs::write(&cert, device.certificate_pem).unwrap();
    std::fs::write(&key, device.private_key_pem).unwrap();
    (cert, key)
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|a| (*a).to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn roost_serve_speaks_mqtt_over_mutual_tls_and_on_the_insecure_listener() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let (cert, key) = register_device(&data_dir).await;
    let policy_file = dir.path().join("insecure-policy.json");
    std::fs::write(&policy_file, INSECURE_POLICY).unwrap();

    let (_server, endpoints) = tokio::task::spawn_blocking({
        let data_dir = data_dir.clone();
        move || start(&data_dir, &policy_file)
    })
    .await
    .unwrap();
    let tls_port = endpoints["mqttPort"]
        .as_u64()
        .expect("mqttPort")
        .to_string();
    let plain_port = endpoints["insecureTcpPort"]
        .as_u64()
        .expect("insecureTcpPort in endpoints.json")
        .to_string();
    assert_ne!(tls_port, plain_port);

    let ca = data_dir.join("server-ca.pem").display().to_string();
    let tls = |client_id: &str, rest: &[&str]| {
        let mut all = args(&["-h", "localhost", "-p", &tls_port, "--cafile", &ca]);
        all.extend(args(&["--cert", &cert.display().to_string()]));
        all.extend(args(&[
            "--key",
            &key.display().to_string(),
            "-i",
            client_id,
        ]));
        all.extend(args(rest));
        all
    };
    let plain = |client_id: &str, rest: &[&str]| {
        let mut all = args(&["-h", "127.0.0.1", "-p", &plain_port, "-i", client_id]);
        all.extend(args(rest));
        all
    };

    // TLS with the registered certificate: an allowed topic round-trips (retained, so no
    // race with the subscription), a denied one does not.
    let out = mosquitto(
        "mosquitto_pub",
        &tls(
            "device-1",
            &["-t", "tls/state", "-m", "over tls", "-r", "-q", "1"],
        ),
    );
    assert!(out.status.success(), "{}", text(&out));
    let out = mosquitto(
        "mosquitto_sub",
        &tls("device-2", &["-t", "tls/state", "-C", "1", "-W", "5"]),
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "over tls");
    let out = mosquitto(
        "mosquitto_sub",
        &tls(
            "device-3",
            &["-V", "mqttv5", "-t", "open/state", "-C", "1", "-W", "2"],
        ),
    );
    assert!(
        text(&out).contains("subscription requests were denied"),
        "a denied subscription: {}",
        text(&out)
    );
    let out = mosquitto(
        "mosquitto_pub",
        &tls("intruder", &["-t", "tls/x", "-m", "x"]),
    );
    assert!(!out.status.success(), "iot:Connect denied: {}", text(&out));
    assert!(text(&out).contains("not authorised"), "{}", text(&out));

    // The plaintext listener, governed by its own policy.
    let out = mosquitto(
        "mosquitto_pub",
        &plain(
            "plain-1",
            &["-t", "open/state", "-m", "in the clear", "-r", "-q", "1"],
        ),
    );
    assert!(out.status.success(), "{}", text(&out));
    let out = mosquitto(
        "mosquitto_sub",
        &plain("plain-2", &["-t", "open/state", "-C", "1", "-W", "5"]),
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "in the clear");
    let out = mosquitto(
        "mosquitto_sub",
        &plain(
            "plain-3",
            &["-V", "mqttv5", "-t", "tls/state", "-C", "1", "-W", "2"],
        ),
    );
    assert!(
        text(&out).contains("subscription requests were denied"),
        "a denied subscription: {}",
        text(&out)
    );
    // A denied publish: the v5 PUBACK says so, and nothing is retained.
    let out = mosquitto(
        "mosquitto_pub",
        &plain(
            "plain-4",
            &[
                "-V",
                "mqttv5",
                "-t",
                "tls/state",
                "-m",
                "x",
                "-q",
                "1",
                "-r",
            ],
        ),
    );
    assert!(
        text(&out).to_lowercase().contains("not authori"),
        "a denied publish: {}",
        text(&out)
    );
    // TLS on the plaintext port (and plaintext on the TLS port) get nowhere.
    let out = mosquitto(
        "mosquitto_pub",
        &plain("plain-5", &["-t", "open/x", "-m", "x", "-p", &tls_port]),
    );
    assert!(!out.status.success(), "{}", text(&out));
}
