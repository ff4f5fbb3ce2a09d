"""Roost as a cluster: three `roost serve` nodes on one real PostgreSQL registry and one real
NATS server, driven with real MQTT clients (paho over mTLS) and the AWS CLI.

The nodes share the registry (a certificate created through node 1 connects to node 3; a
revocation through node 2 cuts a device on node 3), the server CA and the admin keys (taken
from the database by the nodes that start after the first), and route messages over NATS:
subscribers on other nodes get each message once, a shared subscription's group gets each
message once cluster-wide, and a retained message stored through one node is served by all.
A node that loses NATS refuses new connections with the reason and takes them again when
NATS is back."""

from __future__ import annotations

import json
import queue
import subprocess
import threading
import time
import urllib.error
import urllib.request

import paho.mqtt.client as paho
import pytest

from certs import certificate_id
from cluster_servers import Nats, Postgres
from conftest import ROOST_BIN, Roost, server_environment
from test_iot_data import data_client
from test_shadow import device

TIMEOUT = 30


class Cluster:
    def __init__(self, nodes: list[Roost], postgres: Postgres, nats: Nats):
        self.nodes = nodes
        self.postgres = postgres
        self.nats = nats


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    base = tmp_path_factory.mktemp("cluster")
    postgres = Postgres().start()
    nats = Nats(base).start()
    nodes: list[Roost] = []
    try:
        for i in (1, 2, 3):
            node = Roost(base / f"node{i}" / "data", f"node{i}", [
                "--database-url", postgres.url, "--nats-url", nats.url, "--node-id", f"node{i}"])
            nodes.append(node.start())
        yield Cluster(nodes, postgres, nats)
    finally:
        codes = {}
        for node in nodes:
            if node.proc is not None:
                codes[node.name] = node.stop()
        nats.stop()
        postgres.remove()
    assert all(code == 0 for code in codes.values()), f"exit codes: {codes}"


class Device:
    """A paho MQTT client over mTLS to one node, collecting what it receives."""

    def __init__(self, node: Roost, cert: str, key: str, client_id: str, clean: bool = True):
        self.node = node
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=client_id,
                                  clean_session=clean, protocol=paho.MQTTv311,
                                  reconnect_on_failure=False)
        self.client.tls_set(ca_certs=node.exports["ROOST_ROOT_CA"], certfile=cert, keyfile=key)
        self.messages: queue.Queue = queue.Queue()
        self.connack = queue.Queue()
        self.subacks = queue.Queue()
        self.disconnected_at: float | None = None
        self.gone = threading.Event()
        self.session_present: bool | None = None
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda c, u, mid, codes, p: self.subacks.put(codes)
        self.client.on_message = lambda c, u, m: self.messages.put((m.topic, m.payload.decode(), m.retain))
        self.client.on_disconnect = self._on_disconnect

    def _on_connect(self, client, userdata, flags, rc, properties):
        self.session_present = flags.session_present
        self.connack.put(rc)

    def _on_disconnect(self, client, userdata, flags, rc, properties):
        self.disconnected_at = time.monotonic()
        self.gone.set()

    def connect(self) -> "Device":
        rc = self.try_connect()
        assert not rc.is_failure, f"CONNACK {rc}"
        return self

    def try_connect(self):
        self.client.connect(self.node.exports["ROOST_MQTT_HOST"], int(self.node.exports["ROOST_MQTT_PORT"]),
                            keepalive=30)
        self.client.loop_start()
        return self.connack.get(timeout=TIMEOUT)

    def subscribe(self, *filters: str, qos: int = 1) -> None:
        self.client.subscribe([(f, qos) for f in filters])
        codes = self.subacks.get(timeout=TIMEOUT)
        assert all(not c.is_failure for c in codes), codes

    def publish(self, topic: str, payload: str, qos: int = 1, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=qos, retain=retain).wait_for_publish(TIMEOUT)

    def received(self, settle: float = 0.5) -> list[tuple[str, str, bool]]:
        """Everything received until nothing more came for `settle` seconds."""
        out = []
        while True:
            try:
                out.append(self.messages.get(timeout=settle))
            except queue.Empty:
                return out

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def devices(cluster, tmp_path):
    """Makes devices whose certificate (with an allow-all policy) was created through node 1."""
    made: list[Device] = []
    cert, key = device(cluster.nodes[0], tmp_path, f"dev-{time.monotonic_ns()}")

    def make(node: int, client_id: str, clean: bool = True) -> Device:
        d = Device(cluster.nodes[node], cert, key, client_id, clean)
        made.append(d)
        return d

    yield make
    for d in made:
        d.close()


