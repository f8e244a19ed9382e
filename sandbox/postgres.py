"""An ephemeral PostgreSQL server: initdb + pg_ctl in its own folder, loopback TCP with passwords."""

import grp
import os
import pwd
import signal
import stat
import subprocess
from pathlib import Path
from typing import ClassVar

import psycopg2
from psycopg2 import sql

from sandbox.errors import SandboxError
from sandbox.module_utils import pg_builds as builds
from sandbox.processes import run_command
from sandbox.server_base import DatabaseServer

SUPERUSER = "postgres"
SERVER_PROGRAMS = ("initdb", "postgres", "pg_ctl")
# initdb and postgres refuse to run as root; as root we run them as this system user.
SYSTEM_USER = "postgres"

# Superuser over the socket in the server's own folder without a password (only local users reach it);
# everyone else, and everyone over TCP, needs a password. TCP is `host`, or `hostssl` (TLS only) in TLS mode.
PG_HBA = f"""\
# Written by the sandbox helper.
# TYPE  DATABASE  USER      ADDRESS       METHOD
local   all       {SUPERUSER}                 trust
local   all       all                     scram-sha-256
host    all       all       127.0.0.1/32  scram-sha-256
"""


def installed_majors() -> list[int]:
    """The PostgreSQL majors that can run a server here (initdb, postgres and pg_ctl), newest first."""
    return sorted({b.major for b in builds.installed_builds("postgres") if b.has(*SERVER_PROGRAMS)}, reverse=True)


def default_major() -> int:
    """The system's own PostgreSQL (the newest Debian build), else the newest build found: `make demo` and the
    integration suite run on it; `--pg-major` picks another."""
    found = [b for b in builds.installed_builds("postgres") if b.has(*SERVER_PROGRAMS)]
    system = [b for b in found if b.source.startswith("Debian")]
    if not (system or found):
        raise SandboxError("PostgreSQL is not installed: no /usr/lib/postgresql/*/bin, no PostgreSQL package in the"
                           " virtualenv (make setup) and no initdb on PATH")
    return (system or found)[0].major


def postgres_bin_dir(major: int | None = None) -> Path:
    """The bin folder of the PostgreSQL build of that major (default_major() when None)."""
    major = major or default_major()
    build = builds.build_of_major(major, *SERVER_PROGRAMS)
    if build is None:
        installed = ", ".join(str(m) for m in installed_majors()) or "none"
        raise SandboxError(f"PostgreSQL {major} is not installed here (majors found: {installed}; `make setup`"
                           " installs 17 and 18 from requirements-postgres.txt)")
    return Path(build.bin_dir)


def _conf_value(value: object) -> str:
    if isinstance(value, bool):
        value = "on" if value else "off"
    return "'" + str(value).replace("'", "''") + "'"


