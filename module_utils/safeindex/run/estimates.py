"""How long a run's plan will take: each build from its table's size at a measured rate, the backup from the database's size.

The rate (bytes of table an online build reads per second, per engine) comes, in order, from
  1. the newest successful staging rehearsal of the same spec fingerprint (its record keeps each index's measured rate),
  2. this host's own earlier successful runs (their report.json, next to this run's folder),
  3. the engine's conservative default (features.default_build_bytes_per_second), labelled "uncalibrated".
The backup's rate is found the same way, where a run recorded the backup's duration and the database's size.
A build of a tiny table takes milliseconds: its measured duration is floored at MIN_MEASURED_SECONDS, so the rate it
gives is a lower bound (said as such), never an absurd figure that would promise a big table in no time.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

from ansible.module_utils.safeindex.build.progress import human_bytes

MIN_MEASURED_SECONDS = 1.0
UNCALIBRATED = "uncalibrated"


@dataclass
class Calibration:
    """Where the rates of a plan come from: `source` rehearsal, history or uncalibrated, and the run that measured them."""

    build_rate: float
    backup_rate: float
    source: str = UNCALIBRATED
    run_id: str | None = None
    per_index: dict = field(default_factory=dict)  # index name -> bytes/s measured by a rehearsal of the same spec
    backup_source: str = UNCALIBRATED
    backup_run_id: str | None = None
    floored: bool = False  # the measured builds were shorter than MIN_MEASURED_SECONDS: the rate is a lower bound

    def label(self) -> str:
        return label(self.source, self.run_id)

    def backup_label(self) -> str:
        return label(self.backup_source, self.backup_run_id)


def label(source: str, run_id: str | None) -> str:
    if source == "rehearsal":
        return "rehearsal %s" % run_id
    if source == "history":
        return "earlier run %s" % run_id
    return UNCALIBRATED


def measured_rate(table_bytes: int | None, seconds: float | None) -> tuple[float | None, bool]:
    """(bytes per second, whether the duration was floored) of one measured build or backup; (None, False) unmeasured."""
    if not table_bytes or seconds is None or seconds < 0:
        return None, False
    floored = seconds < MIN_MEASURED_SECONDS
    return table_bytes / max(seconds, MIN_MEASURED_SECONDS), floored


def outcome(planned: dict | None, index_rows: list[dict], backup: dict | None) -> dict | None:
    """The report's `estimates`: preflight's estimate next to what each build (and the backup) really took, and the rate
    measured, so the next run's estimate improves. None when preflight estimated nothing."""
    if not planned:
        return None
    actual = {row["name"]: row for row in index_rows if row.get("action") in ("created", "rebuilt_invalid")}
    rows, total_bytes, total_seconds, floored = [], 0, 0.0, False
    for entry in planned.get("indexes") or []:
        row = dict(entry, actual_seconds=None, bytes_per_second=None, duration_floored=False)
        built = actual.get(entry["name"])
        if built and built.get("duration_seconds") is not None:
            rate, was_floored = measured_rate(entry.get("table_bytes"), built["duration_seconds"])
            row.update(actual_seconds=built["duration_seconds"], bytes_per_second=rate, duration_floored=was_floored)
            if rate:
                total_bytes += entry["table_bytes"]
                total_seconds += max(built["duration_seconds"], MIN_MEASURED_SECONDS)
                floored = floored or was_floored
        rows.append(row)
    backup_plan = dict(planned.get("backup") or {})
    if backup and backup.get("duration_seconds") is not None:
        rate, was_floored = measured_rate(backup_plan.get("database_bytes"), backup["duration_seconds"])
        backup_plan.update(actual_seconds=backup["duration_seconds"], bytes_per_second=rate, duration_floored=was_floored)
    return dict(planned, indexes=rows, backup=backup_plan or None,
                build_bytes_per_second=total_bytes / total_seconds if total_seconds else None, build_rate_floored=floored)


def rehearsal_rates(report: dict) -> dict:
    """What a rehearsal record keeps of its report for later plans: each index's measured rate and the run's."""
    estimates = report.get("estimates") or {}
    return {
        "build_rates": {row["name"]: row["bytes_per_second"] for row in estimates.get("indexes") or [] if row.get("bytes_per_second")},
        "build_bytes_per_second": estimates.get("build_bytes_per_second"),
        "build_rate_floored": bool(estimates.get("build_rate_floored")),
        "backup_bytes_per_second": (estimates.get("backup") or {}).get("bytes_per_second"),
    }


def earlier_reports(host_dir: str | None, engine: str, skip_run: str | None = None) -> list[dict]:
    """This host's earlier successful runs of the engine that measured something, newest first."""
    found = []
    try:
        names = os.listdir(host_dir) if host_dir else []
    except OSError:
        return []
    for name in names:
        if name == skip_run:
            continue
        try:
            with open(os.path.join(host_dir, name, "report.json")) as handle:
                report = json.load(handle)
        except (OSError, ValueError):
            continue
        if report.get("status") == "success" and report.get("engine") == engine and report.get("estimates"):
            found.append(report)
    return sorted(found, key=lambda r: r.get("finished") or "", reverse=True)