def wait_until_routed(publisher: Device, topic: str, receivers: list[Device]) -> None:
    """Publishes probes until every receiver got one: a subscription reaches the other nodes
    through NATS a moment after its SUBACK. Then drops the probes."""
    pending = list(receivers)
    deadline = time.monotonic() + TIMEOUT
    n = 0
    while pending:
        assert time.monotonic() < deadline, "a subscription never reached the publisher's node"
        publisher.publish(topic, f"probe-{n}", qos=0)
        n += 1
        time.sleep(0.1)
        pending = [r for r in pending if r.messages.empty()]
    time.sleep(0.3)
    for r in receivers:
        r.received(settle=0.2)


def test_a_message_published_on_one_node_reaches_subscribers_on_every_node_once(cluster, devices):
    publisher = devices(0, "pub-1").connect()
    local = devices(0, "sub-local").connect()
    second = devices(1, "sub-2").connect()
    third = devices(2, "sub-3").connect()
    local.subscribe("fan/#")
    # Overlapping filters on one node: NATS sends that node two copies; it delivers one.
    second.subscribe("fan/#", "fan/+/x")
    third.subscribe("fan/a/x")
    receivers = [local, second, third]
    wait_until_routed(publisher, "fan/a/x", receivers)

    duplicates = metric(cluster.nodes[1], "roost_cluster_duplicates_dropped_total")
    sent = [f"m{i}" for i in range(20)]
    for payload in sent:
        publisher.publish("fan/a/x", payload)
    for r in receivers:
        got = [p for (_, p, _) in r.received()]
        assert got == sent, f"{r.client._client_id!r} got {got}"
    # Node 2 did receive each message twice from NATS, and dropped the second copy.
    assert metric(cluster.nodes[1], "roost_cluster_duplicates_dropped_total") - duplicates == 20


def test_a_node_with_no_subscriber_receives_nothing_of_a_topic(cluster, devices):
    publisher = devices(0, "pub-quiet").connect()
    listener = devices(1, "sub-quiet").connect()
    listener.subscribe("loud/#")
    wait_until_routed(publisher, "loud/x", [listener])
    before = metric(cluster.nodes[2], "roost_cluster_messages_received_total")
    for i in range(10):
        publisher.publish("loud/x", f"m{i}")
    assert len(listener.received()) == 10
    assert metric(cluster.nodes[2], "roost_cluster_messages_received_total") == before


def test_a_node_sends_the_bus_only_what_another_node_wants(cluster, devices):
    publisher = devices(0, "pub-lonely").connect()
    local = devices(0, "sub-lonely-local").connect()
    local.subscribe("lonely/#")
    time.sleep(0.3)

    def sent_by_publisher_node() -> float:
        return metric(cluster.nodes[0], "roost_cluster_messages_sent_total")

    before = sent_by_publisher_node()
    for i in range(10):
        publisher.publish("lonely/x", f"here{i}")
    assert len(local.received()) == 10
    assert sent_by_publisher_node() == before, "no other node wants lonely/#: nothing is sent"

    remote = devices(2, "sub-lonely-remote").connect()
    remote.subscribe("lonely/+")
    wait_until_routed(publisher, "lonely/x", [remote])
    local.received(settle=0.2)
    before = sent_by_publisher_node()
    for i in range(10):
        publisher.publish("lonely/x", f"there{i}")
    assert [p for (_, p, _) in remote.received()] == [f"there{i}" for i in range(10)]
    assert sent_by_publisher_node() - before == 10

    # Once the remote subscriber is gone, its node's interest goes with it.
    remote.close()
    deadline = time.monotonic() + TIMEOUT
    while True:
        before = sent_by_publisher_node()
        publisher.publish("lonely/x", "after")
        time.sleep(0.2)
        if sent_by_publisher_node() == before:
            break
        assert time.monotonic() < deadline, "node 1 went on sending what nobody wants"


