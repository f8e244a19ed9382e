"""The index phase paced on real replicas (issue 20, point 4): lag made during a run makes db_index wait and go on once
the replica catches up; a wait that times out leaves the rest unbuilt and reported; the pause between builds shows in
the run's timings; the monitor samples the replicas' lag. db_index and db_health are called directly; the report is
built from the run's record.jsonl alone, as every report is."""

import json
import os
import signal
import subprocess
import threading
import time

import pytest
from ansible.module_utils.safeindex.report.from_record import report_from_record
from ansible.module_utils.safeindex.run.record import RunRecord, phase_results, record_phase_result

from tests.conftest import REPO
from tests.integration.conftest import connection_args, index_in_catalog, query

pytestmark = pytest.mark.slow

RUN_ID = "pacing-run-1"
# Three small indexes of the sample app (the sandbox loads its tables), named for this file so cleanup finds them.
INDEXES = [
    {"name": "pacing_message_role", "table": "message", "columns": ["role"]},
    {"name": "pacing_message_timestamp", "table": "message", "columns": ["timestamp"]},
    {"name": "pacing_conversation_user", "table": "conversation", "columns": ["user_id"]},
]


@pytest.fixture(params=["postgresql", "mysql"])
def replicated(request):
    return request.getfixturevalue({"postgresql": "pg_replicated", "mysql": "my_replicated"}[request.param])


@pytest.fixture
def run_dir(tmp_path, replicated):
    """A run folder with the run's start and preflight's plan in its record, and the pacing indexes gone again after."""
    folder = tmp_path / "run"
    folder.mkdir()
    RunRecord(str(folder)).append("start", run_id=RUN_ID, host="db1", engine=replicated.db.engine, monotonic=time.monotonic())
    record_phase_result(str(folder), "preflight", {"spec": {"names": [index["name"] for index in INDEXES]}})
    yield folder
    for index in INDEXES:
        if index_in_catalog(replicated.db, index["table"], index["name"]):
            statement = ("DROP INDEX %s" if replicated.db.engine == "postgresql" else "DROP INDEX %s ON " + index["table"])
            query(replicated.db, statement % index["name"])


def pacing_args(replicated, run_dir, progress, **extra):
    return dict(connection_args(replicated.db), indexes=INDEXES[:extra.pop("count", 2)], run_id=RUN_ID,
                run_dir=str(run_dir), progress_file=str(progress), replicas=[replicated.entry],
                max_replication_lag_seconds=30, replica_wait_poll_seconds=0.5, lock_timeout=2) | extra


def progress_lines(path):
    try:
        with open(path) as handle:
            return [json.loads(line)["text"] for line in handle if line.strip()]
    except OSError:
        return []


def when_line(path, fragment, action, timeout=60):
    """Runs `action` in a thread once the progress file shows a line containing `fragment`."""
    def watch():
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(fragment in line for line in progress_lines(path)):
                action()
                return
            time.sleep(0.05)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def events(run_dir, name):
    return [e for e in RunRecord(str(run_dir)).events() if e.get("event") == name]


