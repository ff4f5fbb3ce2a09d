"""Just-in-time provisioning and registration, end to end: AWS's walkthrough run command for
command against a real `roost serve` (only the endpoint, the MQTT host and port, the server CA and
openssl's `-subj` differ), its AWS-compatible variant, JITR, and the failure cases."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import ROOST_BIN, Roost

# The walkthrough's provisioning-template.json, byte for byte.
WALKTHROUGH_TEMPLATE = r'''{"templateBody":"{ \"Parameters\" : { \"AWS::IoT::Certificate::Country\" : { \"Type\" : \"String\" }, \"AWS::IoT::Certificate::Id\" : { \"Type\" : \"String\" } }, \"Resources\" : { \"thing\" : { \"Type\" : \"AWS::IoT::Thing\", \"Properties\" : { \"ThingName\" : {\"Ref\" : \"AWS::IoT::Certificate::Id\"}, \"AttributePayload\" : { \"version\" : \"v1\", \"country\" : {\"Ref\" : \"AWS::IoT::Certificate::Country\"}} } }, \"certificate\" : { \"Type\" : \"AWS::IoT::Certificate\", \"Properties\" : { \"CertificateId\": {\"Ref\" : \"AWS::IoT::Certificate::Id\"}, \"Status\" : \"ACTIVE\" } }, \"policy\" : {\"Type\" : \"AWS::IoT::Policy\", \"Properties\" : { \"PolicyDocument\" : \"{\\\"Version\\\": \\\"2012-10-17\\\",\\\"Statement\\\": [{\\\"Effect\\\":\\\"Allow\\\",\\\"Action\\\": [\\\"iot:Connect\\\",\\\"iot:Publish\\\"],\\\"Resource\\\" : [\\\"*\\\"]}]}\" } } } }","roleArn":"arn:aws:iam::123456789012:role/JITPRole"}
'''


def sh(*args: str, cwd: Path, env: dict | None = None, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(list(args), cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


class Walkthrough:
    """The walkthrough's files in a working directory, against one server."""

    def __init__(self, server: Roost, workdir: Path):
        self.server = server
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)

    def aws(self, *args: str) -> dict:
        return self.server.aws(*args)

    def root_ca(self):
        sh("openssl", "genrsa", "-out", "rootCA.key", "2048", cwd=self.dir)
        sh("openssl", "req", "-x509", "-new", "-nodes", "-key", "rootCA.key", "-sha256", "-days", "1024",
           "-out", "rootCA.pem", "-subj", "/C=US/ST=WA/O=Example Corp/CN=Example Root CA", cwd=self.dir)

    def verification_cert(self):
        code = self.aws("get-registration-code")["registrationCode"]
        sh("openssl", "genrsa", "-out", "verificationCert.key", "2048", cwd=self.dir)
        sh("openssl", "req", "-new", "-key", "verificationCert.key", "-out", "verificationCert.csr",
           "-subj", f"/CN={code}", cwd=self.dir)
        sh("openssl", "x509", "-req", "-in", "verificationCert.csr", "-CA", "rootCA.pem", "-CAkey", "rootCA.key",
           "-CAcreateserial", "-out", "verificationCert.pem", "-days", "500", "-sha256", cwd=self.dir)

    def register_ca(self, *extra: str) -> dict:
        # `--verification-cert` is the walkthrough's spelling; the CLI takes the prefix.
        return self.aws("register-ca-certificate", "--ca-certificate", f"file://{self.dir}/rootCA.pem",
                        "--verification-cert", f"file://{self.dir}/verificationCert.pem",
                        "--set-as-active", "--allow-auto-registration", *extra)

    def device(self, name: str = "deviceCert", subject: str = "/C=US/ST=WA/O=Example Corp/CN=device-001") -> str:
        sh("openssl", "genrsa", "-out", f"{name}.key", "2048", cwd=self.dir)
        sh("openssl", "req", "-new", "-key", f"{name}.key", "-out", f"{name}.csr", "-subj", subject, cwd=self.dir)
        sh("openssl", "x509", "-req", "-in", f"{name}.csr", "-CA", "rootCA.pem", "-CAkey", "rootCA.key",
           "-CAcreateserial", "-out", f"{name}.crt", "-days", "365", "-sha256", cwd=self.dir)
        chain = (self.dir / f"{name}.crt").read_text() + (self.dir / "rootCA.pem").read_text()
        (self.dir / f"{name}AndCACert.crt").write_text(chain)
        fingerprint = sh("openssl", "x509", "-in", f"{name}.crt", "-noout", "-fingerprint", "-sha256", cwd=self.dir)
        return fingerprint.stdout.strip().split("=", 1)[1].replace(":", "").lower()

    def publish(self, name: str = "deviceCert", topic: str = "foo/bar", check: bool = False) -> subprocess.CompletedProcess:
        exports = self.server.exports
        return sh("mosquitto_pub", "--cafile", exports["ROOST_ROOT_CA"], "--cert", f"{name}AndCACert.crt",
                  "--key", f"{name}.key", "-h", exports["ROOST_MQTT_HOST"], "-p", exports["ROOST_MQTT_PORT"],
                  "-q", "1", "-t", topic, "-I", "anyclientID", "--tls-version", "tlsv1.2", "-m", "Hello", "-d",
                  cwd=self.dir, check=check)


