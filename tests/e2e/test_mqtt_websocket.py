"""MQTT over WebSocket signed with SigV4, as AWS IoT serves it on `/mqtt`: a paho-mqtt client
presigned with botocore's `SigV4QueryAuth` (service `iotdevicegateway`) connects over `ws://`
on the control-plane port, is seen by lifecycle events and GetConnection as its access key,
and receives what a certificate device publishes with mosquitto; an unsigned or badly signed
upgrade is refused with 403 and makes no connection; and the AWS IoT Device SDK's
`websockets_with_default_aws_signing` builder, unmodified, publishes and receives over `wss://`
on `--wss-listen`."""

from __future__ import annotations

import json
import queue
import socket
import subprocess
import time
import urllib.parse

import paho.mqtt.client as paho
import pytest
from botocore.auth import SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from conftest import Roost
from test_iot_data import data_client
from test_shadow import device

TIMEOUT = 30


def api_port(server: Roost) -> int:
    return urllib.parse.urlsplit(server.api_url).port


def presigned_path(server: Roost, host: str, secret: str | None = None, service: str = "iotdevicegateway") -> str:
    """`/mqtt?X-Amz-…` presigned for `host` as AWS's SDKs presign it (with `secret` instead of
    the right one, to sign badly)."""
    exports = server.exports
    credentials = Credentials(exports["AWS_ACCESS_KEY_ID"], secret or exports["AWS_SECRET_ACCESS_KEY"])
    request = AWSRequest(method="GET", url=f"http://{host}/mqtt")
    SigV4QueryAuth(credentials, service, exports["AWS_DEFAULT_REGION"], expires=300).add_auth(request)
    parts = urllib.parse.urlsplit(request.url)
    return f"{parts.path}?{parts.query}"


class WebSocketClient:
    """A paho-mqtt client over `ws://` that queues what it receives."""

    def __init__(self, server: Roost, client_id: str):
        self.host = f"127.0.0.1:{api_port(server)}"
        self.messages: queue.Queue = queue.Queue()
        self.acks: queue.Queue = queue.Queue()
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=client_id,
                                  transport="websockets", protocol=paho.MQTTv311)
        self.client.ws_set_options(path=presigned_path(server, self.host))
        self.client.on_connect = lambda c, u, flags, code, props: self.acks.put(("connack", code))
        self.client.on_subscribe = lambda c, u, mid, codes, props: self.acks.put(("suback", codes))
        self.client.on_message = lambda c, u, message: self.messages.put((message.topic, message.payload))

    def connect(self):
        self.client.connect("127.0.0.1", int(self.host.rsplit(":", 1)[1]), keepalive=30)
        self.client.loop_start()
        kind, code = self.acks.get(timeout=TIMEOUT)
        assert kind == "connack" and not code.is_failure, code

    def subscribe(self, topic_filter: str):
        self.client.subscribe(topic_filter, qos=1)
        kind, codes = self.acks.get(timeout=TIMEOUT)
        assert kind == "suback" and not codes[0].is_failure, codes

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()


def mosquitto(server: Roost, tool: str, cert: str, key: str, *args: str, **kwargs):
    exports = server.exports
    command = [tool, "--cafile", exports["ROOST_ROOT_CA"], "--cert", cert, "--key", key,
               "-h", exports["ROOST_MQTT_HOST"], "-p", exports["ROOST_MQTT_PORT"], *args]
    return command if kwargs.get("command_only") else subprocess.run(
        command, capture_output=True, text=True, timeout=TIMEOUT)


