"""State survives a restart: everything written before SIGTERM is there after `roost serve`
starts again on the same data directory, with the same admin keys, server CA and issuing CA."""

from __future__ import annotations

import json
import signal
import subprocess
import time

import certs
from conftest import ROOST_BIN, server_environment

POLICY_V1 = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iot:Connect", "Resource": "*"}]}
)
POLICY_V2 = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iot:*", "Resource": "*"}]}
)
TEMPLATE_BODY = json.dumps({
    "Parameters": {"AWS::IoT::Certificate::Id": {"Type": "String"}},
    "Resources": {
        "thing": {"Type": "AWS::IoT::Thing",
                  "Properties": {"ThingName": {"Ref": "AWS::IoT::Certificate::Id"}}},
        "certificate": {"Type": "AWS::IoT::Certificate",
                        "Properties": {"CertificateId": {"Ref": "AWS::IoT::Certificate::Id"},
                                       "Status": "ACTIVE"}},
    },
})
KEPT_FILES = [
    "admin-credentials.json",
    "server-ca.pem",
    "server-ca.key",
    "server.pem",
    "server.key",
    "device-issuer-ca.pem",
    "device-issuer-ca.key",
]


def state(roost, ids):
    """What the CLI shows of everything the test made."""
    aws = roost.aws
    return {
        "thing": aws("describe-thing", "--thing-name", "kept-thing"),
        "things": aws("list-things"),
        "type": aws("describe-thing-type", "--thing-type-name", "kept-type"),
        "group": aws("describe-thing-group", "--thing-group-name", "kept-child"),
        "group members": aws("list-things-in-thing-group", "--thing-group-name", "kept-child"),
        "billing": aws("describe-billing-group", "--billing-group-name", "kept-billing"),
        "policy": aws("get-policy", "--policy-name", "kept-policy"),
        "versions": aws("list-policy-versions", "--policy-name", "kept-policy"),
        "targets": aws("list-targets-for-policy", "--policy-name", "kept-policy"),
        "certificate": aws("describe-certificate", "--certificate-id", ids["cert_id"]),
        "certificates": aws("list-certificates"),
        "ca": aws("describe-ca-certificate", "--certificate-id", ids["ca_id"]),
        "principals": aws("list-thing-principals-v2", "--thing-name", "kept-thing"),
        "attached": aws("list-attached-policies", "--target", ids["cert_arn"]),
        "tags": aws("list-tags-for-resource", "--resource-arn", roost.arn("thing", "kept-thing")),
        "code": aws("get-registration-code"),
        "endpoint": aws("describe-endpoint", "--endpoint-type", "iot:Data-ATS"),
    }


