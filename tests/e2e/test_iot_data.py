"""The iot-data plane with boto3's own `iot-data` client and the AWS CLI (signed `iotdata`),
pointed at Roost the way `roost env` says (AWS_ENDPOINT_URL_IOT_DATA_PLANE): shadows over HTTP,
with AWS's error types, the same MQTT answers an MQTT update gets, Publish with its MQTT 5
properties, and SendDirectMessage waiting for the device's PUBACK."""

from __future__ import annotations

import base64
import hashlib
import json
import queue
import ssl
import subprocess
import threading
import time
from pathlib import Path

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
        # One attempt: a retried SendDirectMessage would send its message again.
        config=botocore.config.Config(retries={"total_max_attempts": 1, "mode": "standard"}))


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
        live = live_connections(roost)
        assert [c["clientId"] for c in live] == sorted(c["clientId"] for c in live)
        (mine,) = [c for c in live if c["clientId"] == client_id]
        der = ssl.PEM_cert_to_DER_cert(Path(cert).read_text())
        assert mine["principal"] == hashlib.sha256(der).hexdigest()
        assert (mine["protocol"], mine["transport"]) == ("MQTT 3.1.1", "mqtts")
        assert mine["subscriptions"] == [{"topicFilter": "a/#", "qos": 1}, {"topicFilter": "b/status", "qos": 1}]
        assert mine["connectedSince"] == described["connectedSince"]

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


def live_connections(server) -> list[dict]:
    """Every page of Roost's own `GET /roost/connections`, one connection per page."""
    listed, token = [], None
    while True:
        query = "maxResults=1" + (f"&nextToken={token}" if token else "")
        response = server.raw("GET", f"/roost/connections?{query}")
        assert response.status == 200, response
        page = response.json
        assert len(page["connections"]) <= 1
        listed += page["connections"]
        token = page.get("nextToken")
        if not token:
            return listed


def test_the_list_of_live_connections_is_signed_and_pages(roost):
    assert roost.raw("GET", "/roost/connections", sign=False).status == 403
    response = roost.raw("GET", "/roost/connections?maxResults=0")
    assert (response.status, response.error_type) == (400, "InvalidRequestException")


# -- MQTT 5 properties and confirmed direct messages ------------------------------------------

class Mqtt5Device:
    """An MQTT 5 device (the AWS IoT Device SDK's CRT client) that records what it receives;
    the SDK acknowledges each QoS 1 PUBLISH."""

    def __init__(self, server, cert: str, key: str, client_id: str):
        from concurrent.futures import Future

        from awsiot import mqtt5_client_builder

        exports = server.exports
        self.received: queue.Queue = queue.Queue()
        connected: Future = Future()
        self.client = mqtt5_client_builder.mtls_from_path(
            endpoint=exports["ROOST_MQTT_HOST"], port=int(exports["ROOST_MQTT_PORT"]),
            cert_filepath=cert, pri_key_filepath=key, ca_filepath=exports["ROOST_ROOT_CA"],
            client_id=client_id,
            on_publish_received=lambda data: self.received.put(data.publish_packet),
            on_lifecycle_connection_success=lambda data: connected.done() or connected.set_result(True))
        self.client.start()
        connected.result(TIMEOUT)

    def subscribe(self, topic_filter: str):
        from awscrt import mqtt5

        self.client.subscribe(mqtt5.SubscribePacket(subscriptions=[
            mqtt5.Subscription(topic_filter=topic_filter, qos=mqtt5.QoS.AT_LEAST_ONCE)])).result(TIMEOUT)

    def next(self, timeout: float = TIMEOUT):
        return self.received.get(timeout=timeout)

    def stop(self):
        self.client.stop()


