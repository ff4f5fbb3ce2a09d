"""Fleet provisioning over MQTT with AWS's own device code: the AWS IoT Device SDK v2
(`awsiotsdk`, its `iotidentity` client) drives a claim certificate through
CreateKeysAndCertificate (or CreateCertificateFromCsr) and RegisterThing against a real
`roost serve`, as AWS's fleet-provisioning samples do; then the device reconnects with its new
certificate and publishes. Also: the pre-provisioning hook (a webhook here), and every bad request
answered on /rejected with AWS's error shape, changing nothing."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from concurrent.futures import Future
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from awscrt import mqtt
from awsiot import iotidentity, mqtt_connection_builder

from conftest import Roost

TIMEOUT = 30

TEMPLATE = {
    "Parameters": {
        "SerialNumber": {"Type": "String"},
        "AWS::IoT::Certificate::Id": {"Type": "String"},
    },
    "Resources": {
        "thing": {"Type": "AWS::IoT::Thing", "Properties": {
            "ThingName": {"Fn::Join": ["", ["fleet-", {"Ref": "SerialNumber"}]]},
            "AttributePayload": {"serial": {"Ref": "SerialNumber"}}}},
        "certificate": {"Type": "AWS::IoT::Certificate", "Properties": {
            "CertificateId": {"Ref": "AWS::IoT::Certificate::Id"}, "Status": "Active"}},
        "policy": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyDocument": json.dumps({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": ["iot:Connect", "iot:Publish"], "Resource": "*"}]})}},
    },
    "DeviceConfiguration": {"fallback": "fleet", "serial": {"Ref": "SerialNumber"}},
}


def claim_policy(template: str) -> str:
    """The claim-certificate policy of AWS's fleet-provisioning guide (create* covers
    create-from-csr too)."""
    arn = "arn:aws:iot:us-east-1:123456789012"
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["iot:Connect"], "Resource": "*"},
        {"Effect": "Allow", "Action": ["iot:Publish", "iot:Receive"], "Resource": [
            f"{arn}:topic/$aws/certificates/create*",
            f"{arn}:topic/$aws/provisioning-templates/{template}/provision/*"]},
        {"Effect": "Allow", "Action": "iot:Subscribe", "Resource": [
            f"{arn}:topicfilter/$aws/certificates/create*",
            f"{arn}:topicfilter/$aws/provisioning-templates/{template}/provision/*"]}]})


class Fleet:
    """A server with a fleet template and a claim certificate."""

    def __init__(self, server: Roost, workdir: Path, template: str = "Factory", hook: str | None = None,
                 body: dict | None = None):
        self.server = server
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.template = template
        args = ["create-provisioning-template", "--template-name", template,
                "--provisioning-role-arn", "arn:aws:iam::123456789012:role/Provisioning",
                "--template-body", json.dumps(body or TEMPLATE), "--enabled"]
        if hook:
            args += ["--pre-provisioning-hook", json.dumps({"targetArn": hook, "payloadVersion": "2020-04-01"})]
        server.aws(*args)
        claim = server.aws("create-keys-and-certificate", "--set-as-active",
                           "--certificate-pem-outfile", str(self.dir / "claim.pem"),
                           "--private-key-outfile", str(self.dir / "claim.key"))
        self.claim_arn = claim["certificateArn"]
        server.aws("create-policy", "--policy-name", f"claim-{template}", "--policy-document", claim_policy(template))
        server.aws("attach-policy", "--policy-name", f"claim-{template}", "--target", self.claim_arn)

    def connect(self, cert: str, key: str, client_id: str) -> mqtt.Connection:
        exports = self.server.exports
        connection = mqtt_connection_builder.mtls_from_path(
            endpoint=exports["ROOST_MQTT_HOST"], port=int(exports["ROOST_MQTT_PORT"]),
            cert_filepath=cert, pri_key_filepath=key, ca_filepath=exports["ROOST_ROOT_CA"],
            client_id=client_id, clean_session=True, keep_alive_secs=30)
        connection.connect().result(TIMEOUT)
        return connection

    def claim_connection(self, client_id: str = "claim-device") -> mqtt.Connection:
        return self.connect(str(self.dir / "claim.pem"), str(self.dir / "claim.key"), client_id)


def subscribe_pair(identity, subscribe_accepted, subscribe_rejected, request) -> tuple[Future, Future]:
    accepted, rejected = Future(), Future()
    f, _ = subscribe_accepted(request, mqtt.QoS.AT_LEAST_ONCE, lambda r: accepted.done() or accepted.set_result(r))
    f.result(TIMEOUT)
    f, _ = subscribe_rejected(request, mqtt.QoS.AT_LEAST_ONCE, lambda r: rejected.done() or rejected.set_result(r))
    f.result(TIMEOUT)
    return accepted, rejected


def first(accepted: Future, rejected: Future):
    """Waits for whichever answer comes; returns ('accepted'|'rejected', payload)."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        if accepted.done():
            return "accepted", accepted.result()
        if rejected.done():
            return "rejected", rejected.result()
        time.sleep(0.02)
    raise AssertionError("no answer on /accepted or /rejected")


