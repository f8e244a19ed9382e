"""A backup that proves itself: dump, checksum, verify (checksum, list, restore), manifest, retention.

Written once for both engines; a dumper (dump_postgres, dump_mysql) runs the client tools and the
engine answers the SQL questions (size, tables, exact row counts, scratch databases).

The restore check runs where verify_target says: `scratch` (the default), an ephemeral server on the controller
(scratch_check.py) that loads the dump while it is written, so the production server only serves the dump; or
`server`, a scratch database on the production server itself (for controllers that cannot run a server).

A dump is written under a `.partial` name and becomes the backup only when it has passed its
verification; only then is its manifest written. A failed dump or verification leaves nothing that
looks like a backup.
"""

import calendar
import contextlib
import errno
import hashlib
import json
import os
import re
import shutil
import time
from dataclasses import dataclass

from ansible.module_utils.safeindex.backup import scratch_check
from ansible.module_utils.safeindex.backup.clients import ConnectionLost, private_dir
from ansible.module_utils.safeindex.build import progress
from ansible.module_utils.safeindex.core.errors import SafeIndexError, ServerRefused
from ansible.module_utils.safeindex.core.files import make_private_dir, write_private
from ansible.module_utils.safeindex.run.record import now_iso

TOOL = "safeindex"
MANIFEST = "manifest.json"
LEVELS = ("checksum", "list", "restore")
INSUFFICIENT_PRIVILEGE = ("42501", 1044, 1142)


class BackupFailed(SafeIndexError):
    """The backup could not be taken or did not prove itself; nothing was left that looks valid."""


@dataclass
class BackupOptions:
    run_id: str
    host_name: str
    backup_dir: str
    format: str = None
    jobs: int = 1
    verify: str = "restore"
    retention_days: int = 7
    space_factor: float = 1.0
    compress_level: int = 1  # gzip level: 1 dumps about as fast as uncompressed at a fifth of the size
    verify_target: str = "scratch"  # where verify=restore restores: scratch_check.TARGETS
    scratch_dir: str = None  # where the scratch server lives; the system's temporary folder when None

    @property
    def on_scratch(self) -> bool:
        return self.verify == "restore" and self.verify_target == "scratch"


@contextlib.contextmanager
def _watched(dumper, subject, secrets, written=None):
    """Watch the dumper's client while it runs: its stage and table, and the bytes written to `written`."""

    def sample(_source):
        found = dumper.progress()
        if written:
            found["bytes"] = progress.size_of(written)
        return found

    dumper.progress_log = os.path.join(secrets, "client.log") if dumper.progress_file else None
    try:
        with progress.watching(dumper.progress_file, subject, "backup", sample):
            yield
    finally:
        dumper.progress_log = None


def run_dir(options) -> str:
    return os.path.join(options.backup_dir, options.host_name, options.run_id)


def scratch_name(run_id, database) -> str:
    """The scratch database a restore check uses: named after the run and the database, so whose it is is plain to see.

    The database is part of it because the hosts of one run may be databases of the same server (a fleet runs them
    at once); the digest keeps two names apart when the length limit (63) cuts them.
    """
    readable = re.sub(r"[^A-Za-z0-9_]", "_", "safeindex_verify_%s_%s" % (run_id, database))[:56]
    return "%s_%s" % (readable, hashlib.sha256(("%s\0%s" % (run_id, database)).encode()).hexdigest()[:6])


def read_manifest(path) -> dict:
    try:
        with open(path) as handle:
            manifest = json.load(handle)
    except (OSError, ValueError) as exc:
        raise BackupFailed("no readable backup manifest at %s: %s" % (path, exc)) from None
    if not isinstance(manifest, dict) or manifest.get("tool") != TOOL:
        raise BackupFailed("%s is not a %s backup manifest" % (path, TOOL))
    return manifest


def dump_path(manifest_path, manifest) -> str:
    return os.path.join(os.path.dirname(manifest_path), manifest["file"])


def checksum(path, directory) -> str:
    """One digest for a dump: the file's own, or for a directory dump, of each file's name and digest."""
    if not directory:
        return _file_sha256(path)
    combined = hashlib.sha256()
    for name in sorted(os.listdir(path)):
        combined.update(("%s %s\n" % (name, _file_sha256(os.path.join(path, name)))).encode("utf-8"))
    return combined.hexdigest()