class PostgresServer(DatabaseServer):
    engine = "postgresql"
    default_settings: ClassVar[dict[str, object]] = {
        # Sandbox speed: a crash may lose the sandbox, which is thrown away anyway.
        "fsync": "off",
        "synchronous_commit": "off",
        "full_page_writes": "off",
        "max_connections": 100,
    }
    # SIGINT is PostgreSQL's "fast" shutdown (what pg_ctl stop -m fast sends): it does not wait for
    # clients to disconnect, unlike SIGTERM ("smart").
    stop_signal = signal.SIGINT
    log_name = "postgres.log"
    pid_file_name = "postmaster.pid"
    driver_errors = (psycopg2.OperationalError,)

    def __init__(self, root: Path, port: int | None = None, settings: dict[str, object] | None = None, tls: bool = False,
                 major: int | None = None):
        super().__init__(root, port, settings, tls)
        self.major = major or default_major()

    @property
    def socket_name(self) -> str:
        return f".s.PGSQL.{self.port}"

    @property
    def _as_root(self) -> bool:
        return os.geteuid() == 0

    def _command(self, program: str, *args: str) -> list[str]:
        command = [str(postgres_bin_dir(self.major) / program), *args]
        if self._as_root:
            return ["runuser", "-u", SYSTEM_USER, "--", *command]
        return command

    def _prepare_root(self) -> None:
        if not self._as_root:
            return
        account = pwd.getpwnam(SYSTEM_USER)
        os.chown(self.root, account.pw_uid, account.pw_gid)
        os.chmod(self.root, 0o700)
        _check_traversable(self.root.parent, account)

    def _prepare_tls(self) -> None:
        # The server runs as the postgres system user, which must own its key (and refuses a key others can read).
        if not self._as_root:
            return
        account = pwd.getpwnam(SYSTEM_USER)
        folder = self.tls_files.ca_cert.parent
        for path in (folder, *folder.iterdir()):
            os.chown(path, account.pw_uid, account.pw_gid)

    def _initialise(self) -> None:
        run_command(
            self._command(
                "initdb",
                "--pgdata",
                str(self.data_dir),
                "--username",
                SUPERUSER,
                "--encoding",
                "UTF8",
                "--locale",
                "C.UTF-8",
                "--auth-local",
                "trust",
                "--auth-host",
                "scram-sha-256",
                "--no-sync",  # sandbox speed
                "--no-instructions",
            ),
            cwd=self.root,
            log_path=self.root / "initdb.log",
            what="initdb",
        )
        # TLS mode: TCP logins only over TLS (hostssl), as an RDS instance with rds.force_ssl has it.
        hba = PG_HBA.replace("\nhost    ", "\nhostssl ") if self.tls else PG_HBA
        (self.data_dir / "pg_hba.conf").write_text(hba)
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write("\n# The sandbox helper rewrites this file at every start.\ninclude 'sandbox.conf'\n")

    def _write_settings(self) -> None:
        settings = {
            **self.settings,
            "listen_addresses": self.host,
            "port": self.port,
            "unix_socket_directories": str(self.root),
            "password_encryption": "scram-sha-256",
        }
        if self.tls:
            files = self.tls_files
            settings.update(ssl=True, ssl_cert_file=str(files.server_cert), ssl_key_file=str(files.server_key))
        lines = [f"{name} = {_conf_value(value)}" for name, value in settings.items()]
        conf = self.data_dir / "sandbox.conf"
        conf.write_text("# Written by the sandbox helper at every start.\n" + "\n".join(lines) + "\n")
        if self._as_root:
            account = pwd.getpwnam(SYSTEM_USER)
            for path in (conf, self.data_dir / "pg_hba.conf"):
                os.chown(path, account.pw_uid, account.pw_gid)

    def _launch(self) -> None:
        self._write_settings()
        # pg_ctl puts the postmaster in its own session and waits until it accepts connections.
        result = subprocess.run(
            self._command(
                "pg_ctl",
                "start",
                "--pgdata",
                str(self.data_dir),
                "--log",
                str(self.log_path),
                "--wait",
                "--timeout",
                str(int(self.start_timeout)),
                "--silent",
            ),
            check=False,
            cwd=self.root,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        if result.returncode != 0:
            pg_ctl_said = " ".join(result.stdout.split())
            raise SandboxError(
                f"postgresql server in {self.root} did not start on port {self.port} ({pg_ctl_said}); "
                f"last lines of {self.log_path}:\n{self.log_tail()}"
            )

    def _launch_exit_status(self) -> str | None:
        return None if self.is_running() else "the postmaster is not running"

    def admin_connect(self, dbname: str | None = None):
        conn = psycopg2.connect(host=str(self.root), port=self.port, user=SUPERUSER, dbname=dbname or "postgres", connect_timeout=5)
        conn.autocommit = True
        return conn

    def app_connect(self, db_name: str, db_user: str, db_password: str, autocommit: bool = True):
        conn = psycopg2.connect(host=self.host, port=self.port, user=db_user, password=db_password, dbname=db_name, connect_timeout=5)
        conn.autocommit = autocommit
        return conn

    def create_app_database(self, db_name: str, db_user: str, db_password: str) -> None:
        """A login role with this password and a database it owns (only a table's owner may index it).

        CREATEDB, like an RDS master user: the backup proves itself by restoring into a scratch database.
        pg_read_all_settings and pg_monitor, as RDS's rds_superuser has them: preflight reads the data
        directory (for its free space) and the replicas' lag.
        """
        user = sql.Identifier(db_user)
        database = sql.Identifier(db_name)
        conn = self.admin_connect()
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (db_user,))
                verb = "ALTER" if cur.fetchone() else "CREATE"
                cur.execute(sql.SQL("{} ROLE {} LOGIN CREATEDB PASSWORD %s").format(sql.SQL(verb), user), (db_password,))
                cur.execute(sql.SQL("GRANT pg_read_all_settings, pg_monitor TO {}").format(user))
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (db_name,))
                if cur.fetchone():
                    cur.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(database, user))
                else:
                    cur.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(database, user))
        finally:
            conn.close()

    def version(self) -> str:
        conn = self.admin_connect()
        try:
            with conn.cursor() as cur:
                cur.execute("SHOW server_version")
                # e.g. "15.14 (Debian 15.14-0+deb12u1)"
                return "PostgreSQL " + cur.fetchone()[0].split()[0]
        finally:
            conn.close()


def _check_traversable(folder: Path, account: pwd.struct_passwd) -> None:
    """Fail clearly when the postgres system user cannot reach the server's folder."""
    groups = {account.pw_gid, *(group.gr_gid for group in _groups_of(account.pw_name))}
    for path in [folder, *folder.parents]:
        info = path.stat()
        if info.st_uid == account.pw_uid:
            allowed = info.st_mode & stat.S_IXUSR
        elif info.st_gid in groups:
            allowed = info.st_mode & stat.S_IXGRP
        else:
            allowed = info.st_mode & stat.S_IXOTH
        if not allowed:
            raise SandboxError(
                f"the {account.pw_name} system user cannot enter {path}, a parent of the PostgreSQL sandbox "
                f"(run `chmod o+x {path}` or use another folder)"
            )


def _groups_of(user: str) -> list[grp.struct_group]:
    return [group for group in grp.getgrall() if user in group.gr_mem]