def create_keys(identity) -> iotidentity.CreateKeysAndCertificateResponse:
    accepted, rejected = subscribe_pair(
        identity, identity.subscribe_to_create_keys_and_certificate_accepted,
        identity.subscribe_to_create_keys_and_certificate_rejected,
        iotidentity.CreateKeysAndCertificateSubscriptionRequest())
    identity.publish_create_keys_and_certificate(
        iotidentity.CreateKeysAndCertificateRequest(), mqtt.QoS.AT_LEAST_ONCE).result(TIMEOUT)
    kind, answer = first(accepted, rejected)
    assert kind == "accepted", vars(answer)
    return answer


def register_thing(identity, template: str, token: str, parameters: dict | None):
    accepted, rejected = subscribe_pair(
        identity, identity.subscribe_to_register_thing_accepted,
        identity.subscribe_to_register_thing_rejected,
        iotidentity.RegisterThingSubscriptionRequest(template_name=template))
    identity.publish_register_thing(iotidentity.RegisterThingRequest(
        template_name=template, certificate_ownership_token=token, parameters=parameters),
        mqtt.QoS.AT_LEAST_ONCE).result(TIMEOUT)
    return first(accepted, rejected)


def publish_as(fleet: Fleet, cert: str, key: str, client_id: str, topic: str):
    connection = fleet.connect(cert, key, client_id)
    try:
        future, _ = connection.publish(topic, b"hello from a provisioned device", mqtt.QoS.AT_LEAST_ONCE)
        future.result(TIMEOUT)
    finally:
        connection.disconnect().result(TIMEOUT)


@pytest.fixture
def fleet(fresh_roost, tmp_path):
    return Fleet(fresh_roost, tmp_path / "fleet")


def test_a_claim_certificate_provisions_a_device_with_create_keys_and_register_thing(fleet):
    connection = fleet.claim_connection()
    identity = iotidentity.IotIdentityClient(connection)
    keys = create_keys(identity)
    assert keys.certificate_ownership_token and keys.certificate_id
    description = fleet.server.aws("describe-certificate", "--certificate-id", keys.certificate_id)
    assert description["certificateDescription"]["status"] == "PENDING_ACTIVATION"

    kind, answer = register_thing(identity, fleet.template, keys.certificate_ownership_token,
                                  {"SerialNumber": "sn-0001"})
    assert kind == "accepted", vars(answer)
    assert answer.thing_name == "fleet-sn-0001"
    assert answer.device_configuration == {"fallback": "fleet", "serial": "sn-0001"}
    connection.disconnect().result(TIMEOUT)

    description = fleet.server.aws("describe-certificate", "--certificate-id", keys.certificate_id)
    assert description["certificateDescription"]["status"] == "ACTIVE"
    assert fleet.server.aws("describe-thing", "--thing-name", "fleet-sn-0001")["attributes"] == {"serial": "sn-0001"}
    principals = fleet.server.aws("list-thing-principals", "--thing-name", "fleet-sn-0001")["principals"]
    assert principals == [f"arn:aws:iot:us-east-1:123456789012:cert/{keys.certificate_id}"]

    (fleet.dir / "device.pem").write_text(keys.certificate_pem)
    (fleet.dir / "device.key").write_text(keys.private_key)
    publish_as(fleet, str(fleet.dir / "device.pem"), str(fleet.dir / "device.key"), "fleet-sn-0001", "telemetry/sn-0001")


