//! The mosquitto command-line clients against the broker over mutual TLS, as users run them:
//! `--cafile`, `--cert` (the device certificate, or device and CA certificates concatenated as
//! in the AWS walkthrough) and `--key`, MQTT 3.1.1 and 5.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use common::*;
use roost_pki::KeyKind;
use roost_registry::model::CertificateStatus;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// A running `mosquitto_sub -d`, once its SUBACK has arrived.
struct Subscriber {
    child: Child,
    lines: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
}

impl Subscriber {
    async fn start(server: &Server, device: &Device, extra: &[&str]) -> Result<Subscriber> {
        // Line-buffered: piped stdout is otherwise held back until the process exits.
        let mut args = vec![
            "-oL".to_owned(),
            "mosquitto_sub".to_owned(),
            "-d".to_owned(),
        ];
        args.extend(server.mosquitto_args(device)?);
        args.extend(extra.iter().map(|a| (*a).to_owned()));
        let mut child = Command::new("stdbuf")
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("running mosquitto_sub (is mosquitto-clients installed?)")?;
        let stdout = child.stdout.take().context("no stdout")?;
        let mut subscriber = Subscriber {
            child,
            lines: BufReader::new(stdout).lines(),
        };
        subscriber.line_containing("SUBACK").await?;
        Ok(subscriber)
    }

    /// The next line of output that contains `needle`.
    async fn line_containing(&mut self, needle: &str) -> Result<String> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            match tokio::time::timeout_at(deadline, self.lines.next_line()).await {
                Err(_) => bail!("mosquitto_sub printed no line with {needle:?} in time"),
                Ok(Ok(Some(line))) if line.contains(needle) => return Ok(line),
                Ok(Ok(Some(_))) => continue,
                Ok(Ok(None)) => bail!("mosquitto_sub ended before printing {needle:?}"),
                Ok(Err(error)) => return Err(error.into()),
            }
        }
    }

    /// Waits for the process to exit; returns whether it succeeded, and what it printed
    /// from then on.
    async fn exit(mut self) -> Result<(bool, String)> {
        let mut printed = String::new();
        while let Ok(Ok(Some(line))) = tokio::time::timeout(WAIT, self.lines.next_line()).await {
            printed.push_str(&line);
            printed.push('\n');
        }
        let status = tokio::time::timeout(WAIT, self.child.wait())
            .await
            .context("mosquitto_sub did not exit in time")??;
        if let Some(mut stderr) = self.child.stderr.take() {
            let _ = tokio::io::AsyncReadExt::read_to_string(&mut stderr, &mut printed).await;
        }
        Ok((status.success(), printed))
    }
}

