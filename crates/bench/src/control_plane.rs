//! Just enough of a client for Roost's control plane to prepare the provisioning benchmarks:
//! for JITP, register the bench CA with auto-registration and a provisioning template
//! (GetRegistrationCode, then RegisterCACertificate with a verification certificate whose CN is
//! the code, signed by the CA key — AWS's proof of possession); for fleet provisioning, a
//! fleet template and a claim certificate allowed to use it
//! ([`ControlPlane::prepare_fleet_provisioning`]).
//!
//! Requests are SigV4-signed with `roost-sigv4` using the admin keys of the Roost data directory,
//! and sent as HTTP/1.1 over a plain TCP connection: Roost serves its control plane in plain
//! HTTP on loopback, which is where benchmarks run. HTTPS is not supported here.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use roost_pki::{
    AttributeType, CertificateAuthority, DistinguishedName, KeyKind, NameAttribute, Validity,
};
use roost_sigv4::{Credentials, HttpRequest, sign};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::error::BenchError;

/// Longest a control-plane request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Role ARN stored with the template (Roost does not assume roles; AWS requires one).
const ROLE_ARN: &str = "arn:aws:iam::123456789012:role/RoostBenchJITP";
/// Role ARN stored with the fleet provisioning template.
const FLEET_ROLE_ARN: &str = "arn:aws:iam::123456789012:role/RoostBenchFleet";

/// The default JITP template: thing named after the certificate CN, certificate ACTIVE, and a
/// policy allowing every IoT action on every resource (created once, shared by all devices).
pub fn default_template() -> String {
    let policy = json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "iot:*", "Resource": "*"}]
    });
    json!({
        "Parameters": {
            "AWS::IoT::Certificate::CommonName": {"Type": "String"},
            "AWS::IoT::Certificate::Id": {"Type": "String"}
        },
        "Resources": {
            "thing": {
                "Type": "AWS::IoT::Thing",
                "Properties": {"ThingName": {"Ref": "AWS::IoT::Certificate::CommonName"}}
            },
            "certificate": {
                "Type": "AWS::IoT::Certificate",
                "Properties": {
                    "CertificateId": {"Ref": "AWS::IoT::Certificate::Id"},
                    "Status": "ACTIVE"
                }
            },
            "policy": {
                "Type": "AWS::IoT::Policy",
                "Properties": {"PolicyDocument": policy.to_string()}
            }
        }
    })
    .to_string()
}

/// The fleet provisioning template: thing named after the device's `SerialNumber` parameter,
/// the new certificate ACTIVE, and the policy of [`default_template`] (one, shared by all).
pub fn fleet_template() -> String {
    let policy = json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "iot:*", "Resource": "*"}]
    });
    json!({
        "Parameters": {
            "SerialNumber": {"Type": "String"},
            "AWS::IoT::Certificate::Id": {"Type": "String"}
        },
        "Resources": {
            "thing": {
                "Type": "AWS::IoT::Thing",
                "Properties": {"ThingName": {"Ref": "SerialNumber"}}
            },
            "certificate": {
                "Type": "AWS::IoT::Certificate",
                "Properties": {
                    "CertificateId": {"Ref": "AWS::IoT::Certificate::Id"},
                    "Status": "ACTIVE"
                }
            },
            "policy": {
                "Type": "AWS::IoT::Policy",
                "Properties": {"PolicyDocument": policy.to_string()}
            }
        }
    })
    .to_string()
}

/// The claim certificate's policy, as AWS's fleet provisioning guide writes it: connect, and
/// use the certificate topics (`create*` covers create-from-csr) and template `template`'s
/// RegisterThing topics, nothing else. `arn_prefix` is `arn:aws:iot:<region>:<account>`.
pub fn claim_policy(arn_prefix: &str, template: &str) -> String {
    let topics = [
        "$aws/certificates/create*".to_owned(),
        format!("$aws/provisioning-templates/{template}/provision/*"),
    ];
    let resources = |kind: &str| -> Vec<String> {
        topics
            .iter()
            .map(|t| format!("{arn_prefix}:{kind}/{t}"))
            .collect()
    };
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "iot:Connect", "Resource": "*"},
            {
                "Effect": "Allow",
                "Action": ["iot:Publish", "iot:Receive"],
                "Resource": resources("topic")
            },
            {
                "Effect": "Allow",
                "Action": "iot:Subscribe",
                "Resource": resources("topicfilter")
            }
        ]
    })
    .to_string()
}

