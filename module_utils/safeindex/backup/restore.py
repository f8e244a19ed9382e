"""Restore a run's verified backup: into a new database beside the live one, or, confirmed, over the live one.

The restore and the row counts are backup.py's (the same code that proves a backup at verify=restore);
here the restored database is kept, and its counts must match the manifest before it is called restored.
"""

import json
import os
import re
from urllib.parse import quote, urlencode

from ansible.module_utils.safeindex.backup import take as backup
from ansible.module_utils.safeindex.core.errors import SafeIndexError, ServerRefused
from ansible.module_utils.safeindex.core.files import write_private
from ansible.module_utils.safeindex.engines import features_for
from ansible.module_utils.safeindex.run.record import now_iso

IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class RestoreRefused(SafeIndexError):
    """The restore would be unsafe or cannot start; nothing was changed."""

    def __init__(self, message, **details):
        super().__init__(message, refused=True, **details)


class RestoreFailed(SafeIndexError):
    """The restore ran and did not complete; whatever it created was dropped."""


def default_target(database, run_id) -> str:
    """<database>_restored_<run id>, the run id's '-' and '.' (anything not a word character) made '_'."""
    return "%s_restored_%s" % (database, re.sub(r"[^A-Za-z0-9_]", "_", run_id).lower())


def check_target(name: str, engine: str, source: str) -> None:
    limit = features_for(engine).max_identifier_length
    if not IDENTIFIER.match(name or "") or len(name) > limit:
        raise RestoreRefused("%r cannot name the restored database: use letters, digits and '_', not starting with a digit,"
                             " at most %d characters (set restore_database)" % (name, limit))
    if name == source:
        raise RestoreRefused("the restore target %s is the live database itself: a restore goes to a new database"
                             " (in place only with restore_in_place=true and confirm=%s)" % (name, source))


def database_url(params, database: str) -> str:
    """The DATABASE_URL of `database` on the same server, for the app: never the password."""
    url = "%s://%s@%s:%s/%s" % (features_for(params.engine).url_scheme, quote(params.user, safe=""), params.host, params.port,
                                quote(database, safe=""))
    return url + ("?" + urlencode(params.options) if params.options else "")


def load(manifest_path) -> tuple:
    manifest = backup.read_manifest(manifest_path)
    if manifest.get("verified", {}).get("result") != "ok":
        raise RestoreRefused("the backup at %s was never verified: it is not restored" % manifest_path)
    path = backup.dump_path(manifest_path, manifest)
    actual = backup.checksum(path, os.path.isdir(path)) if os.path.exists(path) else None
    if actual != manifest["sha256"]:
        raise RestoreRefused("the dump %s is %s: it is not restored" % (path, "missing" if actual is None else
                             "not the one the manifest describes (sha256 %s, the manifest says %s)" % (actual, manifest["sha256"])))
    return manifest, path


def _tables(manifest):
    return [(t["schema"], t["name"]) for t in manifest["tables"]]


def _expected(table):
    return table["rows"] if table.get("rows_after") is None else table["rows_after"]


def table_counts(manifest, counts) -> list:
    """Each table of the manifest with its row count at the backup and the count found."""
    return [{"table": "%s.%s" % (t["schema"], t["name"]), "backup_rows": _expected(t),
             "rows": counts.get("%s.%s" % (t["schema"], t["name"]))} for t in manifest["tables"]]


def row_deltas(engine, manifest) -> tuple:
    """How the live database differs from the backup, table by table: the writes a restore in place would lose."""
    present = set(engine.user_tables())
    counts = engine.row_counts([t for t in _tables(manifest) if t in present])
    deltas = []
    for entry in table_counts(manifest, counts):
        entry["delta"] = None if entry["rows"] is None else entry["rows"] - entry["backup_rows"]
        deltas.append(entry)
    added = sorted("%s.%s" % t for t in present - set(_tables(manifest)))
    return deltas, added


def delta_lines(deltas) -> list:
    """One line per table whose rows changed since the backup, for the operator who is about to lose them."""
    lines = []
    for d in deltas:
        if d["delta"] is None:
            lines.append("%s: %d rows at the backup, the table is gone now" % (d["table"], d["backup_rows"]))
        elif d["delta"]:
            lines.append("%s: %d rows at the backup, %d now (%+d)" % (d["table"], d["backup_rows"], d["rows"], d["delta"]))
    return lines


def _record_matches(record_path, manifest, params, target):
    try:
        with open(record_path) as handle:
            record = json.load(handle)
    except (OSError, ValueError):
        return False
    return (record.get("sha256"), record.get("database"), record.get("host"), record.get("port")) == (
        manifest["sha256"], target, params.host, params.port) and record.get("complete") is True


