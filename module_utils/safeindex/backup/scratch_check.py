"""The restore check off production: an ephemeral server of our own on the controller (engines/<engine>/scratch.py,
started from the template cache on a random loopback port with a random password) that loads the dump while it is
written, is counted, and is stopped and removed afterwards, also when the check fails or the module is stopped
(SIGTERM, SIGINT). The production server only serves the dump.
"""

from __future__ import annotations

import contextlib
import os
import secrets as random_secrets
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from ansible.module_utils.safeindex.backup.clients import private_dir
from ansible.module_utils.safeindex.backup.scratch_server import template_cache_root, temporary_folder
from ansible.module_utils.safeindex.core.errors import SafeIndexError
from ansible.module_utils.safeindex.engines import open_engine

TARGETS = ("scratch", "server")
PREFIX = "safeindex-scratch-"
# What a scratch server takes besides the restored data: its template's copy (PostgreSQL about 40 MB, MariaDB about
# 100 MB), its WAL or redo log and logs. Deliberately generous.
SERVER_OVERHEAD_BYTES = 512 << 20
# A small database's scratch server lives in memory (a tmpfs) when there is one with room to spare: a copy of the
# template and the restore's writes cost a fraction of a disk's there. Bigger ones go to disk.
MEMORY_DIR = "/dev/shm"
MEMORY_MAX_BYTES = 2 << 30
MEMORY_SHARE = 4  # at most a quarter of the tmpfs's free space
SETTINGS_THAT_WORK = "backup_verify_target: server (restore into a scratch database on the server) or backup_verify: list"


class CheckFailed(SafeIndexError):
    """The scratch server could not be had or could not load the dump; the message names the cause and the settings
    that work instead."""


class CheckInterrupted(BaseException):
    """The module was asked to stop (SIGTERM, SIGINT) during the check: everything unwinds, the server is removed."""


@contextlib.contextmanager
def signals_unwind() -> Iterator[None]:
    """SIGTERM and SIGINT raise CheckInterrupted while the scratch server lives, so the `finally` that removes it
    runs (by default SIGTERM ends Python on the spot, and the server, in its own session, would outlive us)."""

    def handler(signum, _frame):
        raise CheckInterrupted("interrupted by %s during the backup's restore check" % signal.Signals(signum).name)

    previous = {}
    for signum in (signal.SIGTERM, signal.SIGINT):
        try:
            previous[signum] = signal.signal(signum, handler)
        except ValueError:  # not the main thread: the caller handles signals
            pass
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


def _free_bytes(path: str) -> int:
    while path and not os.path.exists(path):
        path = os.path.dirname(path)
    return shutil.disk_usage(path or "/").free


def _device(path: str) -> int:
    while path and not os.path.exists(path):
        path = os.path.dirname(path)
    return os.stat(path or "/").st_dev


def choose_dir(scratch_dir: str | None, database_size: int) -> str:
    """Where the scratch server lives: the configured folder; else memory (MEMORY_DIR) for a database that fits
    with room to spare; else the system's temporary folder."""
    if scratch_dir:
        return scratch_dir
    needed = database_size + SERVER_OVERHEAD_BYTES
    try:
        memory_free = shutil.disk_usage(MEMORY_DIR).free if os.path.ismount(MEMORY_DIR) else 0
    except OSError:
        memory_free = 0
    if needed <= MEMORY_MAX_BYTES and needed * MEMORY_SHARE <= memory_free:
        return MEMORY_DIR
    return temporary_folder()


def space_problem(scratch_dir: str | None, database_size: int, dump_bytes: int, backup_dir: str) -> str | None:
    """Why the controller cannot hold the scratch server's copy of the database (plus the dump, when both are on one
    disk), or None."""
    where = scratch_dir or temporary_folder()
    needed = database_size + SERVER_OVERHEAD_BYTES
    same_disk = _device(where) == _device(backup_dir)
    if same_disk:
        needed += dump_bytes
    free = _free_bytes(where)
    if free >= needed:
        return None
    return ("not enough space on the controller for the restore check's scratch server: %s has %d bytes free, the check"
            " needs about %d (the database's %d bytes restored, %d for the server itself%s). Free space there, set"
            " backup_verify_scratch_dir to a bigger disk, or set %s"
            % (where, free, needed, database_size, SERVER_OVERHEAD_BYTES,
               ", and the dump's %d, on the same disk" % dump_bytes if same_disk else "", SETTINGS_THAT_WORK))