def test_lag_made_during_a_run_makes_it_wait_then_go_on_and_the_pause_shows_in_the_timings(replicated, run_dir,
                                                                                            run_module, tmp_path):
    progress = tmp_path / "progress.jsonl"
    replicated.pause()
    replicated.write_on_primary()  # lag for real: writes the paused replica has not applied
    resumer = when_line(progress, "waiting for replica", lambda: (time.sleep(2), replicated.resume()))

    result = run_module("db_index", pacing_args(replicated, run_dir, progress, pause_between_indexes=1))
    resumer.join(10)

    assert result["_rc"] == 0, result.get("msg")
    assert [r["action"] for r in result["results"]] == ["created", "created"]
    for index in INDEXES[:2]:
        assert index_in_catalog(replicated.db, index["table"], index["name"])["usable"], index["name"]
    lines = progress_lines(progress)
    name = replicated.entry["name"]
    waiting = [line for line in lines if line.startswith("waiting for replica %s: " % name)]
    assert waiting and ("paused" in waiting[0] or "stopped" in waiting[0]), lines
    assert any(line.startswith("replicas caught up after") for line in lines), lines
    # The record: the wait before the first build (caught up after the resume), then the pause before the second.
    waits = [w for w in events(run_dir, "replica_wait") if w["outcome"] != "clear"]
    assert [(w["index"], w["outcome"]) for w in waits] == [("pacing_message_role", "caught_up")]
    assert waits[0]["waited_seconds"] >= 1.8 and name in waits[0]["peak"]
    assert [(p["index"], p["seconds"]) for p in events(run_dir, "index_pause")] == [("pacing_message_timestamp", 1)]
    first, second = result["results"]
    assert first["replica_wait_seconds"] >= 1.8 and second["paused_before_seconds"] >= 1
    assert second["started_at"] - first["finished_at"] >= 1  # the pause, in the builds' own times
    recorded = {r["name"]: r for r in phase_results(RunRecord(str(run_dir)).events(), "index")}
    assert recorded["pacing_message_timestamp"]["started_at"] - recorded["pacing_message_role"]["finished_at"] >= 1
    assert result["longest_replica_wait_seconds"] >= 1.8 and result["paused_seconds"] >= 1


def test_a_wait_that_times_out_leaves_the_rest_unbuilt_and_reported(replicated, run_dir, run_module, tmp_path):
    progress = tmp_path / "progress.jsonl"

    def lag_after_the_first_build():
        replicated.pause()
        replicated.write_on_primary()

    pauser = when_line(progress, "created in", lag_after_the_first_build)
    result = run_module("db_index", pacing_args(replicated, run_dir, progress, count=3, pause_between_indexes=1,
                                                replica_wait_timeout=1.5))
    pauser.join(10)

    assert result["_rc"] == 1
    assert [r["action"] for r in result["results"]] == ["created", "not_built", "not_built"]
    assert [n["name"] for n in result["not_built"]] == ["pacing_message_timestamp", "pacing_conversation_user"]
    reason = result["not_built"][0]["reason"]
    assert "replica_wait_timeout (1.5 s)" in reason and replicated.entry["name"] in reason
    assert "2 of 3 indexes not built" in result["msg"] and "pacing_conversation_user" in result["msg"]
    # The table built before the stop still gets its statistics (its last build of the list never came); MySQL and
    # MariaDB builds analyze nothing (engines/mysql/statements.py says why).
    analyzed = any(statement.upper().startswith("ANALYZE") for statement in result["results"][0]["sql"])
    assert analyzed == (replicated.db.engine == "postgresql")
    # The catalog: the one built stays, the others are not there.
    assert index_in_catalog(replicated.db, "message", "pacing_message_role")["usable"]
    assert not index_in_catalog(replicated.db, "message", "pacing_message_timestamp")
    assert not index_in_catalog(replicated.db, "conversation", "pacing_conversation_user")
    assert [w["outcome"] for w in events(run_dir, "replica_wait") if w["outcome"] != "clear"] == ["timed_out"]
    # The report, from the record alone: the unbuilt indexes with the reason, the longest wait.
    report, _summary = report_from_record(str(run_dir), "failed", result["msg"])
    replicas = report["replicas"]
    assert [n["name"] for n in replicas["not_built"]] == ["pacing_message_timestamp", "pacing_conversation_user"]
    assert replicas["longest_wait_seconds"] >= 1.5 and replicas["waits"][0]["outcome"] == "timed_out"
    assert (report["total_in_place"], report["total_expected"], report["not_built"]) == (1, 3, 2)
    assert "   Not built (the replicas did not catch up in time): 2" in report["summary_lines"]
    markdown = (run_dir / "report.md").read_text()
    assert "## Replicas and pacing" in markdown and "pacing_conversation_user" in markdown and "timed_out" in markdown