def test_a_shared_subscription_across_nodes_gets_each_message_once(devices):
    publisher = devices(1, "pub-shared").connect()
    members = [devices(i, f"worker-{i}").connect() for i in (0, 1, 2)]
    for m in members:
        m.subscribe("$share/workers/jobs/#")
    # Probes go to one member each; wait until some member gets them, then for the others'
    # queue subscriptions to settle.
    deadline = time.monotonic() + TIMEOUT
    while all(m.messages.empty() for m in members):
        assert time.monotonic() < deadline, "no member got a probe"
        publisher.publish("jobs/probe", "probe", qos=0)
        time.sleep(0.1)
    time.sleep(0.5)
    for m in members:
        m.received(settle=0.2)

    sent = [f"job{i}" for i in range(60)]
    for payload in sent:
        publisher.publish("jobs/work", payload)
    got = [p for m in members for (_, p, _) in m.received()]
    assert sorted(got) == sorted(sent), "each message once, to one member"


def test_a_retained_message_stored_through_one_node_is_served_by_the_others(devices):
    publisher = devices(0, "pub-retained").connect()
    publisher.publish("state/lamp", "on", retain=True)
    deadline = time.monotonic() + TIMEOUT
    for node in (1, 2):
        while True:
            reader = devices(node, f"reader-{node}-{time.monotonic_ns()}").connect()
            reader.subscribe("state/+")
            got = reader.received(settle=0.3)
            reader.close()
            if got:
                assert got == [("state/lamp", "on", True)]
                break
            assert time.monotonic() < deadline, f"node {node + 1} never served the retained message"


def test_a_shadow_updated_through_one_node_is_the_same_shadow_on_every_node(cluster, devices):
    thing = f"lamp-{time.monotonic_ns()}"
    cluster.nodes[0].aws("create-thing", "--thing-name", thing)
    watcher = devices(1, "shadow-watcher").connect()
    watcher.subscribe(f"$aws/things/{thing}/shadow/update/accepted")
    lamp = devices(2, "shadow-lamp").connect()
    # Updates until the watcher on node 2 hears one accepted on node 3 (its subscription
    # reaches node 3 a moment after its SUBACK); each is a new version.
    deadline = time.monotonic() + TIMEOUT
    updates = 0
    while watcher.messages.empty():
        assert time.monotonic() < deadline, "no accepted update crossed to the watcher"
        updates += 1
        lamp.publish(f"$aws/things/{thing}/shadow/update",
                     json.dumps({"state": {"reported": {"on": True, "n": updates}}}))
        time.sleep(0.1)
    watcher.received(settle=0.3)
    lamp.publish(f"$aws/things/{thing}/shadow/update",
                 json.dumps({"state": {"reported": {"brightness": 80}}}))
    [(_, accepted, _)] = watcher.received()
    assert json.loads(accepted)["state"]["reported"] == {"brightness": 80}

    # Node 1 reads what node 3 wrote, from PostgreSQL, with the real iot-data client.
    shadow = json.loads(data_client(cluster.nodes[0]).get_thing_shadow(thingName=thing)["payload"].read())
    assert shadow["state"]["reported"] == {"on": True, "n": updates, "brightness": 80}
    assert shadow["version"] == updates + 1
    # And a desired state set through node 1's API reaches the lamp's node as a delta.
    lamp.subscribe(f"$aws/things/{thing}/shadow/update/delta")
    data = data_client(cluster.nodes[0])
    deadline = time.monotonic() + TIMEOUT
    while lamp.messages.empty():
        assert time.monotonic() < deadline, "no delta crossed to the lamp"
        data.update_thing_shadow(thingName=thing,
                                 payload=json.dumps({"state": {"desired": {"brightness": 20}}}))
        time.sleep(0.2)
    (_, delta, _) = lamp.received()[0]
    assert json.loads(delta)["state"] == {"brightness": 20}


