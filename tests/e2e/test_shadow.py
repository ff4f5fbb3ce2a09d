"""Device Shadow over MQTT with AWS's own device code: the AWS IoT Device SDK v2 for Python's
shadow client (`awsiot.iotshadow`) runs update → delta → get → delete against a real
`roost serve`, unmodified (only endpoint, CA and certificate given); mosquitto clients do the
same by hand; and shadows survive a SIGKILL once accepted."""

from __future__ import annotations

import json
import subprocess
import time
from concurrent.futures import Future
from pathlib import Path

from awscrt import mqtt
from awsiot import iotshadow, mqtt_connection_builder

from conftest import Roost

TIMEOUT = 30
ALLOW_ALL = json.dumps({"Version": "2012-10-17",
                        "Statement": [{"Effect": "Allow", "Action": "iot:*", "Resource": "*"}]})


def device(server: Roost, workdir: Path, name: str) -> tuple[str, str]:
    """An ACTIVE certificate from CreateKeysAndCertificate with an allow-all policy."""
    workdir.mkdir(parents=True, exist_ok=True)
    cert, key = workdir / f"{name}.pem", workdir / f"{name}.key"
    created = server.aws("create-keys-and-certificate", "--set-as-active",
                         "--certificate-pem-outfile", str(cert), "--private-key-outfile", str(key))
    server.aws("create-policy", "--policy-name", f"shadow-{name}", "--policy-document", ALLOW_ALL)
    server.aws("attach-policy", "--policy-name", f"shadow-{name}", "--target", created["certificateArn"])
    return str(cert), str(key)


def connect(server: Roost, cert: str, key: str, client_id: str) -> mqtt.Connection:
    exports = server.exports
    connection = mqtt_connection_builder.mtls_from_path(
        endpoint=exports["ROOST_MQTT_HOST"], port=int(exports["ROOST_MQTT_PORT"]),
        cert_filepath=cert, pri_key_filepath=key, ca_filepath=exports["ROOST_ROOT_CA"],
        client_id=client_id, clean_session=True, keep_alive_secs=30)
    connection.connect().result(TIMEOUT)
    return connection


def answered(subscribe, request) -> Future:
    """Subscribes with `subscribe(request, qos, callback)`; the future gets the first answer."""
    future: Future = Future()
    subscribed, _ = subscribe(request, mqtt.QoS.AT_LEAST_ONCE,
                              lambda answer: future.done() or future.set_result(answer))
    subscribed.result(TIMEOUT)
    return future


def test_the_sdk_shadow_client_runs_update_delta_get_delete(roost, tmp_path, unique):
    thing = unique("lamp")
    cert, key = device(roost, tmp_path, thing)
    connection = connect(roost, cert, key, thing)
    try:
        shadow = iotshadow.IotShadowClient(connection)
        accepted = answered(shadow.subscribe_to_update_shadow_accepted,
                            iotshadow.UpdateShadowSubscriptionRequest(thing_name=thing))
        rejected = answered(shadow.subscribe_to_update_shadow_rejected,
                            iotshadow.UpdateShadowSubscriptionRequest(thing_name=thing))
        delta = answered(shadow.subscribe_to_shadow_delta_updated_events,
                         iotshadow.ShadowDeltaUpdatedSubscriptionRequest(thing_name=thing))
        shadow.publish_update_shadow(iotshadow.UpdateShadowRequest(
            thing_name=thing, client_token="u1",
            state=iotshadow.ShadowState(desired={"color": "green", "on": True})),
            mqtt.QoS.AT_LEAST_ONCE).result(TIMEOUT)
        update = accepted.result(TIMEOUT)
        assert not rejected.done()
        assert update.client_token == "u1"
        assert update.version == 1
        assert update.state.desired == {"color": "green", "on": True}
        assert delta.result(TIMEOUT).state == {"color": "green", "on": True}

        got = answered(shadow.subscribe_to_get_shadow_accepted,
                       iotshadow.GetShadowSubscriptionRequest(thing_name=thing))
        shadow.publish_get_shadow(iotshadow.GetShadowRequest(thing_name=thing, client_token="g1"),
                                  mqtt.QoS.AT_LEAST_ONCE).result(TIMEOUT)
        document = got.result(TIMEOUT)
        assert document.client_token == "g1"
        assert document.version == 1
        assert document.state.desired == {"color": "green", "on": True}
        assert document.state.delta == {"color": "green", "on": True}

        deleted = answered(shadow.subscribe_to_delete_shadow_accepted,
                           iotshadow.DeleteShadowSubscriptionRequest(thing_name=thing))
        shadow.publish_delete_shadow(iotshadow.DeleteShadowRequest(thing_name=thing, client_token="d1"),
                                     mqtt.QoS.AT_LEAST_ONCE).result(TIMEOUT)
        gone = deleted.result(TIMEOUT)
        assert gone.version == 1
        assert gone.client_token == "d1"

        missing = answered(shadow.subscribe_to_get_shadow_rejected,
                           iotshadow.GetShadowSubscriptionRequest(thing_name=thing))
        shadow.publish_get_shadow(iotshadow.GetShadowRequest(thing_name=thing, client_token="g2"),
                                  mqtt.QoS.AT_LEAST_ONCE).result(TIMEOUT)
        error = missing.result(TIMEOUT)
        assert error.code == 404
    finally:
        connection.disconnect().result(TIMEOUT)


