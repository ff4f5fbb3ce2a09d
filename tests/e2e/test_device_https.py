"""Devices over HTTPS with their certificates, as on AWS IoT's port 8443: `curl --cert --key`
publishes and updates its shadow, each request allowed by the device's IoT policy and refused
outside it; a certificate that is not ACTIVE is refused whatever it asks."""

from __future__ import annotations

import json
import subprocess

import pytest

from conftest import Roost

TIMEOUT = 30


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    base = tmp_path_factory.mktemp("device-https")
    roost = Roost(base / "data", "device-https", ["--https-data-listen", "127.0.0.1:0"]).start()
    yield roost
    assert roost.stop() == 0


def https_port(server: Roost) -> int:
    endpoints = json.loads((server.data_dir / "endpoints.json").read_text())
    return endpoints["httpsDataPort"]


def device(server: Roost, tmp_path, name: str, statements: list) -> tuple[str, str, str]:
    cert, key = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
    created = server.aws("create-keys-and-certificate", "--set-as-active",
                         "--certificate-pem-outfile", str(cert), "--private-key-outfile", str(key))
    policy = json.dumps({"Version": "2012-10-17", "Statement": statements})
    server.aws("create-policy", "--policy-name", f"https-{name}", "--policy-document", policy)
    server.aws("attach-policy", "--policy-name", f"https-{name}", "--target", created["certificateArn"])
    return str(cert), str(key), created["certificateId"]


def curl(server: Roost, cert: str, key: str, method: str, path: str, body: str | None = None):
    command = ["curl", "-sS", "--cacert", server.exports["ROOST_ROOT_CA"], "--cert", cert, "--key", key,
               "-X", method, "-w", "\n%{http_code}", f"https://localhost:{https_port(server)}{path}"]
    if body is not None:
        command += ["--data-binary", body]
    result = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT)
    assert result.returncode == 0, result.stderr
    text, _, status = result.stdout.rpartition("\n")
    return int(status), (json.loads(text) if text else None)


def test_a_device_publishes_and_updates_its_shadow_within_its_policy(server, tmp_path):
    arn = "arn:aws:iot:us-east-1:123456789012"
    cert, key, _ = device(server, tmp_path, "meter", [
        {"Effect": "Allow", "Action": "iot:Publish", "Resource": f"{arn}:topic/meters/meter/*"},
        {"Effect": "Allow", "Action": ["iot:GetThingShadow", "iot:UpdateThingShadow"],
         "Resource": f"{arn}:thing/meter"},
    ])
    status, answer = curl(server, cert, key, "POST", "/topics/meters%2Fmeter%2Freading?qos=1", '{"kwh": 3}')
    assert status == 200, answer
    assert answer["message"] == "OK"
    status, answer = curl(server, cert, key, "POST", "/things/meter/shadow",
                          '{"state":{"reported":{"kwh":3}}}')
    assert status == 200, answer
    assert answer["version"] == 1
    status, answer = curl(server, cert, key, "GET", "/things/meter/shadow")
    assert status == 200
    assert answer["state"]["reported"] == {"kwh": 3}

    # Outside its policy: another topic, another thing's shadow, deleting its own.
    for method, path, action, resource in [
        ("POST", "/topics/meters%2Fother%2Freading", "iot:Publish", "topic/meters/other/reading"),
        ("GET", "/things/other/shadow", "iot:GetThingShadow", "thing/other"),
        ("DELETE", "/things/meter/shadow", "iot:DeleteThingShadow", "thing/meter"),
    ]:
        status, answer = curl(server, cert, key, method, path, "{}" if method == "POST" else None)
        assert status == 403, (method, path, answer)
        assert answer["message"] == (
            f"Not authorized: the certificate's policies do not allow {action} on {resource}")
    # Within it, a bad document gets AWS's shadow errors, as over MQTT and the control plane.
    for body, code, message in [
        ("{not json", 400, None),
        ('{"desired": {}}', 400, "Missing required node: state"),
        ('{"state":{"reported":{"kwh":4}},"version":7}', 409, "Version conflict"),
    ]:
        status, answer = curl(server, cert, key, "POST", "/things/meter/shadow", body)
        assert status == code, (body, answer)
        if message:
            assert answer["message"] == message
    status, answer = curl(server, cert, key, "GET", "/things/meter/shadow")
    assert answer["version"] == 1, "the refused delete changed nothing"


def test_a_certificate_that_is_not_active_is_refused_whatever_it_asks(server, tmp_path):
    cert, key, certificate_id = device(server, tmp_path, "retired",
                                       [{"Effect": "Allow", "Action": "iot:*", "Resource": "*"}])
    assert curl(server, cert, key, "GET", "/things/retired/shadow")[0] == 404
    server.aws("update-certificate", "--certificate-id", certificate_id, "--new-status", "INACTIVE")
    status, answer = curl(server, cert, key, "POST", "/topics/t", "x")
    assert status == 403
    assert "INACTIVE" in answer["message"]
