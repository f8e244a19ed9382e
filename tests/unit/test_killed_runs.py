"""The judgements behind killed processes: a module killed by a signal, a rollback cut short, the progress folder of a
playbook that did not remove it."""

import json
import os
import signal
import subprocess
import sys
import tempfile
import textwrap

import pytest
from ansible.module_utils.safeindex.build.progress import SPOOL_PREFIX, remove_spool
from ansible.module_utils.safeindex.run.interruption import (
    DROPS_PLANNED,
    module_killed,
    record_interruption,
    record_module_killed,
    where_it_stopped,
)
from ansible.module_utils.safeindex.run.record import RunRecord, record_phase_result

from tests.conftest import REPO

NO_JSON = "Module result deserialization failed: No start of json char found"


@pytest.mark.parametrize("rc, msg, expected", [
    (137, NO_JSON, "SIGKILL"),             # the task's shell reports its child killed: 128 + 9
    (143, NO_JSON, "SIGTERM"),
    (-9, NO_JSON, "SIGKILL"),              # the interpreter run without a shell
    (137, "MODULE FAILURE\nSee stdout/stderr for the exact error", "SIGKILL"),  # older ansible-core's words
    (137, "maintenance_on exited 137: Killed", None),  # a hook's own exit status, reported by its module: a failure
    (1, NO_JSON, None),                    # a module that crashed on its own (a traceback): a failure
    (None, NO_JSON, None),
    (128 + 99, NO_JSON, None),             # not a signal
])
def test_a_module_is_judged_killed_only_when_it_printed_no_result_and_exited_by_a_signal(rc, msg, expected):
    assert module_killed(rc, msg) == expected


def a_run_cut_in_its_index_phase(run_dir):
    record = RunRecord(str(run_dir))
    record.append("start", run_id="run-7", host="db1", engine="mysql", monotonic=1.0)
    record.append("phase_start", run_id="run-7", phase="backup", monotonic=2.0)
    record.append("phase_end", run_id="run-7", phase="backup", monotonic=3.0)
    record.append("phase_start", run_id="run-7", phase="indexes", monotonic=4.0)
    record.append("index_build_started", name="idx_a", table="t", action="created")
    record.append("index", name="idx_a", action="created")
    record_phase_result(str(run_dir), "index", {"name": "idx_a", "action": "created"})
    record_phase_result(str(run_dir), "index", {"name": "idx_b", "action": "failed", "failed": True, "msg": "cancelled"})
    record.append("index_build_started", name="idx_b", table="t", action="created")
    return record


def test_a_killed_module_is_recorded_once_naming_the_phase_the_index_and_the_signal(tmp_path):
    a_run_cut_in_its_index_phase(tmp_path)
    assert where_it_stopped(RunRecord(str(tmp_path)).events()) == ("indexes", "idx_b")
    error = record_module_killed(str(tmp_path), "run-7", "SIGKILL")
    assert error.startswith("interrupted: a module process was killed (SIGKILL) during the indexes phase, while idx_b")
    assert "run migrate.yml again" in error
    (event,) = [e for e in RunRecord(str(tmp_path)).events() if e["event"] == "interrupted"]
    assert (event["phase"], event["index"], event["signal"]) == ("indexes", "idx_b", "SIGKILL")
    assert record_module_killed(str(tmp_path), "run-7", "SIGKILL") is None  # said once
    assert record_interruption(str(tmp_path), "run-7") is None  # nor again by the lock's holder


def a_rollback_folder(tmp_path, dropped=("idx_a",), planned=("idx_a", "idx_b", "idx_c")):
    folder = tmp_path / "artifacts" / "db1" / "run-7" / "rollback-indexes-20261202T020000Z"
    record = RunRecord(str(folder))
    record.append(DROPS_PLANNED, names=list(planned))
    for name in dropped:
        record_phase_result(str(folder), "index", {"name": name, "action": "dropped", "changed": True, "engine": "postgresql"})
    record_phase_result(str(folder), "index", {"name": "idx_c", "action": "absent", "changed": False})
    return folder


def test_an_interrupted_rollback_reports_what_it_dropped_and_what_not_once(tmp_path):
    folder = a_rollback_folder(tmp_path)
    assert record_interruption(str(folder), "rollback-run-7") == str(folder / "report.json")
    report = json.loads((folder / "report.json").read_text())
    assert (report["status"], report["mode"], report["run_id"], report["host"], report["engine"]) == (
        "interrupted", "indexes", "run-7", "db1", "postgresql")
    assert report["details"] == {"dropped": ["idx_a"], "not_dropped": ["idx_b"], "already_gone": ["idx_c"]}
    assert report["summary_lines"] == [
        "Rollback (indexes) of run run-7 on db1 interrupted: the ansible-playbook process ended after dropping 1 of 3"
        " (idx_a); not dropped: idx_b; run rollback.yml again (-e run_id=run-7) to finish"]
    assert "idx_b" in (folder / "report.md").read_text()
    assert [e["event"] for e in RunRecord(str(folder)).events()][-2:] == ["interrupted", "finish"]
    assert record_interruption(str(folder), "rollback-run-7") is None


def test_a_rollback_interrupted_before_its_drops_says_so_and_a_folder_of_no_run_is_left_alone(tmp_path):
    folder = tmp_path / "artifacts" / "db1" / "run-7" / "rollback-indexes-20261202T020000Z"
    RunRecord(str(folder)).append("lock_taken")
    record_interruption(str(folder), "rollback-run-7")
    assert "before any index was dropped" in json.loads((folder / "report.json").read_text())["summary_lines"][0]
    other = tmp_path / "somewhere"
    RunRecord(str(other)).append("lock_taken")
    assert record_interruption(str(other), "x") is None and not (other / "report.json").exists()


def test_only_the_callbacks_own_progress_folder_is_removed(tmp_path):
    spool = tempfile.mkdtemp(prefix=SPOOL_PREFIX)
    with open(os.path.join(spool, "db1-task.jsonl"), "w") as handle:
        handle.write("{}\n")
    assert remove_spool(os.path.join(spool, "db1-task.jsonl")) and not os.path.exists(spool)
    assert not remove_spool(None) and not remove_spool(os.path.join(spool, "gone.jsonl"))
    elsewhere = tmp_path / (SPOOL_PREFIX + "x")  # not under the temporary folder: not the callback's
    elsewhere.mkdir()
    assert not remove_spool(str(elsewhere / "a.jsonl")) and elsewhere.exists()
    mine = tempfile.mkdtemp(prefix="not-progress-")
    try:
        assert not remove_spool(os.path.join(mine, "a.jsonl")) and os.path.exists(mine)
    finally:
        os.rmdir(mine)


def test_the_progress_folder_goes_on_sigterm_and_the_signal_still_ends_the_process(tmp_path):
    """The callback's handler removes the folder and then lets SIGTERM do what it did before (here: end the process)."""
    folder = tmp_path / "spool"
    folder.mkdir()
    script = textwrap.dedent("""
        import importlib.util, os, signal, sys, time
        spec = importlib.util.spec_from_file_location("progress_cb", sys.argv[1])
        plugin = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(plugin)
        plugin.remove_on_signals(sys.argv[2])
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)
        sys.exit(3)
    """)
    done = subprocess.run([sys.executable, "-c", script, str(REPO / "callback_plugins/safeindex_progress.py"), str(folder)],
                          timeout=30, capture_output=True, text=True)
    assert done.returncode == -signal.SIGTERM, done.stderr
    assert not folder.exists()
