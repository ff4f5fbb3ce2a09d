"""Certificates made with the `openssl` command line, exactly as the AWS JITP walkthrough
(/work/shared/reference/jitp-walkthrough.md §1, §4, §5) makes them, with `-subj` instead of
answering openssl's prompts. `openssl x509 -req` without `-extfile` makes X.509 v1
certificates, which Roost must accept as AWS does."""

from __future__ import annotations

import base64
import hashlib
import subprocess
from dataclasses import dataclass
from pathlib import Path


def openssl(*args: str, cwd: Path, input: str | None = None) -> str:
    result = subprocess.run(
        ["openssl", *args], cwd=cwd, capture_output=True, text=True, input=input
    )
    assert result.returncode == 0, f"openssl {' '.join(args)} failed:\n{result.stderr}"
    return result.stdout


@dataclass
class Cert:
    """A certificate and its key on disk."""

    cert: Path
    key: Path

    @property
    def pem(self) -> str:
        return self.cert.read_text()

    @property
    def uri(self) -> str:
        """The CLI's `file://` form."""
        return f"file://{self.cert}"

    @property
    def certificate_id(self) -> str:
        """AWS's certificate id: the SHA-256 of the DER, lowercase hex."""
        return certificate_id(self.pem)


def certificate_id(pem: str) -> str:
    body = "".join(
        line for line in pem.strip().splitlines() if not line.startswith("-----")
    )
    return hashlib.sha256(base64.b64decode(body)).hexdigest()


def root_ca(workdir: Path, name: str = "rootCA", subj: str = "/C=US/O=Roost Tests/CN=Test Root CA") -> Cert:
    """Walkthrough §1: `openssl genrsa` and a self-signed `req -x509`."""
    workdir.mkdir(parents=True, exist_ok=True)
    openssl("genrsa", "-out", f"{name}.key", "2048", cwd=workdir)
    openssl(
        "req", "-x509", "-new", "-nodes", "-key", f"{name}.key", "-sha256", "-days", "1024",
        "-out", f"{name}.pem", "-subj", subj, cwd=workdir,
    )
    return Cert(workdir / f"{name}.pem", workdir / f"{name}.key")


def signed_by(ca: Cert, workdir: Path, name: str, subj: str, days: int = 500) -> Cert:
    """Walkthrough §4/§5: a key, a CSR with `subj`, and `openssl x509 -req` signed by `ca`."""
    workdir.mkdir(parents=True, exist_ok=True)
    openssl("genrsa", "-out", f"{name}.key", "2048", cwd=workdir)
    openssl("req", "-new", "-key", f"{name}.key", "-out", f"{name}.csr", "-subj", subj, cwd=workdir)
    openssl(
        "x509", "-req", "-in", f"{name}.csr", "-CA", str(ca.cert), "-CAkey", str(ca.key),
        "-CAcreateserial", "-out", f"{name}.pem", "-days", str(days), "-sha256", cwd=workdir,
    )
    return Cert(workdir / f"{name}.pem", workdir / f"{name}.key")


def verification_cert(ca: Cert, workdir: Path, code: str, name: str = "verificationCert") -> Cert:
    """Walkthrough §4: the proof of possession, CN = the registration code."""
    return signed_by(ca, workdir, name, f"/CN={code}")


def self_signed(workdir: Path, name: str, subj: str) -> Cert:
    """A self-signed v3 certificate (RegisterCertificateWithoutCA)."""
    workdir.mkdir(parents=True, exist_ok=True)
    openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key",
        "-out", f"{name}.pem", "-days", "30", "-subj", subj, cwd=workdir,
    )
    return Cert(workdir / f"{name}.pem", workdir / f"{name}.key")


def csr(workdir: Path, name: str, subj: str, key: str = "rsa:2048") -> Path:
    """A CSR with a new key (`key` is openssl's -newkey argument)."""
    workdir.mkdir(parents=True, exist_ok=True)
    openssl(
        "req", "-new", "-newkey", key, "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
        "-subj", subj, cwd=workdir,
    )
    return workdir / f"{name}.csr"


def verify(cert_pem: str, ca_file: Path, workdir: Path, purpose: str | None = None) -> str:
    """`openssl verify -CAfile ca_file` on `cert_pem`; returns openssl's output."""
    path = workdir / "to-verify.pem"
    path.write_text(cert_pem)
    args = ["verify", "-CAfile", str(ca_file)]
    if purpose:
        args += ["-purpose", purpose]
    return openssl(*args, str(path), cwd=workdir)


def text(cert_pem: str, workdir: Path) -> str:
    """`openssl x509 -noout -text` of `cert_pem`."""
    path = workdir / "to-print.pem"
    path.write_text(cert_pem)
    return openssl("x509", "-noout", "-text", "-in", str(path), cwd=workdir)


def fingerprint_id(cert_pem: str, workdir: Path) -> str:
    """The certificate id as `openssl x509 -fingerprint -sha256` gives it."""
    path = workdir / "to-fingerprint.pem"
    path.write_text(cert_pem)
    out = openssl("x509", "-noout", "-fingerprint", "-sha256", "-in", str(path), cwd=workdir)
    return out.strip().split("=", 1)[1].replace(":", "").lower()