def test_a_presigned_websocket_client_receives_what_a_device_publishes(roost, tmp_path, unique):
    client_id = unique("browser")
    cert, key = device(roost, tmp_path, unique("sensor"))
    # A device watches the lifecycle events of the WebSocket client.
    watcher = subprocess.Popen(
        mosquitto(roost, "mosquitto_sub", cert, key, "-i", unique("watcher"), "-C", "1", "-W", str(TIMEOUT),
                  "-t", f"$aws/events/presence/connected/{client_id}", command_only=True),
        stdout=subprocess.PIPE, text=True)
    data = data_client(roost)
    ws = WebSocketClient(roost, client_id)
    try:
        # mosquitto_sub has subscribed once it has a connection of its own.
        _wait_connected(data, watcher, roost)
        ws.connect()
        ws.subscribe(f"telemetry/{client_id}/#")

        published = mosquitto(roost, "mosquitto_pub", cert, key, "-q", "1",
                              "-t", f"telemetry/{client_id}/temp", "-m", '{"celsius": 21}')
        assert published.returncode == 0, published.stderr
        topic, payload = ws.messages.get(timeout=TIMEOUT)
        assert topic == f"telemetry/{client_id}/temp"
        assert json.loads(payload) == {"celsius": 21}

        event = json.loads(watcher.communicate(timeout=TIMEOUT)[0])
        assert event["eventType"] == "connected"
        assert event["clientId"] == client_id
        assert event["principalIdentifier"] == roost.exports["AWS_ACCESS_KEY_ID"]

        described = data.get_connection(clientId=client_id, includeSocketInformation=True)
        assert described["connected"] is True
        assert described["keepAliveDuration"] == 30
        assert described["sourceIp"] == "127.0.0.1"
        subscriptions = data.list_subscriptions(clientId=client_id)["subscriptions"]
        assert [s["topicFilter"] for s in subscriptions] == [f"telemetry/{client_id}/#"]
    finally:
        ws.close()
        watcher.kill()


def _wait_connected(data, watcher: subprocess.Popen, roost: Roost):
    """Waits until the watcher's subscription is in place (ListSubscriptions shows it)."""
    args = watcher.args
    client_id = args[args.index("-i") + 1]
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        try:
            if data.get_connection(clientId=client_id)["connected"]:
                subscriptions = data.list_subscriptions(clientId=client_id)["subscriptions"]
                if subscriptions:
                    return
        except data.exceptions.ResourceNotFoundException:
            pass
        time.sleep(0.05)
    raise AssertionError("the watcher never subscribed")


