"""The iot-data plane with boto3's own `iot-data` client and the AWS CLI (signed `iotdata`),
pointed at Roost the way `roost env` says (AWS_ENDPOINT_URL_IOT_DATA_PLANE): shadows over HTTP,
with AWS's error types, the same MQTT answers an MQTT update gets, and Publish."""

from __future__ import annotations

import json
import queue
import subprocess
import threading

import boto3
import botocore.config
import pytest
from botocore.exceptions import ClientError

TIMEOUT = 30


def data_client(server):
    exports = server.exports
    return boto3.session.Session().client(
        "iot-data",
        region_name=exports["AWS_DEFAULT_REGION"],
        endpoint_url=exports["AWS_ENDPOINT_URL_IOT_DATA_PLANE"],
        aws_access_key_id=exports["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=exports["AWS_SECRET_ACCESS_KEY"],
        config=botocore.config.Config(retries={"max_attempts": 1, "mode": "standard"}))


def payload(response) -> dict:
    return json.loads(response["payload"].read())


def error_of(call) -> tuple[str, str]:
    with pytest.raises(ClientError) as caught:
        call()
    error = caught.value.response["Error"]
    return error["Code"], error["Message"]


@pytest.fixture
def data(roost):
    return data_client(roost)


def test_boto3_updates_gets_lists_and_deletes_shadows(data, unique):
    thing = unique("lamp")
    updated = payload(data.update_thing_shadow(
        thingName=thing, payload=json.dumps({"state": {"desired": {"on": True}}, "clientToken": "c"})))
    assert updated["version"] == 1
    assert updated["state"]["desired"] == {"on": True}
    assert updated["clientToken"] == "c"
    got = payload(data.get_thing_shadow(thingName=thing))
    assert got["state"]["desired"] == {"on": True}
    assert got["state"]["delta"] == {"on": True}
    assert got["version"] == 1

    for name in ["b-config", "a-firmware"]:
        data.update_thing_shadow(thingName=thing, shadowName=name,
                                 payload=json.dumps({"state": {"reported": {"v": 1}}}))
    named = data.list_named_shadows_for_thing(thingName=thing)
    assert named["results"] == ["a-firmware", "b-config"]
    first = data.list_named_shadows_for_thing(thingName=thing, pageSize=1)
    assert first["results"] == ["a-firmware"]
    second = data.list_named_shadows_for_thing(thingName=thing, pageSize=1, nextToken=first["nextToken"])
    assert second["results"] == ["b-config"]
    assert "nextToken" not in second

    deleted = payload(data.delete_thing_shadow(thingName=thing))
    assert deleted["version"] == 1
    code, message = error_of(lambda: data.get_thing_shadow(thingName=thing))
    assert code == "ResourceNotFoundException"
    assert message == f"No shadow exists with name: '{thing}'"
    # The named shadows are untouched by deleting the classic one.
    assert payload(data.get_thing_shadow(thingName=thing, shadowName="b-config"))["version"] == 1


def test_each_shadow_error_answers_aws_type_and_message(data, unique):
    thing = unique("bad")
    cases = [
        (b"{not json", "InvalidRequestException", None),
        (b"[1, 2]", "InvalidRequestException", None),
        (json.dumps({"desired": {"x": 1}}).encode(), "InvalidRequestException", "Missing required node: state"),
        (json.dumps({"state": {"reported": {"x": "y" * 9000}}}).encode(), "RequestEntityTooLargeException", None),
        (json.dumps({"state": {"reported": {"a": {"b": {"c": {"d": {"e": {"f": {"g": 1}}}}}}}}}).encode(),
         "InvalidRequestException", "JSON contains too many levels of nesting; maximum is 6"),
    ]
    for body, code, message in cases:
        got_code, got_message = error_of(lambda: data.update_thing_shadow(thingName=thing, payload=body))
        assert got_code == code, (body[:40], got_code, got_message)
        if message:
            assert got_message == message
    data.update_thing_shadow(thingName=thing, payload=json.dumps({"state": {"reported": {"x": 1}}}))
    code, message = error_of(lambda: data.update_thing_shadow(
        thingName=thing, payload=json.dumps({"state": {"reported": {"x": 2}}, "version": 9})))
    assert (code, message) == ("ConflictException", "Version conflict")
    code, _ = error_of(lambda: data.get_thing_shadow(thingName=thing, shadowName="no spaces allowed"))
    assert code == "InvalidRequestException"
    code, _ = error_of(lambda: data.get_thing_shadow(thingName=unique("never")))
    assert code == "ResourceNotFoundException"


def test_an_unsigned_or_iot_scoped_request_is_refused(roost, unique):
    path = f"/things/{unique('t')}/shadow"
    assert roost.raw("GET", path, sign=False).status == 403
    # Signed, but for the `iot` service rather than iot-data's.
    refused = roost.raw("GET", path)
    assert refused.status == 403
    assert refused.error_type == "InvalidSignatureException", refused


def device(server, tmp_path, name: str) -> tuple[str, str]:
    cert, key = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
    created = server.aws("create-keys-and-certificate", "--set-as-active",
                         "--certificate-pem-outfile", str(cert), "--private-key-outfile", str(key))
    policy = json.dumps({"Version": "2012-10-17",
                         "Statement": [{"Effect": "Allow", "Action": "iot:*", "Resource": "*"}]})
    server.aws("create-policy", "--policy-name", f"data-{name}", "--policy-document", policy)
    server.aws("attach-policy", "--policy-name", f"data-{name}", "--target", created["certificateArn"])
    return str(cert), str(key)


class Lines:
    """The lines a subprocess prints, read on a thread so that waiting can time out."""

    def __init__(self, proc: subprocess.Popen):
        self.queue: queue.Queue = queue.Queue()
        threading.Thread(target=self._pump, args=(proc,), daemon=True).start()

    def _pump(self, proc):
        for line in proc.stdout:
            self.queue.put(line.strip())

    def next(self, timeout: float = TIMEOUT) -> str:
        return self.queue.get(timeout=timeout)


def wait_subscribed(data, topic_probe: str, lines: Lines):
    """Publishes probes until the subscriber has seen one (its SUBSCRIBE is in place)."""
    for _ in range(100):
        data.publish(topic=topic_probe, qos=1, payload=b"probe")
        try:
            if lines.next(timeout=0.3).startswith(topic_probe):
                return
        except queue.Empty:
            continue
    raise AssertionError("the subscriber never saw a probe")


def test_an_http_update_publishes_the_mqtt_answers_and_publish_reaches_subscribers(roost, data, tmp_path, unique):
    thing = unique("fan")
    cert, key = device(roost, tmp_path, thing)
    probe = f"probe/{thing}"
    sub = subprocess.Popen(
        ["mosquitto_sub", "--cafile", roost.exports["ROOST_ROOT_CA"], "--cert", cert, "--key", key,
         "-h", roost.exports["ROOST_MQTT_HOST"], "-p", roost.exports["ROOST_MQTT_PORT"],
         "-t", f"$aws/things/{thing}/shadow/update/+", "-t", probe, "-t", f"telemetry/{thing}",
         "-W", str(TIMEOUT), "-q", "1", "-v"],
        stdout=subprocess.PIPE, text=True)
    lines = Lines(sub)
    try:
        wait_subscribed(data, probe, lines)
        data.update_thing_shadow(thingName=thing, payload=json.dumps({"state": {"desired": {"speed": 3}}}))
        seen = {}
        while len(seen) < 3:
            topic, _, body = lines.next().partition(" ")
            if topic.startswith(f"$aws/things/{thing}/shadow/"):
                seen[topic.rsplit("/", 1)[-1]] = json.loads(body)
        assert seen["accepted"]["version"] == 1
        assert seen["delta"]["state"] == {"speed": 3}
        assert seen["documents"]["current"]["version"] == 1
        data.publish(topic=f"telemetry/{thing}", qos=1, payload=b'{"rpm": 1200}')
        while True:
            topic, _, body = lines.next().partition(" ")
            if topic == f"telemetry/{thing}":
                assert json.loads(body) == {"rpm": 1200}
                break
    finally:
        sub.kill()
    code, _ = error_of(lambda: data.publish(topic=f"$aws/things/{thing}/shadow/update/accepted", payload=b"{}"))
    assert code == "ForbiddenException"


def test_the_aws_cli_reads_a_shadow_with_iot_data(roost, data, tmp_path, unique):
    thing = unique("cli")
    data.update_thing_shadow(thingName=thing, payload=json.dumps({"state": {"reported": {"ok": True}}}))
    out = tmp_path / "shadow.json"
    result = subprocess.run(["aws", "iot-data", "get-thing-shadow", "--thing-name", thing, str(out)],
                            capture_output=True, text=True, env=roost.env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads(out.read_text())["state"]["reported"] == {"ok": True}


def test_retained_messages_are_read_listed_and_survive_a_sigkill(fresh_roost, tmp_path):
    cert, key = device(fresh_roost, tmp_path, "station")
    exports = fresh_roost.exports
    published = subprocess.run(
        ["mosquitto_pub", "--cafile", exports["ROOST_ROOT_CA"], "--cert", cert, "--key", key,
         "-h", exports["ROOST_MQTT_HOST"], "-p", exports["ROOST_MQTT_PORT"], "-q", "1", "-r",
         "-t", "station/1/state", "-m", "online", "-D", "publish", "user-property", "site", "north"],
        capture_output=True, text=True, timeout=TIMEOUT)
    assert published.returncode == 0, published.stderr
    # The PUBACK came after the write: kill at once, without a clean stop.
    fresh_roost.proc.kill()
    fresh_roost.proc.wait()
    fresh_roost._stderr.close()
    fresh_roost.proc = None
    fresh_roost.start()
    data = data_client(fresh_roost)
    data.publish(topic="station/2/state", qos=1, retain=True, payload=b"idle")
    message = data.get_retained_message(topic="station/1/state")
    assert message["payload"] == b"online"
    assert message["qos"] == 1
    assert message["lastModifiedTime"] > 0
    assert json.loads(message["userProperties"]) == [{"site": "north"}]
    listed = data.list_retained_messages(maxResults=1)
    assert [t["topic"] for t in listed["retainedTopics"]] == ["station/1/state"]
    assert listed["retainedTopics"][0]["payloadSize"] == len(b"online")
    rest = data.list_retained_messages(maxResults=1, nextToken=listed["nextToken"])
    assert [t["topic"] for t in rest["retainedTopics"]] == ["station/2/state"]
    # An empty retained publish clears the topic.
    data.publish(topic="station/2/state", qos=1, retain=True, payload=b"")
    code, _ = error_of(lambda: data.get_retained_message(topic="station/2/state"))
    assert code == "ResourceNotFoundException"


def test_connection_operations_describe_message_and_disconnect_a_live_client(roost, tmp_path, unique):
    from concurrent.futures import Future

    from awscrt import mqtt
    from awsiot import mqtt_connection_builder

    data = data_client(roost)
    client_id = unique("live")
    cert, key = device(roost, tmp_path, client_id)
    exports = roost.exports
    interrupted: Future = Future()
    connection = mqtt_connection_builder.mtls_from_path(
        endpoint=exports["ROOST_MQTT_HOST"], port=int(exports["ROOST_MQTT_PORT"]),
        cert_filepath=cert, pri_key_filepath=key, ca_filepath=exports["ROOST_ROOT_CA"],
        client_id=client_id, clean_session=False, keep_alive_secs=60,
        on_connection_interrupted=lambda connection, error, **kw: interrupted.done() or interrupted.set_result(error))
    direct: Future = Future()
    # A direct message reaches the client though it subscribed to nothing matching it.
    connection.on_message(lambda topic, payload, **kw: direct.done() or direct.set_result((topic, payload)))
    connection.connect().result(TIMEOUT)
    try:
        for topic in ["b/status", "a/#"]:
            subscribed, _ = connection.subscribe(topic, mqtt.QoS.AT_LEAST_ONCE, lambda **kw: None)
            subscribed.result(TIMEOUT)

        described = data.get_connection(clientId=client_id, includeSocketInformation=True)
        assert described["connected"] is True
        assert described["clientId"] == client_id
        assert described["cleanSession"] is False
        assert described["keepAliveDuration"] == 60
        assert described["sourceIp"] == "127.0.0.1"
        listed = data.list_subscriptions(clientId=client_id)
        assert [(s["topicFilter"], s["qos"]) for s in listed["subscriptions"]] == [("a/#", 1), ("b/status", 1)]
        first = data.list_subscriptions(clientId=client_id, maxResults=1)
        assert len(first["subscriptions"]) == 1 and "nextToken" in first

        sent = data.send_direct_message(clientId=client_id, topic="commands/reboot", payload=b"now",
                                        confirmation=True)
        assert sent["message"] == "OK"
        assert direct.result(TIMEOUT) == ("commands/reboot", b"now")

        data.delete_connection(clientId=client_id, preventWillMessage=True)
        interrupted.result(TIMEOUT)
    finally:
        connection.disconnect()
    code, _ = error_of(lambda: data.get_connection(clientId=unique("nobody")))
    assert code == "ResourceNotFoundException"
    code, _ = error_of(lambda: data.send_direct_message(clientId=unique("nobody"), topic="t", payload=b"x"))
    assert code == "ResourceNotFoundException"
