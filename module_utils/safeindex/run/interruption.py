"""A run whose ansible-playbook ended before the run did (Ctrl-C, SIGTERM, kill, crash), or whose module was killed
under it: its record and report say so.

Ansible runs no `always:` after Ctrl-C or SIGTERM, so the report role never writes the report of such a run. The run
lock's holder outlives the playbook by design (lock.py) and calls record_interruption() on its way out: the record
gets an `interrupted` event (the phase, and the index being built, when it ended) and report.json, .md and .html are
written from the record with status `interrupted`, by the same function as every other report. A rollback's folder
(its drops recorded by db_index) gets its own report the same way: what it had dropped and what not.

A module killed on its own (SIGKILL, the OOM killer) leaves the playbook running: the play's rescue sees a result
without JSON and the shell's exit status of a signal; run_record's finish asks module_killed() and records the
interruption (record_module_killed) before the report is written.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from typing import Any

# At the top, not where used: the run lock's holder calls these after the module's process has ended, and with it the
# AnsiballZ payload the holder would import them from.
from ansible.module_utils.safeindex.report.from_record import report_from_record
from ansible.module_utils.safeindex.report.rollback import build_rollback_report, write_rollback_report
from ansible.module_utils.safeindex.run.guard import wait_for_guards
from ansible.module_utils.safeindex.run.record import RunRecord, last_run, phase_results

# db_index records the names a list of drops will drop before the first (a rollback's folder then says what it had
# dropped and what not, should it be cut short).
DROPS_PLANNED = "drops_planned"
# What Ansible says of a module that printed no result (2.19; older releases: MODULE FAILURE).
NO_RESULT = ("Module result deserialization failed", "MODULE FAILURE")
# How long the report waits for the run's guards to undo their hooks (app_hook's timeout is 60 s by default).
GUARD_WAIT_SECONDS = 90
RERUN = "; run migrate.yml again to finish: what is built is kept, an INVALID leftover of a build is rebuilt"


def record_interruption(run_dir: str, run_id: str) -> str | None:
    """Record and report the interruption, unless this run (since its last `start`) finished or said so already;
    returns the path of report.json, or None when there was nothing to report. A rollback's folder gets a rollback
    report (record_rollback_interruption)."""
    record = RunRecord(run_dir)
    everything = record.events()
    events = last_run(everything)
    if not events:
        return record_rollback_interruption(run_dir, everything)
    if _ended(events):
        return None
    phase, building = where_it_stopped(events)
    error = "interrupted: the ansible-playbook process ended%s before the run finished (Ctrl-C, SIGTERM, kill or crash)" % (
        _where(phase, building))
    error += RERUN
    record.append("interrupted", run_id=run_id, phase=phase, index=building, error=error)
    report_from_record(run_dir, "interrupted", error)
    return os.path.join(run_dir, "report.json")


def where_it_stopped(events: list[dict[str, Any]]) -> tuple[str | None, str | None]:
    """(the phase begun and not ended, the index whose build began and did not end) in these events of one run."""
    started_phases = [e.get("phase") for e in events if e.get("event") == "phase_start"]
    ended_phases = {e.get("phase") for e in events if e.get("event") == "phase_end"}
    phase = next((name for name in reversed(started_phases) if name not in ended_phases), None)
    # An index whose build was cut short may have a (failed) result: only its `index` event says it was done.
    finished_indexes = {e.get("name") for e in events if e.get("event") == "index"}
    building = next((e.get("name") for e in reversed(events)
                     if e.get("event") == "index_build_started" and e.get("name") not in finished_indexes), None)
    return phase, building


def module_killed(rc: int | None, msg: str | None) -> str | None:
    """The signal that killed a module, by name, from its failed result: no result printed (Ansible's NO_RESULT
    message) and the exit status of a signal (the shell's 128 + n, or Python's -n); None for any other failure (a
    module that failed and said why, a hook's own exit status)."""
    if rc is None or not any(words in (msg or "") for words in NO_RESULT):
        return None
    number = rc - 128 if rc > 128 else -rc
    try:
        return signal.Signals(number).name
    except ValueError:
        return None


def record_module_killed(run_dir: str, run_id: str, killed_by: str) -> str | None:
    """A run whose module was killed (`killed_by`, a signal's name) while the playbook went on: an `interrupted` event
    naming the phase, the index and the signal; returns the run's error, or None when the record holds no run or
    already said how it ended."""
    record = RunRecord(run_dir)
    events = last_run(record.events())
    if not events or _ended(events):
        return None
    phase, building = where_it_stopped(events)
    error = "interrupted: a module process was killed (%s)%s before the run finished" % (killed_by, _where(phase, building))
    error += RERUN
    record.append("interrupted", run_id=run_id, phase=phase, index=building, signal=killed_by, error=error)
    return error


def record_rollback_interruption(rollback_dir: str, events: list[dict[str, Any]]) -> str | None:
    """A rollback cut short: an `interrupted` event and its report (status interrupted) naming what it had dropped and
    what it had not; None when the folder is no rollback's or the rollback already finished."""
    parts = os.path.normpath(rollback_dir).split(os.sep)
    if len(parts) < 3 or not parts[-1].startswith("rollback-") or _ended(events):
        return None
    host, run_id, mode = parts[-3], parts[-2], parts[-1].split("-")[1]
    planned = next((e.get("names") or [] for e in reversed(events) if e.get("event") == DROPS_PLANNED), [])
    results = phase_results(events, "index")
    dropped = [r.get("name") for r in results if r.get("action") == "dropped" and not r.get("failed")]
    gone = [r.get("name") for r in results if r.get("action") == "absent" and not r.get("failed")]
    not_dropped = [name for name in planned if name not in dropped and name not in gone]
    engine = next((r.get("engine") for r in results if r.get("engine")), None)
    if planned:
        what = "after dropping %d of %d (%s); not dropped: %s" % (
            len(dropped), len(planned), ", ".join(dropped) or "none", ", ".join(not_dropped) or "none")
    else:
        what = "before any index was dropped" if mode == "indexes" else "during the %s" % mode.replace("_", " ")
    line = ("Rollback (%s) of run %s on %s interrupted: the ansible-playbook process ended %s; run rollback.yml again "
            "(-e run_id=%s) to finish" % (mode, run_id, host, what, run_id))
    RunRecord(rollback_dir).append("interrupted", run_id=run_id, mode=mode, dropped=dropped, not_dropped=not_dropped,
                                   error=line)
    outcome = {"mode": mode, "status": "interrupted", "summary_lines": [line],
               "details": {"dropped": dropped, "not_dropped": not_dropped, "already_gone": gone}}
    return write_rollback_report(rollback_dir, build_rollback_report(outcome, run_id, host, engine))


def recorder(run_dir: str | None, run_id: str) -> Callable[[], str | None] | None:
    """The run lock holder's `on_owner_gone` for a run with a folder; None without one. It first waits for the run's
    guards (maintenance mode's undo): the report is written once they have run and said how it went."""
    if not run_dir:
        return None

    def record_after_the_guards() -> str | None:
        wait_for_guards(run_dir, GUARD_WAIT_SECONDS)
        return record_interruption(run_dir, run_id)
    return record_after_the_guards


def _ended(events):
    return any(event.get("event") in ("finish", "interrupted") for event in events)


def _where(phase, building):
    return "%s%s" % (" during the %s phase" % phase if phase else "", ", while %s was being built" % building if building else "")