def test_state_keys_and_cas_survive_a_restart(fresh_roost, tmp_path):
    roost = fresh_roost
    aws = roost.aws
    aws("create-thing-type", "--thing-type-name", "kept-type")
    aws("create-billing-group", "--billing-group-name", "kept-billing")
    aws("create-thing", "--thing-name", "kept-thing", "--thing-type-name", "kept-type",
        "--billing-group-name", "kept-billing", "--attribute-payload", '{"attributes": {"serial": "SN-9"}}')
    aws("update-thing", "--thing-name", "kept-thing", "--attribute-payload",
        '{"attributes": {"model": "m2"}, "merge": true}')
    aws("create-thing-group", "--thing-group-name", "kept-root")
    aws("create-thing-group", "--thing-group-name", "kept-child", "--parent-group-name", "kept-root",
        "--thing-group-properties", "thingGroupDescription=Kept")
    aws("add-thing-to-thing-group", "--thing-group-name", "kept-child", "--thing-name", "kept-thing")
    aws("create-policy", "--policy-name", "kept-policy", "--policy-document", POLICY_V1)
    aws("create-policy-version", "--policy-name", "kept-policy", "--policy-document", POLICY_V2,
        "--set-as-default")
    cert = aws("create-keys-and-certificate", "--set-as-active")
    aws("attach-thing-principal", "--thing-name", "kept-thing", "--principal", cert["certificateArn"],
        "--thing-principal-type", "EXCLUSIVE_THING")
    aws("attach-policy", "--policy-name", "kept-policy", "--target", cert["certificateArn"])
    aws("tag-resource", "--resource-arn", roost.arn("thing", "kept-thing"), "--tags", "Key=env,Value=prod")
    ca = certs.root_ca(tmp_path, subj="/O=Roost Tests/CN=Kept CA")
    code = aws("get-registration-code")["registrationCode"]
    verification = certs.verification_cert(ca, tmp_path, code)
    config = tmp_path / "registration-config.json"
    config.write_text(json.dumps({"templateBody": TEMPLATE_BODY,
                                  "roleArn": "arn:aws:iam::123456789012:role/JITPRole"}))
    ca_id = aws("register-ca-certificate", "--ca-certificate", ca.uri, "--verification-certificate",
                verification.uri, "--set-as-active", "--allow-auto-registration",
                "--registration-config", f"file://{config}")["certificateId"]
    ids = {"cert_id": cert["certificateId"], "cert_arn": cert["certificateArn"], "ca_id": ca_id}

    before = state(roost, ids)
    files = {name: (roost.data_dir / name).read_bytes() for name in KEPT_FILES}
    exports = dict(roost.exports)

    assert roost.stop() == 0
    assert not (roost.data_dir / "endpoints.json").exists(), "a stopped server removes endpoints.json"
    roost.start()

    assert {name: (roost.data_dir / name).read_bytes() for name in KEPT_FILES} == files
    assert roost.exports["AWS_ACCESS_KEY_ID"] == exports["AWS_ACCESS_KEY_ID"]
    assert roost.exports["AWS_SECRET_ACCESS_KEY"] == exports["AWS_SECRET_ACCESS_KEY"]
    assert roost.exports["ROOST_ROOT_CA"] == exports["ROOST_ROOT_CA"]
    assert state(roost, ids) == before

    # The issuing CA is the same one: new certificates verify against the file kept from before.
    issued = aws("create-keys-and-certificate")
    issuer_copy = tmp_path / "issuer-before-restart.pem"
    issuer_copy.write_bytes(files["device-issuer-ca.pem"])
    assert "OK" in certs.verify(issued["certificatePem"], issuer_copy, tmp_path)
    assert "OK" in certs.verify(cert["certificatePem"], roost.data_dir / "device-issuer-ca.pem", tmp_path)

    # And writes keep working on the reopened registry.
    aws("update-thing", "--thing-name", "kept-thing", "--expected-version", str(before["thing"]["version"]),
        "--attribute-payload", '{"attributes": {"after": "restart"}, "merge": true}')
    assert aws("describe-thing", "--thing-name", "kept-thing")["attributes"]["after"] == "restart"


def test_acknowledged_writes_survive_an_immediate_stop(fresh_roost):
    roost = fresh_roost
    iot = roost.client()
    names = [f"burst{i:03}" for i in range(60)]
    for name in names:
        iot.create_thing(thingName=name)
    assert roost.stop() == 0
    roost.start()
    listed = [t["thingName"] for t in roost.aws("list-things")["things"]]
    assert listed == names


def test_a_sigterm_as_soon_as_endpoints_json_appears_is_a_graceful_stop(tmp_path):
    """A supervisor may signal the moment the server says it is up: the handlers must already
    be listening then (the default action would kill it without cleanup)."""
    for attempt in range(5):
        data = tmp_path / f"data{attempt}"
        server = subprocess.Popen(
            [ROOST_BIN, "serve", "--data-dir", str(data), "--api-listen", "127.0.0.1:0",
             "--mqtt-listen", "127.0.0.1:0"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=server_environment(),
        )
        try:
            deadline = time.monotonic() + 60
            while not (data / "endpoints.json").exists():
                assert server.poll() is None, server.stderr.read().decode()
                assert time.monotonic() < deadline, "the server never came up"
                time.sleep(0.002)
            server.send_signal(signal.SIGTERM)
            assert server.wait(timeout=30) == 0, server.stderr.read().decode()
        finally:
            if server.poll() is None:
                server.kill()
        assert not (data / "endpoints.json").exists(), "a graceful stop removes endpoints.json"
