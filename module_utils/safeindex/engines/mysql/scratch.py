"""A MariaDB server of our own (backup/scratch_server.py): mariadb-install-db + mariadbd in its own folder, loopback
TCP with passwords, root without one over the socket in that folder. The restore check's scratch server for the MySQL
family and the sandbox's MariaDB servers are this class.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import ClassVar

try:
    import pymysql
except ImportError:  # reported by the module as a missing requirement
    pymysql = None

from ansible.module_utils.safeindex.backup.scratch_server import ScratchServer
from ansible.module_utils.safeindex.core.processes import ServerProcessError, at_background_priority, run_command

SUPERUSER = "root"
INSTALL_DB_OPTIONS = ("--auth-root-authentication-method=normal",  # root without password, reachable only locally
                      "--skip-test-db", "--skip-name-resolve")
# A restore check's server loads one dump and counts it: no binary log, no flush at each commit, no doublewrite.
RESTORE_SETTINGS = {"innodb_buffer_pool_size": "1G", "innodb_flush_log_at_trx_commit": 0, "innodb_doublewrite": 0,
                    # The change buffer defers secondary index writes; a bigger redo log means fewer flushes while it loads.
                    "innodb_change_buffering": "all", "innodb_log_file_size": "512M",
                    "sync_binlog": 0, "innodb_flush_method": "nosync"}


def mariadb_program(name: str) -> str:
    """Path of a MariaDB program; mariadbd lives in /usr/sbin, which a non-root PATH may lack."""
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin")
    if not found:
        raise ServerProcessError(f"MariaDB is not installed: no {name} on PATH or in /usr/sbin")
    return found


def server_installed() -> bool:
    """Whether a MariaDB server can be started here (mariadbd and mariadb-install-db)."""
    try:
        mariadb_program("mariadbd")
        mariadb_program("mariadb-install-db")
    except ServerProcessError:
        return False
    return True


def _option(name: str, value: object) -> str:
    if isinstance(value, bool):
        value = "ON" if value else "OFF"
    return f"--{name.replace('_', '-')}={value}"


def quote_identifier(name: str) -> str:
    """A MariaDB identifier in backticks, backticks inside doubled."""
    return "`" + name.replace("`", "``") + "`"


class MariadbScratch(ScratchServer):
    engine = "mysql"
    default_settings: ClassVar[dict[str, object]] = {
        "innodb_buffer_pool_size": "256M",
        # Speed: flush the redo log once a second, not at every commit.
        "innodb_flush_log_at_trx_commit": 2,
    }
    socket_name = "mysqld.sock"
    log_name = "error.log"
    pid_file_name = "mysqld.pid"
    driver_errors = (pymysql.err.OperationalError,) if pymysql else ()

    def __init__(self, root: Path, port: int | None = None, settings: dict[str, object] | None = None, tls: bool = False):
        super().__init__(root, port, settings, tls)
        self._process: subprocess.Popen | None = None

    @property
    def pid_file(self) -> Path:
        return self.root / self.pid_file_name

    @property
    def pid(self) -> int | None:
        # Until mariadbd has written its pid file, the process we launched is the server.
        if self._process is not None and self._process.poll() is None:
            return self._process.pid
        return super().pid

    def _user_option(self) -> list[str]:
        # mariadbd refuses to run as root unless told to; as anyone else --user is not allowed.
        return ["--user=root"] if os.geteuid() == 0 else []

    def _template_programs(self) -> list[str]:
        return [mariadb_program("mariadbd"), mariadb_program("mariadb-install-db")]

    def _template_options(self) -> list[str]:
        return list(INSTALL_DB_OPTIONS)

    def _initialise(self, data_dir: Path) -> None:
        # install-db's bootstrap mariadbd has a tmpdir of its own too (see _launch): in the shared /tmp another server's
        # start deleted its temporary table mid-bootstrap (CI: "Could not remove temporary table: '/tmp/#sql-temptable-
        # ...'", then "Unknown table 'mysql.tmp_user_sys'"), and its own start deleted those of the others.
        tmpdir = data_dir.parent / "tmp"
        tmpdir.mkdir(exist_ok=True)
        run_command(
            [mariadb_program("mariadb-install-db"), "--no-defaults",  # never read the system's /etc/mysql
             f"--datadir={data_dir}", *INSTALL_DB_OPTIONS, *self._user_option(),
             f"--tmpdir={tmpdir}"],  # not one of install-db's options: it passes it on to the bootstrap mariadbd
            cwd=data_dir.parent, log_path=data_dir.parent / "install-db.log", what="mariadb-install-db",
        )

    def _launch(self) -> None:
        # A tmpdir of its own: mariadbd deletes every #sql* file in its tmpdir when it starts, so with the shared /tmp
        # each start of a server removed the open temporary tables of every other MariaDB there (measured: a running
        # server's "Error on delete of '/tmp/#sql-temptable-...MAI'", and its crash, signal 11 in ha_maria::drop_table).
        tmpdir = self.root / "tmp"
        tmpdir.mkdir(exist_ok=True)
        command = [
            mariadb_program("mariadbd"),
            "--no-defaults",
            *self._user_option(),
            f"--datadir={self.data_dir}",
            f"--tmpdir={tmpdir}",
            f"--bind-address={self.host}",
            f"--port={self.port}",
            f"--socket={self.socket_path}",
            f"--pid-file={self.pid_file}",
            f"--log-error={self.log_path}",
            "--skip-log-bin",
            "--skip-name-resolve",
            "--character-set-server=utf8mb4",
            "--collation-server=utf8mb4_unicode_ci",
            *(_option(name, value) for name, value in self.settings.items()),
            *self._tls_options(),
        ]
        # Output before mariadbd opens its error log (bad options) lands in the same file.
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                command, cwd=self.root, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                start_new_session=True,  # its own process group: a Ctrl-C in our terminal does not reach it
                preexec_fn=at_background_priority if self.background else None,
            )

    def _tls_options(self) -> list[str]:
        if not self.tls:
            return []
        folder = self.tls_folder
        return [f"--ssl-ca={folder / 'ca.crt'}", f"--ssl-cert={folder / 'server.crt'}", f"--ssl-key={folder / 'server.key'}"]

    def _launch_exit_status(self) -> str | None:
        if self._process is None:
            return "it was not launched"
        code = self._process.poll()
        return None if code is None else f"exit code {code}"

    def _reap(self) -> None:
        if self._process is not None:
            self._process.poll()

    def _after_start(self) -> None:
        # mariadb-install-db also makes password-less root accounts for TCP (127.0.0.1, ::1, the host
        # name); keep only root over the socket.
        conn = self.admin_connect()
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT User, Host FROM mysql.user WHERE User = %s AND Host <> 'localhost'", (SUPERUSER,))
                for user, host in cur.fetchall():
                    cur.execute("DROP USER %s@%s", (user, host))
        finally:
            conn.close()

    def admin_connect(self, dbname: str | None = None):
        # Over the socket, no TLS: without ssl_disabled PyMySQL would load the system's CA bundle for nothing (~30 ms).
        return pymysql.connect(unix_socket=str(self.socket_path), user=SUPERUSER, password="", database=dbname,
                               charset="utf8mb4", autocommit=True, connect_timeout=5, ssl_disabled=True)

    def add_user(self, user: str, password: str) -> None:
        """A user for TCP from 127.0.0.1 with all rights (the restore check's, with a random password)."""
        conn = self.admin_connect()
        try:
            with conn.cursor() as cur:
                cur.execute("CREATE USER %s@'127.0.0.1' IDENTIFIED BY %s", (user, password))
                cur.execute("GRANT ALL PRIVILEGES ON *.* TO %s@'127.0.0.1'", (user,))
        finally:
            conn.close()

    def collations(self) -> set:
        """The collations this server knows."""
        conn = self.admin_connect()
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT COLLATION_NAME FROM information_schema.COLLATIONS")
                return {row[0] for row in cur.fetchall()}
        finally:
            conn.close()

    def version(self) -> str:
        conn = self.admin_connect()
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT VERSION()")
                # e.g. 10.11.18-MariaDB-0+deb12u1
                return "MariaDB " + cur.fetchone()[0].split("-")[0]
        finally:
            conn.close()


def check_server(server_version: str, root: Path) -> MariadbScratch:
    """The restore check's server for a dump of the MySQL family: MariaDB (the one the controller has), from the
    template cache."""
    if not server_installed():
        raise ServerProcessError(
            "the restore check's scratch server cannot run: the controller has no MariaDB server (mariadbd and"
            " mariadb-install-db; apt-get install mariadb-server), needed to load the dump of %s. Install it, or set"
            " backup_verify_target: server (restore into a scratch database on the server) or backup_verify: list"
            % server_version)
    server = MariadbScratch(root, settings=RESTORE_SETTINGS)
    server.template_cache = True
    return server


def collations_in_use(engine) -> set:
    """The collations the source database's tables and columns use (and its default)."""
    rows = engine._rows(
        "SELECT TABLE_COLLATION FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_COLLATION IS NOT NULL"
        " UNION SELECT COLLATION_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND COLLATION_NAME IS NOT NULL"
        " UNION SELECT DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = DATABASE()")
    return {row[0] for row in rows}


def missing_collations(used: set, known: set, server_version: str, scratch_version: str) -> str | None:
    """Why the scratch server cannot load the dump, when the source uses collations it lacks (a MySQL 8 dump's
    utf8mb4_0900_ai_ci on MariaDB); None when it can."""
    missing = sorted(used - known)
    if not missing:
        return None
    return ("the restore check's scratch server (%s on the controller) cannot load this dump: the database (%s) uses"
            " collations it does not know: %s. Set backup_verify_target: server (restore into a scratch database on the"
            " server itself) or backup_verify: list (prove the dump by its table of contents)"
            % (scratch_version, server_version, ", ".join(missing)))
