"""Which run a rollback works on, its folders, what the run's report left to restore, and the restored copy's URL."""

import json
import os

import pytest
from ansible.module_utils.safeindex.rollback import target
from ansible.module_utils.safeindex.run.record import RunRecord


def a_run(root, run_id, mtime, started=True):
    run_dir = root / "db1" / run_id
    record = RunRecord(str(run_dir))
    record.append("start" if started else "finish", run_id=run_id)
    os.utime(run_dir / "record.jsonl", (mtime, mtime))
    return run_dir


def test_the_latest_migrate_run_is_the_one_whose_record_was_written_last(tmp_path):
    a_run(tmp_path, "old", 1000)
    a_run(tmp_path, "new", 2000)
    a_run(tmp_path, "not-a-run", 3000, started=False)
    assert target.latest_run(str(tmp_path), "db1") == "new"
    assert target.latest_run(str(tmp_path), "db2") is None


def test_the_run_given_comes_first_then_the_artifacts_then_the_markers():
    assert target.choose_run("given", "latest", "marked") == "given"
    assert target.choose_run(None, "latest", "marked") == "latest"
    assert target.choose_run(None, None, "marked") == "marked"
    assert target.choose_run(None, None, None) is None


def test_a_run_id_that_breaks_the_rule_is_refused_before_it_names_a_folder():
    with pytest.raises(ValueError, match="not a valid run id"):
        target.choose_run("../../etc", None, None)


def test_the_rollback_folder_is_inside_the_run_folder_named_by_mode_and_time():
    found = target.folders("/a", "db1", "run-1", "indexes", now=0)
    assert found == {"run_dir": "/a/db1/run-1", "rollback_dir": "/a/db1/run-1/rollback-indexes-19700101T000000Z"}


def test_the_snapshot_and_the_backup_come_from_the_runs_report(tmp_path):
    assert target.run_report(str(tmp_path)) is None
    assert target.snapshot_of(None, "/a/run") == (None, "no report.json in /a/run")
    (tmp_path / "report.json").write_text(json.dumps({"snapshot": None, "backup": None}))
    report = target.run_report(str(tmp_path))
    assert target.snapshot_of(report, str(tmp_path)) == (None, "its report.json names none")
    assert target.backup_manifest(report, "/backups", "db1", "run-1") == "/backups/db1/run-1/manifest.json"
    report = {"snapshot": {"id": "snap-1", "source": "chat-prod"}, "backup": {"manifest_path": "/b/manifest.json"}}
    assert target.snapshot_of(report, "/a") == ({"id": "snap-1", "source": "chat-prod", "kind": "instance"}, None)
    assert target.backup_manifest(report, "/backups", "db1", "run-1") == "/b/manifest.json"


def test_the_restored_copys_url_uses_the_engines_scheme_and_no_password():
    assert target.switch_url("postgresql", "app", "chat", "copy.example", 5432) == "postgresql://app@copy.example:5432/chat"
    assert target.switch_url("mysql", "a@b", "my db", "copy.example", 3306) == "mysql://a%40b@copy.example:3306/my%20db"
