"""Fixtures of the end-to-end tests: a real `roost serve` on a fresh data directory, driven
with the real AWS CLI (`aws iot ... --output json`) and boto3, with the environment that
`roost env` prints.

`ROOST_BIN` names the binary under test (scripts/test sets it); it defaults to the debug
build of this checkout. A server is shared by the tests of a module (`roost`); tests whose
assertions need an empty registry take `fresh_roost`. When a test fails, the stderr of the
servers it used is added to its report.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import boto3
import botocore.config
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

REPO = Path(__file__).resolve().parents[2]
ROOST_BIN = os.environ.get("ROOST_BIN", str(REPO / "target" / "debug" / "roost"))

# How long a server may take to write endpoints.json, and to exit after SIGTERM.
START_TIMEOUT_S = 60
STOP_TIMEOUT_S = 30

# The CLI prints "An error occurred (Code) when calling the Op operation: message".
CLI_ERROR = re.compile(
    r"An error occurred \((?P<code>[^)]+)\) when calling the (?P<operation>\w+) operation"
    r"(?: \(reached max retries: \d+\))?: (?P<message>.*)",
    re.DOTALL,
)


class CliError(Exception):
    """A failed `aws` command: the error code and message the CLI printed."""

    def __init__(self, code: str | None, operation: str | None, message: str, stderr: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.operation = operation
        self.message = message
        self.stderr = stderr


class Roost:
    """One `roost serve` process on its own data directory."""

    def __init__(self, data_dir: Path, name: str = "roost", extra_args: list[str] | None = None):
        self.data_dir = Path(data_dir)
        self.name = name
        # More `roost serve` arguments, e.g. ["--config", "roost.toml"].
        self.extra_args = list(extra_args or [])
        self.proc: subprocess.Popen | None = None
        self.env: dict[str, str] = {}
        self.exports: dict[str, str] = {}
        self.api_url = ""
        self.logs: list[Path] = []
        self._starts = 0

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> "Roost":
        assert self.proc is None, "already running"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        endpoints = self.data_dir / "endpoints.json"
        if endpoints.exists():
            endpoints.unlink()
        self._starts += 1
        log = self.data_dir.parent / f"{self.name}-{self._starts}.stderr.log"
        self.logs.append(log)
        self._stderr = open(log, "wb")
        self.proc = subprocess.Popen(
            [
                ROOST_BIN,
                "serve",
                "--data-dir",
                str(self.data_dir),
                "--api-listen",
                "127.0.0.1:0",
                "--mqtt-listen",
                "127.0.0.1:0",
                *self.extra_args,
            ],
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
            env=server_environment(),
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"roost serve exited with {self.proc.returncode} before listening:\n"
                    + self.stderr_text()
                )
            if endpoints.exists():
                try:
                    self.api_url = json.loads(endpoints.read_text())["apiUrl"]
                    break
                except (ValueError, KeyError):
                    pass  # written but not yet complete
            if time.monotonic() > deadline:
                raise AssertionError("roost serve did not write endpoints.json in time")
            time.sleep(0.05)
        self.exports = roost_env(self.data_dir)
        assert self.exports["AWS_ENDPOINT_URL_IOT"] == self.api_url
        self.env = client_environment(self.exports, self.data_dir)
        return self

    def stop(self) -> int:
        """SIGTERM, then wait; returns the exit status (tests assert 0)."""
        assert self.proc is not None, "not running"
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("roost serve did not exit within 30 s of SIGTERM")
        finally:
            self._stderr.close()
            self.proc = None
        return code

    def stderr_text(self, tail_lines: int = 300) -> str:
        chunks = []
        for log in self.logs:
            if log.exists():
                lines = log.read_text(errors="replace").splitlines()
                chunks.append(f"--- {log.name} ---\n" + "\n".join(lines[-tail_lines:]))
        return "\n".join(chunks)

    def internal_failures(self) -> list[str]:
        """Log lines of requests answered with a 5xx (none are expected, ever)."""
        found = []
        for log in self.logs:
            if log.exists():
                for line in log.read_text(errors="replace").splitlines():
                    if "internal failure in the control plane" in line or "request failed" in line:
                        found.append(line)
        return found

    # -- clients ---------------------------------------------------------------------------

    def aws(self, *args: str, expect_json: bool = True):
        """Runs `aws iot <args> --output json`; returns the parsed output ({} when empty).
        Raises CliError when the command fails."""
        result = self.aws_raw(*args)
        if result.returncode != 0:
            raise cli_error(result)
        out = result.stdout.strip()
        if not out:
            return {}
        return json.loads(out) if expect_json else out

    def aws_error(self, *args: str) -> CliError:
        """Runs a command that must fail and returns its error."""
        result = self.aws_raw(*args)
        assert result.returncode != 0, f"expected `aws iot {' '.join(args)}` to fail:\n{result.stdout}"
        return cli_error(result)

    def aws_raw(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["aws", "iot", *args, "--output", "json"],
            capture_output=True,
            text=True,
            env=env or self.env,
            timeout=120,
        )

    def client(self, **overrides):
        """A boto3 `iot` client pointed at this server (no retries: errors show at once)."""
        settings = dict(
            region_name=self.exports["AWS_DEFAULT_REGION"],
            endpoint_url=self.exports["AWS_ENDPOINT_URL_IOT"],
            aws_access_key_id=self.exports["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=self.exports["AWS_SECRET_ACCESS_KEY"],
            config=botocore.config.Config(retries={"max_attempts": 1, "mode": "standard"}),
        )
        settings.update(overrides)
        return boto3.session.Session().client("iot", **settings)

    def raw(self, method: str, path: str, body: bytes | str = b"", headers: dict | None = None,
            sign: bool = True) -> "RawResponse":
        """Sends one request as botocore would (SigV4-signed with the admin keys), however
        malformed its path, query or body; `path` includes the query string."""
        if isinstance(body, str):
            body = body.encode()
        request = AWSRequest(method=method, url=self.api_url + path, data=body, headers=headers or {})
        if sign:
            credentials = Credentials(self.exports["AWS_ACCESS_KEY_ID"], self.exports["AWS_SECRET_ACCESS_KEY"])
            SigV4Auth(credentials, "iot", self.exports["AWS_DEFAULT_REGION"]).add_auth(request)
        prepared = request.prepare()
        sent = urllib.request.Request(
            prepared.url, data=prepared.body or None, headers=dict(prepared.headers), method=method
        )
        try:
            with urllib.request.urlopen(sent, timeout=30) as response:
                return RawResponse(response.status, dict(response.headers), response.read())
        except urllib.error.HTTPError as error:
            return RawResponse(error.code, dict(error.headers), error.read())

    def arn(self, kind: str, name: str) -> str:
        region = self.exports["AWS_DEFAULT_REGION"]
        return f"arn:aws:iot:{region}:123456789012:{kind}/{name}"


class RawResponse:
    """A response to `Roost.raw`: status, headers and the body (parsed when JSON)."""

    def __init__(self, status: int, headers: dict, body: bytes):
        self.status = status
        self.headers = {k.lower(): v for k, v in headers.items()}
        self.text = body.decode(errors="replace")
        try:
            self.json = json.loads(body) if body else {}
        except ValueError:
            self.json = None

    @property
    def error_type(self) -> str | None:
        """The exception class botocore would raise (x-amzn-ErrorType up to the colon)."""
        header = self.headers.get("x-amzn-errortype")
        return header.split(":", 1)[0] if header else None

    @property
    def message(self) -> str:
        return (self.json or {}).get("message", "")

    def __repr__(self) -> str:
        return f"RawResponse({self.status}, {self.error_type}, {self.text[:300]!r})"


def cli_error(result: subprocess.CompletedProcess) -> CliError:
    match = CLI_ERROR.search(result.stderr)
    if not match:
        return CliError(None, None, result.stderr.strip(), result.stderr)
    return CliError(
        match["code"], match["operation"], match["message"].strip(), result.stderr
    )


def server_environment() -> dict[str, str]:
    """The server's environment: ours without ROOST__ overrides that could reconfigure it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROOST__")}
    env.setdefault("RUST_LOG", "info")
    return env


