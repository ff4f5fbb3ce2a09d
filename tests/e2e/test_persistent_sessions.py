"""Persistent MQTT sessions survive a SIGKILL once acknowledged: a mosquitto client with
clean session 0 subscribes and leaves, QoS 1 messages are published to it (each PUBACK comes
after the write), the server is killed and started again, and the client gets them on return."""

from __future__ import annotations

import time

from test_iot_data import data_client
from test_shadow import device, mosquitto

TIMEOUT = 30


def kill_and_restart(server) -> None:
    server.proc.kill()
    server.proc.wait()
    server._stderr.close()
    server.proc = None
    server.start()


def wait_disconnected(server, client_id: str) -> None:
    """Waits until the server has handled the client's DISCONNECT (so it has read every
    acknowledgement sent before it): its session is then stored and offline."""
    data = data_client(server)
    deadline = time.monotonic() + TIMEOUT
    while data.get_connection(clientId=client_id)["connected"]:
        assert time.monotonic() < deadline, f"{client_id} still shown connected"
        time.sleep(0.02)


def test_a_persistent_session_and_its_queued_messages_survive_a_sigkill(fresh_roost, tmp_path):
    cert, key = device(fresh_roost, tmp_path, "sleeper")
    # Subscribe with clean session 0, and exit once the SUBACK came (a normal DISCONNECT).
    subscribed = mosquitto(fresh_roost, "mosquitto_sub", cert, key, "-c", "-i", "sleeper", "-q", "1",
                           "-t", "alerts/#", "-E")
    assert subscribed.returncode == 0, subscribed.stderr
    for n in ("1", "2"):
        published = mosquitto(fresh_roost, "mosquitto_pub", cert, key, "-i", f"alarm-{n}", "-q", "1",
                              "-t", f"alerts/{n}", "-m", f"alert {n}")
        assert published.returncode == 0, published.stderr
    kill_and_restart(fresh_roost)

    woken = mosquitto(fresh_roost, "mosquitto_sub", cert, key, "-c", "-i", "sleeper", "-q", "1",
                      "-t", "alerts/#", "-C", "2", "-W", str(TIMEOUT), "-v")
    assert woken.returncode == 0, woken.stderr
    assert woken.stdout.splitlines() == ["alerts/1 alert 1", "alerts/2 alert 2"]

    # Received and acknowledged: not delivered again after a restart, once the server has read
    # the acknowledgements (had it stopped before, it would deliver them again: QoS 1 is at
    # least once).
    wait_disconnected(fresh_roost, "sleeper")
    assert fresh_roost.stop() == 0
    fresh_roost.start()
    again = mosquitto(fresh_roost, "mosquitto_sub", cert, key, "-c", "-i", "sleeper", "-q", "1",
                      "-t", "alerts/#", "-C", "1", "-W", "3", "-v")
    assert again.stdout == "", again.stdout


def test_a_clean_session_ends_the_stored_one_for_good(fresh_roost, tmp_path):
    cert, key = device(fresh_roost, tmp_path, "cleaner")
    subscribed = mosquitto(fresh_roost, "mosquitto_sub", cert, key, "-c", "-i", "cleaner", "-q", "1",
                           "-t", "chores/#", "-E")
    assert subscribed.returncode == 0, subscribed.stderr
    # A clean-session connection under the same client id ends the stored session.
    cleaned = mosquitto(fresh_roost, "mosquitto_sub", cert, key, "-i", "cleaner", "-q", "1",
                        "-t", "other", "-E")
    assert cleaned.returncode == 0, cleaned.stderr
    published = mosquitto(fresh_roost, "mosquitto_pub", cert, key, "-i", "chore-1", "-q", "1",
                          "-t", "chores/1", "-m", "dishes")
    assert published.returncode == 0, published.stderr
    kill_and_restart(fresh_roost)
    back = mosquitto(fresh_roost, "mosquitto_sub", cert, key, "-c", "-i", "cleaner", "-q", "1",
                     "-t", "chores/#", "-C", "1", "-W", "3", "-v")
    assert back.stdout == "", back.stdout