def test_revoking_a_certificate_through_one_node_cuts_its_device_on_another_within_a_second(
        cluster, tmp_path):
    node2, node3 = cluster.nodes[1], cluster.nodes[2]
    cert, key = device(node2, tmp_path, "revoked-later")
    cert_id = certificate_id(open(cert).read())
    victim = Device(node3, cert, key, "victim").connect()
    try:
        started = time.monotonic()
        node2.aws("update-certificate", "--certificate-id", cert_id, "--new-status", "REVOKED",
                  expect_json=False)
        assert victim.gone.wait(TIMEOUT), "the device on node 3 was not cut"
        elapsed = victim.disconnected_at - started
        assert elapsed < 1.0, f"cut after {elapsed:.2f} s"
        again = Device(node3, cert, key, "victim-again")
        rc = again.try_connect()
        again.client.loop_stop()
        assert rc.is_failure, "a revoked certificate connected again"
    finally:
        victim.client.loop_stop()


def test_a_client_id_connecting_on_another_node_takes_over_the_first(devices):
    first = devices(0, "roamer").connect()
    second = devices(1, "roamer").connect()
    assert first.gone.wait(TIMEOUT), "the connection on node 1 was not taken over"
    assert not second.gone.is_set()


def test_a_clean_start_on_another_node_ends_the_session_the_first_node_held(devices):
    first = devices(0, "wanderer", clean=False).connect()
    first.subscribe("wanderer/#")
    clean = devices(1, "wanderer", clean=True).connect()
    assert first.gone.wait(TIMEOUT), "the connection on node 1 was not taken over"
    clean.close()
    time.sleep(0.5)  # node 1 closed, stored and then ended the session it held
    later = devices(2, "wanderer", clean=False).connect()
    assert later.session_present is False, "a session taken with Clean Start came back"


def test_a_persistent_session_moves_to_another_node_with_its_queued_messages(devices):
    publisher = devices(1, "pub-queue").connect()
    sleeper = devices(0, "sleeper", clean=False).connect()
    sleeper.subscribe("inbox/sleeper/#")
    wait_until_routed(publisher, "inbox/sleeper/probe", [sleeper])
    sleeper.close()
    time.sleep(0.5)  # node 1 stores the session as its client leaves
    sent = [f"q{i}" for i in range(5)]
    for payload in sent:
        publisher.publish("inbox/sleeper/x", payload, qos=1)
    time.sleep(0.5)  # they cross to node 1, which queues them for the offline session
    woken = devices(2, "sleeper", clean=False).connect()
    assert woken.session_present, "node 3 did not resume the session node 1 held"
    assert [p for (_, p, _) in woken.received(settle=1.0)] == sent
    # The session's subscriptions moved too: what is published now reaches it on node 3.
    publisher.publish("inbox/sleeper/x", "after", qos=1)
    assert [p for (_, p, _) in woken.received()] == ["after"]


