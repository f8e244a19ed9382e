"""One run per database at a time.

Each Ansible task is its own process, but a session-level advisory lock lives only as long
as its connection. So a small detached process takes the lock and holds it until it is told
to let go, or until the ansible-playbook process it serves is gone (Ctrl-C, kill, crash):
the lock can never outlive the run.

Before it lets go, however it is told to, the holder cancels what the run's other sessions still run on the server (a
module that never saw the signal, or was killed, leaves its statement running otherwise). When the playbook ended
without having let go (Ansible runs no `always:` after Ctrl-C or SIGTERM), it then calls its `on_owner_gone`, while it
still holds the lock: db_lock records the interruption there (interruption.py), and removes the playbook's progress
folder, which a SIGKILL leaves behind. A batch of index builds stops once the holder it started under is gone
(run_is_over()).
"""

from __future__ import annotations

import gc
import json
import os
import select
import signal
import time
from collections.abc import Callable
from typing import Any

from ansible.module_utils.safeindex.build.progress import PROGRESS_FILE_ENV, remove_spool
from ansible.module_utils.safeindex.core.errors import DatabaseUnavailable, RunLocked
from ansible.module_utils.safeindex.core.files import write_private

POLL_SECONDS = 0.5
RUN_LOCK_FILE = "run-lock.json"  # the holder file in a run's folder (the roles pass it as holder_file)
# How soon a lost session is noticed and the lock taken again: the run goes on meanwhile, so keep it short (a
# SELECT 1 a second costs the server nothing).
PING_SECONDS = 1.0
# How long the holder of a playbook that ended without letting go waits for that playbook's modules to end.
OWNER_GROUP_WAIT_SECONDS = 10.0
# After a lost session: how long to try to take the lock again, and how often.
RETAKE_SECONDS = 60.0
RETAKE_INTERVAL_SECONDS = 1.0


def find_owner_pid() -> int:
    """The outermost ansible-playbook (or ansible) process above us; our parent if there is none."""
    owner, pid = None, os.getppid()
    while pid > 1:
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as handle:
                words = handle.read().split(b"\0")
        except OSError:
            break
        if any(os.path.basename(w.decode("utf-8", "replace")) in ("ansible-playbook", "ansible") for w in words[:3]):
            owner = pid
        pid = _parent_of(pid)
    return owner or os.getppid()


def acquire(connect: Callable[[], Any], run_id: str, holder_file: str, owner_pid: int, wait_seconds: float = 30,
            on_owner_gone: Callable[[], None] | None = None) -> int:
    """Start the holder; returns its pid, or raises RunLocked naming the run that holds the lock.

    `connect` opens a dialect; it is called in the holder process, after the fork. `on_owner_gone`, when given, is
    called there once the owner has ended without release(), before the lock is let go.
    """
    held = read_holder(holder_file)
    if held and held.get("run_id") == run_id and is_alive(held["pid"], held.get("start_time")):
        return held["pid"]
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the forked process
        # What the module's process left for the cycle collector is never collected here: a socket object among it
        # would close its descriptor number, which _hold frees and the holder's own session then gets.
        gc.freeze()
        os.close(read_end)
        try:
            os.setsid()
            if os.fork() == 0:
                _hold(connect, run_id, holder_file, owner_pid, write_end, on_owner_gone)
        finally:
            os._exit(0)
    os.close(write_end)
    os.waitpid(child, 0)
    answer = _read_answer(read_end, wait_seconds)
    if answer.get("ok"):
        return answer["pid"]
    if answer.get("holder"):
        raise RunLocked(describe_holder(answer["holder"]), held_by=answer["holder"])
    raise DatabaseUnavailable(answer.get("error") or "the run lock holder did not answer within %ss" % wait_seconds)


def probe(dialect: Any) -> None:
    """Check mode: is the lock free? Takes it and lets go at once; raises RunLocked when held."""
    if dialect.try_run_lock():
        dialect.release_run_lock()
        return
    holder = dialect.run_lock_holder() or {}
    raise RunLocked(describe_holder(holder), held_by=holder)


def release(holder_file: str, timeout: float = 10.0) -> bool:
    """Stop the holder named in the file (it unlocks on its way out). False when nothing was held."""
    held = read_holder(holder_file)
    if not held:
        return False
    pid, start_time = held["pid"], held.get("start_time")
    if is_alive(pid, start_time):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while is_alive(pid, start_time) and time.monotonic() < deadline:
            time.sleep(0.05)
        if is_alive(pid, start_time):
            os.kill(pid, signal.SIGKILL)  # the server ends its session, which frees the lock
    _remove(holder_file, pid)
    return True


def run_is_over(holder_file: str | None) -> Callable[[], bool]:
    """For work that runs under the lock: a check that says True once the run has ended or was interrupted, i.e. the
    playbook the holder serves (its owner) or the holder itself is gone. The owner is asked first: the holder outlives
    it for a moment (it cancels, records and reports first). Without a holder now (a module used on its own), the
    check never says so."""
    held = read_holder(holder_file) if holder_file else None
    if not held or not is_alive(held["pid"], held.get("start_time")):
        return lambda: False
    owner = held.get("owner_pid")
    return lambda: (owner is not None and not is_alive(owner)) or not is_alive(held["pid"], held.get("start_time"))


def read_holder(holder_file: str) -> dict | None:
    try:
        with open(holder_file) as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def describe_holder(holder: dict) -> str:
    return "another run holds this database's run lock: %s (session %s, user %s, from %s, since %s)" % (
        holder.get("application") or "unknown application",
        holder.get("session"),
        holder.get("user"),
        holder.get("client"),
        holder.get("since"),
    )