class SilentDevice:
    """An MQTT 3.1.1 device on a bare TLS socket that reads what it is sent and acknowledges
    nothing."""

    def __init__(self, server, cert: str, key: str, client_id: str):
        import socket
        import ssl

        exports = server.exports
        host = exports["ROOST_MQTT_HOST"]
        context = ssl.create_default_context(cafile=exports["ROOST_ROOT_CA"])
        context.load_cert_chain(cert, key)
        tcp = socket.create_connection((host, int(exports["ROOST_MQTT_PORT"])), timeout=TIMEOUT)
        self.sock = context.wrap_socket(tcp, server_hostname=host)
        client = client_id.encode()
        # CONNECT: protocol "MQTT" level 4, clean session, keep-alive 60 s.
        body = b"\x00\x04MQTT\x04\x02\x00\x3c" + len(client).to_bytes(2, "big") + client
        self.sock.sendall(b"\x10" + self._length(len(body)) + body)
        kind, connack = self.packet()
        assert kind == 0x20 and connack[1] == 0, connack

    @staticmethod
    def _length(n: int) -> bytes:
        out = bytearray()
        while True:
            byte, n = n % 128, n // 128
            out.append(byte | (0x80 if n else 0))
            if not n:
                return bytes(out)

    def _read(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("the server closed the connection")
            data += chunk
        return data

    def packet(self) -> tuple[int, bytes]:
        """The next packet's first byte and its body."""
        first = self._read(1)[0]
        length, shift = 0, 0
        while True:
            byte = self._read(1)[0]
            length |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        return first, self._read(length)

    def close(self):
        self.sock.close()


def properties_of(packet) -> dict:
    return {
        "content_type": packet.content_type,
        "response_topic": packet.response_topic,
        "user_properties": [(p.name, p.value) for p in packet.user_properties or []],
        "payload_format": packet.payload_format_indicator,
        "correlation_data": packet.correlation_data_bytes,
    }


def test_publish_gives_an_mqtt5_subscriber_every_property_live_and_retained(roost, data, tmp_path, unique):
    from awscrt import mqtt5

    thing = unique("props")
    cert, key = device(roost, tmp_path, thing)
    expected = {
        "content_type": "application/json",
        "response_topic": f"replies/{thing}",
        "user_properties": [("deviceName", "alpha"), ("deviceCnt", "45"), ("deviceName", "beta")],
        "payload_format": mqtt5.PayloadFormatIndicator.AWS_MQTT5_PFI_UTF8,
        "correlation_data": b"\x00req-42\xff",
    }
    publish = dict(
        topic=f"{thing}/request", qos=1, payload='{"on": true}'.encode(),
        contentType="application/json", responseTopic=f"replies/{thing}", messageExpiry=120,
        # boto3 base64-encodes the JSON of this list; the correlation data is ours to encode.
        userProperties=[{"deviceName": "alpha"}, {"deviceCnt": "45"}, {"deviceName": "beta"}],
        payloadFormatIndicator="UTF8_DATA", correlationData=base64.b64encode(b"\x00req-42\xff").decode())
    live = Mqtt5Device(roost, cert, key, unique("live"))
    try:
        live.subscribe(f"{thing}/#")
        data.publish(**publish)
        received = live.next()
        assert received.topic == f"{thing}/request"
        assert received.payload == b'{"on": true}'
        assert properties_of(received) == expected
        assert 118 <= received.message_expiry_interval_sec <= 120

        data.publish(**publish, retain=True)
        live.next()
    finally:
        live.stop()
    later = Mqtt5Device(roost, cert, key, unique("later"))
    try:
        later.subscribe(f"{thing}/#")
        retained = later.next()
        assert retained.retain
        assert properties_of(retained) == expected
        assert 100 <= retained.message_expiry_interval_sec <= 120
    finally:
        later.stop()
    message = data.get_retained_message(topic=f"{thing}/request")
    assert json.loads(message["userProperties"]) == [
        {"deviceName": "alpha"}, {"deviceCnt": "45"}, {"deviceName": "beta"}]


def with_header(client, operation: str, name: str, value: str):
    """Makes `client` send `name: value` (signed) on its next calls of `operation`, as a caller
    that encodes the header itself would."""
    def put(request, **kwargs):
        request.headers[name] = value
    client.meta.events.register(f"before-sign.iot-data.{operation}", put)


def test_each_malformed_mqtt5_property_of_publish_is_an_invalid_request(roost, unique):
    topic = unique("bad-props")
    cases = [
        (dict(payloadFormatIndicator="UTF8"), None,
         "1 validation error detected: Value 'UTF8' at 'payloadFormatIndicator' failed to satisfy "
         "constraint: Member must satisfy enum value set: [UNSPECIFIED_BYTES, UTF8_DATA]"),
        (dict(payloadFormatIndicator="UTF8_DATA", payload=b"\xff\xfe"), None,
         "The payload is not valid UTF-8 (at byte 0), but the header "
         "'x-amz-mqtt5-payload-format-indicator' says UTF8_DATA"),
        (dict(correlationData="not base64!"), None, "x-amz-mqtt5-correlation-data' is not valid base64"),
        (dict(userProperties={"deviceName": "alpha"}), None, "is not the base64 of a JSON array"),
        (dict(userProperties=[{"deviceCnt": 45}]), None,
         "The user property at index 0 of the header 'x-amz-mqtt5-user-properties' is not an object "
         "with one string member"),
        (dict(), ("x-amz-mqtt5-user-properties", "not base64!"), "is not valid base64"),
        (dict(), ("x-amz-mqtt5-user-properties", base64.b64encode(b"[{").decode()),
         "is not the base64 of a JSON array"),
        (dict(responseTopic="replies/#"), None, "The responseTopic is not a valid topic"),
        (dict(responseTopic="a/b/c/d/e/f/g/h/i"), None, "The responseTopic is not a valid topic"),
        (dict(messageExpiry=-1), None,
         "1 validation error detected: Value '-1' at 'messageExpiry' failed to satisfy constraint: "
         "Member must have value greater than or equal to 0"),
        (dict(contentType="text\x00plain"), None, "The contentType cannot be sent over MQTT"),
    ]
    for arguments, header, message in cases:
        data = data_client(roost)
        if header:
            with_header(data, "Publish", *header)
        arguments = {"topic": topic, "payload": b"{}", **arguments}
        code, got = error_of(lambda: data.publish(**arguments))
        assert code == "InvalidRequestException", (arguments, header, got)
        assert message in got, (arguments, header, got)


def test_send_direct_message_with_confirmation_waits_for_the_clients_puback(roost, data, tmp_path, unique):
    from awscrt import mqtt5

    client_id = unique("direct5")
    cert, key = device(roost, tmp_path, client_id)
    target = Mqtt5Device(roost, cert, key, client_id)
    try:
        sent = data.send_direct_message(
            clientId=client_id, topic=f"commands/{client_id}", payload=b"reboot", confirmation=True,
            timeout=3, contentType="text/plain", responseTopic=f"replies/{client_id}",
            userProperties=[{"reason": "update"}], payloadFormatIndicator="UTF8_DATA",
            correlationData=base64.b64encode(b"cmd-1").decode())
        assert sent["message"] == "OK"
        received = target.next()
        assert (received.topic, received.payload, received.qos) == (
            f"commands/{client_id}", b"reboot", mqtt5.QoS.AT_LEAST_ONCE)
        assert properties_of(received) == {
            "content_type": "text/plain",
            "response_topic": f"replies/{client_id}",
            "user_properties": [("reason", "update")],
            "payload_format": mqtt5.PayloadFormatIndicator.AWS_MQTT5_PFI_UTF8,
            "correlation_data": b"cmd-1",
        }
        code, message = error_of(lambda: data.send_direct_message(
            clientId=client_id, topic="t", payload=b"x", confirmation=True, timeout=16))
        assert code == "InvalidRequestException"
        assert "Member must have value less than or equal to 15" in message
    finally:
        target.stop()


def test_send_direct_message_to_a_client_that_never_acknowledges_times_out(roost, data, tmp_path, unique):
    client_id = unique("silent")
    cert, key = device(roost, tmp_path, client_id)
    silent = SilentDevice(roost, cert, key, client_id)
    try:
        started = time.monotonic()
        code, message = error_of(lambda: data.send_direct_message(
            clientId=client_id, topic=f"commands/{client_id}", payload=b"x", confirmation=True, timeout=1))
        assert code == "GatewayTimeoutException"
        assert message == f"The client '{client_id}' did not acknowledge the message within 1 seconds"
        assert 1 <= time.monotonic() - started < 10
        kind, _ = silent.packet()
        assert kind & 0xF0 == 0x30 and (kind >> 1) & 3 == 1, "a QoS 1 PUBLISH"
        # Unconfirmed, the message goes at QoS 0 and is answered at once.
        assert data.send_direct_message(clientId=client_id, topic="t", payload=b"y")["message"] == "OK"
        kind, _ = silent.packet()
        assert kind & 0xF0 == 0x30 and (kind >> 1) & 3 == 0, "a QoS 0 PUBLISH"
    finally:
        silent.close()
    code, _ = error_of(lambda: data.send_direct_message(
        clientId=unique("absent"), topic="t", payload=b"x", confirmation=True))
    assert code == "ResourceNotFoundException"