def roost_env(data_dir: Path) -> dict[str, str]:
    """Runs `roost env` and parses its `export NAME=value` lines."""
    out = subprocess.run(
        [ROOST_BIN, "env", "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        check=True,
        env=server_environment(),
    ).stdout
    exports = {}
    for line in out.splitlines():
        words = shlex.split(line)
        assert words and words[0] == "export" and len(words) == 2, f"unexpected line: {line!r}"
        name, _, value = words[1].partition("=")
        exports[name] = value
    return exports


def client_environment(exports: dict[str, str], data_dir: Path) -> dict[str, str]:
    """The environment of `aws` commands: roost env's exports, and nothing from the user's
    own AWS configuration (no profile, no config or credentials files, no retries)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(exports)
    isolated = data_dir.parent / "aws-config-absent"
    env["AWS_CONFIG_FILE"] = str(isolated)
    env["AWS_SHARED_CREDENTIALS_FILE"] = str(isolated)
    env["AWS_MAX_ATTEMPTS"] = "1"
    env["AWS_PAGER"] = ""
    return env


# -- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="session", autouse=True)
def roost_binary():
    assert Path(ROOST_BIN).is_file(), f"ROOST_BIN={ROOST_BIN} is not a file; run `cargo build -p roost`"
    return ROOST_BIN


def _started(tmp_path_factory, name: str) -> Roost:
    base = tmp_path_factory.mktemp(name)
    return Roost(base / "data", name).start()


def _stopped(server: Roost):
    if server.proc is not None:
        assert server.stop() == 0, "roost serve did not exit 0 on SIGTERM:\n" + server.stderr_text()
    failures = server.internal_failures()
    assert not failures, "the server answered with 5xx:\n" + "\n".join(failures)


@pytest.fixture(scope="module")
def roost(tmp_path_factory):
    """A server shared by the tests of one module."""
    server = _started(tmp_path_factory, "shared")
    yield server
    _stopped(server)


@pytest.fixture
def fresh_roost(tmp_path_factory):
    """A server of this test's own, on an empty data directory."""
    server = _started(tmp_path_factory, "fresh")
    yield server
    _stopped(server)


@pytest.fixture
def iot(roost):
    """A boto3 client of the module's server."""
    return roost.client()


@pytest.fixture
def unique(request):
    """A name prefix unique to the test, for resources on a shared server."""
    counter = {"n": 0}
    base = re.sub(r"[^A-Za-z0-9]", "", request.node.name)[-40:]

    def make(kind: str = "r") -> str:
        counter["n"] += 1
        return f"{base}-{kind}{counter['n']}"

    return make


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        servers = [v for v in item.funcargs.values() if isinstance(v, Roost)]
        # A cluster's nodes (test_cluster.py).
        servers += [n for v in item.funcargs.values() for n in getattr(v, "nodes", [])
                    if isinstance(n, Roost)]
        for server in servers:
            report.sections.append((f"roost serve stderr ({server.name})", server.stderr_text()))