def _file_sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _size(path):
    if os.path.isdir(path):
        return sum(os.path.getsize(os.path.join(path, name)) for name in os.listdir(path))
    return os.path.getsize(path)


def plan(engine, dumper, options) -> dict:
    """What a backup would do, for check mode: nothing is written."""
    fmt = options.format or dumper.default_format
    target = os.path.join(run_dir(options), dumper.file_name(engine.params.database, fmt))
    size = engine.database_size()
    return {
        "path": target,
        "format": fmt,
        "database_size_bytes": size,
        "estimated_dump_bytes": int(size * options.space_factor),
        "free_bytes": _free_bytes(options.backup_dir),
        "space_problem": _free_space_problem(options, size),
        "command": " ".join(dumper.dump_command(target, fmt, options.jobs, options.compress_level)),
        "client": dumper.check_client(engine.server_version()),
        "verify": options.verify,
        "verify_target": options.verify_target if options.verify == "restore" else None,
        "scratch_space_problem": scratch_check.space_problem(scratch_check.choose_dir(options.scratch_dir, size), size,
                                                             int(size * options.space_factor), options.backup_dir)
        if options.on_scratch else None,
    }


def take(engine, dumper, options, record=lambda event, **data: None) -> dict:
    """Dump, verify at the requested level, write the manifest. Returns the result; raises BackupFailed."""
    folder = run_dir(options)
    manifest_path = os.path.join(folder, MANIFEST)
    if os.path.exists(manifest_path):
        manifest = read_manifest(manifest_path)
        if manifest.get("verified", {}).get("result") == "ok":
            return result_of(manifest, manifest_path, reused=True)

    # Everything that can refuse does so before the first byte is written.
    server_version = engine.server_version()
    client = dumper.check_client(server_version)
    fmt = options.format or dumper.default_format
    name = dumper.file_name(engine.params.database, fmt)
    database_size = engine.database_size()
    problem = _free_space_problem(options, database_size)
    scratch_dir = scratch_check.choose_dir(options.scratch_dir, database_size) if options.on_scratch else None
    if not problem and options.on_scratch:
        problem = scratch_check.space_problem(scratch_dir, database_size, int(database_size * options.space_factor),
                                              options.backup_dir)
    if problem:
        raise BackupFailed(problem)
    if options.verify_target not in scratch_check.TARGETS:
        raise BackupFailed("verify_target must be one of %s, not %r" % (", ".join(scratch_check.TARGETS), options.verify_target))

    make_private_dir(folder)
    partial = os.path.join(folder, name + ".partial")
    _remove(partial)
    started_at, started = now_iso(), time.monotonic()
    record("backup_started", path=os.path.join(folder, name))
    tables = engine.user_tables()
    check = scratch_check.ScratchCheck(engine, dumper, scratch_dir) if options.on_scratch else None
    # While the scratch server lives, SIGTERM and SIGINT unwind (scratch_check.signals_unwind), also through the
    # `finally` that removes it.
    with scratch_check.signals_unwind() if check else contextlib.nullcontext():
        try:
            with private_dir() as secrets, _watched(dumper, "backup of " + engine.params.database, secrets, written=partial):
                before, after, restored = _dump(engine, dumper, check, partial, fmt, options, tables, secrets)
            for path in [partial] + (dumper.dump_files(partial) if os.path.isdir(partial) else []):
                os.chmod(path, 0o700 if os.path.isdir(path) else 0o600)
            manifest = {
                "tool": TOOL,
                "manifest_version": 1,
                "run_id": options.run_id,
                "host": options.host_name,
                "engine": engine.name,
                "database": engine.params.database,
                "server_version": server_version,
                "client_version": client,
                "client": dumper.client_choice(server_version),  # which program, from where, and why
                "format": fmt,
                "jobs": options.jobs,
                "compress_level": options.compress_level,
                "started": started_at,
                "finished": now_iso(),
                "dump_seconds": round(time.monotonic() - started, 3),
                "file": name,
                "size_bytes": _size(partial),
                "sha256": checksum(partial, os.path.isdir(partial)),
                "row_counts_exact": dumper.counts_exact,
                "tables": [
                    {"schema": schema, "name": table, "rows": before["%s.%s" % (schema, table)],
                     "rows_after": None if after is None else after["%s.%s" % (schema, table)]}
                    for schema, table in tables
                ],
            }
            manifest["verified"] = verify(engine, dumper, manifest, partial, options.verify, options.run_id, options.jobs,
                                          restored=restored, verify_target=options.verify_target, check=check)
        except BaseException as exc:
            _remove(partial)
            if _out_of_space(exc):
                raise BackupFailed(
                    "backup_dir %s ran out of space while the dump was written (%d bytes free again now that the partial dump"
                    " is removed; the database is %d bytes and backup_space_factor %s let it start): free space there or"
                    " choose another backup_dir. %s" % (options.backup_dir, _free_bytes(options.backup_dir), engine.database_size(),
                                                        options.space_factor, exc)) from None
            if isinstance(exc, scratch_check.CheckInterrupted):
                raise BackupFailed("%s: the dump was removed and the scratch server stopped and removed" % exc) from None
            raise
        finally:
            if check is not None:
                check.close()
    final = os.path.join(folder, name)
    _remove(final)
    os.replace(partial, final)
    manifest["duration_seconds"] = round(time.monotonic() - started, 3)
    write_private(manifest_path, manifest)
    record("backup", path=final, sha256=manifest["sha256"], verified=manifest["verified"])
    return result_of(manifest, manifest_path, reused=False)


