"""Processes by pid and loopback ports: is it alive, is it ours, stop it; run a setup command; read a log's tail.

Shared by the restore check's scratch server (backup/scratch_server.py) and the sandbox (sandbox/), which both start
and stop database servers of their own.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from ansible.module_utils.safeindex.core.errors import SafeIndexError

LOOPBACK = "127.0.0.1"


class ServerProcessError(SafeIndexError):
    """A server of our own could not be set up, started or stopped (the message says why, with its log's lines)."""


def free_port() -> int:
    """A port nothing listens on right now (the kernel picks it when binding port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        return probe.getsockname()[1]


def port_is_free(port: int) -> bool:
    """Whether a server could listen on 127.0.0.1:port.

    SO_REUSEADDR like the servers themselves, so a port left in TIME_WAIT by a server we just
    stopped still counts as free, while one another process listens on does not (Linux).
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((LOOPBACK, port))
        except OSError:
            return False
        return True


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists and has not exited (a zombie has exited)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # The state letter follows the command name, which is in parentheses and may contain spaces.
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def process_args(pid: int) -> list[str]:
    """The command line of a process, or [] when it is gone."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [arg.decode(errors="replace") for arg in raw.split(b"\0") if arg]


def serves_data_dir(pid: int, data_dir: Path) -> bool:
    """Whether pid is a live server started on data_dir (`-D <dir>` or `--datadir=<dir>`).

    A pid file can outlive its server and the pid be reused by something else: this tells them apart.
    """
    if not pid_alive(pid):
        return False
    wanted = str(data_dir)
    return any(arg == wanted or arg.endswith("=" + wanted) for arg in process_args(pid))


def pids_serving(data_dir: Path) -> list[int]:
    """Every live process started on data_dir: the server of a pid file not written yet (stopped while it started)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and serves_data_dir(int(entry.name), data_dir):
            found.append(int(entry.name))
    return found


def read_pid_file(path: Path) -> int | None:
    """The pid on the first line of a pid file, or None when missing or unreadable."""
    try:
        first_line = Path(path).read_text().splitlines()[0]
        return int(first_line.strip())
    except (OSError, IndexError, ValueError):
        return None


def wait_for_exit(pid: int, timeout: float, reap=None) -> bool:
    """Wait until pid has exited; reap() collects it when it is our child. True if it exited in time."""
    deadline = time.monotonic() + timeout
    while True:
        if reap is not None:
            reap()
        if not pid_alive(pid):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)


def stop_process(pid: int, stop_signal: int, timeout: float = 30.0, reap=None) -> None:
    """Ask a server to shut down; if it is still there after timeout, kill its whole process group."""
    try:
        os.kill(pid, stop_signal)
    except ProcessLookupError:
        return
    if wait_for_exit(pid, timeout, reap):
        return
    try:
        # Servers run in their own session (pid == process group id): this also kills their workers.
        if os.getpgid(pid) == pid:
            os.killpg(pid, signal.SIGKILL)
        else:
            os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    if not wait_for_exit(pid, 10.0, reap):
        raise ServerProcessError(f"process {pid} did not exit after SIGKILL")


# The restore check's scratch server and its restore clients are background work: where they share the CPU with a
# database (a controller on the database host, the sandbox), the database comes first.
BACKGROUND_NICENESS = 10


def at_background_priority() -> None:
    """preexec_fn of a process that yields the CPU to everything else (its children inherit it)."""
    os.nice(BACKGROUND_NICENESS)


def run_command(args: list[str], cwd: Path, log_path: Path, what: str) -> None:
    """Run a setup command (initdb, mariadb-install-db) with its output in log_path; raise if it fails."""
    with Path(log_path).open("ab") as log:
        result = subprocess.run(args, check=False, cwd=cwd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    if result.returncode != 0:
        # The log is removed with the server's folder, so the message keeps what says why: its error lines, and its end.
        raise ServerProcessError(f"{what} failed (exit {result.returncode}), see {log_path}; error lines:\n"
                                 f"{log_errors(log_path)}\nlast lines:\n{log_tail(log_path, 15)}")


def log_errors(path: Path, most: int = 20) -> str:
    """The lines of a log that say ERROR (mariadb-install-db's reason is far above its closing advice)."""
    try:
        lines = Path(path).read_text(errors="replace").splitlines()
    except OSError:
        return f"(no log at {path})"
    found = [line for line in lines if "ERROR" in line.upper()]
    return "\n".join(found[:most]) or "(none)"


def log_tail(path: Path, lines: int = 20) -> str:
    """The last lines of a log file, for error messages."""
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.strip().splitlines()[-lines:])
