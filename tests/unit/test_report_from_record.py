"""One report path: every phase's module records its result in record.jsonl, and the report of a run (ended well, failed
or interrupted) is built from that record alone."""

import copy
import json

from ansible.module_utils.safeindex.report.from_record import report_from_record
from ansible.module_utils.safeindex.run.interruption import record_interruption
from ansible.module_utils.safeindex.run.record import RunRecord, last_phase_result, last_run, record_phase_result

from tests.unit.report_samples import BACKUP, INDEX_RESULTS, MONITOR, NAMES, PREFLIGHT, VERIFY

PREFLIGHT_RESULT = {
    "changed": False, "engine": "postgresql", "server_version": "15.6", "checks": PREFLIGHT, "table": ["check  result detail"],
    "failed_checks": [], "warnings_found": ["long transactions: 1 transaction older than 60 s (pid 4242)"],
    "spec": {"names": NAMES, "pending": NAMES[:1], "fingerprint": "ab12cd34ef56" * 5}, "database": "postgresql://app@db1:5432/chatbot",
}


def a_run(run_dir, phases=("preflight", "backup", "indexes", "verify", "monitor"), indexes=None):
    """The record a migrate run leaves, phase by phase, as the modules write it."""
    record = RunRecord(str(run_dir))
    record.append("start", run_id="run-42", host="db1", engine="postgresql", monotonic=100.0, backup_retention_days=7)
    for phase in phases:
        record.append("phase_start", run_id="run-42", phase=phase, monotonic=101.0)
        if phase == "preflight":
            record_phase_result(str(run_dir), "preflight", PREFLIGHT_RESULT)
            record_phase_result(str(run_dir), "probes_before", {"probes": [], "failed": False})
        elif phase == "backup":
            record_phase_result(str(run_dir), "backup", dict(BACKUP, changed=True))
        elif phase == "indexes":
            for result in copy.deepcopy(INDEX_RESULTS if indexes is None else indexes):
                record_phase_result(str(run_dir), "index", result)
        elif phase == "verify":
            record_phase_result(str(run_dir), "verify", VERIFY)
        elif phase == "monitor":
            record_phase_result(str(run_dir), "monitor", MONITOR)
        record.append("phase_end", run_id="run-42", phase=phase, monotonic=102.5)
    return record


def test_a_finished_run_is_reported_from_its_record_alone(tmp_path):
    a_run(tmp_path)
    report, summary = report_from_record(str(tmp_path), "success")
    assert (report["run_id"], report["host"], report["engine"], report["status"]) == ("run-42", "db1", "postgresql", "success")
    assert (report["indexes_created"], report["already_existed"], report["errors"]) == (3, 1, 0)
    assert (report["total_in_place"], report["total_expected"]) == (4, 4) and summary["not_attempted"] == 0
    assert report["backup"]["verified"] and report["backup"]["sha256"] == BACKUP["sha256"] and report["backup_retention_days"] == 7
    assert report["snapshot"] is None
    assert [p["name"] for p in report["phases"]] == ["preflight", "backup", "indexes", "verify", "monitor"]
    assert all(p["duration_seconds"] == 1.5 for p in report["phases"])
    assert report["preflight"] == PREFLIGHT and report["server_version"] == "15.6"
    assert report["database"] == "postgresql://app@db1:5432/chatbot" and report["spec_fingerprint"] == "ab12cd34ef56" * 5
    assert report["warnings"] == PREFLIGHT_RESULT["warnings_found"]
    assert report["verify"]["probes"] == VERIFY["probes"] and "invocation" not in report["verify"]
    assert report["monitor"] == MONITOR and report["probes_before"] == {"probes": [], "failed": False}
    assert "Total indexes in place: 4/4" in report["summary_lines"]
    assert any(line.startswith("Probe timings") for line in report["summary_lines"])
    on_disk = json.loads((tmp_path / "report.json").read_text())
    assert on_disk["run_id"] == "run-42" and (tmp_path / "report.md").exists() and (tmp_path / "report.html").exists()


def test_a_failed_index_is_reported_with_its_error(tmp_path):
    failed = copy.deepcopy(INDEX_RESULTS)
    failed[3] = {"name": NAMES[3], "action": "created", "failed": True, "msg": "gave up after 6 lock waits", "sql": []}
    a_run(tmp_path, phases=("preflight", "backup", "indexes"), indexes=failed)
    report, _summary = report_from_record(str(tmp_path), "failed", "gave up after 6 lock waits")
    assert report["status"] == "failed" and report["error"] == "gave up after 6 lock waits"
    assert report["errors"] == 1 and report["indexes_created"] == 2
    assert [row["error"] for row in report["indexes"]][3] == "gave up after 6 lock waits"
    assert report["verify"] is None and report["monitor"] is None


def test_a_refused_run_has_its_checks_and_no_backup(tmp_path):
    a_run(tmp_path, phases=("preflight",))
    report, _summary = report_from_record(str(tmp_path), "refused", "another run holds this database's run lock")
    assert report["status"] == "refused" and report["backup"] is None and report["indexes_created"] == 0
    assert report["total_expected"] == 4 and report["preflight"] == PREFLIGHT


def test_an_interrupted_run_gets_the_same_report_from_the_same_record(tmp_path):
    record = a_run(tmp_path, phases=("preflight", "backup"))
    record.append("phase_start", run_id="run-42", phase="indexes", monotonic=103.0)
    record_phase_result(str(tmp_path), "index", copy.deepcopy(INDEX_RESULTS[0]))
    record.append("index_build_started", name=NAMES[2], table="conversation", action="created")
    assert record_interruption(str(tmp_path), "run-42") == str(tmp_path / "report.json")
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["status"] == "interrupted" and "indexes phase" in report["error"] and NAMES[2] in report["error"]
    assert report["indexes_created"] == 1 and report["total_expected"] == 4
    # What the record knew before the interruption is in the report, as in a run that finished.
    assert report["backup"]["verified"] and report["preflight"] == PREFLIGHT and report["database"].startswith("postgresql://")
    assert record_interruption(str(tmp_path), "run-42") is None  # said once


def test_a_run_id_given_twice_reports_its_last_run_only(tmp_path):
    a_run(tmp_path)
    a_run(tmp_path, phases=("preflight",))
    report, _summary = report_from_record(str(tmp_path), "failed")
    assert [p["name"] for p in report["phases"]] == ["preflight"] and report["indexes_created"] == 0


def test_nothing_is_recorded_in_check_mode_or_without_a_run_folder(tmp_path):
    record_phase_result(str(tmp_path), "backup", BACKUP, check_mode=True)
    record_phase_result(None, "backup", BACKUP)
    assert not (tmp_path / "record.jsonl").exists()
    assert report_from_record(str(tmp_path), "success") == (None, {})


def test_a_recorded_result_keeps_the_findings_not_ansibles_keys(tmp_path):
    record_phase_result(str(tmp_path), "verify", dict(VERIFY, diff={"before": ""}, _ansible_no_log=False, warnings=["w"]))
    recorded = last_phase_result(RunRecord(str(tmp_path)).events(), "verify")
    assert recorded["probes"] == VERIFY["probes"]
    assert not {"invocation", "changed", "diff", "warnings", "_ansible_no_log"} & set(recorded)


def test_the_last_run_starts_at_the_last_start():
    events = [{"event": "start", "n": 1}, {"event": "x"}, {"event": "start", "n": 2}, {"event": "y"}]
    assert last_run(events) == events[2:] and last_run([{"event": "x"}]) == []