def _dump(engine, dumper, check, partial, fmt, options, tables, secrets):
    """Dump to `partial`; with a scratch check, restore into its server too: while the dump is written when the format
    streams, else from the finished dump. Returns (counts before, counts after or None, restored counts or None)."""
    if check is None:
        before, after = dumper.dump_with_counts(engine, partial, fmt, options.jobs, options.compress_level, tables, secrets)
        return before, after, None
    dumper.stage = "starting the restore check's scratch server"
    _start(check)
    check.streamed = fmt in dumper.stream_formats
    with private_dir() as scratch_secrets:
        if check.streamed:
            feed = check.feed(scratch_secrets)
            try:
                before, after = dumper.dump_with_counts(engine, partial, fmt, options.jobs, options.compress_level, tables,
                                                        secrets, feed=feed)
                dumper.stage = "restoring the last of the dump into the scratch server"
                _loaded(check, feed.finish)
            except BaseException:
                feed.kill()
                raise
            dumper.stage = "restoring the dump's indexes and constraints into the scratch server"
            _loaded(check, check.restore_after_feed, partial, options.jobs)
        else:
            before, after = dumper.dump_with_counts(engine, partial, fmt, options.jobs, options.compress_level, tables, secrets)
            dumper.stage = "restoring the dump into the scratch server"
            _loaded(check, check.restore_file, partial, options.jobs, scratch_secrets)
    dumper.stage = "counting the rows of the restored copy"
    return before, after, check.counts(tables)


def _start(check):
    try:
        check.start()
    except scratch_check.CheckFailed as exc:
        raise BackupFailed(str(exc)) from None
    except SafeIndexError as exc:
        raise BackupFailed("the restore check's scratch server did not start: %s; or set %s"
                           % (exc, scratch_check.SETTINGS_THAT_WORK)) from None


def _loaded(check, restore, *args):
    """Run the scratch server's restore; its failure is the dump's that does not load there, named with what works."""
    try:
        restore(*args)
    except SafeIndexError as exc:
        raise BackupFailed("the dump does not load into the restore check's %s: %s. If the dump is right and this server"
                           " cannot take it, set %s" % (check.description, exc, scratch_check.SETTINGS_THAT_WORK)) from None


