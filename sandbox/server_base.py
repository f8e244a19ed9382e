"""What both sandbox servers share: the server core of module_utils (backup/scratch_server.py: a folder, a loopback
port, start/stop/destroy by pid, which the restore check's scratch server uses too), TLS certificates, and the app's
login and database."""

from pathlib import Path

from sandbox.module_utils import scratch_server
from sandbox.tls import TlsFiles, make_certificates

MAX_SOCKET_PATH_BYTES = scratch_server.MAX_SOCKET_PATH_BYTES


class DatabaseServer(scratch_server.ScratchServer):
    """One ephemeral sandbox server living entirely in `root`: data, socket, pid file and log."""

    # A fresh data folder is a copy of the build's template (backup/scratch_server.py), made once per build: measured,
    # a MariaDB server starts in 0.6 s instead of 2.6 s (mariadb-install-db), and the tests start many.
    template_cache = True

    @property
    def tls_files(self) -> TlsFiles | None:
        """The server's certificate and key and the CA that signed it (clients trust ca_cert); None without TLS."""
        if not self.tls:
            return None
        folder = self.tls_folder
        return TlsFiles(ca_cert=folder / "ca.crt", server_cert=folder / "server.crt", server_key=folder / "server.key")

    def _make_certificates(self, folder: Path) -> None:
        make_certificates(folder)

    def app_connect(self, db_name: str, db_user: str, db_password: str, autocommit: bool = True):
        raise NotImplementedError

    def create_app_database(self, db_name: str, db_user: str, db_password: str) -> None:
        raise NotImplementedError