/// What [`ControlPlane::prepare_fleet_provisioning`] made.
#[derive(Debug, Clone)]
pub struct FleetClaim {
    /// The fleet provisioning template.
    pub template_name: String,
    /// The claim certificate, ACTIVE, with its claim policy attached.
    pub certificate_id: String,
    /// The claim certificate (PEM).
    pub certificate_pem: String,
}

/// A string field of a control-plane answer.
fn field<'a>(answer: &'a Value, name: &str) -> Result<&'a str, BenchError> {
    answer[name]
        .as_str()
        .ok_or_else(|| BenchError::ControlPlaneResponse(format!("no {name} in the answer")))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EndpointsFile {
    api_url: String,
    mqtt_port: u16,
    region: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CredentialsFile {
    access_key_id: String,
    secret_access_key: String,
}

/// A running Roost's control plane, found through its data directory.
#[derive(Debug, Clone)]
pub struct ControlPlane {
    addr: SocketAddr,
    host: String,
    region: String,
    access_key_id: String,
    secret_access_key: String,
    /// The MQTT over TLS port the server listens on.
    pub mqtt_port: u16,
    /// The server CA certificate devices trust (`server-ca.pem`).
    pub server_ca: PathBuf,
}

impl ControlPlane {
    /// Reads `endpoints.json` (written once the server listens) and `admin-credentials.json`.
    pub fn from_data_dir(dir: &Path) -> Result<ControlPlane, BenchError> {
        let bad = |reason: String| BenchError::DataDir {
            dir: dir.to_owned(),
            reason,
        };
        let read = |name: &str| {
            std::fs::read_to_string(dir.join(name)).map_err(|e| bad(format!("{name}: {e}")))
        };
        let endpoints: EndpointsFile = serde_json::from_str(&read("endpoints.json")?)
            .map_err(|e| bad(format!("endpoints.json: {e}")))?;
        let credentials: CredentialsFile =
            serde_json::from_str(&read("admin-credentials.json")?)
                .map_err(|e| bad(format!("admin-credentials.json: {e}")))?;
        let (addr, host) = parse_api_url(&endpoints.api_url).map_err(bad)?;
        Ok(ControlPlane {
            addr,
            host,
            region: endpoints.region,
            access_key_id: credentials.access_key_id,
            secret_access_key: credentials.secret_access_key,
            mqtt_port: endpoints.mqtt_port,
            server_ca: dir.join("server-ca.pem"),
        })
    }

    /// Sends one signed request and returns the JSON body of a 2xx answer.
    pub async fn call(
        &self,
        method: &'static str,
        path: &str,
        query: Option<&str>,
        body: Option<&Value>,
    ) -> Result<Value, BenchError> {
        let body = body.map(Value::to_string).unwrap_or_default();
        let mut headers: Vec<(String, String)> = vec![("host".into(), self.host.clone())];
        if !body.is_empty() {
            headers.push(("content-type".into(), "application/json".into()));
        }
        let to_sign: Vec<(&str, &[u8])> = headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_bytes()))
            .collect();
        let signed = sign(
            &HttpRequest {
                method,
                raw_path: path,
                raw_query: query,
                headers: &to_sign,
                body: body.as_bytes(),
            },
            &Credentials {
                access_key_id: &self.access_key_id,
                secret_access_key: &self.secret_access_key,
                session_token: None,
            },
            &self.region,
            "iot",
            SystemTime::now(),
        );
        headers.extend(signed);
        let target = match query {
            Some(q) => format!("{path}?{q}"),
            None => path.to_owned(),
        };
        let mut request = format!("{method} {target} HTTP/1.1\r\n");
        for (name, value) in &headers {
            request += &format!("{name}: {value}\r\n");
        }
        request += &format!(
            "content-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );

        let exchange = async {
            let mut stream = TcpStream::connect(self.addr).await?;
            stream.write_all(request.as_bytes()).await?;
            let mut raw = Vec::new();
            stream.read_to_end(&mut raw).await?;
            Ok::<_, std::io::Error>(raw)
        };
        let raw = tokio::time::timeout(REQUEST_TIMEOUT, exchange)
            .await
            .map_err(|_| BenchError::Timeout("the control plane"))??;
        let (status, body) = parse_response(&raw)?;
        if !(200..300).contains(&status) {
            return Err(BenchError::ControlPlane {
                method,
                path: path.to_owned(),
                status,
                body: String::from_utf8_lossy(&body).into_owned(),
            });
        }
        if body.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&body)
            .map_err(|e| BenchError::ControlPlaneResponse(format!("{path}: {e}")))
    }

    /// Registers `ca` as ACTIVE with auto-registration on and `template_body` as its JITP
    /// template; returns the CA certificate id. `now` is Unix seconds.
    pub async fn register_ca(
        &self,
        ca: &CertificateAuthority,
        template_body: &str,
        now: i64,
    ) -> Result<String, BenchError> {
        let code = self.call("GET", "/registrationcode", None, None).await?;
        let code = code["registrationCode"].as_str().ok_or_else(|| {
            BenchError::ControlPlaneResponse("no registrationCode in the answer".into())
        })?;
        let subject = DistinguishedName::from_attributes(vec![NameAttribute {
            kind: AttributeType::CommonName,
            value: code.to_owned(),
        }]);
        let validity = Validity::starting_at(now - 3_600, Duration::from_secs(86_400))?;
        let verification = ca.issue_client_certificate(&subject, &[], KeyKind::EcP256, validity)?;
        let body = json!({
            "caCertificate": ca.cert_pem(),
            "verificationCertificate": verification.certificate_pem,
            "registrationConfig": {"templateBody": template_body, "roleArn": ROLE_ARN},
        });
        let answer = self
            .call(
                "POST",
                "/cacertificate",
                Some("setAsActive=true&allowAutoRegistration=true"),
                Some(&body),
            )
            .await?;
        answer["certificateId"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| {
                BenchError::ControlPlaneResponse("no certificateId in the answer".into())
            })
    }

    /// Creates the enabled fleet provisioning template `template_name` ([`fleet_template`]),
    /// registers an ACTIVE claim certificate signed by Roost's issuing CA from `claim_csr`
    /// (CreateCertificateFromCsr: the bench keeps the key, an EC key keeps the devices'
    /// handshakes cheap) and attaches a [`claim_policy`] for the template to it, named
    /// `<template_name>-claim`.
    pub async fn prepare_fleet_provisioning(
        &self,
        template_name: &str,
        claim_csr: &str,
    ) -> Result<FleetClaim, BenchError> {
        let template = json!({
            "templateName": template_name,
            "description": "roost-bench fleet provisioning by claim",
            "templateBody": fleet_template(),
            "enabled": true,
            "provisioningRoleArn": FLEET_ROLE_ARN,
            "type": "FLEET_PROVISIONING",
        });
        let created = self
            .call("POST", "/provisioning-templates", None, Some(&template))
            .await?;
        let template_arn = field(&created, "templateArn")?;
        let (arn_prefix, _) = template_arn.rsplit_once(':').ok_or_else(|| {
            BenchError::ControlPlaneResponse(format!("templateArn {template_arn} is not an ARN"))
        })?;

        let claim = self
            .call(
                "POST",
                "/certificates",
                Some("setAsActive=true"),
                Some(&json!({ "certificateSigningRequest": claim_csr })),
            )
            .await?;
        let policy_name = format!("{template_name}-claim");
        let document = claim_policy(arn_prefix, template_name);
        self.call(
            "POST",
            &format!("/policies/{policy_name}"),
            None,
            Some(&json!({ "policyDocument": document })),
        )
        .await?;
        self.call(
            "PUT",
            &format!("/target-policies/{policy_name}"),
            None,
            Some(&json!({ "target": field(&claim, "certificateArn")? })),
        )
        .await?;
        Ok(FleetClaim {
            template_name: template_name.to_owned(),
            certificate_id: field(&claim, "certificateId")?.to_owned(),
            certificate_pem: field(&claim, "certificatePem")?.to_owned(),
        })
    }
}