def verify(engine, dumper, manifest, path, level, run_id, jobs=1, restored=None, verify_target="server", check=None) -> dict:
    """Prove a dump at one level; each level includes the ones before it. Raises BackupFailed.

    At level restore: `restored` holds the counts of a copy already restored on a scratch server (the dump streamed
    into it, `check`); else verify_target says where to restore now (scratch: a scratch server started for this)."""
    if level not in LEVELS:
        raise BackupFailed("verify must be one of %s, not %r" % (", ".join(LEVELS), level))
    started = time.monotonic()
    if not os.path.exists(path):
        raise BackupFailed("the dump %s is missing" % path)
    actual = checksum(path, os.path.isdir(path))
    if actual != manifest["sha256"]:
        raise BackupFailed("checksum mismatch: %s has sha256 %s, the manifest says %s; the file changed after it was written"
                           % (path, actual, manifest["sha256"]))
    expected = [(t["schema"], t["name"]) for t in manifest["tables"]]
    details = {"level": level, "result": None, "tables_checked": 0, "mismatches": []}
    if level in ("list", "restore"):
        try:
            present = dumper.tables_in(path)
        except SafeIndexError as exc:
            raise BackupFailed("the dump cannot be read: %s" % exc) from None
        missing = [".".join(t) for t in expected if t not in present]
        if missing:
            raise BackupFailed("the dump lacks the data of %d tables: %s" % (len(missing), ", ".join(missing[:20])))
        details["tables_checked"] = len(expected)
    if level == "restore":
        if restored is not None or verify_target == "scratch":
            details["target"], details["streamed"], details["scratch_start_seconds"], restored = _on_scratch(
                engine, dumper, path, expected, jobs, restored, check)
        else:
            details["target"] = "server"
            details["scratch_database"] = scratch_name(run_id, engine.params.database)
            restored = _restore_and_count(engine, dumper, path, expected, run_id, jobs)
        details["mismatches"] = count_mismatches(manifest["tables"], restored)
        if details["mismatches"]:
            raise BackupFailed("the restored copy differs from the database:\n  - " + "\n  - ".join(details["mismatches"]),
                               verified=details)
    details["result"] = "ok"
    details["at"] = now_iso()
    details["seconds"] = round(time.monotonic() - started, 3)
    return details


def count_mismatches(manifest_tables, restored) -> list:
    """Tables whose restored row count is not the manifest's (on MySQL, between the counts before and after the dump)."""
    mismatches = []
    for table in manifest_tables:
        got = restored.get("%s.%s" % (table["schema"], table["name"]))
        low, high = sorted((table["rows"], table["rows"] if table.get("rows_after") is None else table["rows_after"]))
        if got is None or not low <= got <= high:
            wanted = str(low) if low == high else "%d to %d" % (low, high)
            mismatches.append("%s.%s: restored %s rows, the database had %s" % (table["schema"], table["name"], got, wanted))
    return mismatches


def _on_scratch(engine, dumper, path, tables, jobs, restored, check):
    """(where, streamed, the server's start in seconds, counts) of a restore check on a scratch server: the one the dump
    streamed into, or one started now for the finished dump."""
    if restored is not None:
        return check.description, check.streamed, check.start_seconds, restored
    check = scratch_check.ScratchCheck(engine, dumper)
    with scratch_check.signals_unwind():
        try:
            with private_dir() as secrets:
                _start(check)
                _loaded(check, check.restore_file, path, jobs, secrets)
                return check.description, False, check.start_seconds, check.counts(tables)
        except scratch_check.CheckInterrupted as exc:
            raise BackupFailed("%s: the scratch server was stopped and removed" % exc) from None
        finally:
            check.close()


def verify_existing(engine, dumper, manifest_path, level, jobs=1, verify_target="scratch") -> dict:
    """Re-prove a backup taken earlier (the gate, a rollback, an operator's doubt)."""
    manifest = read_manifest(manifest_path)
    if manifest.get("verified", {}).get("result") != "ok":
        raise BackupFailed("the backup at %s was never verified" % manifest_path)
    path = dump_path(manifest_path, manifest)
    verified = verify(engine, dumper, manifest, path, level, manifest["run_id"] + "_check", jobs, verify_target=verify_target)
    result = result_of(manifest, manifest_path, reused=True)
    result["verified"] = verified  # this check's proof, not the one the manifest kept
    return result


def _restore_and_count(engine, dumper, path, tables, run_id, jobs):
    name = scratch_name(run_id, engine.params.database)
    try:
        engine.drop_scratch_databases_left(engine.params.database)  # an earlier run's, that a cut network kept
        engine.drop_scratch_database(name)
        engine.create_scratch_database(name)
        engine.mark_scratch_database(name, engine.params.database)
    except ServerRefused as exc:
        if exc.details.get("sqlstate") in INSUFFICIENT_PRIVILEGE or exc.details.get("code") in INSUFFICIENT_PRIVILEGE:
            raise BackupFailed(
                "verify=restore restores into a scratch database %s and this user may not create it (%s): grant CREATEDB"
                " (PostgreSQL) or CREATE on safeindex_verify_%% (MySQL), or use verify=list" % (name, exc)
            ) from None
        raise
    try:
        counts = restore_and_count(engine, dumper, path, tables, name, jobs, "restore check into " + name)
    except SafeIndexError as exc:
        left = _drop_after_failure(engine, name)
        if left:
            raise BackupFailed("%s; %s" % (exc, left)) from None
        raise
    except BaseException:
        _drop_after_failure(engine, name)
        raise
    engine.drop_scratch_database(name)
    return counts


