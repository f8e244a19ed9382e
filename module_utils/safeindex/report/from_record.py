"""The one way a run's report is made: from its record.jsonl alone, whether the run ended well, failed or was interrupted.

Each phase's module records its result as it finishes (run/record.py record_phase_result); run_record's `finish` and
the run lock's holder after an interruption both call report_from_record(), so the two reports cannot drift apart.
"""

from __future__ import annotations

import time
from typing import Any

from ansible.module_utils.safeindex.report import contacts as emergency
from ansible.module_utils.safeindex.report.build import (
    build_report,
    index_rows,
    notices_from_events,
    summarize,
    summary_lines,
    write_report,
)
from ansible.module_utils.safeindex.report.replicas import replica_section
from ansible.module_utils.safeindex.run.estimates import outcome
from ansible.module_utils.safeindex.run.record import RunRecord, last_phase_result, last_run, now_iso, phase_results, phases_of


def expected_indexes(events: list[dict[str, Any]]) -> list[str]:
    """The spec's index names, from preflight's plan (or, for older records, the end of preflight)."""
    preflight = last_phase_result(events, "preflight") or {}
    names = (preflight.get("spec") or {}).get("names")
    if names is None:
        plan = next((e for e in reversed(events) if e.get("expected_indexes") is not None), {})
        names = plan.get("expected_indexes")
    return list(names or [])


def report_inputs(events: list[dict[str, Any]], status: str, error: str | None = None) -> dict[str, Any]:
    """build_report()'s arguments, from the events of one run (since its last `start`)."""
    start = events[0] if events else {}
    preflight = last_phase_result(events, "preflight") or {}
    index_results = phase_results(events, "index")
    summary = summarize(index_results, expected_indexes(events))
    verify = last_phase_result(events, "verify")
    host = start.get("host")
    run_id = start.get("run_id")
    total_seconds = round(time.monotonic() - start["monotonic"], 3) if start.get("monotonic") is not None else None
    extra = {
        "error": error,
        "server_version": preflight.get("server_version"),
        "database": preflight.get("database"),
        "spec_fingerprint": (preflight.get("spec") or {}).get("fingerprint"),
        "preflight": preflight.get("checks") or [],
        "warnings": preflight.get("warnings_found") or [],
        "replicas": replica_section(events, index_results, last_phase_result(events, "monitor")),
        "emergency_contacts": emergency.recorded(events),
        # Preflight's estimate next to each build's (and the backup's) actual time and rate: the next plan's calibration.
        "estimates": outcome(preflight.get("estimates"), index_rows(index_results), last_phase_result(events, "backup")),
    }
    return dict(
        run_id=run_id, host=host, engine=start.get("engine") or preflight.get("engine"), status=status, summary=summary,
        index_results=index_results, phases=phases_of(events), started=start.get("at"), finished=now_iso(),
        backup=last_phase_result(events, "backup"), snapshot=last_phase_result(events, "snapshot"), extra=extra,
        verify=verify, probes_before=last_phase_result(events, "probes_before"), monitor=last_phase_result(events, "monitor"),
        backup_retention_days=start.get("backup_retention_days"), notices=notices_from_events(events),
        total_seconds=total_seconds, lines=summary_lines(summary, host, run_id, verify=verify),
    )


def report_from_record(run_dir: str, status: str, error: str | None = None) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """The run's report built from its record alone and written as report.json, .md and .html in run_dir (0600), and
    the runbook's counts; (None, {}) when the record holds no start of a run."""
    events = last_run(RunRecord(run_dir).events())
    if not events:
        return None, {}
    inputs = report_inputs(events, status, error)
    report = build_report(**inputs)
    # A run that did not succeed: the runbook's steps with this run's commands (the inventories preflight recorded).
    if status != "success":
        report["recovery"] = emergency.recovery_steps(report, list(events[0].get("inventories") or []))
    write_report(run_dir, report)
    return report, inputs["summary"]
