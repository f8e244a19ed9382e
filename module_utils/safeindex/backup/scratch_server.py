"""A database server of our own, living entirely in one folder: data, socket, pid file and log. Started on a loopback
port, stopped by its pid, removed with its folder.

The restore check's scratch server (engines/<engine>/scratch.py) and the sandbox's servers (sandbox/) are this one
class: the engine's subclass knows how to initialise, configure and launch it.

Initialising a data folder (initdb, mariadb-install-db) is most of a start's cost. With `template_cache`, it is done
once per build per controller user into a cache folder and copied for each server. The cache is keyed by the build
(its programs' real paths, sizes and times) and the initialisation options, so two builds never share a template.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import ClassVar

from ansible.module_utils.safeindex.core.processes import (
    LOOPBACK,
    ServerProcessError,
    free_port,
    log_tail,
    pids_serving,
    port_is_free,
    read_pid_file,
    serves_data_dir,
    stop_process,
)

# sockaddr_un.sun_path is 108 bytes on Linux, one of them the terminating NUL.
MAX_SOCKET_PATH_BYTES = 107
TEMPLATE_VERSION = "1"  # bump when what a template holds changes


def temporary_folder() -> str:
    """The system's temporary folder for a scratch server and its templates. As root the server runs as its own
    system user (postgres), which must pass through every parent: a private TMPDIR (0700) it cannot enter is passed
    over for /var/tmp, then /tmp."""
    default = tempfile.gettempdir()
    if os.geteuid() != 0:
        return default
    for folder in (default, "/var/tmp", "/tmp"):
        if os.path.isdir(folder) and _others_may_enter(folder):
            return folder
    return default


def _others_may_enter(folder: str) -> bool:
    path = os.path.realpath(folder)
    while True:
        if not os.stat(path).st_mode & 0o001:
            return False
        parent = os.path.dirname(path)
        if parent == path:
            return True
        path = parent


def template_cache_root() -> Path:
    """The controller user's template cache: one folder per user, which only that user may write."""
    base = os.environ.get("SAFEINDEX_SCRATCH_CACHE") or os.path.join(temporary_folder(), "safeindex-templates-%d" % os.geteuid())
    return Path(base)


def _own_folder(path: Path) -> Path:
    """Make `path` ours (0711: a server's system user may pass through to its template, not list or write)."""
    path.mkdir(parents=True, exist_ok=True)
    info = path.lstat()
    if path.is_symlink() or info.st_uid != os.geteuid():
        raise ServerProcessError("%s is not a folder of this user: the scratch server's template cache must not be shared"
                                 " (set SAFEINDEX_SCRATCH_CACHE to a folder of your own)" % path)
    os.chmod(path, 0o711)
    return path