def _owner_alive(folder: Path) -> bool:
    try:
        pid = int((folder / "owner").read_text())
    except (OSError, ValueError):
        return True  # not one we can tell about: leave it
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class ScratchCheck:
    """One restore check's scratch server: start() it, feed() or restore_file() the dump, counts(), close()."""

    def __init__(self, engine, dumper, scratch_dir: str | None = None):
        self.engine, self.dumper = engine, dumper
        self.scratch_dir = scratch_dir or choose_dir(None, engine.database_size())
        self.root = self.server = self.params = self.copy_dumper = None
        self.description = None
        self.start_seconds = None

    def start(self) -> None:
        started = time.monotonic()
        self.sweep()
        os.makedirs(self.scratch_dir, exist_ok=True)
        self.root = Path(tempfile.mkdtemp(prefix="%s%d-" % (PREFIX, os.getpid()), dir=self.scratch_dir))
        os.chmod(self.root, 0o711)  # the server's system user (postgres, when we are root) passes through
        (self.root / "owner").write_text(str(os.getpid()))
        (self.root / "engine").write_text(self.engine.name)
        try:
            self.server = self.dumper.scratch_server(self.engine.server_version(), self.root)
        except SafeIndexError as exc:
            raise CheckFailed(str(exc)) from None
        self.server.background = True  # the app's database comes first where they share a CPU
        self.server.start()
        password = random_secrets.token_urlsafe(24)
        self.params = self.dumper.prepare_scratch(self.engine, self.server, password)
        self.description = "scratch %s on the controller" % self.server.version()
        problem = self.dumper.check_loadable(self.engine, self.server)
        if problem:
            raise CheckFailed(problem)
        self.copy_dumper = self.dumper.for_server(self.params)
        self.start_seconds = round(time.monotonic() - started, 3)

    def feed(self, secrets: str):
        """A restore client of the scratch server reading the dump on its stdin."""
        return self.copy_dumper.restore_feed(self.params.database, secrets)

    def restore_after_feed(self, path: str, jobs: int) -> None:
        """What the engine restores from the finished dump after the stream (PostgreSQL: indexes and constraints)."""
        with private_dir() as secrets:
            self.copy_dumper.restore_after_feed(path, self.params.database, jobs, secrets)

    def restore_file(self, path: str, jobs: int, secrets: str) -> None:
        self.copy_dumper.restore(path, self.params.database, jobs, secrets)

    def counts(self, tables) -> dict:
        """{"schema.table" as in the manifest: rows} of the restored copy."""
        copy = open_engine(self.params, "safeindex restore check")
        try:
            names = [(self.dumper.schema_in_copy(schema, self.params.database), table) for schema, table in tables]
            counts = copy.row_counts(names)
        finally:
            copy.close()
        return {"%s.%s" % (schema, table): counts["%s.%s" % (self.dumper.schema_in_copy(schema, self.params.database), table)]
                for schema, table in tables}

    def close(self) -> None:
        """Stop the server and remove its folder, whatever state it is in."""
        try:
            if self.server is not None:
                self.server.destroy()
        finally:
            if self.root is not None and self.root.exists():
                shutil.rmtree(self.root, ignore_errors=True)

    def sweep(self) -> None:
        """Remove the scratch servers of checks whose module died without cleaning up (SIGKILL, a crash)."""
        try:
            names = os.listdir(self.scratch_dir)
        except OSError:
            return
        for name in names:
            folder = Path(self.scratch_dir) / name
            if not name.startswith(PREFIX) or folder == template_cache_root() or _owner_alive(folder):
                continue
            try:
                # Only ours (its owner file is, the folder may be the server's system user's), and only of this engine:
                # another engine's server is stopped by its own kind.
                if (folder / "owner").lstat().st_uid != os.geteuid() or (folder / "engine").read_text() != self.engine.name:
                    continue
                self.dumper.scratch_server(self.engine.server_version(), folder).destroy()
            except (SafeIndexError, OSError):
                pass
            shutil.rmtree(folder, ignore_errors=True)
