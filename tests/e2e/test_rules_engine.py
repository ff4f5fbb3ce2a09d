"""The rules engine end to end: rules made with the real AWS CLI transform and republish what
devices send (seen by a mosquitto subscriber), POST it to a local HTTP service once its
destination is confirmed, run their error action when that service fails, take Basic Ingest
publishes that no subscriber sees, count what they do in /metrics, and do JITR with no Lambda:
a rule on the registration event calls a small service that activates the certificate."""

from __future__ import annotations

import json
import queue
import subprocess
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import botocore.config
import pytest

from test_iot_data import Lines, data_client, device, wait_subscribed

TIMEOUT = 30


class Service:
    """A local HTTP service recording what it receives; `status` is what it answers."""

    def __init__(self, on_post=None):
        self.requests: queue.Queue = queue.Queue()
        self.status = 200
        self.on_post = on_post
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                request = {"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()},
                           "body": body}
                status = service.status
                if service.on_post is not None and "destinationconfirmation" not in \
                        request["headers"].get("x-amz-rules-engine-message-type", "").lower():
                    status = service.on_post(request) or status
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()
                service.requests.put(request)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def next(self, timeout: float = TIMEOUT) -> dict:
        return self.requests.get(timeout=timeout)

    def close(self):
        self.server.shutdown()


@pytest.fixture
def service():
    s = Service()
    yield s
    s.close()


def subscriber(server, cert, key, *topics):
    args = []
    for topic in topics:
        args += ["-t", topic]
    proc = subprocess.Popen(
        ["mosquitto_sub", "--cafile", server.exports["ROOST_ROOT_CA"], "--cert", cert, "--key", key,
         "-h", server.exports["ROOST_MQTT_HOST"], "-p", server.exports["ROOST_MQTT_PORT"],
         *args, "-W", str(TIMEOUT * 2), "-q", "1", "-v"],
        stdout=subprocess.PIPE, text=True)
    return proc, Lines(proc)


def publish(server, cert, key, topic, payload, *extra):
    result = subprocess.run(
        ["mosquitto_pub", "--cafile", server.exports["ROOST_ROOT_CA"], "--cert", cert, "--key", key,
         "-h", server.exports["ROOST_MQTT_HOST"], "-p", server.exports["ROOST_MQTT_PORT"],
         "-q", "1", "-t", topic, "-m", payload, *extra],
        capture_output=True, text=True, timeout=TIMEOUT)
    assert result.returncode == 0, result.stderr


def next_on(lines: Lines, prefix: str) -> tuple[str, str]:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        topic, _, body = lines.next().partition(" ")
        if topic.startswith(prefix):
            return topic, body
    raise AssertionError(f"nothing on {prefix}")


def create_rule(server, name: str, payload: dict):
    server.aws("create-topic-rule", "--rule-name", name, "--topic-rule-payload", json.dumps(payload),
               expect_json=False)


def confirmed_destination(server, service: Service) -> str:
    """Creates a destination for the service's URL and confirms it the way AWS's message says."""
    created = server.aws("create-topic-rule-destination", "--destination-configuration",
                         json.dumps({"httpUrlConfiguration": {"confirmationUrl": service.url}}))
    arn = created["topicRuleDestination"]["arn"]
    assert created["topicRuleDestination"]["status"] == "IN_PROGRESS"
    confirmation = service.next()
    assert confirmation["headers"]["x-amz-rules-engine-message-type"] == "DestinationConfirmation"
    assert confirmation["headers"]["x-amz-rules-engine-destination-arn"] == arn
    body = json.loads(confirmation["body"])
    assert body["arn"] == arn
    assert body["messageType"] == "DestinationConfirmation"
    # The enable URL needs no signature, like AWS's.
    with urllib.request.urlopen(body["enableUrl"], timeout=TIMEOUT) as answer:
        assert answer.status == 200
    described = server.aws("get-topic-rule-destination", "--arn", arn)
    assert described["topicRuleDestination"]["status"] == "ENABLED"
    return arn


def test_a_rule_transforms_and_republishes_what_devices_send(roost, tmp_path, unique):
    name = unique("fahrenheit").replace("-", "_")
    out = f"out/{name}"
    cert, key = device(roost, tmp_path, name)
    create_rule(roost, name, {
        "sql": f"SELECT temp * 1.8 + 32 AS tempF, topic(2) AS device FROM 'sensors/+/{name}' WHERE temp > 30",
        "awsIotSqlVersion": "2016-03-23",
        "actions": [{"republish": {"topic": f"{out}/${{topic(2)}}", "qos": 1,
                                   "roleArn": "arn:aws:iam::123456789012:role/republish"}}],
    })
    sub, lines = subscriber(roost, cert, key, f"{out}/#", f"probe/{name}")
    try:
        wait_subscribed(data_client(roost), f"probe/{name}", lines)
        publish(roost, cert, key, f"sensors/cold/{name}", json.dumps({"temp": 12}))
        publish(roost, cert, key, f"sensors/dev7/{name}", json.dumps({"temp": 31}))
        topic, body = next_on(lines, out)
        assert topic == f"{out}/dev7"
        assert json.loads(body) == {"tempF": 87.8, "device": "dev7"}
    finally:
        sub.kill()