class ScratchServer:
    """One ephemeral server living entirely in `root`."""

    background = False  # run at background priority (processes.at_background_priority): the restore check's server

    engine: str
    host = LOOPBACK
    default_settings: ClassVar[dict[str, object]] = {}
    stop_signal = signal.SIGTERM
    start_timeout = 60.0
    stop_timeout = 30.0
    socket_name: str
    log_name: str
    pid_file_name: str
    driver_errors: tuple[type[Exception], ...] = ()
    template_cache = False  # initialise once into the template cache and copy (see the module's docstring)

    def __init__(self, root: Path, port: int | None = None, settings: dict[str, object] | None = None, tls: bool = False):
        self.root = Path(root).absolute()
        self.port = port if port is not None else free_port()
        # Defaults trade durability for speed (the server is thrown away); a benchmark can pass e.g. {"fsync": "on"}.
        self.settings = {**self.default_settings, **(settings or {})}
        # TLS mode (the sandbox's): certificates in root/tls, made by _make_certificates.
        self.tls = tls

    def __repr__(self) -> str:
        return f"{type(self).__name__}(root={str(self.root)!r}, port={self.port})"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def socket_path(self) -> Path:
        return self.root / self.socket_name

    @property
    def log_path(self) -> Path:
        return self.root / self.log_name

    @property
    def pid_file(self) -> Path:
        return self.data_dir / self.pid_file_name

    @property
    def tls_folder(self) -> Path:
        return self.root / "tls"

    @property
    def _initialised_marker(self) -> Path:
        # Written only after initialisation succeeded, so a half-made data dir is made again.
        return self.root / ".initialised"

    @property
    def pid(self) -> int | None:
        """The server's pid while it runs, else None (a stale pid file or a reused pid gives None)."""
        pid = read_pid_file(self.pid_file)
        if pid is not None and serves_data_dir(pid, self.data_dir):
            return pid
        return None

    def is_running(self) -> bool:
        return self.pid is not None

    def start(self) -> None:
        """Initialise the data dir if needed, start on 127.0.0.1:port, wait until it takes connections."""
        if self.is_running():
            return
        self._check_socket_path()
        if not port_is_free(self.port):
            raise ServerProcessError(
                f"port {self.port} on {self.host} is already in use by another process "
                f"(not the {self.engine} server in {self.root})"
            )
        self.root.mkdir(parents=True, exist_ok=True)
        self._prepare_root()
        if self.tls and not (self.tls_folder / "server.crt").exists():
            self._make_certificates(self.tls_folder)
            self._prepare_tls()
        if not self._initialised_marker.exists():
            shutil.rmtree(self.data_dir, ignore_errors=True)
            if self.template_cache:
                self._copy_template()
            else:
                self._initialise(self.data_dir)
            self._after_initialise()
            self._initialised_marker.touch()
        self._launch()
        self._wait_until_ready()
        self._after_start()

    def stop(self) -> None:
        """Shut the server down by its pid and wait for it to exit; nothing to do if it is not running."""
        pid = self.pid
        if pid is not None:
            stop_process(pid, self.stop_signal, self.stop_timeout, reap=self._reap)
        elif self.data_dir.exists():
            # Stopped while it started (a signal to the module): its pid file may not be written yet.
            for other in pids_serving(self.data_dir):
                stop_process(other, self.stop_signal, self.stop_timeout, reap=self._reap)
        self._reap()

    def destroy(self) -> None:
        """Stop the server and remove its folder with everything in it."""
        try:
            self.stop()
        finally:
            if self.root.exists():
                shutil.rmtree(self.root, ignore_errors=True)

    def log_tail(self, lines: int = 20) -> str:
        return log_tail(self.log_path, lines)

    def _check_socket_path(self) -> None:
        if len(str(self.socket_path).encode()) > MAX_SOCKET_PATH_BYTES:
            raise ServerProcessError(
                f"socket path {self.socket_path} is longer than {MAX_SOCKET_PATH_BYTES} bytes, "
                "the limit for unix sockets: use a shorter folder"
            )

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        while True:
            exited = self._launch_exit_status()
            if exited is not None:
                raise ServerProcessError(
                    f"{self.engine} server in {self.root} exited during startup ({exited}); "
                    f"last lines of {self.log_path}:\n{self.log_tail()}"
                )
            try:
                self.admin_connect().close()
                return
            except self.driver_errors:
                pass
            if time.monotonic() >= deadline:
                raise ServerProcessError(
                    f"{self.engine} server in {self.root} did not accept connections on port {self.port} "
                    f"within {self.start_timeout:.0f}s; last lines of {self.log_path}:\n{self.log_tail()}"
                )
            time.sleep(0.05)

    # The template cache.

    def template_key(self) -> str:
        """What a template depends on: the engine's build and initialisation options (see _template_facts)."""
        facts = [TEMPLATE_VERSION, type(self).__name__, str(os.geteuid())]
        for program in self._template_programs():
            real = os.path.realpath(program)
            info = os.stat(real)
            facts.append("%s %d %d" % (real, info.st_size, info.st_mtime_ns))
        facts.extend(self._template_options())
        return hashlib.sha256("\n".join(facts).encode()).hexdigest()[:16]

    def _copy_template(self) -> None:
        template = _own_folder(template_cache_root()) / self.template_key()
        if not (template / "ready").exists():
            staging = Path(tempfile.mkdtemp(prefix="staging-", dir=str(template.parent)))
            try:
                self._prepare_template_folder(staging)
                self._initialise(staging / "data")
                (staging / "ready").touch()
                try:
                    os.rename(staging, template)  # atomic: another run that made it first wins
                except OSError:
                    pass
            finally:
                if staging.exists():
                    shutil.rmtree(staging, ignore_errors=True)
        # cp -a keeps the template's owner (the server's system user, when we are root) and modes; --sparse=always
        # writes its zero-filled pages (preallocated WAL and redo logs, mostly) as holes: a fraction of the writes.
        completed = subprocess.run(["cp", "-a", "--sparse=always", str(template / "data"), str(self.data_dir)],
                                   stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False)
        if completed.returncode != 0:
            raise ServerProcessError("copying the template %s for the %s server failed: %s"
                                     % (template, self.engine, completed.stderr.strip()[-500:]))

    # Engine-specific parts.

    def _template_programs(self) -> list[str]:
        """The programs whose build a template belongs to."""
        raise NotImplementedError

    def _template_options(self) -> list[str]:
        """The initialisation's options, as text (a change makes a new template)."""
        return []

    def _prepare_template_folder(self, folder: Path) -> None:
        """Give a template's staging folder to whoever runs the server (nothing to do by default)."""

    def _prepare_root(self) -> None:
        """Give the folder to whoever runs the server (nothing to do by default)."""

    def _make_certificates(self, folder: Path) -> None:
        raise ServerProcessError("%s: TLS mode needs certificates, which only the sandbox makes" % self)

    def _prepare_tls(self) -> None:
        """Give the certificate files to whoever runs the server (nothing to do by default)."""

    def _initialise(self, data_dir: Path) -> None:
        raise NotImplementedError

    def _after_initialise(self) -> None:
        """Configuration files of this server, written into its fresh data dir (nothing by default)."""

    def _launch(self) -> None:
        raise NotImplementedError

    def _launch_exit_status(self) -> str | None:
        """A description of how the server process ended during startup, or None while it lives."""
        return None

    def _after_start(self) -> None:
        """One-off fixes that need a running server (nothing to do by default)."""

    def _reap(self) -> None:
        """Collect the exit status of a server that is our child process, so it leaves no zombie."""

    def admin_connect(self, dbname: str | None = None):
        raise NotImplementedError

    def version(self) -> str:
        raise NotImplementedError
