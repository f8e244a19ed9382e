"""What a rollback works on: which run (given, the host's latest in the artifacts, or the one marked in the database),
its folders, and what the run's report says it left to restore (its RDS snapshot, its backup's manifest).

The controller's files only: a snapshot restore must work while the database itself is what is broken.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any
from urllib.parse import quote

from ansible.module_utils.safeindex.core.run_id import check_run_id
from ansible.module_utils.safeindex.engines import features_for
from ansible.module_utils.safeindex.run.record import RECORD_FILE, RunRecord

MODES = ("indexes", "restore_backup", "restore_snapshot")


def latest_run(artifacts_dir: str, host: str) -> str | None:
    """The id of the host's latest migrate run in the artifacts (its record has a start; newest record first)."""
    root = os.path.join(artifacts_dir, host)
    try:
        names = os.listdir(root)
    except OSError:
        return None
    runs = []
    for name in names:
        path = os.path.join(root, name, RECORD_FILE)
        if os.path.isfile(path) and any(e.get("event") == "start" for e in RunRecord(os.path.dirname(path)).events()):
            runs.append((os.path.getmtime(path), name))
    return max(runs)[1] if runs else None


def choose_run(given: str | None, latest: str | None, marked: str | None) -> str | None:
    """-e run_id=... first, else the latest run in the artifacts, else the one run marked in the database."""
    for run_id in (given, latest, marked):
        if run_id:
            return check_run_id(run_id)
    return None


def folders(artifacts_dir: str, host: str, run_id: str, mode: str, now: float | None = None) -> dict[str, str]:
    """The run's folder and this rollback's own folder inside it (rollback-<mode>-<UTC timestamp>)."""
    run_dir = os.path.join(artifacts_dir, host, run_id)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    return {"run_dir": run_dir, "rollback_dir": os.path.join(run_dir, "rollback-%s-%s" % (mode, stamp))}


def run_report(run_dir: str) -> dict[str, Any] | None:
    """The run's report.json; None when the run has none (or it cannot be read)."""
    try:
        with open(os.path.join(run_dir, "report.json")) as handle:
            report = json.load(handle)
    except (OSError, ValueError):
        return None
    return report if isinstance(report, dict) else None


def snapshot_of(report: dict[str, Any] | None, run_dir: str) -> tuple[dict[str, Any] | None, str | None]:
    """(the run's RDS snapshot, None), or (None, why there is none)."""
    if report is None:
        return None, "no report.json in %s" % run_dir
    snapshot = report.get("snapshot") or {}
    if not snapshot.get("id"):
        return None, "its report.json names none"
    return dict(snapshot, kind=snapshot.get("kind") or "instance"), None


def backup_manifest(report: dict[str, Any] | None, backup_dir: str, host: str, run_id: str) -> str:
    """Where the run's backup manifest is: as its report says, else where db_backup puts it."""
    reported = ((report or {}).get("backup") or {}).get("manifest_path")
    return reported or os.path.join(backup_dir, host, run_id, "manifest.json")


def switch_url(engine: str, user: str, database: str, endpoint: str, port: int) -> str:
    """The DATABASE_URL of a restored copy, without the password (the operator adds the source's)."""
    scheme = features_for(engine).url_scheme
    return "%s://%s@%s:%s/%s" % (scheme, quote(user, safe=""), endpoint, port, quote(database, safe=""))