def test_an_http_action_posts_after_confirmation_and_its_failure_fires_the_error_action(
        roost, tmp_path, unique, service):
    name = unique("to_backend").replace("-", "_")
    cert, key = device(roost, tmp_path, name)
    confirmed_destination(roost, service)
    create_rule(roost, name, {
        "sql": f"SELECT * FROM 'plant/{name}/#'",
        "actions": [{"http": {"url": f"{service.url}/ingest/${{topic(3)}}",
                              "confirmationUrl": service.url,
                              "headers": [{"key": "x-device", "value": "${clientid()}"}]}}],
        "errorAction": {"republish": {"topic": f"errors/{name}", "qos": 1,
                                      "roleArn": "arn:aws:iam::123456789012:role/republish"}},
    })
    publish(roost, cert, key, f"plant/{name}/press", json.dumps({"bar": 3}), "-i", f"{name}-dev")
    posted = service.next()
    assert posted["path"] == "/ingest/press"
    assert json.loads(posted["body"]) == {"bar": 3}
    assert posted["headers"]["content-type"] == "application/json"
    assert posted["headers"]["x-device"] == f"{name}-dev"

    # The service fails: after its retries, the error action reports it.
    sub, lines = subscriber(roost, cert, key, f"errors/{name}", f"probe/{name}")
    try:
        wait_subscribed(data_client(roost), f"probe/{name}", lines)
        service.status = 500
        publish(roost, cert, key, f"plant/{name}/boiler", "not json", "-i", f"{name}-dev")
        _, body = next_on(lines, f"errors/{name}")
        error = json.loads(body)
        assert error["ruleName"] == name
        assert error["topic"] == f"plant/{name}/boiler"
        assert error["clientId"] == f"{name}-dev"
        assert error["base64OriginalPayload"] == "bm90IGpzb24="
        assert error["failures"][0]["failedAction"] == "HttpAction"
        assert "500" in error["failures"][0]["errorMessage"]
    finally:
        sub.kill()
    attempts = sum(1 for _ in iter(lambda: _drain(service), None))
    assert attempts == 3, "500 is retried up to 3 attempts"

    metrics = urllib.request.urlopen(f"{roost.api_url}/metrics", timeout=TIMEOUT).read().decode()
    assert f'roost_rule_messages_matched_total{{rule="{name}"}} 2' in metrics
    assert f'roost_rule_actions_total{{rule="{name}",outcome="succeeded"}} 1' in metrics
    assert f'roost_rule_actions_total{{rule="{name}",outcome="failed"}} 1' in metrics
    assert f'roost_rule_error_actions_total{{rule="{name}"}} 1' in metrics


def test_an_http_action_with_sigv4_auth_is_signed_with_roosts_keys(roost, tmp_path, unique, service):
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    name = unique("signed").replace("-", "_")
    cert, key = device(roost, tmp_path, name)
    confirmed_destination(roost, service)
    create_rule(roost, name, {
        "sql": f"SELECT * FROM 'signed/{name}'",
        "actions": [{"http": {"url": f"{service.url}/api/ingest?from=rule", "confirmationUrl": service.url,
                              "auth": {"sigv4": {"signingRegion": "eu-west-1", "serviceName": "execute-api",
                                                 "roleArn": "arn:aws:iam::123456789012:role/invoke"}}}}],
    })
    publish(roost, cert, key, f"signed/{name}", json.dumps({"v": 1}))
    posted = service.next()
    headers = posted["headers"]
    authorization = headers["authorization"]
    assert authorization.startswith(
        f"AWS4-HMAC-SHA256 Credential={roost.exports['AWS_ACCESS_KEY_ID']}/")
    assert "/eu-west-1/execute-api/aws4_request" in authorization
    signed = authorization.split("SignedHeaders=")[1].split(",")[0].split(";")
    assert {"host", "x-amz-date", "x-amz-content-sha256", "content-type"} <= set(signed)

    # botocore, given the same request and date, computes the same signature.
    request = AWSRequest(method="POST", url=f"{service.url}{posted['path']}", data=posted["body"],
                         headers={h: headers[h] for h in signed})
    request.context["timestamp"] = headers["x-amz-date"]
    signer = SigV4Auth(Credentials(roost.exports["AWS_ACCESS_KEY_ID"],
                                   roost.exports["AWS_SECRET_ACCESS_KEY"]), "execute-api", "eu-west-1")
    expected = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
    assert authorization.endswith(f"Signature={expected}")