def test_a_claim_certificate_provisions_a_device_that_keeps_its_key_with_create_from_csr(fleet):
    subprocess.run(["openssl", "genrsa", "-out", "own.key", "2048"], cwd=fleet.dir, check=True, capture_output=True)
    subprocess.run(["openssl", "req", "-new", "-key", "own.key", "-out", "own.csr", "-subj", "/CN=sn-0002"],
                   cwd=fleet.dir, check=True, capture_output=True)
    connection = fleet.claim_connection("claim-csr")
    identity = iotidentity.IotIdentityClient(connection)
    accepted, rejected = subscribe_pair(
        identity, identity.subscribe_to_create_certificate_from_csr_accepted,
        identity.subscribe_to_create_certificate_from_csr_rejected,
        iotidentity.CreateCertificateFromCsrSubscriptionRequest())
    identity.publish_create_certificate_from_csr(iotidentity.CreateCertificateFromCsrRequest(
        certificate_signing_request=(fleet.dir / "own.csr").read_text()), mqtt.QoS.AT_LEAST_ONCE).result(TIMEOUT)
    kind, created = first(accepted, rejected)
    assert kind == "accepted", vars(created)
    kind, answer = register_thing(identity, fleet.template, created.certificate_ownership_token,
                                  {"SerialNumber": "sn-0002"})
    assert kind == "accepted", vars(answer)
    assert answer.thing_name == "fleet-sn-0002"
    connection.disconnect().result(TIMEOUT)

    (fleet.dir / "own.pem").write_text(created.certificate_pem)
    publish_as(fleet, str(fleet.dir / "own.pem"), str(fleet.dir / "own.key"), "fleet-sn-0002", "telemetry/sn-0002")


class Hook(BaseHTTPRequestHandler):
    """A pre-provisioning webhook: allows serial numbers starting with 'ok-', renames the
    thing through a parameter override, refuses the rest with a reason."""

    calls: list[dict] = []

    def do_POST(self):  # noqa: N802 (http.server's name)
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        Hook.calls.append(body)
        serial = body["parameters"].get("SerialNumber", "")
        if serial.startswith("ok-"):
            answer = {"allowProvisioning": True, "parameterOverrides": {"SerialNumber": serial.upper()}}
        else:
            answer = {"allowProvisioning": False, "message": f"serial {serial} is not on the allow list"}
        data = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def hook_url():
    server = HTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Hook.calls = []
    yield f"http://127.0.0.1:{server.server_address[1]}/provision"
    server.shutdown()


def test_the_pre_provisioning_hook_decides_and_its_refusal_reason_reaches_the_device(fresh_roost, tmp_path, hook_url):
    fleet = Fleet(fresh_roost, tmp_path / "hooked", template="Hooked", hook=hook_url)
    connection = fleet.claim_connection("claim-hooked")
    identity = iotidentity.IotIdentityClient(connection)

    refused = create_keys(identity)
    kind, answer = register_thing(identity, "Hooked", refused.certificate_ownership_token, {"SerialNumber": "bad-1"})
    assert kind == "rejected"
    assert answer.status_code == 403
    assert answer.error_code == "AccessDenied"
    assert "serial bad-1 is not on the allow list" in answer.error_message
    assert fresh_roost.aws("list-things")["things"] == []
    assert Hook.calls[-1]["certificateId"] == refused.certificate_id
    assert Hook.calls[-1]["clientId"] == "claim-hooked"
    assert Hook.calls[-1]["templateArn"].endswith(":provisioningtemplate/Hooked")

    allowed = create_keys(identity)
    kind, answer = register_thing(identity, "Hooked", allowed.certificate_ownership_token, {"SerialNumber": "ok-7"})
    assert kind == "accepted", vars(answer)
    assert answer.thing_name == "fleet-OK-7"
    connection.disconnect().result(TIMEOUT)


def raw_request(connection: mqtt.Connection, topic: str, payload: bytes) -> dict:
    """Publishes `payload` on `topic` and returns the JSON answer from /accepted or /rejected."""
    answers: list[tuple[str, dict]] = []
    for suffix in ("accepted", "rejected"):
        future, _ = connection.subscribe(f"{topic}/{suffix}", mqtt.QoS.AT_LEAST_ONCE,
                                         lambda topic, payload, **kw: answers.append((topic, json.loads(payload))))
        future.result(TIMEOUT)
    connection.publish(topic, payload, mqtt.QoS.AT_LEAST_ONCE)[0].result(TIMEOUT)
    deadline = time.monotonic() + TIMEOUT
    while not answers and time.monotonic() < deadline:
        time.sleep(0.02)
    assert answers, f"no answer to {topic}"
    reply_topic, body = answers[0]
    return {"rejected": reply_topic.endswith("/rejected"), **body}