def published(result: subprocess.CompletedProcess) -> bool:
    return result.returncode == 0 and "received PUBACK" in result.stdout


@pytest.fixture
def walkthrough(fresh_roost, tmp_path):
    return Walkthrough(fresh_roost, tmp_path / "walkthrough")


def test_the_aws_walkthrough_provisions_the_device_on_its_first_connect(walkthrough):
    w = walkthrough
    w.root_ca()
    (w.dir / "provisioning-template.json").write_text(WALKTHROUGH_TEMPLATE)
    w.verification_cert()
    answer = w.register_ca("--registration-config", f"file://{w.dir}/provisioning-template.json")
    assert answer["certificateArn"].endswith(f"cacert/{answer['certificateId']}")
    assert w.aws("describe-endpoint", "--endpoint-type", "iot:Data-ATS")["endpointAddress"]
    cert_id = w.device()

    result = w.publish()
    assert published(result), result.stdout + result.stderr

    thing = w.aws("describe-thing", "--thing-name", cert_id)
    assert thing["attributes"] == {"version": "v1", "country": "US"}
    principals = w.aws("list-thing-principals", "--thing-name", cert_id)["principals"]
    cert_arn = f"arn:aws:iot:us-east-1:123456789012:cert/{cert_id}"
    assert principals == [cert_arn]
    policies = w.aws("list-attached-policies", "--target", cert_arn)["policies"]
    assert len(policies) == 1
    document = json.loads(w.aws("get-policy", "--policy-name", policies[0]["policyName"])["policyDocument"])
    assert document["Statement"][0]["Action"] == ["iot:Connect", "iot:Publish"]
    description = w.aws("describe-certificate", "--certificate-id", cert_id)["certificateDescription"]
    assert description["status"] == "ACTIVE"
    assert description["caCertificateId"] == answer["certificateId"]

    # A second device shares the policy (named after the document's hash), as on AWS.
    second = w.device("second", "/C=US/CN=device-002")
    assert published(w.publish("second"))
    second_policies = w.aws("list-attached-policies", "--target",
                            f"arn:aws:iot:us-east-1:123456789012:cert/{second}")["policies"]
    assert second_policies == policies


def test_the_aws_compatible_switch_drops_the_first_connect_and_accepts_the_second(tmp_path):
    config = tmp_path / "roost.toml"
    config.write_text("[provisioning]\naws_compatible_first_connect = true\n")
    server = Roost(tmp_path / "data", extra_args=["--config", str(config)]).start()
    try:
        w = Walkthrough(server, tmp_path / "walkthrough")
        w.root_ca()
        (w.dir / "provisioning-template.json").write_text(WALKTHROUGH_TEMPLATE)
        w.verification_cert()
        w.register_ca("--registration-config", f"file://{w.dir}/provisioning-template.json")
        cert_id = w.device()

        first = w.publish()
        assert not published(first), "the first connection must be dropped in AWS-compatible mode"
        # ...but the device was provisioned by it.
        assert w.aws("describe-certificate", "--certificate-id", cert_id)["certificateDescription"]["status"] == "ACTIVE"
        second = w.publish()
        assert published(second), second.stdout + second.stderr
    finally:
        assert server.stop() == 0


