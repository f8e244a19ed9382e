"""The phases a run records without a process of their own: a skipped phase is derived from the phases the run's start
plans, and run_record's finish writes the report, then the after notice, then lets the run lock go, whatever failed."""

import json
import subprocess

from ansible.module_utils.safeindex.run import lock as runlock
from ansible.module_utils.safeindex.run.record import RunRecord, phases_of, record_phase

from tests.unit.test_report_from_record import a_run

PLANNED = ["preflight", "backup", "snapshot", "indexes", "verify", "monitor"]


def a_started_run(run_dir, phases):
    record = RunRecord(str(run_dir))
    record.append("start", run_id="run-7", host="db1", monotonic=1.0, phases=PLANNED)
    for phase in phases:
        record_phase(str(run_dir), "phase_start", phase, run_id="run-7")
        record_phase(str(run_dir), "phase_end", phase, run_id="run-7")
    return record


def test_a_planned_phase_the_play_skipped_is_shown_where_it_belongs_with_no_duration(tmp_path):
    record = a_started_run(tmp_path, ["preflight", "indexes", "verify", "monitor"])
    phases = phases_of(record.events())
    assert [p["name"] for p in phases] == PLANNED
    skipped = {p["name"]: p for p in phases if p.get("skipped")}
    assert sorted(skipped) == ["backup", "snapshot"]
    indexes = next(p for p in phases if p["name"] == "indexes")
    assert all(p["duration_seconds"] == 0.0 and p["started"] == p["finished"] == indexes["started"] for p in skipped.values())
    assert all(p["duration_seconds"] is not None for p in phases)


def test_a_run_that_stopped_shows_no_phase_it_never_reached(tmp_path):
    record = a_started_run(tmp_path, ["preflight", "backup"])
    assert [p["name"] for p in phases_of(record.events())] == ["preflight", "backup"]


def test_without_a_plan_only_the_recorded_phases_are_shown(tmp_path):
    record = a_run(tmp_path, phases=("preflight", "indexes"))
    assert [p["name"] for p in phases_of(record.events())] == ["preflight", "indexes"]


def test_a_phase_dated_back_to_when_it_began_keeps_its_whole_duration(tmp_path):
    import time

    record_phase(str(tmp_path), "phase_start", "monitor", since=time.time() - 5)
    record_phase(str(tmp_path), "phase_end", "monitor")
    (phase,) = phases_of(RunRecord(str(tmp_path)).events())
    assert 4.9 <= phase["duration_seconds"] < 6


def a_lock_holder(tmp_path):
    """A process standing in for the run lock's holder, named in its holder file as db_preflight leaves it."""
    holder = subprocess.Popen(["sleep", "60"])
    holder_file = tmp_path / "run-lock.json"
    holder_file.write_text(json.dumps({"pid": holder.pid, "start_time": runlock._start_time(holder.pid)}))
    return holder, holder_file


def finish(run_module, run_dir, holder_file, **args):
    return run_module("run_record", dict(run_dir=str(run_dir), run_id="run-7", event="finish", host="db1",
                                         after_notice=True, holder_file=str(holder_file), **args))


def test_finish_writes_the_report_then_the_after_notice_then_lets_the_lock_go(run_module, tmp_path):
    a_started_run(tmp_path, ["preflight", "indexes"])
    holder, holder_file = a_lock_holder(tmp_path)
    try:
        result = finish(run_module, tmp_path, holder_file)
        assert result["_rc"] == 0 and result["released"] is True
        assert holder.wait(10) is not None and not holder_file.exists()
        assert (tmp_path / "report.json").exists() and (tmp_path / "notice_after.txt").read_text() == result["notice_after"]["text"]
        assert result["notice_after"]["path"] == str(tmp_path / "notice_after.txt")
        # The report learnt of the notice, so its checklist ticks "Update team" on evidence.
        report = json.loads((tmp_path / "report.json").read_text())
        assert report["notices"]["after"]["file"] == "notice_after.txt"
        kinds = [e["event"] for e in RunRecord(str(tmp_path)).events()]
        assert kinds.index("finish") < kinds.index("notice")
    finally:
        holder.kill()
        holder.wait()


def test_a_notice_that_cannot_be_written_fails_the_task_but_does_not_keep_the_lock(run_module, tmp_path):
    a_started_run(tmp_path, ["preflight"])
    holder, holder_file = a_lock_holder(tmp_path)
    try:
        result = finish(run_module, tmp_path, holder_file, timezone="Not/AZone")
        assert result["_rc"] == 1 and result["msg"].startswith("could not write the after notice")
        assert result["released"] is True and holder.wait(10) is not None
        assert (tmp_path / "report.json").exists() and not (tmp_path / "notice_after.txt").exists()
    finally:
        holder.kill()
        holder.wait()


def test_a_report_that_cannot_be_written_does_not_keep_the_lock_either(run_module, tmp_path):
    holder, holder_file = a_lock_holder(tmp_path)
    try:
        result = finish(run_module, tmp_path / "never-started", holder_file)
        assert result["_rc"] == 1 and "nothing to report" in result["msg"]
        assert result["released"] is True and holder.wait(10) is not None
    finally:
        holder.kill()
        holder.wait()