def raw_upgrade(server: Roost, path: str) -> tuple[int, str]:
    """Sends a WebSocket upgrade for `path` by hand; the status and the rest of the answer."""
    port = api_port(server)
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        sock.sendall((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                      "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                      "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n").encode())
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
    head = answer.decode(errors="replace")
    return int(head.split(" ", 2)[1]), head


def test_an_unsigned_or_badly_signed_upgrade_is_refused_and_connects_nothing(fresh_roost):
    roost = fresh_roost
    host = f"127.0.0.1:{api_port(roost)}"
    for path in ["/mqtt",
                 presigned_path(roost, host, secret="not-the-secret"),
                 presigned_path(roost, host, service="iot")]:
        status, head = raw_upgrade(roost, path)
        assert status == 403, head
        assert "x-amzn-errortype" in head.lower(), head
        assert "x-amzn-requestid" in head.lower(), head
        assert _connections_gauge(roost) == 0
    status, head = raw_upgrade(roost, presigned_path(roost, host))
    assert status == 101, head
    assert "sec-websocket-protocol: mqtt" in head.lower(), head
    # The accepted upgrade sent no CONNECT and was closed: nothing connected at any point.
    assert _connections_gauge(roost) == 0


def _connections_gauge(server: Roost) -> float:
    text = server.raw("GET", "/metrics", sign=False).text
    for line in text.splitlines():
        if line.startswith("roost_mqtt_connections "):
            return float(line.split()[1])
    return 0.0


# -- the Device SDK's websocket builder on the TLS listener ---------------------------------------

@pytest.fixture(scope="module")
def wss_roost(tmp_path_factory):
    base = tmp_path_factory.mktemp("wss")
    server = Roost(base / "data", "wss", ["--wss-listen", "127.0.0.1:0"]).start()
    yield server
    assert server.stop() == 0, server.stderr_text()


def test_the_device_sdk_websocket_builder_publishes_and_receives_over_wss(wss_roost, tmp_path):
    from concurrent.futures import Future

    from awscrt import auth, mqtt
    from awsiot import mqtt_connection_builder

    exports = wss_roost.exports
    wss_port = json.loads((wss_roost.data_dir / "endpoints.json").read_text())["wssPort"]
    credentials = auth.AwsCredentialsProvider.new_static(
        exports["AWS_ACCESS_KEY_ID"], exports["AWS_SECRET_ACCESS_KEY"])
    connection = mqtt_connection_builder.websockets_with_default_aws_signing(
        region=exports["AWS_DEFAULT_REGION"], credentials_provider=credentials,
        endpoint=exports["ROOST_MQTT_HOST"], port=wss_port, ca_filepath=exports["ROOST_ROOT_CA"],
        client_id="sdk-over-wss", clean_session=True, keep_alive_secs=30)
    connection.connect().result(TIMEOUT)
    try:
        echoed: Future = Future()
        subscribed, _ = connection.subscribe(
            "sdk/echo", mqtt.QoS.AT_LEAST_ONCE,
            lambda topic, payload, **kw: echoed.done() or echoed.set_result((topic, payload)))
        subscribed.result(TIMEOUT)
        published, _ = connection.publish("sdk/echo", b'{"hello": "wss"}', mqtt.QoS.AT_LEAST_ONCE)
        published.result(TIMEOUT)
        assert echoed.result(TIMEOUT) == ("sdk/echo", b'{"hello": "wss"}')

        # A certificate device over mTLS receives what the SDK publishes over WebSocket.
        cert, key = device(wss_roost, tmp_path, "wss-listener")
        sub = subprocess.Popen(
            mosquitto(wss_roost, "mosquitto_sub", cert, key, "-i", "wss-listener", "-C", "1",
                      "-W", str(TIMEOUT), "-t", "sdk/to-devices", command_only=True),
            stdout=subprocess.PIPE, text=True)
        try:
            _wait_connected(data_client(wss_roost), sub, wss_roost)
            connection.publish("sdk/to-devices", b"over wss", mqtt.QoS.AT_LEAST_ONCE)[0].result(TIMEOUT)
            assert sub.communicate(timeout=TIMEOUT)[0].strip() == "over wss"
        finally:
            sub.kill()

        described = data_client(wss_roost).get_connection(clientId="sdk-over-wss")
        assert described["connected"] is True
    finally:
        connection.disconnect().result(TIMEOUT)


# -- limits: an upgraded connection is the broker's, not the HTTP server's -------------------------

LIMITS = """
[api]
max_connections = 1
header_read_timeout_secs = 1

[mqtt]
max_connections = 1
"""


def test_an_upgraded_connection_leaves_the_http_limits_and_counts_against_mqtts(tmp_path):
    (tmp_path / "roost.toml").write_text(LIMITS)
    server = Roost(tmp_path / "data", "limits", ["--config", str(tmp_path / "roost.toml")]).start()
    ws = WebSocketClient(server, "only-one")
    try:
        ws.connect()
        ws.subscribe("limits/#")
        # The broker is full: a further signed upgrade is refused before it is upgraded.
        host = f"127.0.0.1:{api_port(server)}"
        status, head = raw_upgrade(server, presigned_path(server, host))
        assert status == 503, head
        # Well past the HTTP header deadline, the WebSocket is still open, and it holds no HTTP
        # connection slot: the only one serves this Publish.
        time.sleep(2.5)
        data_client(server).publish(topic="limits/still-here", qos=1, payload=b"yes")
        assert ws.messages.get(timeout=TIMEOUT) == ("limits/still-here", b"yes")
    finally:
        ws.close()
        assert server.stop() == 0, server.stderr_text()
