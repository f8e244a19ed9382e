"""A run whose ansible-playbook ended before the run did (Ctrl-C, kill, crash): its record and report say so.

Ansible runs no `always:` after Ctrl-C, so the report role never writes the report of an interrupted run. The run
lock's holder outlives the playbook by design (runlock.py) and calls record_interruption() on its way out: the
record gets an `interrupted` event (the phase, and the index being built, when it ended) and report.json, .md
and .html are written from the record with status `interrupted`, by the same function as every other report.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from ansible.module_utils.safeindex.report.from_record import report_from_record
from ansible.module_utils.safeindex.run.record import RunRecord, last_run


def record_interruption(run_dir: str, run_id: str) -> str | None:
    """Record and report the interruption, unless this run (since its last `start`) finished or said so already;
    returns the path of report.json, or None when there was nothing to report."""
    record = RunRecord(run_dir)
    events = last_run(record.events())
    if not events:
        return None
    if any(event.get("event") in ("finish", "interrupted") for event in events):
        return None
    started_phases = [e.get("phase") for e in events if e.get("event") == "phase_start"]
    ended_phases = {e.get("phase") for e in events if e.get("event") == "phase_end"}
    phase = next((name for name in reversed(started_phases) if name not in ended_phases), None)
    finished_indexes = {e.get("name") for e in events if e.get("event") == "index"}
    building = next((e.get("name") for e in reversed(events)
                     if e.get("event") == "index_build_started" and e.get("name") not in finished_indexes), None)
    error = "interrupted: the ansible-playbook process ended%s%s before the run finished (Ctrl-C, kill or crash)" % (
        " during the %s phase" % phase if phase else "", ", while %s was being built" % building if building else "")
    error += "; run migrate.yml again to finish: what is built is kept, an INVALID leftover of a build is rebuilt"
    record.append("interrupted", run_id=run_id, phase=phase, index=building, error=error)
    report_from_record(run_dir, "interrupted", error)
    return os.path.join(run_dir, "report.json")


def recorder(run_dir: str | None, run_id: str) -> Callable[[], str | None] | None:
    """The run lock holder's `on_owner_gone` for a run with a folder; None without one."""
    if not run_dir:
        return None
    return lambda: record_interruption(run_dir, run_id)