def test_ctrl_c_during_a_wait_stops_the_phase_as_anywhere(pg_replicated, run_module, tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    RunRecord(str(run_dir)).append("start", run_id=RUN_ID, host="db1", engine="postgresql", monotonic=time.monotonic())
    progress = tmp_path / "progress.jsonl"
    pg_replicated.pause()
    interrupter = when_line(progress, "waiting for replica", lambda: os.kill(os.getpid(), signal.SIGINT))

    result = run_module("db_index", pacing_args(pg_replicated, run_dir, progress, replica_wait_timeout=60))
    interrupter.join(10)

    assert result["_rc"] == 1 and result["msg"].startswith("interrupted (Ctrl-C) after 0 indexes")
    assert not index_in_catalog(pg_replicated.db, "message", "pacing_message_role")
    assert [w["outcome"] for w in events(run_dir, "replica_wait")] == ["interrupted"]
    assert not events(run_dir, "phase_end")  # as after any Ctrl-C: the run lock's holder records the interruption


def test_the_monitor_samples_the_replicas_lag(replicated, run_module):
    replicated.pause()
    replicated.write_on_primary()
    result = run_module("db_health", dict(connection_args(replicated.db), replicas=[replicated.entry],
                                          max_replication_lag_seconds=30))
    assert result["_rc"] == 0
    name = replicated.entry["name"]
    [seen] = [lag for lag in result["samples"][0]["replicas"] if lag["name"] == name]
    assert seen["state"] in ("paused", "stopped")
    assert result["replica_lag"][name]["samples_not_replicating"] == 1
    assert any("replica %s was" % name in warning for warning in result["threshold_warnings"])


def test_ctrl_c_to_ansible_playbook_during_a_wait_records_the_interruption_and_releases_the_lock(pg_replicated, tmp_path):
    """The one playbook run of this file: a wait for a replica (paused once preflight has passed it), then Ctrl-C."""
    from tests.integration.conftest import HOST, ansible_command, write_inventory
    from tests.reliability.test_interrupt import run_lock_held

    db = pg_replicated.db
    spec = tmp_path / "indexes.yml"
    spec.write_text(json.dumps({"indexes": INDEXES[:1]}))
    inventory = write_inventory(tmp_path / "inventory", db, indexes_replica_wait_timeout=120)
    run_dir = inventory / "artifacts" / HOST / RUN_ID
    out_path, err_path = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    playbook = None
    try:
        with out_path.open("w") as out, err_path.open("w") as err:
            playbook = subprocess.Popen(
                [ansible_command("ansible-playbook"), "migrate.yml", "-i", str(inventory), "-e", "index_spec_file=%s" % spec,
                 "-e", "run_id=%s" % RUN_ID],
                cwd=REPO, stdout=out, stderr=err, env=dict(os.environ, ANSIBLE_NOCOLOR="1", PYTHONUNBUFFERED="1"),
                start_new_session=True,  # killpg reaches it as a terminal's Ctrl-C would, and nothing else
            )

        def until_output(fragment):
            deadline = time.monotonic() + 180
            while fragment not in out_path.read_text():
                assert playbook.poll() is None and time.monotonic() < deadline, out_path.read_text()[-3000:]
                time.sleep(0.05)

        until_output("TASK [backup : ")  # preflight has passed the replica: now lag appears
        pg_replicated.pause()
        until_output("waiting for replica %s: paused" % pg_replicated.entry["name"])
        assert run_lock_held(db)
        os.killpg(playbook.pid, signal.SIGINT)
        playbook.wait(60)
        assert playbook.returncode == 99, out_path.read_text()[-2000:] + err_path.read_text()[-2000:]
    finally:
        if playbook is not None and playbook.poll() is None:
            playbook.kill()  # our own child, by its pid
            playbook.wait()

    deadline = time.monotonic() + 20
    while run_lock_held(db) or not (run_dir / "report.json").exists():
        assert time.monotonic() < deadline, "the run lock outlived the playbook, or no report"
        time.sleep(0.1)
    report = json.loads((run_dir / "report.json").read_text())
    assert report["status"] == "interrupted" and "indexes phase" in report["error"]
    recorded = RunRecord(str(run_dir)).events()
    assert [e["phase"] for e in recorded if e["event"] == "interrupted"] == ["indexes"]
    assert [e["outcome"] for e in recorded if e["event"] == "replica_wait"] == ["interrupted"]
    assert report["replicas"]["waits"][0]["outcome"] == "interrupted"
    assert not index_in_catalog(db, "message", "pacing_message_role")