def test_in_check_mode_finish_writes_nothing_and_sends_no_notice(run_module, tmp_path):
    result = run_module("run_record", dict(run_dir=str(tmp_path), run_id="run-7", event="finish", host="db1", after_notice=True,
                                           holder_file=str(tmp_path / "run-lock.json"), expected_indexes=["idx_a"]),
                        check_mode=True)
    assert result["_rc"] == 0 and result["notice_after"] is None and result["released"] is False
    assert list(tmp_path.iterdir()) == []


def test_a_rollbacks_report_then_lets_its_lock_go(run_module, tmp_path):
    holder, holder_file = a_lock_holder(tmp_path)
    outcome = {"mode": "indexes", "status": "success", "summary_lines": ["Rollback (indexes) of run run-7: dropped 1"], "details": {}}
    try:
        result = run_module("rollback_record", dict(rollback_dir=str(tmp_path / "rollback"), run_id="run-7", host="db1",
                                                    outcome=outcome, holder_file=str(holder_file)))
        assert result["_rc"] == 0 and result["released"] is True and holder.wait(10) is not None
        assert (tmp_path / "rollback" / "report.json").exists()
    finally:
        holder.kill()
        holder.wait()


# A port nothing listens on: db_health keeps a failed sample with its error, which is all these tests need.
NOWHERE = "postgresql://safeindex@127.0.0.1:9/app"


def test_a_smoke_check_failing_at_the_start_ends_the_window_at_once_and_the_phase_starts_when_monitoring_did(run_module, tmp_path):
    import time

    answers = [{"item": {"name": "login", "url": "http://app/login"}, "status": 500, "content": "oops"},
               {"item": {"name": "home", "url": "http://app/", "body": "Welcome"}, "status": 200, "content": "Welcome!"}]
    started = time.time() - 3
    began = time.monotonic()
    result = run_module("db_health", dict(database_url=NOWHERE, connect_timeout=1, duration_seconds=600, interval_seconds=1,
                                          smoke_answers=answers, phase_started=started, run_id="run-7", run_dir=str(tmp_path)))
    assert result["_rc"] == 0 and result["smoke_failed"] is True and time.monotonic() - began < 30
    assert [(c["name"], c["ok"], c["round"]) for c in result["smoke_checks"]] == [("login", False, "start"), ("home", True, "start")]
    assert len(result["samples"]) == 1
    (start,) = [e for e in RunRecord(str(tmp_path)).events() if e["event"] == "phase_start"]
    assert start["phase"] == "monitor" and time.monotonic() - start["monotonic"] >= 3


def test_the_monitor_judgement_judges_both_rounds_and_ends_the_phase(run_module, tmp_path):
    record_phase(str(tmp_path), "phase_start", "monitor")
    answers = {"start_answers": [{"item": {"name": "home", "url": "http://app/"}, "status": 200, "content": ""}],
               "end_answers": [{"item": {"name": "home", "url": "http://app/"}, "status": 503, "content": ""}]}
    result = run_module("run_record", dict(run_dir=str(tmp_path), run_id="run-7", event="monitor", host="db1", details=answers))
    assert [(c["round"], c["ok"]) for c in result["monitor"]["smoke_checks"]] == [("start", True), ("end", False)]
    assert "smoke check home: end of the window: HTTP 503, expected 200" in result["failure"]
    (phase,) = phases_of(RunRecord(str(tmp_path)).events())
    assert phase["name"] == "monitor" and phase["duration_seconds"] is not None


def test_db_health_ending_the_phase_judges_the_window_as_the_monitor_judgement_would(run_module, tmp_path):
    import time

    result = run_module("db_health", dict(database_url=NOWHERE, connect_timeout=1, duration_seconds=0, interval_seconds=1,
                                          phase_started=time.time() - 2, end_phase=True, host="db1",
                                          inventories=["inventories/prod"], run_id="run-7", run_dir=str(tmp_path)))
    assert result["_rc"] == 0 and result["failure"] is None
    found = result["monitor"]
    assert found["smoke_checks"] == [] and found["error_logs"] == [] and found["failed"] == []
    assert found["health"]["samples"] == result["samples"] and found["duration_seconds"] >= 2
    assert found["rollback_command"] == "ansible-playbook rollback.yml -i inventories/prod -e run_id=run-7 --limit db1"
    events = RunRecord(str(tmp_path)).events()
    assert [e["event"] for e in events] == ["phase_start", "result", "phase_end"]
    assert events[1]["phase"] == "monitor" and len(events[1]["result"]["health"]["samples"]) == len(result["samples"]) == 1
    (phase,) = phases_of(events)
    assert phase["name"] == "monitor" and phase["duration_seconds"] >= 2


def test_db_health_ending_the_phase_needs_the_host(run_module, tmp_path):
    result = run_module("db_health", dict(database_url=NOWHERE, end_phase=True, run_id="run-7", run_dir=str(tmp_path)))
    assert result["_rc"] == 1 and "host" in result["msg"]
    # Refused before the window: no monitor result recorded.
    assert "result" not in [e["event"] for e in RunRecord(str(tmp_path)).events()]