def _count_target(engine, dumper, manifest, target):
    copy = engine.connect_to(target)
    try:
        in_copy = [(dumper.schema_in_copy(schema, target), table) for schema, table in _tables(manifest)]
        counts = copy.row_counts(in_copy)
    finally:
        copy.close()
    return {"%s.%s" % t: counts["%s.%s" % c] for t, c in zip(_tables(manifest), in_copy, strict=True)}


def restore_new(engine, dumper, manifest_path, target, jobs=1, record_path=None, check_mode=False) -> tuple:
    """Restore into a new database `target`; returns (result, changed). Raises RestoreRefused or RestoreFailed."""
    manifest, path = load(manifest_path)
    check_target(target, engine.name, engine.params.database)
    result = {"database": target, "database_url": database_url(engine.params, target), "manifest_path": manifest_path,
              "dump_path": path, "in_place": False}
    if engine.database_exists(target):
        refusal = ("the database %s already exists and is not this backup's complete restore: drop it, or name another"
                   " target with restore_database" % target)
        if not (record_path and _record_matches(record_path, manifest, engine.params, target)):
            raise RestoreRefused(refusal)
        try:
            counts = _count_target(engine, dumper, manifest, target)
        except ServerRefused as exc:
            raise RestoreRefused("%s (%s)" % (refusal, exc)) from None
        mismatches = backup.count_mismatches(manifest["tables"], counts)
        if mismatches:
            raise RestoreRefused("%s (its rows differ from the backup's:\n  - %s)" % (refusal, "\n  - ".join(mismatches)))
        return dict(result, tables=table_counts(manifest, counts), already_restored=True), False
    if check_mode:
        return dict(result, tables=table_counts(manifest, {}), already_restored=False), True
    try:
        engine.create_scratch_database(target)
    except ServerRefused as exc:
        if exc.details.get("sqlstate") in backup.INSUFFICIENT_PRIVILEGE or exc.details.get("code") in backup.INSUFFICIENT_PRIVILEGE:
            raise RestoreRefused("this user may not create the database %s (%s): grant CREATEDB (PostgreSQL) or CREATE on"
                                 " %s (MySQL), or restore_database to a name it may create" % (target, exc, target)) from None
        raise
    try:
        counts = backup.restore_and_count(engine, dumper, path, _tables(manifest), target, jobs, "restore into " + target)
        mismatches = backup.count_mismatches(manifest["tables"], counts)
        if mismatches:
            raise RestoreFailed("the restored database differs from the backup:\n  - " + "\n  - ".join(mismatches))
    except BaseException as exc:
        # A half-restored database must not pass for a restore: drop what this call created.
        engine.drop_scratch_database(target)
        if isinstance(exc, (backup.BackupFailed, RestoreFailed)):
            raise RestoreFailed("the restore into %s failed and %s was dropped: %s" % (target, target, exc)) from None
        raise
    if record_path:
        write_private(record_path, {"tool": backup.TOOL, "complete": True, "database": target, "host": engine.params.host,
                                    "port": engine.params.port, "sha256": manifest["sha256"], "manifest_path": manifest_path,
                                    "finished": now_iso(), "tables": table_counts(manifest, counts)})
    return dict(result, tables=table_counts(manifest, counts), already_restored=False), True


def check_confirmation(database, confirm) -> None:
    if confirm != database:
        raise RestoreRefused("a restore in place overwrites %s: confirm with confirm=%s (got %r); nothing was touched"
                             % (database, database, confirm))


def restore_in_place(engine, dumper, manifest_path, confirm, jobs=1) -> dict:
    """Replace the live database's tables with the backup's. The caller has shown the deltas and taken a safety backup."""
    database = engine.params.database
    check_confirmation(database, confirm)
    manifest, path = load(manifest_path)
    if manifest.get("database") != database or manifest.get("engine") != engine.name:
        raise RestoreRefused("the backup is of %s database %s, not of %s database %s: it is not restored over it"
                             % (manifest.get("engine"), manifest.get("database"), engine.name, database))
    try:
        counts = backup.restore_and_count(engine, dumper, path, _tables(manifest), database, jobs,
                                          "restore in place of " + database, clean=True)
    except backup.BackupFailed as exc:
        raise RestoreFailed("the restore over %s failed: %s" % (database, exc)) from None
    mismatches = backup.count_mismatches(manifest["tables"], counts)
    if mismatches:
        raise RestoreFailed("after the restore in place, %s differs from the backup:\n  - %s" % (database, "\n  - ".join(mismatches)))
    return {"database": database, "database_url": database_url(engine.params, database), "manifest_path": manifest_path,
            "dump_path": path, "in_place": True, "tables": table_counts(manifest, counts), "already_restored": False}
