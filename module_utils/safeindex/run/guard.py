"""Undo a hook should the playbook end first: maintenance mode must not outlive an interrupted run.

Ansible runs no `always:` after Ctrl-C. So, as the run lock does (runlock.py), a small detached process serves the
ansible-playbook process: when that ends before the guard is stopped, the guard runs the undo hook once. The hook
stays in the guard's memory only (it may carry a token): the guard file holds its pid and nothing else.
"""

from __future__ import annotations

import gc
import os
import signal
import time
from collections.abc import Callable

from ansible.module_utils.safeindex.core.files import write_private
from ansible.module_utils.safeindex.run import lock as runlock

POLL_SECONDS = 0.2
# A guard's file ends so (the indexes role's maintenance-guard.json): a run's interruption report waits for the guards
# whose files are in its folder (wait_for_guards), so that it is written after their undo hooks have run.
FILE_SUFFIX = "-guard.json"


def start(guard_file: str, owner_pid: int, on_owner_gone: Callable[[], None], wait_seconds: float = 10) -> int | None:
    """Start the guard; returns its pid (None when it did not answer). `on_owner_gone()` runs in the guard."""
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the forked process
        gc.freeze()  # as the run lock's holder: nothing inherited is collected, no socket of the hook's closed by it
        os.close(read_end)
        try:
            os.setsid()  # out of the playbook's process group: its Ctrl-C does not reach the guard
            if os.fork() == 0:
                _watch(guard_file, owner_pid, on_owner_gone, write_end)
        finally:
            os._exit(0)
    os.close(write_end)
    os.waitpid(child, 0)
    return runlock._read_answer(read_end, wait_seconds).get("pid")


def stop(guard_file: str) -> bool:
    """Stop the guard named in the file without running its hook; False when there was none."""
    return runlock.release(guard_file)


def wait_for_guards(folder: str, seconds: float) -> None:
    """Until no guard whose file is in `folder` is alive (its undo hook run, its line recorded), for at most `seconds`."""
    deadline = time.monotonic() + seconds
    while _live_guards(folder) and time.monotonic() < deadline:
        time.sleep(0.1)


def _live_guards(folder):
    try:
        names = [name for name in os.listdir(folder) if name.endswith(FILE_SUFFIX)]
    except OSError:
        return []
    held = [runlock.read_holder(os.path.join(folder, name)) for name in names]
    return [guard for guard in held if guard and runlock.is_alive(guard.get("pid", 0), guard.get("start_time"))]


def _watch(guard_file, owner_pid, on_owner_gone, answer_fd):  # pragma: no cover - runs in the guard
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)  # Ansible reads the module's output until it closes: the guard must not keep it open
    os.closerange(3, answer_fd)
    os.closerange(answer_fd + 1, 1024)
    stopped = []
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, lambda *_: stopped.append(True))
    pid = os.getpid()
    try:
        write_private(guard_file, {"pid": pid, "start_time": runlock._start_time(pid), "owner_pid": owner_pid})
    finally:
        os.write(answer_fd, b'{"pid": %d}' % pid)
        os.close(answer_fd)
    try:
        while not stopped and runlock.is_alive(owner_pid):
            time.sleep(POLL_SECONDS)
        if not stopped:
            on_owner_gone()
    except Exception:
        pass  # nobody is left to tell
    finally:
        runlock._remove(guard_file, pid)
