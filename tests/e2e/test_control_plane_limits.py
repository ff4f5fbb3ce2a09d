"""The control plane under abuse: slow or silent clients are cut at the header deadline, open
connections are capped, an unsigned request is refused before its body is read, and an
`x-amz*` header added after signing is refused — while the real CLI and boto3 keep working."""

from __future__ import annotations

import socket
import time
import urllib.parse
import urllib.request
from urllib.error import HTTPError

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from conftest import Roost

HEADER_TIMEOUT_S = 2
MAX_CONNECTIONS = 8


@pytest.fixture(scope="module")
def strict(tmp_path_factory):
    base = tmp_path_factory.mktemp("strict")
    config = base / "roost.toml"
    config.write_text(
        f"[api]\nheader_read_timeout_secs = {HEADER_TIMEOUT_S}\nmax_connections = {MAX_CONNECTIONS}\n")
    server = Roost(base / "data", "strict", ["--config", str(config)]).start()
    yield server
    assert server.stop() == 0


def api_address(server: Roost) -> tuple[str, int]:
    url = urllib.parse.urlparse(server.api_url)
    return url.hostname, url.port


def closed_within(sock: socket.socket, seconds: float) -> float | None:
    """Waits for the server to close `sock`; returns after how long, or None."""
    sock.settimeout(seconds)
    start = time.monotonic()
    try:
        while sock.recv(4096):
            pass
        return time.monotonic() - start
    except (socket.timeout, TimeoutError):
        return None
    except ConnectionResetError:
        return time.monotonic() - start


def test_half_sent_headers_and_silent_connections_are_cut_at_the_header_deadline(strict):
    address = api_address(strict)
    slow = socket.create_connection(address)
    slow.sendall(b"GET /health HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
    silent = socket.create_connection(address)
    for sock in (slow, silent):
        took = closed_within(sock, HEADER_TIMEOUT_S + 5)
        assert took is not None and took <= HEADER_TIMEOUT_S + 2, took
        sock.close()


def test_connections_beyond_the_cap_are_closed_at_once_and_service_resumes(strict):
    address = api_address(strict)
    held = [socket.create_connection(address) for _ in range(MAX_CONNECTIONS)]
    time.sleep(0.2)  # let the server accept them all
    extra = socket.create_connection(address)
    took = closed_within(extra, 1.5)
    assert took is not None and took < 1.0, took
    extra.close()
    for sock in held:
        sock.close()
    time.sleep(0.2)
    assert strict.aws("list-things") == {"things": []}


def test_an_unsigned_request_is_refused_before_its_body_is_read(strict):
    sock = socket.create_connection(api_address(strict))
    # Announces a megabyte and sends none of it: the answer must not wait for the body.
    sock.sendall(b"POST /things/t HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000000\r\n"
                 b"Content-Type: application/json\r\n\r\n")
    sock.settimeout(HEADER_TIMEOUT_S - 0.5)
    answer = sock.recv(4096)
    sock.close()
    assert answer.startswith(b"HTTP/1.1 403"), answer[:100]
    assert b"MissingAuthenticationTokenException" in answer


def test_an_amzn_principal_header_added_after_signing_is_refused(strict):
    exports = strict.exports
    cert = strict.aws("create-keys-and-certificate", "--set-as-active")
    strict.aws("create-policy", "--policy-name", "p-unsigned", "--policy-document",
               '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:*","Resource":"*"}]}')
    request = AWSRequest(method="PUT", url=strict.api_url + "/principal-policies/p-unsigned", data=b"")
    SigV4Auth(Credentials(exports["AWS_ACCESS_KEY_ID"], exports["AWS_SECRET_ACCESS_KEY"]), "iot",
              exports["AWS_DEFAULT_REGION"]).add_auth(request)
    prepared = request.prepare()
    headers = dict(prepared.headers)
    headers["x-amzn-iot-principal"] = cert["certificateArn"]  # added after signing
    sent = urllib.request.Request(prepared.url, data=b"", headers=headers, method="PUT")
    with pytest.raises(HTTPError) as refused:
        urllib.request.urlopen(sent, timeout=30)
    assert refused.value.code == 403
    assert refused.value.headers["x-amzn-ErrorType"].startswith("InvalidSignatureException")
    attached = strict.aws("list-attached-policies", "--target", cert["certificateArn"])
    assert attached["policies"] == []
    # Signed, the same header works (the CLI signs every header it sends).
    strict.aws("attach-principal-policy", "--policy-name", "p-unsigned",
               "--principal", cert["certificateArn"])
    attached = strict.aws("list-attached-policies", "--target", cert["certificateArn"])
    assert [p["policyName"] for p in attached["policies"]] == ["p-unsigned"]


def test_the_data_directory_and_the_registry_are_private_to_their_owner(strict):
    strict.aws("list-things")  # the registry has been written to
    assert strict.data_dir.stat().st_mode & 0o777 == 0o700
    for name in ["registry.db", "registry.db-wal", "server-ca.key", "admin-credentials.json"]:
        path = strict.data_dir / name
        assert path.exists(), name
        assert path.stat().st_mode & 0o077 == 0, name