def _drain(service: Service):
    try:
        return service.next(timeout=1)
    except queue.Empty:
        return None


def test_basic_ingest_reaches_its_rule_and_no_subscriber(roost, tmp_path, unique):
    name = unique("ingest").replace("-", "_")
    cert, key = device(roost, tmp_path, name)
    create_rule(roost, name, {
        "sql": "SELECT *, topic() AS t FROM 'unused/filter'",
        "actions": [{"republish": {"topic": f"ingested/{name}",
                                   "roleArn": "arn:aws:iam::123456789012:role/republish"}}],
    })
    sub, lines = subscriber(roost, cert, key, f"ingested/{name}", "$aws/rules/#", f"probe/{name}")
    try:
        wait_subscribed(data_client(roost), f"probe/{name}", lines)
        publish(roost, cert, key, f"$aws/rules/{name}/meters/1", json.dumps({"kwh": 5}))
        topic, body = next_on(lines, "")
        assert topic == f"ingested/{name}", "no subscriber sees the Basic Ingest topic itself"
        assert json.loads(body) == {"kwh": 5, "t": "meters/1"}
    finally:
        sub.kill()


def test_jitr_with_a_rule_and_an_http_service_instead_of_a_lambda(fresh_roost, tmp_path):
    from test_jitp import Walkthrough, published

    server = fresh_roost
    w = Walkthrough(server, tmp_path / "jitr")
    w.root_ca()
    w.verification_cert()
    ca_id = w.register_ca()["certificateId"]
    exports = server.exports
    iot = boto3.session.Session().client(
        "iot", region_name=exports["AWS_DEFAULT_REGION"], endpoint_url=exports["AWS_ENDPOINT_URL_IOT"],
        aws_access_key_id=exports["AWS_ACCESS_KEY_ID"], aws_secret_access_key=exports["AWS_SECRET_ACCESS_KEY"],
        config=botocore.config.Config(retries={"max_attempts": 1}))
    policy = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["iot:Connect", "iot:Publish"], "Resource": "*"}]})

    def activate(request):
        # What the blog's Lambda does, with boto3 and the service's own credentials.
        event = json.loads(request["body"])
        certificate_id = event["certificateId"]
        arn = f"arn:aws:iot:us-east-1:{event['awsAccountId']}:cert/{certificate_id}"
        try:
            iot.create_policy(policyName=f"Policy_{certificate_id}", policyDocument=policy)
        except iot.exceptions.ResourceAlreadyExistsException:
            pass
        iot.attach_policy(policyName=f"Policy_{certificate_id}", target=arn)
        iot.update_certificate(certificateId=certificate_id, newStatus="ACTIVE")
        return 200

    service = Service(on_post=activate)
    try:
        confirmed_destination(server, service)
        create_rule(server, "jitr_activation", {
            "sql": f"SELECT * FROM '$aws/events/certificates/registered/{ca_id}'",
            "actions": [{"http": {"url": f"{service.url}/activate"}}],
        })
        cert_id = w.device()
        assert not published(w.publish()), "the first connection of a JITR device is refused"
        activation = service.next()
        assert json.loads(activation["body"])["certificateId"] == cert_id
        deadline = time.monotonic() + TIMEOUT
        while True:
            status = w.aws("describe-certificate", "--certificate-id", cert_id)["certificateDescription"]["status"]
            if status == "ACTIVE":
                break
            assert time.monotonic() < deadline, status
            time.sleep(0.1)
        second = w.publish()
        assert published(second), second.stdout + second.stderr
    finally:
        service.close()


def test_syntax_of_2016_03_23_is_refused_under_2015_10_08(roost, unique):
    name = unique("versioned").replace("-", "_")
    payload = {"sql": "SELECT readings[0] AS first FROM 'meters/#'",
               "actions": [{"republish": {"topic": "out", "roleArn": "arn:aws:iam::123456789012:role/r"}}]}
    refused = roost.aws_error("create-topic-rule", "--rule-name", name,
                              "--topic-rule-payload", json.dumps(payload))
    assert refused.code == "SqlParseException"
    assert "requires awsIotSqlVersion 2016-03-23" in refused.message
    payload["awsIotSqlVersion"] = "2016-03-23"
    create_rule(roost, name, payload)
    assert roost.aws("get-topic-rule", "--rule-name", name)["rule"]["awsIotSqlVersion"] == "2016-03-23"