async fn mosquitto_pub(server: &Server, device: &Device, extra: &[&str]) -> Result<(bool, String)> {
    let mut args = server.mosquitto_args(device)?;
    args.extend(extra.iter().map(|a| (*a).to_owned()));
    let (ok, stdout, stderr) = run("mosquitto_pub", &args, WAIT).await?;
    Ok((ok, format!("{stdout}{stderr}")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mosquitto_clients_exchange_messages_at_each_qos_over_3_1_1_and_5() -> Result<()> {
    let server = Server::start().await?;
    let device = server.device(ALLOW_ALL).await?;
    for version in ["mqttv311", "mqttv5"] {
        for qos in ["0", "1", "2"] {
            let topic = unique("mosq");
            let mut sub = Subscriber::start(
                &server,
                &device,
                &[
                    "-V",
                    version,
                    "-q",
                    qos,
                    "-t",
                    &topic,
                    "-C",
                    "1",
                    "-i",
                    &unique("sub"),
                ],
            )
            .await?;
            let payload = format!("hello {version} qos {qos}");
            let (ok, output) = mosquitto_pub(
                &server,
                &device,
                &[
                    "-V",
                    version,
                    "-q",
                    qos,
                    "-t",
                    &topic,
                    "-m",
                    &payload,
                    "-i",
                    &unique("pub"),
                ],
            )
            .await?;
            assert!(ok, "mosquitto_pub failed: {output}");
            sub.line_containing(&payload).await?;
            assert!(sub.exit().await?.0);
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mosquitto_sub_receives_a_retained_message_published_earlier() -> Result<()> {
    let server = Server::start().await?;
    let device = server.device(ALLOW_ALL).await?;
    let topic = unique("mosq-retained");
    let (ok, output) = mosquitto_pub(
        &server,
        &device,
        &["-q", "1", "-r", "-t", &topic, "-m", "kept"],
    )
    .await?;
    assert!(ok, "{output}");
    let mut args = server.mosquitto_args(&device)?;
    args.extend(
        ["-t", &topic, "-C", "1", "-v", "-W", "3", "-V", "mqttv5"]
            .iter()
            .map(|a| (*a).to_owned()),
    );
    let (ok, stdout, stderr) = run("mosquitto_sub", &args, WAIT).await?;
    assert!(ok, "{stderr}");
    assert_eq!(stdout.trim(), format!("{topic} kept"));
    Ok(())
}

/// An openssl-made CA (registered with its verification certificate) and an X.509 v1 device
/// under it, registered ACTIVE with an allow-all policy: (device with only its certificate,
/// CA PEM).
async fn walkthrough_device(server: &Server, kind: KeyKind) -> Result<(Device, String)> {
    let dir = tempfile::tempdir()?;
    let path = dir.path();
    openssl_ca(
        path,
        "rootCA",
        KeyKind::Rsa2048,
        &format!("/O=Acme/CN={}", unique("Root")),
    )?;
    let code = server.registration_code().await?;
    openssl_v1_cert(
        path,
        "verificationCert",
        KeyKind::EcP256,
        "rootCA",
        &format!("/CN={code}"),
    )?;
    openssl_v1_cert(
        path,
        "deviceCert",
        kind,
        "rootCA",
        "/O=Acme/CN=mosquitto-device",
    )?;
    let ca_pem = read(path, "rootCA.pem")?;
    server
        .register_ca(&ca_pem, &read(path, "verificationCert.pem")?)
        .await?;
    let device = Device::new(
        &read(path, "deviceCert.pem")?,
        &read(path, "deviceCert.key")?,
        server.server_ca.cert_pem(),
    );
    server
        .register_with_ca(&device, CertificateStatus::Active)
        .await?;
    server.attach_policy(&device, ALLOW_ALL).await?;
    Ok((device, ca_pem))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mosquitto_connects_with_openssl_v1_certificates_with_and_without_the_ca_in_the_chain()
-> Result<()> {
    let server = Server::start().await?;
    for kind in [KeyKind::Rsa2048, KeyKind::EcP256] {
        let (device, ca_pem) = walkthrough_device(&server, kind).await?;
        for device in [device.clone(), device.with_chain(&ca_pem)] {
            let topic = unique("v1");
            let mut sub =
                Subscriber::start(&server, &device, &["-t", &topic, "-C", "1", "-q", "1"]).await?;
            let (ok, output) = mosquitto_pub(
                &server,
                &device,
                &["-t", &topic, "-m", "from v1", "-q", "1"],
            )
            .await?;
            assert!(ok, "{kind:?}: {output}");
            sub.line_containing("from v1").await?;
            assert!(sub.exit().await?.0);
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mosquitto_is_told_not_authorised_for_an_inactive_certificate_or_a_denied_client_id()
-> Result<()> {
    let server = Server::start().await?;
    let inactive = server.issue(&unique("inactive"), KeyKind::EcP256)?;
    server
        .register(&inactive, CertificateStatus::Inactive)
        .await?;
    server.attach_policy(&inactive, ALLOW_ALL).await?;
    let limited = server
        .device(&allow(&[(
            &["iot:Connect", "iot:Publish"],
            &["client/ok-*", "topic/*"],
        )]))
        .await?;
    for (device, client_id) in [(&inactive, "ok-1"), (&limited, "not-ok")] {
        for version in ["mqttv311", "mqttv5"] {
            let (ok, output) = mosquitto_pub(
                &server,
                device,
                &["-V", version, "-i", client_id, "-t", "t", "-m", "x"],
            )
            .await?;
            assert!(!ok);
            assert!(
                output.to_lowercase().contains("not authori"),
                "{version}: {output}"
            );
        }
    }
    let (ok, output) =
        mosquitto_pub(&server, &limited, &["-i", "ok-2", "-t", "t", "-m", "x"]).await?;
    assert!(ok, "{output}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mosquitto_fails_the_handshake_with_a_certificate_the_registry_does_not_know() -> Result<()>
{
    let server = Server::start().await?;
    let stranger = server.issue(&unique("stranger"), KeyKind::EcP256)?;
    let (ok, output) = mosquitto_pub(&server, &stranger, &["-t", "t", "-m", "x"]).await?;
    assert!(!ok, "{output}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_mosquitto_sub_leaves_its_will_behind() -> Result<()> {
    let server = Server::start().await?;
    let device = server.device(ALLOW_ALL).await?;
    let topic = unique("mosq-will");
    let mut watcher = server
        .raw_connected(&device, roost_codec::ProtocolVersion::V5, &unique("w"))
        .await?;
    watcher
        .subscribe(&topic, roost_codec::QoS::AtLeastOnce)
        .await?;
    let mut sub = Subscriber::start(
        &server,
        &device,
        &[
            "-t",
            "anything",
            "--will-topic",
            &topic,
            "--will-payload",
            "mosquitto died",
            "--will-qos",
            "1",
        ],
    )
    .await?;
    sub.child.start_kill()?;
    let will = watcher.next_publish().await?;
    assert_eq!(&will.payload[..], b"mosquitto died");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_the_certificate_of_a_live_mosquitto_sub_cuts_it_off() -> Result<()> {
    let server = Server::start().await?;
    let device = server.device(ALLOW_ALL).await?;
    for version in ["mqttv311", "mqttv5"] {
        let device = server.device(ALLOW_ALL).await?;
        let sub = Subscriber::start(&server, &device, &["-V", version, "-t", "live/#"]).await?;
        let start = Instant::now();
        server
            .registry
            .update_certificate(&device.id, CertificateStatus::Revoked)
            .await?;
        let (ok, printed) = sub.exit().await?;
        if version == "mqttv5" {
            // Told why: DISCONNECT 0x98 (administrative action), and it stops.
            assert!(printed.contains("DISCONNECT (152)"), "{printed}");
        } else {
            // Cut off without a word (3.1.1 has no server DISCONNECT), it reconnects, is
            // refused, and gives up.
            assert!(!ok, "{printed}");
            assert!(printed.contains("not authorised"), "{printed}");
        }
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "{:?}",
            start.elapsed()
        );
    }
    // Others carry on.
    let (ok, output) = mosquitto_pub(&server, &device, &["-t", "t", "-m", "x"]).await?;
    assert!(ok, "{output}");
    Ok(())
}
