"""An ephemeral MariaDB server (serves engine "mysql"): mariadb-install-db + mariadbd in its own folder."""

import os
import shutil
import subprocess
from pathlib import Path
from typing import ClassVar

import pymysql

from sandbox.errors import SandboxError
from sandbox.processes import run_command
from sandbox.server_base import DatabaseServer

SUPERUSER = "root"
# The app's hosts: TCP clients come from 127.0.0.1 (names are not resolved), socket clients are 'localhost'.
APP_USER_HOSTS = ("127.0.0.1", "localhost")


def mariadb_program(name: str) -> str:
    """Path of a MariaDB program; mariadbd lives in /usr/sbin, which a non-root PATH may lack."""
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin")
    if not found:
        raise SandboxError(f"MariaDB is not installed: no {name} on PATH or in /usr/sbin")
    return found


def _option(name: str, value: object) -> str:
    if isinstance(value, bool):
        value = "ON" if value else "OFF"
    return f"--{name.replace('_', '-')}={value}"


def quote_identifier(name: str) -> str:
    """A MariaDB identifier in backticks, backticks inside doubled."""
    return "`" + name.replace("`", "``") + "`"


class MariadbServer(DatabaseServer):
    engine = "mysql"
    default_settings: ClassVar[dict[str, object]] = {
        "innodb_buffer_pool_size": "256M",
        # Sandbox speed: flush the redo log once a second, not at every commit.
        "innodb_flush_log_at_trx_commit": 2,
    }
    socket_name = "mysqld.sock"
    log_name = "error.log"
    pid_file_name = "mysqld.pid"
    driver_errors = (pymysql.err.OperationalError,)

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

    def _initialise(self) -> None:
        run_command(
            [
                mariadb_program("mariadb-install-db"),
                "--no-defaults",  # never read the system's /etc/mysql
                f"--datadir={self.data_dir}",
                "--auth-root-authentication-method=normal",  # root without password, reachable only locally
                "--skip-test-db",
                "--skip-name-resolve",
                *self._user_option(),
            ],
            cwd=self.root,
            log_path=self.root / "install-db.log",
            what="mariadb-install-db",
        )

    def _launch(self) -> None:
        command = [
            mariadb_program("mariadbd"),
            "--no-defaults",
            *self._user_option(),
            f"--datadir={self.data_dir}",
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
                command,
                cwd=self.root,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,  # its own process group: a Ctrl-C in our terminal does not reach it
            )

    def _tls_options(self) -> list[str]:
        files = self.tls_files
        if files is None:
            return []
        return [f"--ssl-ca={files.ca_cert}", f"--ssl-cert={files.server_cert}", f"--ssl-key={files.server_key}"]

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
        # name); keep only root over the socket, like the PostgreSQL sandbox.
        conn = self.admin_connect()
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT User, Host FROM mysql.user WHERE User = %s AND Host <> 'localhost'", (SUPERUSER,))
                for user, host in cur.fetchall():
                    cur.execute("DROP USER %s@%s", (user, host))
        finally:
            conn.close()

    def admin_connect(self, dbname: str | None = None):
        return pymysql.connect(
            unix_socket=str(self.socket_path),
            user=SUPERUSER,
            password="",
            database=dbname,
            charset="utf8mb4",
            autocommit=True,
            connect_timeout=5,
        )

    def app_connect(self, db_name: str, db_user: str, db_password: str, autocommit: bool = True):
        return pymysql.connect(
            host=self.host,
            port=self.port,
            user=db_user,
            password=db_password,
            database=db_name,
            charset="utf8mb4",
            autocommit=autocommit,
            connect_timeout=5,
        )

    def create_app_database(self, db_name: str, db_user: str, db_password: str) -> None:
        """A user with this password (TCP and socket), all rights on the database, and PROCESS.

        PROCESS is the one global right the migration needs: mysqldump --single-transaction reads
        tablespace info with it, and it shows other sessions in PROCESSLIST and INNODB_TRX. The
        backup proves itself by restoring into scratch databases named safeindex_verify_*, and
        rollback.yml's restore_backup restores into new databases named <database>_restored_*.
        """
        database = quote_identifier(db_name)
        conn = self.admin_connect()
        try:
            with conn.cursor() as cur:
                cur.execute(f"CREATE DATABASE IF NOT EXISTS {database} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
                for host in APP_USER_HOSTS:
                    account = (db_user, host)
                    cur.execute("CREATE USER IF NOT EXISTS %s@%s IDENTIFIED BY %s", (*account, db_password))
                    cur.execute("ALTER USER %s@%s IDENTIFIED BY %s", (*account, db_password))
                    if self.tls and host != "localhost":
                        # TLS mode: over TCP the app user must use TLS (socket logins are local, as with PostgreSQL).
                        cur.execute("ALTER USER %s@%s REQUIRE SSL", account)
                    cur.execute(f"GRANT ALL PRIVILEGES ON {database}.* TO %s@%s", account)
                    # PROCESS shows other sessions; REPLICATION MASTER ADMIN lists the replicas (preflight's lag check).
                    cur.execute("GRANT PROCESS, REPLICATION MASTER ADMIN ON *.* TO %s@%s", account)
                    cur.execute("GRANT ALL PRIVILEGES ON `safeindex\\_verify\\_%%`.* TO %s@%s", account)
                    # A '%' in the pattern is doubled: the driver fills in the account's %s.
                    restored = quote_identifier(db_name.replace("_", "\\_") + "\\_restored\\_%").replace("%", "%%")
                    cur.execute(f"GRANT ALL PRIVILEGES ON {restored}.* TO %s@%s", account)
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