def test_clients_of_a_killed_node_find_their_session_and_retained_messages_on_another(
        cluster, devices):
    publisher = devices(0, "pub-kill").connect()
    publisher.publish("beacon/last", "here", retain=True)
    survivor = devices(1, "survivor", clean=False).connect()
    survivor.subscribe("orders/#")
    time.sleep(0.5)  # the subscription is written before the SUBACK; let the retained cross
    node2 = cluster.nodes[1]
    node2.proc.kill()
    node2.proc.wait()
    try:
        assert survivor.gone.wait(TIMEOUT)
        moved = devices(2, "survivor", clean=False).connect()
        assert moved.session_present, "the session of the killed node was not restored"
        wait_until_routed(publisher, "orders/probe", [moved])
        publisher.publish("orders/1", "pizza", qos=1)
        assert [p for (_, p, _) in moved.received()] == ["pizza"]
        moved.subscribe("beacon/+")
        assert moved.received() == [("beacon/last", "here", True)]
    finally:
        node2._stderr.close()
        node2.proc = None
        node2.start()


def test_a_jitp_storm_over_the_three_nodes_provisions_each_device_exactly_once(cluster, tmp_path):
    """Every device connects to all three nodes at the same moment on its first connect."""
    from concurrent.futures import ThreadPoolExecutor

    from test_jitp import WALKTHROUGH_TEMPLATE, Walkthrough, published

    w = Walkthrough(cluster.nodes[0], tmp_path / "storm")
    w.root_ca()
    (w.dir / "provisioning-template.json").write_text(WALKTHROUGH_TEMPLATE)
    w.verification_cert()
    ca_id = w.register_ca("--registration-config", f"file://{w.dir}/provisioning-template.json")["certificateId"]
    names = [f"storm{i}" for i in range(12)]
    ids = {name: w.device(name, f"/C=US/CN={name}") for name in names}

    def first_connect(name: str, node: Roost) -> bool:
        exports = node.exports
        result = subprocess.run(
            ["mosquitto_pub", "--cafile", exports["ROOST_ROOT_CA"], "--cert", f"{name}AndCACert.crt",
             "--key", f"{name}.key", "-h", exports["ROOST_MQTT_HOST"], "-p", exports["ROOST_MQTT_PORT"],
             "-q", "1", "-t", "storm/x", "-i", f"{name}-{node.name}", "--tls-version", "tlsv1.2",
             "-m", "hello", "-d"], cwd=w.dir, capture_output=True, text=True, timeout=TIMEOUT)
        return published(result)

    with ThreadPoolExecutor(max_workers=len(names) * 3) as pool:
        outcomes = list(pool.map(lambda job: first_connect(*job),
                                 [(name, node) for name in names for node in cluster.nodes]))
    assert sum(outcomes) >= len(names) // 2, f"only {sum(outcomes)} of {len(outcomes)} first connects got in"
    # A connection that lost a race (the same device, or the template's shared policy, written
    # through another node at the same moment) was refused "server unavailable"; devices retry.
    for i, name in enumerate(names):
        node = cluster.nodes[i % 3]
        for _ in range(5):
            if first_connect(name, node):
                break
            time.sleep(0.2)
        else:
            raise AssertionError(f"{name} never got in through {node.name}")
    things = {t["thingName"] for t in w.aws("list-things")["things"]}
    for name, cert_id in ids.items():
        assert cert_id in things, f"{name} was not provisioned"
        cert_arn = f"arn:aws:iot:us-east-1:123456789012:cert/{cert_id}"
        assert w.aws("list-thing-principals", "--thing-name", cert_id)["principals"] == [cert_arn]
        description = w.aws("describe-certificate", "--certificate-id", cert_id)["certificateDescription"]
        assert description["status"] == "ACTIVE" and description["caCertificateId"] == ca_id
        assert len(w.aws("list-attached-policies", "--target", cert_arn)["policies"]) == 1
    # And every device now connects to every node.
    for name in names:
        for node in cluster.nodes:
            assert first_connect(name, node), f"{name} refused by {node.name} after provisioning"


