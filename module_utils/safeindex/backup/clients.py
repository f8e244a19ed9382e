"""The database's own client tools (pg_dump, pg_restore, mariadb-dump, mariadb): finding them,
their versions, and running them with secrets that never reach an argv or the environment."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from typing import IO

from ansible.module_utils.safeindex.core.errors import SafeIndexError


class ClientError(SafeIndexError):
    """A client tool is missing, too old, or failed."""


class ConnectionLost(ClientError):
    """A client tool gave up its connection to the server as lost: silent for the backup's stall_timeout."""


def find_client(names: list[str], bin_dir: str | None = None) -> str:
    """The first of `names` in `bin_dir` (when given) or on PATH."""
    for name in names:
        if bin_dir:
            candidate = os.path.join(bin_dir, name)
            if os.access(candidate, os.X_OK):
                return candidate
        else:
            found = shutil.which(name)
            if found:
                return found
    # The folders looked in, so the operator can see why the tool they know is installed was not found.
    where = bin_dir or "PATH (%s)" % os.environ.get("PATH", "")
    raise ClientError("%s not found in %s: install the database client tools, or set client_bin_dir"
                      " (backup_client_bin_dir in the inventory) to their folder" % (" or ".join(names), where))


def version_numbers(text: str | None) -> tuple[int, ...]:
    """(major, minor) from a version string: '15.18 (Debian...)' -> (15, 18); '10.11.18-MariaDB' -> (10, 11)."""
    match = re.search(r"(\d+)\.(\d+)", text or "")
    if match:
        return int(match.group(1)), int(match.group(2))
    match = re.search(r"(\d+)", text or "")
    return (int(match.group(1)), 0) if match else ()


def client_version(path: str) -> str:
    completed = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30, check=False)
    if completed.returncode != 0:
        raise ClientError("%s --version failed: %s" % (path, (completed.stderr or completed.stdout).strip()[:300]))
    return completed.stdout.strip()


@contextlib.contextmanager
def private_dir(prefix: str = "safeindex-secrets-") -> Iterator[str]:
    """A 0700 temporary folder for secret files, removed on the way out whatever happens (named after our pid)."""
    path = tempfile.mkdtemp(prefix="%s%d-" % (prefix, os.getpid()))
    os.chmod(path, 0o700)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def write_secret(directory: str, name: str, content: str) -> str:
    path = os.path.join(directory, name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(content)
    return path


def run(argv: list[str], env: dict | None = None, stdout: int | IO | None = None, stdin: int | IO | None = None,
        timeout: float | None = None, secret: str | None = None) -> subprocess.CompletedProcess:
    """Run a client; raises ClientError with the tail of its stderr (a secret in it is masked)."""
    completed = subprocess.run(
        argv, env=env, stdin=stdin, stdout=stdout if stdout is not None else subprocess.PIPE,
        stderr=subprocess.PIPE, timeout=timeout, check=False,
    )
    if completed.returncode != 0:
        raise ClientError("%s exited with %d: %s" % (os.path.basename(argv[0]), completed.returncode, tail(completed.stderr, secret)))
    return completed


def tail(output: bytes | str | None, secret: str | None = None, lines: int = 8) -> str:
    text = output.decode("utf-8", "replace") if isinstance(output, bytes) else (output or "")
    if secret:
        text = text.replace(secret, "***")
    return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:])


def clean_environment(**extra: object) -> dict[str, str]:
    """The environment for a client: ours minus any password variable, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if k not in ("PGPASSWORD", "MYSQL_PWD")}
    env.update({k: str(v) for k, v in extra.items() if v is not None})
    return env
