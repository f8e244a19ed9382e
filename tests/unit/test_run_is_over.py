"""run_is_over(): a batch under the run lock stops once the playbook (the holder's owner) or the holder is gone."""

import json
import os
import subprocess
import sys

from ansible.module_utils.safeindex.run import lock


def ended_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def write_holder(path, pid, owner_pid):
    path.write_text(json.dumps({"pid": pid, "start_time": lock._start_time(pid), "owner_pid": owner_pid}))


def test_without_a_holder_the_run_is_never_over(tmp_path):
    assert lock.run_is_over(None)() is False
    assert lock.run_is_over(str(tmp_path / "run-lock.json"))() is False


def test_a_holder_and_owner_alive_mean_the_run_goes_on(tmp_path):
    holder = tmp_path / "run-lock.json"
    write_holder(holder, os.getpid(), os.getppid())
    assert lock.run_is_over(str(holder))() is False


def test_the_owner_gone_ends_the_run_though_the_holder_still_runs(tmp_path):
    holder = tmp_path / "run-lock.json"
    write_holder(holder, os.getpid(), ended_pid())
    assert lock.run_is_over(str(holder))() is True


def test_a_holder_gone_before_the_work_started_is_not_this_work_s_run(tmp_path):
    # A stale file from an earlier run: the module was started on its own, not under that lock.
    holder = tmp_path / "run-lock.json"
    holder.write_text(json.dumps({"pid": ended_pid(), "start_time": "1", "owner_pid": os.getpid()}))
    assert lock.run_is_over(str(holder))() is False
