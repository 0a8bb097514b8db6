"""The dev CA, the certificates it issues, and basic-auth headers."""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path

from logway.dev.config import DevError
from logway.dev.fetch import require_tool


def basic_auth(user: str, password_file: Path) -> str:
    token = base64.b64encode(f"{user}:{password_file.read_text().strip()}".encode()).decode()
    return f"Basic {token}"


def openssl(*args: str) -> None:
    openssl = require_tool("openssl", "the dev servers' TLS certificates: apt-get install openssl")
    result = subprocess.run([openssl, *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise DevError(f"openssl {args[0]} failed: {result.stderr.strip()}")


def dev_ca(tls_dir: Path) -> Path:
    """The dev CA in `tls_dir` (`ca.crt`, `ca.key`), made once: it signs both servers'
    certificates, so one CA file trusts both. Returns the CA certificate."""
    ca = tls_dir / "ca.crt"
    if ca.exists() and (tls_dir / "ca.key").exists():
        return ca
    tls_dir.mkdir(parents=True, exist_ok=True)
    openssl(
        *("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650"),
        *("-subj", "/CN=logway dev CA", "-keyout", str(tls_dir / "ca.key"), "-out", str(ca)),
    )
    return ca


def issue_certificate(tls_dir: Path, name: str) -> None:
    """`<name>.key` and `<name>.crt` for 127.0.0.1 and localhost, signed by the dev CA."""
    key, csr, crt = (tls_dir / f"{name}.{ext}" for ext in ("key", "csr", "crt"))
    openssl(
        *("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1"),
        *("-keyout", str(key), "-out", str(csr)),
    )
    extensions = tls_dir / f"{name}.ext"
    extensions.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl(
        *("x509", "-req", "-in", str(csr), "-CA", str(tls_dir / "ca.crt")),
        *("-CAkey", str(tls_dir / "ca.key"), "-CAcreateserial", "-days", "3650"),
        *("-extfile", str(extensions), "-out", str(crt)),
    )