def _drop_after_failure(engine, name):
    """Drop the scratch database after a failed restore check, over a session of its own: the failure may be the
    network's, and the engine's own session could then wait on a dead socket. None, or what was left and why."""
    try:
        other = engine.connect_to(engine.params.database)
        try:
            other.drop_scratch_database(name)
        finally:
            other.close()
    except SafeIndexError as exc:
        return ("the scratch database %s could not be dropped now (%s): the next restore check on this server drops it"
                % (name, exc))
    return None


def restore_and_count(engine, dumper, path, tables, database, jobs, subject, clean=False) -> dict:
    """Restore the dump into `database` (which exists) and count its tables: {"schema.table" as in the manifest: rows}.
    With clean, the dump's objects replace those already there (a restore in place)."""
    with private_dir() as secrets, _watched(dumper, subject, secrets):
        try:
            dumper.restore(path, database, jobs, secrets, clean=clean)
        except ConnectionLost as exc:
            # Not the dump's fault: the network to the server went (the restore runs there, over it).
            raise BackupFailed("the %s lost its connection to the server: %s" % (subject, exc)) from None
        except SafeIndexError as exc:
            raise BackupFailed("the dump does not restore: %s" % exc) from None
    copy = engine.connect_to(database)
    try:
        counts = copy.row_counts([(dumper.schema_in_copy(schema, database), table) for schema, table in tables])
    finally:
        copy.close()
    return {"%s.%s" % (schema, table): counts["%s.%s" % (dumper.schema_in_copy(schema, database), table)] for schema, table in tables}


def apply_retention(options, check_mode=False) -> list:
    """Remove this tool's backups of this host older than retention_days: only what a manifest of ours names."""
    if not options.retention_days:
        return []
    host_dir = os.path.join(options.backup_dir, options.host_name)
    cutoff = time.time() - options.retention_days * 86400
    removed = []
    for run in sorted(os.listdir(host_dir)) if os.path.isdir(host_dir) else []:
        manifest_path = os.path.join(host_dir, run, MANIFEST)
        if run == options.run_id or not os.path.isfile(manifest_path):
            continue
        try:
            manifest = read_manifest(manifest_path)
            finished = calendar.timegm(time.strptime(manifest["finished"], "%Y-%m-%dT%H:%M:%SZ"))
        except (BackupFailed, KeyError, ValueError, TypeError):
            continue  # not ours, or not one we can date: leave it
        if finished >= cutoff:
            continue
        targets = [dump_path(manifest_path, manifest), manifest_path]
        removed.extend(t for t in targets if os.path.exists(t))
        if not check_mode:
            for target in targets:
                _remove(target)
            try:
                os.rmdir(os.path.join(host_dir, run))
            except OSError:
                pass  # something else lives there: not ours to remove
    return removed


def result_of(manifest, manifest_path, reused) -> dict:
    return {
        "path": dump_path(manifest_path, manifest),
        "manifest_path": manifest_path,
        "format": manifest["format"],
        "size_bytes": manifest["size_bytes"],
        "sha256": manifest["sha256"],
        "duration_seconds": manifest.get("duration_seconds"),
        "verified": manifest["verified"],
        "tables": manifest["tables"],
        "reused": reused,
    }


def _free_bytes(path):
    while path and not os.path.exists(path):
        path = os.path.dirname(path)
    return shutil.disk_usage(path or "/").free


def _free_space_problem(options, database_size):
    needed = int(database_size * options.space_factor)
    free = _free_bytes(options.backup_dir)
    if free < needed:
        return ("not enough space for the backup: %s has %d bytes free, the dump needs about %d"
                " (database size %d x space_factor %s)" % (options.backup_dir, free, needed, database_size, options.space_factor))
    return None


def _out_of_space(exc):
    """ENOSPC, ours (a Python write) or the client's (pg_dump says it in its own words)."""
    return getattr(exc, "errno", None) == errno.ENOSPC or "No space left on device" in str(exc)


def _remove(path):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
        os.unlink(path)
