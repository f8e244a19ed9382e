"""An interrupted run's report is written after its guards have undone their hooks (run/guard.py wait_for_guards):
maintenance mode's undo is in the record before the `interrupted` event, and no guard file is left beside the report."""

import subprocess
import time

from ansible.module_utils.safeindex.core.files import write_private
from ansible.module_utils.safeindex.run import guard
from ansible.module_utils.safeindex.run.interruption import recorder
from ansible.module_utils.safeindex.run.record import RunRecord


def an_interrupted_run(run_dir):
    record = RunRecord(str(run_dir))
    record.append("start", run_id="run-9", host="db1", engine="postgresql", monotonic=1.0)
    record.append("phase_start", run_id="run-9", phase="indexes", monotonic=2.0)
    return record


def test_the_report_waits_for_the_maintenance_guard_to_run_its_undo(tmp_path):
    record = an_interrupted_run(tmp_path)
    guard_file = tmp_path / "maintenance-guard.json"

    def slow_undo():  # a maintenance_off that takes a second, longer than the guard's polling and the holder's
        time.sleep(1.0)
        RunRecord(str(tmp_path)).append("hook_after_interruption", what="maintenance off", ok=True)

    playbook = subprocess.Popen(["sleep", "60"])
    try:
        assert guard.start(str(guard_file), playbook.pid, slow_undo)
        assert guard_file.exists()
    finally:
        playbook.kill()
        playbook.wait()
    try:
        assert recorder(str(tmp_path), "run-9")() == str(tmp_path / "report.json")
        assert not guard_file.exists()
        events = [event["event"] for event in record.events()]
        assert events[-2:] == ["hook_after_interruption", "interrupted"]
    finally:
        guard.stop(str(guard_file))


def test_a_guard_file_whose_process_is_gone_does_not_hold_the_report(tmp_path):
    an_interrupted_run(tmp_path)
    gone = subprocess.Popen(["true"])
    gone.wait()
    write_private(str(tmp_path / "maintenance-guard.json"), {"pid": gone.pid, "start_time": "1", "owner_pid": 1})
    started = time.monotonic()
    assert recorder(str(tmp_path), "run-9")() == str(tmp_path / "report.json")
    assert time.monotonic() - started < guard.POLL_SECONDS * 25  # not the 90 s a live guard may take