def test_the_sdk_updates_a_named_shadow_and_a_version_conflict_is_rejected(roost, tmp_path, unique):
    thing = unique("pump")
    cert, key = device(roost, tmp_path, thing)
    connection = connect(roost, cert, key, thing)
    try:
        shadow = iotshadow.IotShadowClient(connection)
        request = iotshadow.UpdateNamedShadowSubscriptionRequest(thing_name=thing, shadow_name="config")
        accepted = answered(shadow.subscribe_to_update_named_shadow_accepted, request)
        shadow.publish_update_named_shadow(iotshadow.UpdateNamedShadowRequest(
            thing_name=thing, shadow_name="config",
            state=iotshadow.ShadowState(reported={"rpm": 900})), mqtt.QoS.AT_LEAST_ONCE).result(TIMEOUT)
        assert accepted.result(TIMEOUT).version == 1
        rejected = answered(shadow.subscribe_to_update_named_shadow_rejected, request)
        shadow.publish_update_named_shadow(iotshadow.UpdateNamedShadowRequest(
            thing_name=thing, shadow_name="config", version=7, client_token="stale",
            state=iotshadow.ShadowState(reported={"rpm": 1000})), mqtt.QoS.AT_LEAST_ONCE).result(TIMEOUT)
        error = rejected.result(TIMEOUT)
        assert error.code == 409
        assert error.message == "Version conflict"
        assert error.client_token == "stale"
    finally:
        connection.disconnect().result(TIMEOUT)


def mosquitto(server: Roost, tool: str, cert: str, key: str, *args: str, timeout: float = TIMEOUT):
    exports = server.exports
    return subprocess.run(
        [tool, "--cafile", exports["ROOST_ROOT_CA"], "--cert", cert, "--key", key,
         "-h", exports["ROOST_MQTT_HOST"], "-p", exports["ROOST_MQTT_PORT"], *args],
        capture_output=True, text=True, timeout=timeout)


def get_with_mosquitto(server: Roost, cert: str, key: str, thing: str) -> dict:
    """Subscribes to get/accepted, publishes get, returns the document."""
    sub = subprocess.Popen(
        ["mosquitto_sub", "--cafile", server.exports["ROOST_ROOT_CA"], "--cert", cert, "--key", key,
         "-h", server.exports["ROOST_MQTT_HOST"], "-p", server.exports["ROOST_MQTT_PORT"],
         "-t", f"$aws/things/{thing}/shadow/get/accepted", "-C", "1", "-W", str(TIMEOUT), "-q", "1",
         "-i", f"{thing}-reader"],
        stdout=subprocess.PIPE, text=True)
    try:
        # mosquitto_sub subscribes once connected; retry the request until it answers.
        for _ in range(50):
            published = mosquitto(server, "mosquitto_pub", cert, key,
                                  "-t", f"$aws/things/{thing}/shadow/get", "-m", "{}", "-q", "1",
                                  "-i", f"{thing}-asker")
            assert published.returncode == 0, published.stderr
            try:
                out, _ = sub.communicate(timeout=0.3)
                return json.loads(out)
            except subprocess.TimeoutExpired:
                continue
        raise AssertionError("no get/accepted")
    finally:
        if sub.poll() is None:
            sub.kill()


def test_mosquitto_clients_update_and_read_a_shadow_that_survives_a_sigkill(fresh_roost, tmp_path):
    thing = "kettle"
    cert, key = device(fresh_roost, tmp_path, thing)
    published = mosquitto(fresh_roost, "mosquitto_pub", cert, key,
                          "-t", f"$aws/things/{thing}/shadow/update", "-q", "1", "-i", "kettle",
                          "-m", json.dumps({"state": {"reported": {"temp": 96}}}))
    assert published.returncode == 0, published.stderr
    # Wait for the update to be accepted (durable) before the kill.
    deadline = time.monotonic() + TIMEOUT
    while True:
        document = get_with_mosquitto(fresh_roost, cert, key, thing)
        if document.get("state", {}).get("reported", {}).get("temp") == 96:
            break
        assert time.monotonic() < deadline, document
    fresh_roost.proc.kill()
    fresh_roost.proc.wait()
    fresh_roost._stderr.close()
    fresh_roost.proc = None
    fresh_roost.start()
    document = get_with_mosquitto(fresh_roost, cert, key, thing)
    assert document["state"]["reported"] == {"temp": 96}
    assert document["version"] == 1