def is_alive(pid: int, start_time: str | None = None) -> bool:
    """True while the process runs (a zombie or a reused pid is not alive)."""
    try:
        with open("/proc/%d/stat" % pid) as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return False
    if fields[0] in ("Z", "X"):
        return False
    return start_time is None or fields[19] == str(start_time)


def _start_time(pid):
    with open("/proc/%d/stat" % pid) as handle:
        return handle.read().rsplit(")", 1)[1].split()[19]


def _parent_of(pid):
    try:
        with open("/proc/%d/stat" % pid) as handle:
            return int(handle.read().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return 1


class _Stopped(Exception):
    """Raised by the holder's signal handler to end an interruptible idle wait."""


def _hold(connect, run_id, holder_file, owner_pid, answer_fd, on_owner_gone=None):  # pragma: no cover - runs in the holder
    # Ansible reads the module's stdout until it closes: the holder must not keep it open.
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.closerange(3, answer_fd)
    os.closerange(answer_fd + 1, 1024)
    stop, idling = [], []

    def on_signal(*_):
        stop.append(True)
        if idling:
            raise _Stopped  # out of the idle wait at once: the release waits for us

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, on_signal)

    def answer(message):
        os.write(answer_fd, json.dumps(message).encode("utf-8"))
        os.close(answer_fd)

    try:
        dialect = connect()
    except Exception as exc:  # the module turns this into a clear failure
        answer({"ok": False, "error": str(exc)})
        return
    answered = False
    try:  # the playbook's own process group, as a terminal's job has it (not a wrapper's, a shell's, a CI job's)
        owner_group = owner_pid if os.getpgid(owner_pid) == owner_pid else None
    except OSError:
        owner_group = None
    try:
        if not dialect.try_run_lock():
            holder = dialect.run_lock_holder() or {}
            answered = True
            answer({"ok": False, "holder": holder})
            return
        pid = os.getpid()
        write_private(holder_file, {"pid": pid, "start_time": _start_time(pid), "run_id": run_id,
                                    "owner_pid": owner_pid, "since": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
        answer({"ok": True, "pid": pid})
        answered = True
        last_ping = time.monotonic()
        while not stop and is_alive(owner_pid):
            try:
                try:
                    if dialect.idle_interruptible:
                        idling.append(True)
                    dialect.idle(POLL_SECONDS)
                except _Stopped:
                    break
                finally:
                    idling.clear()
                if time.monotonic() - last_ping > PING_SECONDS:
                    dialect.ping()
                    last_ping = time.monotonic()
            except Exception:
                # The session died (a server restart, a killed connection) and the lock with it: take it again as
                # soon as the server answers, so the rest of the run stays alone on the database.
                dialect = _retake(connect, dialect, stop, owner_pid)
                if dialect is None:
                    return  # another run has it now, or the server stayed away: nothing is ours to let go
                last_ping = time.monotonic()
        # Whatever of the run still runs on the server is cancelled before the lock is let go: when the playbook ended
        # without letting go, a build its module went on with, unaware; when the run lets go as it ends, a statement
        # of a module that was killed (SIGKILL, the OOM killer) and left it headless: nothing of a run outlives it.
        try:
            dialect.cancel_run_statements(run_id)
        except Exception:
            pass
        if not stop and not is_alive(owner_pid):
            # The playbook ended without letting go: the interruption is recorded, and its progress folder, which its
            # own exit handlers never removed (SIGKILL), goes. First its modules, hit by the same Ctrl-C or seeing the
            # run over, write their last events, so the report has them.
            _wait_for_group(owner_group, OWNER_GROUP_WAIT_SECONDS)
            remove_spool(os.environ.get(PROGRESS_FILE_ENV))
            if on_owner_gone is not None:
                try:
                    on_owner_gone()
                except Exception:
                    pass  # the lock must be let go whatever happens here
    except Exception as exc:
        if not answered:
            answer({"ok": False, "error": "the run lock holder failed: %s" % exc})
    finally:
        if dialect is not None:
            try:
                dialect.release_run_lock()
            except Exception:
                pass
            try:
                dialect.close()
            except Exception:
                pass
        _remove(holder_file, os.getpid())


def _wait_for_group(group: int | None, seconds: float) -> None:
    """Until no process is left in the playbook's process group (its modules), for at most `seconds`."""
    if group is None:
        return
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except OSError:
            return  # empty: every process of the run has ended
        time.sleep(0.1)


def _retake(connect, lost, stop, owner_pid):
    """A new session holding the run lock again; None when another run took it meanwhile or no server answered."""
    try:
        lost.close()
    except Exception:
        pass
    deadline = time.monotonic() + RETAKE_SECONDS
    while not stop and is_alive(owner_pid) and time.monotonic() < deadline:
        try:
            fresh = connect()
        except Exception:
            time.sleep(RETAKE_INTERVAL_SECONDS)  # the server is still starting
            continue
        try:
            if fresh.try_run_lock():
                return fresh
        except Exception:
            pass
        try:
            fresh.close()
        except Exception:
            pass
        return None
    return None


def _read_answer(fd, wait_seconds):
    chunks, deadline = [], time.monotonic() + wait_seconds
    try:
        while time.monotonic() < deadline:
            ready, _writable, _failed = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                break
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(fd)
    try:
        return json.loads(b"".join(chunks).decode("utf-8")) if chunks else {}
    except ValueError:
        return {}


def _remove(holder_file, pid):
    held = read_holder(holder_file)
    if held and held.get("pid") == pid:
        try:
            os.unlink(holder_file)
        except OSError:
            pass
