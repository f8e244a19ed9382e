"""What both sandbox servers share: a folder, a loopback port, start/stop/destroy by pid."""

import shutil
import signal
import time
from pathlib import Path
from typing import ClassVar

from sandbox.errors import SandboxError
from sandbox.ports import LOOPBACK, free_port, port_is_free
from sandbox.processes import log_tail, read_pid_file, serves_data_dir, stop_process
from sandbox.tls import TlsFiles, make_certificates

# sockaddr_un.sun_path is 108 bytes on Linux, one of them the terminating NUL.
MAX_SOCKET_PATH_BYTES = 107


class DatabaseServer:
    """One ephemeral server living entirely in `root`: data, socket, pid file and log."""

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

    def __init__(self, root: Path, port: int | None = None, settings: dict[str, object] | None = None, tls: bool = False):
        self.root = Path(root).absolute()
        self.port = port if port is not None else free_port()
        # Sandbox defaults trade durability for speed; a benchmark can pass e.g. {"fsync": "on"}.
        self.settings = {**self.default_settings, **(settings or {})}
        # TLS mode: a CA and a server certificate of the server's own; the app user must use TLS over TCP.
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
    def tls_files(self) -> TlsFiles | None:
        """The server's certificate and key and the CA that signed it (clients trust ca_cert); None without TLS."""
        if not self.tls:
            return None
        folder = self.root / "tls"
        return TlsFiles(ca_cert=folder / "ca.crt", server_cert=folder / "server.crt", server_key=folder / "server.key")

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
            raise SandboxError(
                f"port {self.port} on {self.host} is already in use by another process "
                f"(not the {self.engine} sandbox server in {self.root})"
            )
        self.root.mkdir(parents=True, exist_ok=True)
        self._prepare_root()
        if self.tls and not self.tls_files.server_cert.exists():
            make_certificates(self.tls_files.ca_cert.parent)
            self._prepare_tls()
        if not self._initialised_marker.exists():
            shutil.rmtree(self.data_dir, ignore_errors=True)
            self._initialise()
            self._initialised_marker.touch()
        self._launch()
        self._wait_until_ready()
        self._after_start()

    def stop(self) -> None:
        """Shut the server down by its pid and wait for it to exit; nothing to do if it is not running."""
        pid = self.pid
        if pid is not None:
            stop_process(pid, self.stop_signal, self.stop_timeout, reap=self._reap)
        self._reap()

    def destroy(self) -> None:
        """Stop the server and remove its folder with everything in it."""
        self.stop()
        if self.root.exists():
            shutil.rmtree(self.root)

    def log_tail(self, lines: int = 20) -> str:
        return log_tail(self.log_path, lines)

    def _check_socket_path(self) -> None:
        if len(str(self.socket_path).encode()) > MAX_SOCKET_PATH_BYTES:
            raise SandboxError(
                f"socket path {self.socket_path} is longer than {MAX_SOCKET_PATH_BYTES} bytes, "
                "the limit for unix sockets: use a shorter folder"
            )

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        while True:
            exited = self._launch_exit_status()
            if exited is not None:
                raise SandboxError(
                    f"{self.engine} server in {self.root} exited during startup ({exited}); "
                    f"last lines of {self.log_path}:\n{self.log_tail()}"
                )
            try:
                self.admin_connect().close()
                return
            except self.driver_errors:
                pass
            if time.monotonic() >= deadline:
                raise SandboxError(
                    f"{self.engine} server in {self.root} did not accept connections on port {self.port} "
                    f"within {self.start_timeout:.0f}s; last lines of {self.log_path}:\n{self.log_tail()}"
                )
            time.sleep(0.1)

    # Engine-specific parts.

    def _prepare_root(self) -> None:
        """Give the folder to whoever runs the server (nothing to do by default)."""

    def _prepare_tls(self) -> None:
        """Give the certificate files to whoever runs the server (nothing to do by default)."""

    def _initialise(self) -> None:
        raise NotImplementedError

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

    def app_connect(self, db_name: str, db_user: str, db_password: str, autocommit: bool = True):
        raise NotImplementedError

    def create_app_database(self, db_name: str, db_user: str, db_password: str) -> None:
        raise NotImplementedError

    def version(self) -> str:
        raise NotImplementedError
