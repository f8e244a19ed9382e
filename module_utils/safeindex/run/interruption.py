"""A run whose ansible-playbook ended before the run did (Ctrl-C, kill, crash): its record and report say so.

Ansible runs no `always:` after Ctrl-C, so the report role never writes the report of an interrupted run. The run
lock's holder outlives the playbook by design (runlock.py) and calls record_interruption() on its way out: the
record gets an `interrupted` event (the phase, and the index being built, when it ended) and report.json, .md
and .html are written from the record with status `interrupted`.
"""

from ansible.module_utils.safeindex.report.build import build_report, notices_from_events, summarize, summary_lines, write_report
from ansible.module_utils.safeindex.run.record import RunRecord, now_iso


def record_interruption(run_dir, run_id):
    """Record and report the interruption, unless this run (since its last `start`) finished or said so already."""
    record = RunRecord(run_dir)
    events = record.events()
    starts = [number for number, event in enumerate(events) if event.get("event") == "start"]
    if not starts:
        return None
    events = events[starts[-1]:]
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

    start = events[0]
    host, engine = start.get("host"), start.get("engine")
    plan = next((e for e in reversed(events) if e.get("expected_indexes") is not None), {})
    index_results = [e for e in events if e.get("event") == "index"]
    summary = summarize(index_results, plan.get("expected_indexes") or [])
    report = build_report(
        run_id=run_id, host=host, engine=engine, status="interrupted", summary=summary, index_results=index_results,
        phases=record.phases(), started=start.get("at"), finished=now_iso(), notices=notices_from_events(events),
        extra={"error": error, "preflight": [], "warnings": []}, lines=summary_lines(summary, host, run_id),
    )
    return write_report(run_dir, report)


def recorder(run_dir, run_id):
    """The run lock holder's `on_owner_gone` for a run with a folder; None without one."""
    if not run_dir:
        return None
    return lambda: record_interruption(run_dir, run_id)
