"""Certificates for a sandbox server in TLS mode: a self-signed CA and a server certificate it signs, made with openssl.

The server certificate names 127.0.0.1 and localhost, so clients can check the host name (verify-full) on loopback.
"""

import shutil
from dataclasses import dataclass
from pathlib import Path

from sandbox.errors import SandboxError
from sandbox.processes import run_command

DAYS = 30
SERVER_NAMES = "subjectAltName=IP:127.0.0.1,DNS:localhost"


@dataclass(frozen=True)
class TlsFiles:
    """What a TLS server needs, and the CA its clients trust."""

    ca_cert: Path
    server_cert: Path
    server_key: Path


def openssl() -> str:
    found = shutil.which("openssl")
    if not found:
        raise SandboxError("openssl is not installed (apt-get install -y openssl): the sandbox's TLS mode makes its certificates with it")
    return found


def make_ca(folder: Path, name: str = "safeindex sandbox CA") -> tuple[Path, Path]:
    """A self-signed CA in `folder`: (certificate, key). The key stays 0600."""
    folder.mkdir(parents=True, exist_ok=True)
    cert, key = folder / "ca.crt", folder / "ca.key"
    run_command(
        [openssl(), "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", str(DAYS),
         "-subj", f"/CN={name}", "-keyout", str(key), "-out", str(cert),
         "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
        cwd=folder, log_path=folder / "openssl.log", what="openssl (CA)",
    )
    key.chmod(0o600)
    return cert, key


def make_certificates(folder: Path) -> TlsFiles:
    """A CA and a server certificate for 127.0.0.1 / localhost signed by it, in `folder`."""
    ca_cert, ca_key = make_ca(folder)
    key, request, cert = folder / "server.key", folder / "server.csr", folder / "server.crt"
    log = folder / "openssl.log"
    run_command([openssl(), "req", "-newkey", "rsa:2048", "-nodes", "-sha256", "-subj", "/CN=127.0.0.1",
                 "-keyout", str(key), "-out", str(request)], cwd=folder, log_path=log, what="openssl (server key)")
    extensions = folder / "server.ext"
    extensions.write_text(f"{SERVER_NAMES}\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n"
                          "extendedKeyUsage=serverAuth\n")
    run_command([openssl(), "x509", "-req", "-in", str(request), "-CA", str(ca_cert), "-CAkey", str(ca_key),
                 "-CAcreateserial", "-days", str(DAYS), "-sha256", "-extfile", str(extensions), "-out", str(cert)],
                cwd=folder, log_path=log, what="openssl (server certificate)")
    # PostgreSQL refuses a key file that others can read.
    key.chmod(0o600)
    return TlsFiles(ca_cert=ca_cert, server_cert=cert, server_key=key)