/// The socket address and Host header of an `http://host:port` URL; `localhost` is 127.0.0.1.
fn parse_api_url(url: &str) -> Result<(SocketAddr, String), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("apiUrl {url} is not plain http:// (HTTPS is not supported)"))?;
    let authority = rest.split('/').next().unwrap_or_default();
    let (host, port) = authority
        .rsplit_once(':')
        .ok_or_else(|| format!("apiUrl {url} has no port"))?;
    let port: u16 = port
        .parse()
        .map_err(|_| format!("apiUrl {url} has a bad port"))?;
    let ip = if host == "localhost" {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        host.trim_matches(['[', ']'])
            .parse()
            .map_err(|_| format!("apiUrl {url}: host {host} is not an IP address"))?
    };
    Ok((SocketAddr::new(ip, port), authority.to_owned()))
}

/// The status and body of a whole HTTP/1.1 response (read to the end of the connection);
/// chunked bodies are decoded.
pub fn parse_response(raw: &[u8]) -> Result<(u16, Vec<u8>), BenchError> {
    let bad =
        |why: &str| BenchError::ControlPlaneResponse(format!("malformed HTTP response: {why}"));
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no end of headers"))?;
    let head = std::str::from_utf8(&raw[..split]).map_err(|_| bad("headers are not UTF-8"))?;
    let body = &raw[split + 4..];
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| bad("no status code"))?;
    let chunked = lines.any(|line| {
        line.split_once(':').is_some_and(|(name, value)| {
            name.trim().eq_ignore_ascii_case("transfer-encoding")
                && value.trim().eq_ignore_ascii_case("chunked")
        })
    });
    if !chunked {
        return Ok((status, body.to_vec()));
    }
    let mut out = Vec::new();
    let mut rest = body;
    loop {
        let line_end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(|| bad("unterminated chunk size"))?;
        let size_text = std::str::from_utf8(&rest[..line_end]).map_err(|_| bad("chunk size"))?;
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| bad("chunk size"))?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Ok((status, out));
        }
        let chunk = rest.get(..size).ok_or_else(|| bad("truncated chunk"))?;
        out.extend_from_slice(chunk);
        rest = rest.get(size + 2..).ok_or_else(|| bad("truncated chunk"))?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_response_gives_its_status_and_body() {
        let raw =
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}";
        let (status, body) = parse_response(raw).expect("parses");
        assert_eq!(status, 200);
        assert_eq!(body, b"{}");
    }

    #[test]
    fn a_chunked_response_is_reassembled() {
        let raw = b"HTTP/1.1 400 Bad Request\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{\"a\r\n4\r\n\":1}\r\n0\r\n\r\n";
        let (status, body) = parse_response(raw).expect("parses");
        assert_eq!(status, 400);
        assert_eq!(body, b"{\"a\":1}");
    }

    #[test]
    fn garbage_is_a_malformed_response() {
        assert!(parse_response(b"nonsense").is_err());
        assert!(parse_response(b"HTTP/1.1 abc\r\n\r\n").is_err());
    }

    #[test]
    fn the_api_url_maps_localhost_to_the_loopback_address() {
        let (addr, host) = parse_api_url("http://localhost:8780").expect("parses");
        assert_eq!(addr, "127.0.0.1:8780".parse().expect("addr"));
        assert_eq!(host, "localhost:8780");
        assert!(parse_api_url("https://localhost:8780").is_err());
        assert!(parse_api_url("http://example.com:80").is_err());
    }

    #[test]
    fn the_default_template_is_a_valid_jitp_template() {
        let template = default_template();
        let parsed: Value = serde_json::from_str(&template).expect("JSON");
        assert_eq!(
            parsed["Resources"]["thing"]["Properties"]["ThingName"]["Ref"],
            "AWS::IoT::Certificate::CommonName"
        );
        let policy: Value = serde_json::from_str(
            parsed["Resources"]["policy"]["Properties"]["PolicyDocument"]
                .as_str()
                .expect("a string"),
        )
        .expect("policy JSON");
        assert_eq!(policy["Statement"][0]["Action"], "iot:*");
        assert!(roost_template::Template::parse(&template).is_ok());
    }

    #[test]
    fn the_fleet_template_names_the_thing_after_the_serial_number() {
        let template = fleet_template();
        let parsed: Value = serde_json::from_str(&template).expect("JSON");
        assert_eq!(
            parsed["Resources"]["thing"]["Properties"]["ThingName"]["Ref"],
            "SerialNumber"
        );
        assert_eq!(
            parsed["Resources"]["certificate"]["Properties"]["CertificateId"]["Ref"],
            "AWS::IoT::Certificate::Id"
        );
        assert!(roost_template::Template::parse(&template).is_ok());
    }

    #[test]
    fn the_claim_policy_allows_only_the_templates_fleet_topics() {
        let policy: Value = serde_json::from_str(&claim_policy(
            "arn:aws:iot:us-east-1:123456789012",
            "Factory",
        ))
        .expect("JSON");
        assert_eq!(
            policy["Statement"][1]["Resource"],
            json!([
                "arn:aws:iot:us-east-1:123456789012:topic/$aws/certificates/create*",
                "arn:aws:iot:us-east-1:123456789012:topic/$aws/provisioning-templates/Factory/provision/*"
            ])
        );
        assert_eq!(
            policy["Statement"][2]["Resource"][1],
            "arn:aws:iot:us-east-1:123456789012:topicfilter/$aws/provisioning-templates/Factory/provision/*"
        );
    }
}
