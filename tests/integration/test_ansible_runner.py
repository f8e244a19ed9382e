"""migrate.yml and rollback.yml as AWX runs them: `ansible-runner run <private data dir> -p <playbook>`, with a private
data directory laid out as AWX lays it out (project/, inventory/, env/extravars, env/envvars). The job succeeds, its
events hold the summary, the reports are where artifacts_dir points, and the playbook's set_stats (run id, created,
already existed, errors, report path) are in the runner's artifacts for the next job of a workflow."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO
from tests.integration.conftest import HOST, index_in_catalog, write_inventory

pytestmark = pytest.mark.slow

# What a project checkout holds that the playbooks need (AWX clones the repository; links are the same files).
PROJECT = ("migrate.yml", "rollback.yml", "playbooks", "roles", "library", "module_utils", "callback_plugins",
           "doc_fragments", "migrations", "ansible.cfg")
RUN_ID = "awx-run"
SPEC = yaml.safe_load((REPO / "migrations/indexes.yml").read_text())


def private_data_dir(folder, db, reports):
    """project/ (links into the repository), inventory/ (the test database), env/extravars and env/envvars."""
    (folder / "project").mkdir(parents=True)
    for name in PROJECT:
        (folder / "project" / name).symlink_to(REPO / name)
    write_inventory(folder / "inventory", db, artifacts_dir=str(reports), monitor_duration_seconds=0)
    (folder / "env").mkdir()
    (folder / "env/extravars").write_text(yaml.safe_dump({"run_id": RUN_ID}))
    # ansible-runner puts its own event callback on ANSIBLE_CALLBACK_PLUGINS; the project's progress plugin goes beside.
    (folder / "env/envvars").write_text(yaml.safe_dump({"ANSIBLE_NOCOLOR": "1",
                                                        "ANSIBLE_CALLBACK_PLUGINS": str(folder / "project/callback_plugins")}))
    return folder


def runner(folder, playbook, ident):
    """`ansible-runner run` with the project's .venv first on PATH (an EE has its ansible there); its artifacts."""
    venv_bin = str(Path(sys.executable).parent)
    completed = subprocess.run(
        [os.path.join(venv_bin, "ansible-runner"), "run", str(folder), "-p", playbook, "--ident", ident],
        capture_output=True, text=True, timeout=600, env=dict(os.environ, PATH=venv_bin + os.pathsep + os.environ["PATH"]))
    artifacts = folder / "artifacts" / ident
    events = [json.loads(path.read_text()) for path in sorted((artifacts / "job_events").glob("*.json"),
                                                              key=lambda p: int(p.name.split("-", 1)[0]))]
    return completed, artifacts, events


def task_messages(events, task):
    """The `msg` of each host's result of a task, from the job's events."""
    return [e["event_data"]["res"].get("msg") for e in events
            if e.get("event") == "runner_on_ok" and e["event_data"].get("task") == task]


def test_migrate_and_rollback_through_ansible_runner_as_awx_runs_them(pg_db, tmp_path):
    reports = tmp_path / "reports"
    folder = private_data_dir(tmp_path / "job", pg_db, reports)

    migrated, artifacts, events = runner(folder, "migrate.yml", "migrate")
    output = (artifacts / "stdout").read_text() if (artifacts / "stdout").exists() else migrated.stdout
    assert migrated.returncode == 0, output[-4000:] + migrated.stderr[-2000:]
    assert (artifacts / "status").read_text() == "successful" and (artifacts / "rc").read_text() == "0"

    # The summary, in the job's events (AWX's job output and its API read these).
    summary = task_messages(events, "Summary")
    assert len(summary) == 1 and "Migration summary for %s (run %s):" % (HOST, RUN_ID) in summary[0]
    assert "   Indexes created: 20" in summary[0] and "Total indexes in place: 20/20" in summary[0]

    # The reports where artifacts_dir points, not in the project checkout.
    run_dir = reports / HOST / RUN_ID
    report_path = run_dir / "report.json"
    assert {"report.json", "report.md", "report.html", "notice_before.txt"} <= {p.name for p in run_dir.iterdir()}
    assert not (folder / "project" / "artifacts").exists()
    report = json.loads(report_path.read_text())
    assert report["status"] == "success" and report["indexes_created"] == 20

    # set_stats: in the stats event's artifact_data and in the runner's artifacts, for a workflow's next job.
    stats = next(e for e in events if e.get("event") == "playbook_on_stats")
    expected = {HOST: {"run_id": RUN_ID, "status": "success", "check_mode": False, "created": 20, "already_existed": 0,
                       "errors": 0, "report_path": str(report_path)}}
    assert stats["event_data"]["artifact_data"] == {"safeindex": expected}
    assert all(index_in_catalog(pg_db, entry["table"], entry["name"])["usable"] for entry in SPEC["indexes"])

    rolled_back, artifacts, events = runner(folder, "rollback.yml", "rollback")
    assert rolled_back.returncode == 0, rolled_back.stdout[-4000:] + rolled_back.stderr[-2000:]
    assert (artifacts / "status").read_text() == "successful" and (artifacts / "rc").read_text() == "0"
    said = json.dumps([e["event_data"].get("res") for e in events if e.get("event") == "runner_on_ok"])
    assert "Rollback (indexes) of run %s on %s: dropped 20" % (RUN_ID, HOST) in said
    assert not any(index_in_catalog(pg_db, entry["table"], entry["name"]) for entry in SPEC["indexes"])