def calibrate(features: Any, rehearsal: dict | None, history: list[dict]) -> Calibration:
    """The rates of a plan: the rehearsal's record first, then this host's newest run that measured one, else the engine's
    defaults. `rehearsal` is run/preflight.py rehearsal_record()'s answer for the spec (None without one)."""
    found = Calibration(build_rate=float(features.default_build_bytes_per_second),
                        backup_rate=float(features.default_backup_bytes_per_second))
    if rehearsal and rehearsal.get("build_bytes_per_second"):
        found.build_rate, found.source = float(rehearsal["build_bytes_per_second"]), "rehearsal"
        found.run_id = rehearsal.get("run_id")
        found.per_index, found.floored = dict(rehearsal.get("build_rates") or {}), bool(rehearsal.get("build_rate_floored"))
    else:
        measured = next((r for r in history if r["estimates"].get("build_bytes_per_second")), None)
        if measured:
            found.build_rate, found.source = float(measured["estimates"]["build_bytes_per_second"]), "history"
            found.run_id = measured["run_id"]
            found.floored = bool(measured["estimates"].get("build_rate_floored"))
    if rehearsal and rehearsal.get("backup_bytes_per_second"):
        found.backup_rate, found.backup_source = float(rehearsal["backup_bytes_per_second"]), "rehearsal"
        found.backup_run_id = rehearsal.get("run_id")
    else:
        measured = next((r for r in history if (r["estimates"].get("backup") or {}).get("bytes_per_second")), None)
        if measured:
            found.backup_rate, found.backup_source = float(measured["estimates"]["backup"]["bytes_per_second"]), "history"
            found.backup_run_id = measured["run_id"]
    return found


def plan(calibration: Calibration, builds: list[dict], database_bytes: int | None) -> dict:
    """The plan's estimates. `builds`: {name, table, table_bytes, estimated_index_bytes} of each index still to build.
    Each build: table_bytes / its rate (the index's own from a rehearsal of the same spec, else the run's); the backup
    (only when something is built): database_bytes / the backup rate."""
    rows = []
    for build in builds:
        rate = calibration.per_index.get(build["name"]) or calibration.build_rate
        seconds = (build.get("table_bytes") or 0) / rate if build.get("table_bytes") is not None else None
        rows.append(dict(build, bytes_per_second=rate, estimated_seconds=seconds, calibrated_by=calibration.label()))
    known = [r["estimated_seconds"] for r in rows if r["estimated_seconds"] is not None]
    backup = None
    if builds and database_bytes:
        backup = {"database_bytes": database_bytes, "bytes_per_second": calibration.backup_rate,
                  "estimated_seconds": database_bytes / calibration.backup_rate, "calibrated_by": calibration.backup_label()}
    unknown = [r["name"] for r in rows if r["estimated_seconds"] is None]
    return {"indexes": rows, "builds_seconds": sum(known) if known and not unknown else None, "unknown": unknown,
            "backup": backup, "calibrated_by": calibration.label(), "source": calibration.source,
            "rate_is_lower_bound": calibration.floored,
            "note": ("the calibrating run's builds took under %g s each: its rate is a lower bound, so the times are upper"
                     " bounds" % MIN_MEASURED_SECONDS) if calibration.floored else None}


def duration_text(seconds: float | None) -> str:
    """'under 1 s', '42 s', '3 min', '1 h 05 min': how an operator reads a time to come."""
    if seconds is None:
        return "unknown"
    if seconds < 1:
        return "under 1 s"
    if seconds < 90:
        return "%d s" % round(seconds)
    minutes = round(seconds / 60.0)
    return "%d min" % minutes if minutes < 60 else "%d h %02d min" % divmod(minutes, 60)


def table(estimates: dict) -> list[str]:
    """The plan's table: index, table size, estimated index size, estimated time, calibrated by; then the total."""
    header = ("index", "table size", "est. index size", "est. time", "calibrated by")
    lines = [(r["name"], size(r.get("table_bytes")), size(r.get("estimated_index_bytes")), duration_text(r["estimated_seconds"]),
              r["calibrated_by"]) for r in estimates["indexes"]]
    lines.append(("total (%d builds)" % len(estimates["indexes"]), size(sum(r.get("table_bytes") or 0 for r in estimates["indexes"])),
                  size(sum(r.get("estimated_index_bytes") or 0 for r in estimates["indexes"])),
                  duration_text(estimates["builds_seconds"]) if estimates["indexes"] else "-", estimates["calibrated_by"]))
    widths = [max(len(str(line[i])) for line in [header] + lines) for i in range(len(header))]
    text = ["  ".join(str(cell).ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip() for line in [header] + lines]
    backup = estimates.get("backup")
    if backup:
        text.append("backup: %s of database, %s (calibrated by %s)" % (
            size(backup["database_bytes"]), duration_text(backup["estimated_seconds"]), backup["calibrated_by"]))
    if estimates.get("note"):
        text.append("note: " + estimates["note"])
    return text


def expected_duration(estimates: dict | None, monitor_seconds: float) -> tuple[float, str] | None:
    """(seconds, how they add up) of the run from the plan's estimates: backup, builds and the monitoring window; None when
    nothing could be estimated (the notice then keeps the runbook's generic timeline)."""
    if not estimates or (estimates["indexes"] and estimates["builds_seconds"] is None):
        return None
    parts, total = [], float(monitor_seconds)
    backup = estimates.get("backup")
    if backup:
        total += backup["estimated_seconds"]
        parts.append("backup %s (%s)" % (duration_text(backup["estimated_seconds"]), backup["calibrated_by"]))
    if estimates["indexes"]:
        total += estimates["builds_seconds"]
        builds = duration_text(estimates["builds_seconds"])
        parts.append("%d index build(s) %s (%s)" % (len(estimates["indexes"]), builds, estimates["calibrated_by"]))
    else:
        parts.append("nothing to build")
    parts.append("monitoring %s" % duration_text(monitor_seconds) if monitor_seconds else "no monitoring window")
    return total, ", ".join(parts)


def size(count: int | None) -> str:
    return "unknown" if count is None else human_bytes(count)