def test_a_restarted_node_catches_up_on_what_changed_while_it_was_down(cluster, tmp_path):
    node1, node2 = cluster.nodes[0], cluster.nodes[1]
    assert node1.stop() == 0
    try:
        cert, key = device(node2, tmp_path, "made-while-away")
        # A subscription made while node 1 is away: the restarted node learns of it from
        # node 2's snapshot of its filters, not from a change it saw.
        listener = Device(node2, cert, key, "listens-while-away").connect()
        listener.subscribe("while-away/#")
        revoked_cert, revoked_key = device(node2, tmp_path, "revoked-while-away")
        node2.aws("update-certificate", "--new-status", "REVOKED", "--certificate-id",
                  certificate_id(open(revoked_cert).read()),
                  expect_json=False)
    finally:
        node1.start()
    talker = Device(node1, cert, key, "made-while-away").connect()
    deadline = time.monotonic() + TIMEOUT
    while listener.messages.empty():
        assert time.monotonic() < deadline, "the restarted node never sent node 2 what it wants"
        talker.publish("while-away/x", "back", qos=0)
        time.sleep(0.2)
    talker.close()
    listener.close()
    refused = Device(node1, revoked_cert, revoked_key, "revoked-while-away")
    rc = refused.try_connect()
    refused.client.loop_stop()
    assert rc.is_failure


def test_a_cluster_without_postgresql_is_a_startup_error(tmp_path):
    run = subprocess.run([ROOST_BIN, "serve", "--data-dir", str(tmp_path / "data"),
                          "--nats-url", "nats://127.0.0.1:4222", "--api-listen", "127.0.0.1:0",
                          "--mqtt-listen", "127.0.0.1:0"],
                         capture_output=True, text=True, timeout=TIMEOUT, env=server_environment())
    assert run.returncode != 0
    assert "PostgreSQL" in run.stderr, run.stderr


def health(node: Roost) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(node.api_url + "/health", timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def wait_health(node: Roost, status: int, why: str) -> dict:
    """Waits until `/health` answers `status`; returns its body."""
    deadline = time.monotonic() + TIMEOUT
    while (answer := health(node))[0] != status:
        assert time.monotonic() < deadline, why
        time.sleep(0.1)
    return answer[1]


def metric(node: Roost, name: str) -> float:
    with urllib.request.urlopen(node.api_url + "/metrics", timeout=5) as response:
        text = response.read().decode()
    return sum(float(line.split()[-1]) for line in text.splitlines()
               if line.startswith(name + " ") or line.startswith(name + "{"))


def test_a_node_that_loses_nats_refuses_new_connections_and_recovers(cluster, devices):
    node = cluster.nodes[1]
    assert health(node) == (200, {"status": "ok"})
    cluster.nats.stop()
    try:
        body = wait_health(node, 503, "the node did not notice NATS was gone")
        assert "NATS" in body["reason"]
        refused = devices(1, "while-nats-down")
        rc = refused.try_connect()
        assert rc == "Server unavailable", rc
    finally:
        cluster.nats.start()
    wait_health(node, 200, "the node did not recover when NATS came back")
    devices(1, "after-nats-back").connect()


def test_a_node_that_loses_postgresql_refuses_new_connections_and_recovers(cluster, devices):
    node = cluster.nodes[2]
    cluster.postgres.stop()
    try:
        body = wait_health(node, 503, "the node did not notice PostgreSQL was gone")
        assert "PostgreSQL" in body["reason"]
        rc = devices(2, "while-postgres-down").try_connect()
        assert rc == "Server unavailable", rc
    finally:
        cluster.postgres.start()
    wait_health(node, 200, "the node did not recover when PostgreSQL came back")
    devices(2, "after-postgres-back").connect()
    # Writes work again: the registry's writer opens a new connection after the first failure.
    deadline = time.monotonic() + TIMEOUT
    while True:
        created = node.aws_raw("create-thing", "--thing-name", "after-postgres-back")
        if created.returncode == 0:
            break
        assert time.monotonic() < deadline, created.stderr
        time.sleep(0.2)