def test_bad_requests_are_rejected_with_aws_error_shapes_and_change_nothing(fleet):
    server = fleet.server
    # This claim may also knock on other templates' doors.
    server.aws("create-policy", "--policy-name", "claim-any-template", "--policy-document", json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["iot:Publish", "iot:Receive", "iot:Subscribe"],
        "Resource": ["arn:aws:iot:us-east-1:123456789012:topic/$aws/provisioning-templates/*",
                     "arn:aws:iot:us-east-1:123456789012:topicfilter/$aws/provisioning-templates/*"]}]}))
    server.aws("attach-policy", "--policy-name", "claim-any-template", "--target", fleet.claim_arn)
    server.aws("create-provisioning-template", "--template-name", "Disabled",
               "--provisioning-role-arn", "arn:aws:iam::123456789012:role/Provisioning",
               "--template-body", json.dumps(TEMPLATE))
    connection = fleet.claim_connection("claim-bad")
    identity = iotidentity.IotIdentityClient(connection)
    keys = create_keys(identity)
    things_before = server.aws("list-things")["things"]
    provision = f"$aws/provisioning-templates/{fleet.template}/provision/json"

    cases = [
        (provision, {"certificateOwnershipToken": "", "parameters": {"SerialNumber": "x"}},
         400, "InvalidCertificateOwnershipToken"),
        (provision, {"certificateOwnershipToken": "not-a-token", "parameters": {"SerialNumber": "x"}},
         400, "InvalidCertificateOwnershipToken"),
        ("$aws/provisioning-templates/NoSuchTemplate/provision/json",
         {"certificateOwnershipToken": keys.certificate_ownership_token, "parameters": {"SerialNumber": "x"}},
         404, "ResourceNotFound"),
        ("$aws/provisioning-templates/Disabled/provision/json",
         {"certificateOwnershipToken": keys.certificate_ownership_token, "parameters": {"SerialNumber": "x"}},
         400, "InvalidRequest"),
        (provision, {"certificateOwnershipToken": keys.certificate_ownership_token},   # no SerialNumber
         400, "InvalidRequest"),
        (provision, b"{not json", 400, "InvalidRequest"),
    ]
    for topic, payload, status, code in cases:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        answer = raw_request(connection, topic, data)
        assert answer["rejected"], (topic, payload, answer)
        assert answer["statusCode"] == status, (topic, payload, answer)
        assert answer["errorCode"] == code, (topic, payload, answer)
        assert answer["errorMessage"], answer

    assert server.aws("list-things")["things"] == things_before
    description = server.aws("describe-certificate", "--certificate-id", keys.certificate_id)
    assert description["certificateDescription"]["status"] == "PENDING_ACTIVATION"
    # The token still works after all that.
    kind, answer = register_thing(identity, fleet.template, keys.certificate_ownership_token, {"SerialNumber": "late"})
    assert kind == "accepted", vars(answer)
    connection.disconnect().result(TIMEOUT)


def test_an_expired_ownership_token_is_rejected_and_its_certificate_removed(tmp_path):
    config = tmp_path / "roost.toml"
    config.write_text("[provisioning]\nownership_token_ttl_secs = 1\n")
    server = Roost(tmp_path / "data", extra_args=["--config", str(config)]).start()
    try:
        fleet = Fleet(server, tmp_path / "fleet")
        connection = fleet.claim_connection("claim-slow")
        identity = iotidentity.IotIdentityClient(connection)
        keys = create_keys(identity)
        time.sleep(1.5)
        kind, answer = register_thing(identity, fleet.template, keys.certificate_ownership_token, {"SerialNumber": "slow"})
        assert kind == "rejected"
        assert answer.error_code == "InvalidCertificateOwnershipToken"
        connection.disconnect().result(TIMEOUT)
        # The unclaimed certificate is removed (the sweep runs every few seconds).
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            error = server.aws_raw("describe-certificate", "--certificate-id", keys.certificate_id)
            if error.returncode != 0 and "ResourceNotFoundException" in error.stderr:
                break
            time.sleep(0.5)
        else:
            raise AssertionError("the unclaimed certificate was not removed")
    finally:
        assert server.stop() == 0


def test_a_trusted_user_claim_provisions_a_device_without_a_claim_policy(fleet):
    claim = fleet.server.aws("create-provisioning-claim", "--template-name", fleet.template)
    assert claim["certificateId"] and claim["keyPair"]["PrivateKey"]
    (fleet.dir / "tu.pem").write_text(claim["certificatePem"])
    (fleet.dir / "tu.key").write_text(claim["keyPair"]["PrivateKey"])
    listed = [c["certificateId"] for c in fleet.server.aws("list-certificates")["certificates"]]
    assert claim["certificateId"] not in listed, "claim certificates are not listed, as on AWS"

    connection = fleet.connect(str(fleet.dir / "tu.pem"), str(fleet.dir / "tu.key"), "trusted-user-claim")
    identity = iotidentity.IotIdentityClient(connection)
    keys = create_keys(identity)
    kind, answer = register_thing(identity, fleet.template, keys.certificate_ownership_token, {"SerialNumber": "tu-1"})
    assert kind == "accepted", vars(answer)
    connection.disconnect().result(TIMEOUT)