def test_jitr_registers_pending_announces_it_and_admits_the_device_once_activated(walkthrough):
    w = walkthrough
    w.root_ca()
    w.verification_cert()
    ca_id = w.register_ca()["certificateId"]

    # A backend listening for registrations, as a rule + Lambda would on AWS.
    w.aws("create-policy", "--policy-name", "backend",
          "--policy-document", json.dumps({"Version": "2012-10-17", "Statement": [
              {"Effect": "Allow", "Action": "iot:*", "Resource": "*"}]}))
    backend = w.aws("create-keys-and-certificate", "--set-as-active",
                    "--certificate-pem-outfile", str(w.dir / "backend.crt"),
                    "--private-key-outfile", str(w.dir / "backend.key"))
    w.aws("attach-policy", "--policy-name", "backend", "--target", backend["certificateArn"])
    exports = w.server.exports
    received: list[str] = []
    subscriber = subprocess.Popen(
        ["mosquitto_sub", "--cafile", exports["ROOST_ROOT_CA"], "--cert", str(w.dir / "backend.crt"),
         "--key", str(w.dir / "backend.key"), "-h", exports["ROOST_MQTT_HOST"], "-p", exports["ROOST_MQTT_PORT"],
         "-t", f"$aws/events/certificates/registered/{ca_id}", "-q", "1", "-C", "1", "-W", "30", "-i", "backend"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    reader = threading.Thread(target=lambda: received.append(subscriber.stdout.read()))
    reader.start()
    time.sleep(1.0)  # let the subscription settle

    cert_id = w.device()
    refused = w.publish()
    assert not published(refused), "a JITR device is refused until activated"
    reader.join(timeout=30)
    subscriber.wait(timeout=5)
    event = json.loads(received[0])
    assert event["certificateId"] == cert_id
    assert event["caCertificateId"] == ca_id
    assert event["certificateStatus"] == "PENDING_ACTIVATION"
    assert event["awsAccountId"] == "123456789012"
    assert isinstance(event["timestamp"], int)
    assert isinstance(event["certificateRegistrationTimestamp"], str)
    assert w.aws("describe-certificate", "--certificate-id", cert_id)["certificateDescription"]["status"] == "PENDING_ACTIVATION"

    w.aws("update-certificate", "--certificate-id", cert_id, "--new-status", "ACTIVE")
    w.aws("attach-policy", "--policy-name", "backend", "--target",
          f"arn:aws:iot:us-east-1:123456789012:cert/{cert_id}")
    admitted = w.publish()
    assert published(admitted), admitted.stdout + admitted.stderr


def test_a_ca_without_auto_registration_refuses_unknown_devices_and_writes_nothing(walkthrough):
    w = walkthrough
    w.root_ca()
    w.verification_cert()
    ca_id = w.aws("register-ca-certificate", "--ca-certificate", f"file://{w.dir}/rootCA.pem",
                  "--verification-certificate", f"file://{w.dir}/verificationCert.pem",
                  "--set-as-active")["certificateId"]
    w.device()
    assert not published(w.publish())
    assert w.aws("list-certificates-by-ca", "--ca-certificate-id", ca_id)["certificates"] == []


def test_a_failing_template_refuses_the_device_changes_nothing_and_the_next_attempt_retries(walkthrough):
    w = walkthrough
    w.root_ca()
    (w.dir / "provisioning-template.json").write_text(WALKTHROUGH_TEMPLATE)
    w.verification_cert()
    ca_id = w.register_ca("--registration-config", f"file://{w.dir}/provisioning-template.json")["certificateId"]
    cert_id = w.device(subject="/O=Example Corp/CN=no-country")   # the template needs Country

    assert not published(w.publish())
    assert w.aws("list-certificates-by-ca", "--ca-certificate-id", ca_id)["certificates"] == []
    assert w.aws("list-things")["things"] == []

    # Give Country a default; the same device now provisions.
    fixed = json.loads(WALKTHROUGH_TEMPLATE)
    body = json.loads(fixed["templateBody"])
    body["Parameters"]["AWS::IoT::Certificate::Country"]["Default"] = "ZZ"
    fixed["templateBody"] = json.dumps(body)
    (w.dir / "fixed.json").write_text(json.dumps(fixed))
    w.aws("update-ca-certificate", "--certificate-id", ca_id, "--registration-config", f"file://{w.dir}/fixed.json")
    assert published(w.publish())
    assert w.aws("describe-thing", "--thing-name", cert_id)["attributes"]["country"] == "ZZ"


def test_an_invalid_template_is_refused_when_the_ca_is_registered_naming_the_problem(walkthrough):
    w = walkthrough
    w.root_ca()
    w.verification_cert()
    bad = {"templateBody": json.dumps({"Resources": {"thing": {"Type": "AWS::IoT::Thing", "Properties": {
        "ThingName": {"Fn::Frobnicate": "x"}}}}}), "roleArn": "arn:aws:iam::123456789012:role/JITPRole"}
    (w.dir / "bad.json").write_text(json.dumps(bad))
    error = w.server.aws_error("register-ca-certificate", "--ca-certificate", f"file://{w.dir}/rootCA.pem",
                               "--verification-certificate", f"file://{w.dir}/verificationCert.pem",
                               "--set-as-active", "--allow-auto-registration",
                               "--registration-config", f"file://{w.dir}/bad.json")
    assert error.code == "InvalidRequestException"
    assert "Resources.thing.Properties.ThingName" in error.message
    assert "Fn::Frobnicate" in error.message
    assert w.aws("list-ca-certificates")["certificates"] == []


def test_roost_ca_register_and_provision_test_do_the_walkthrough_in_two_commands(walkthrough):
    w = walkthrough
    w.root_ca()
    (w.dir / "provisioning-template.json").write_text(WALKTHROUGH_TEMPLATE)
    registered = sh(ROOST_BIN, "ca", "register", "--data-dir", str(w.server.data_dir),
                    "--ca-cert", "rootCA.pem", "--ca-key", "rootCA.key",
                    "--template", "provisioning-template.json", cwd=w.dir, env=w.server.env)
    ca_id = json.loads(registered.stdout)["certificateId"]
    description = w.aws("describe-ca-certificate", "--certificate-id", ca_id)
    assert description["certificateDescription"]["status"] == "ACTIVE"
    assert description["certificateDescription"]["autoRegistrationStatus"] == "ENABLE"
    assert description["registrationConfig"]["roleArn"] == "arn:aws:iam::123456789012:role/JITPRole"

    cert_id = w.device()
    dry = json.loads(sh(ROOST_BIN, "provision", "test", "--data-dir", str(w.server.data_dir),
                        "--cert", "deviceCert.crt", cwd=w.dir, env=w.server.env).stdout)
    assert dry["caCertificateId"] == ca_id
    assert dry["plan"]["thing"]["thingName"] == cert_id
    assert dry["plan"]["thing"]["attributes"] == {"version": "v1", "country": "US"}
    assert dry["parameters"]["AWS::IoT::Certificate::Country"] == "US"
    # The dry run changed nothing.
    assert w.aws("list-things")["things"] == []
    assert published(w.publish())


def test_a_ca_can_name_a_jitp_provisioning_template_instead_of_embedding_one(walkthrough):
    w = walkthrough
    w.root_ca()
    template_body = json.loads(WALKTHROUGH_TEMPLATE)["templateBody"]
    w.aws("create-provisioning-template", "--template-name", "FactoryJitp", "--type", "JITP",
          "--provisioning-role-arn", "arn:aws:iam::123456789012:role/JITPRole",
          "--template-body", template_body, "--enabled")
    w.verification_cert()
    ca_id = w.register_ca("--registration-config", "templateName=FactoryJitp")["certificateId"]
    assert w.aws("describe-ca-certificate", "--certificate-id", ca_id)["registrationConfig"] == {
        "templateName": "FactoryJitp"}
    cert_id = w.device()
    assert published(w.publish())
    assert w.aws("describe-thing", "--thing-name", cert_id)["attributes"] == {"version": "v1", "country": "US"}
