"""A PostgreSQL server of our own (backup/scratch_server.py): initdb + pg_ctl in its own folder, loopback TCP with
passwords, the superuser without one over the socket in that folder. The restore check's scratch server and the
sandbox's PostgreSQL servers are this class.
"""

from __future__ import annotations

import grp
import os
import pwd
import signal
import stat
import subprocess
from pathlib import Path
from typing import ClassVar

try:
    import psycopg2
except ImportError:  # reported by the module as a missing requirement
    psycopg2 = None

from ansible.module_utils.safeindex.backup.scratch_server import ScratchServer
from ansible.module_utils.safeindex.core.processes import ServerProcessError, at_background_priority, run_command

SUPERUSER = "postgres"
SERVER_PROGRAMS = ("initdb", "postgres", "pg_ctl")
# initdb and postgres refuse to run as root; as root we run them as this system user.
SYSTEM_USER = "postgres"
INITDB_OPTIONS = ("--username", SUPERUSER, "--encoding", "UTF8", "--locale", "C.UTF-8", "--auth-local", "trust",
                  "--auth-host", "scram-sha-256", "--no-sync", "--no-instructions")

# Superuser over the socket in the server's own folder without a password (only local users reach it);
# everyone else, and everyone over TCP, needs a password. TCP is `host`, or `hostssl` (TLS only) in TLS mode.
PG_HBA = f"""\
# Written by safeindex (scratch server / sandbox).
# TYPE  DATABASE  USER      ADDRESS       METHOD
local   all       {SUPERUSER}                 trust
local   all       all                     scram-sha-256
host    all       all       127.0.0.1/32  scram-sha-256
"""

# What a server that is thrown away afterwards may skip: durability (a crash loses it, and it is lost anyway).
THROWAWAY_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off", "max_connections": 100}
# A restore check's server loads one dump and counts it: no WAL beyond crash safety (COPY into a table created in the
# same transaction then writes no WAL at all), no autovacuum, room for index builds.
RESTORE_SETTINGS = {**THROWAWAY_SETTINGS, "wal_level": "minimal", "max_wal_senders": 0, "autovacuum": "off",
                    "maintenance_work_mem": "256MB", "max_wal_size": "4GB", "checkpoint_timeout": "1h",
                    "shared_buffers": "128MB", "max_connections": 20}


def _conf_value(value: object) -> str:
    if isinstance(value, bool):
        value = "on" if value else "off"
    return "'" + str(value).replace("'", "''") + "'"


class PostgresScratch(ScratchServer):
    engine = "postgresql"
    default_settings: ClassVar[dict[str, object]] = THROWAWAY_SETTINGS
    # SIGINT is PostgreSQL's "fast" shutdown (what pg_ctl stop -m fast sends): it does not wait for
    # clients to disconnect, unlike SIGTERM ("smart").
    stop_signal = signal.SIGINT
    log_name = "postgres.log"
    pid_file_name = "postmaster.pid"
    driver_errors = (psycopg2.OperationalError,) if psycopg2 else ()
    initdb_options: tuple = INITDB_OPTIONS

    def __init__(self, root: Path, bin_dir: str, port: int | None = None, settings: dict[str, object] | None = None,
                 tls: bool = False):
        super().__init__(root, port, settings, tls)
        self.bin_dir = Path(bin_dir)

    @property
    def socket_name(self) -> str:
        return f".s.PGSQL.{self.port}"

    @property
    def _as_root(self) -> bool:
        return os.geteuid() == 0

    def _command(self, program: str, *args: str) -> list[str]:
        command = [str(self.bin_dir / program), *args]
        if self._as_root:
            return ["runuser", "-u", SYSTEM_USER, "--", *command]
        return command

    def _give_to_system_user(self, *paths: Path, recursive: bool = False) -> None:
        if not self._as_root:
            return
        account = pwd.getpwnam(SYSTEM_USER)
        for path in paths:
            os.chown(path, account.pw_uid, account.pw_gid)
            if recursive:
                for folder, dirs, files in os.walk(path):
                    for name in dirs + files:
                        os.lchown(os.path.join(folder, name), account.pw_uid, account.pw_gid)

    def _prepare_root(self) -> None:
        if not self._as_root:
            return
        self._give_to_system_user(self.root)
        os.chmod(self.root, 0o700)
        check_traversable(self.root.parent, pwd.getpwnam(SYSTEM_USER))

    def _prepare_template_folder(self, folder: Path) -> None:
        self._give_to_system_user(folder)

    def _prepare_tls(self) -> None:
        # The server runs as the postgres system user, which must own its key (and refuses a key others can read).
        self._give_to_system_user(self.tls_folder, *self.tls_folder.iterdir())

    def _template_programs(self) -> list[str]:
        return [str(self.bin_dir / name) for name in SERVER_PROGRAMS]

    def _template_options(self) -> list[str]:
        return list(self.initdb_options)

    def _initialise(self, data_dir: Path) -> None:
        run_command(self._command("initdb", "--pgdata", str(data_dir), *self.initdb_options),
                    cwd=data_dir.parent, log_path=data_dir.parent / "initdb.log", what="initdb")

    def _after_initialise(self) -> None:
        # TLS mode: TCP logins only over TLS (hostssl), as an RDS instance with rds.force_ssl has it.
        hba = PG_HBA.replace("\nhost    ", "\nhostssl ") if self.tls else PG_HBA
        (self.data_dir / "pg_hba.conf").write_text(hba)
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write("\n# Rewritten at every start.\ninclude 'sandbox.conf'\n")

    def _write_settings(self) -> None:
        settings = {
            **self.settings,
            "listen_addresses": self.host,
            "port": self.port,
            "unix_socket_directories": str(self.root),
            "password_encryption": "scram-sha-256",
        }
        if self.tls:
            settings.update(ssl=True, ssl_cert_file=str(self.tls_folder / "server.crt"),
                            ssl_key_file=str(self.tls_folder / "server.key"))
        lines = [f"{name} = {_conf_value(value)}" for name, value in settings.items()]
        conf = self.data_dir / "sandbox.conf"
        conf.write_text("# Written at every start.\n" + "\n".join(lines) + "\n")
        self._give_to_system_user(conf, self.data_dir / "pg_hba.conf")

    def _launch(self) -> None:
        self._write_settings()
        # pg_ctl puts the postmaster in its own session and waits until it accepts connections.
        result = subprocess.run(
            self._command("pg_ctl", "start", "--pgdata", str(self.data_dir), "--log", str(self.log_path), "--wait",
                          "--timeout", str(int(self.start_timeout)), "--silent"),
            check=False, cwd=self.root, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, preexec_fn=at_background_priority if self.background else None,
        )
        if result.returncode != 0:
            pg_ctl_said = " ".join(result.stdout.split())
            raise ServerProcessError(
                f"postgresql server in {self.root} did not start on port {self.port} ({pg_ctl_said}); "
                f"last lines of {self.log_path}:\n{self.log_tail()}"
            )

    def _launch_exit_status(self) -> str | None:
        return None if self.is_running() else "the postmaster is not running"

    def admin_connect(self, dbname: str | None = None):
        conn = psycopg2.connect(host=str(self.root), port=self.port, user=SUPERUSER, dbname=dbname or "postgres", connect_timeout=5)
        conn.autocommit = True
        return conn

    def set_password(self, user: str, password: str) -> None:
        """The password `user` logs in with over TCP (a random one per scratch server)."""
        conn = self.admin_connect()
        try:
            with conn.cursor() as cur:
                cur.execute("SET password_encryption = 'scram-sha-256'")
                cur.execute('ALTER ROLE "%s" PASSWORD %%s' % user.replace('"', '""'), (password,))
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


def check_traversable(folder: Path, account: pwd.struct_passwd) -> None:
    """Fail clearly when the postgres system user cannot reach the server's folder."""
    groups = {account.pw_gid, *(group.gr_gid for group in grp.getgrall() if account.pw_name in group.gr_mem)}
    for path in [folder, *folder.parents]:
        info = path.stat()
        if info.st_uid == account.pw_uid:
            allowed = info.st_mode & stat.S_IXUSR
        elif info.st_gid in groups:
            allowed = info.st_mode & stat.S_IXGRP
        else:
            allowed = info.st_mode & stat.S_IXOTH
        if not allowed:
            raise ServerProcessError(
                f"the {account.pw_name} system user cannot enter {path}, a parent of the PostgreSQL server's folder "
                f"(run `chmod o+x {path}` or use another folder)"
            )


def check_server(server_version: str, root: Path) -> PostgresScratch:
    """The restore check's server for a dump of a server of `server_version`: a build of the source's major when the
    controller has one (the same behaviour, the same extensions as the distribution's), else the newest build of a
    later major (a dump loads into a newer server); from the template cache."""
    from ansible.module_utils.safeindex.backup.clients import version_numbers
    from ansible.module_utils.safeindex.engines.postgresql import builds

    major = (version_numbers(server_version) or (0,))[0]
    build = builds.build_of_major(major, *SERVER_PROGRAMS) or builds.newest_at_least(major, *SERVER_PROGRAMS)
    if build is None:
        found = ", ".join(sorted({str(b.major) for b in builds.installed_builds("postgres") if b.has(*SERVER_PROGRAMS)})) or "none"
        raise ServerProcessError(
            "the restore check's scratch server cannot load this dump: the server is PostgreSQL %s and the controller has"
            " no PostgreSQL server build (initdb, postgres, pg_ctl) of major %d or later (majors found: %s). Install one"
            " (make setup installs 17 and 18 from requirements-postgres.txt), or set backup_verify_target: server (restore"
            " into a scratch database on the server) or backup_verify: list" % (server_version, major, found))
    server = PostgresScratch(root, build.bin_dir, settings=RESTORE_SETTINGS)
    server.template_cache = True
    # 1 MB WAL segments: the template's one segment is what a copy of it costs most (16 MB by default).
    server.initdb_options = (*INITDB_OPTIONS, "--wal-segsize=1")
    return server


def locale_of(engine) -> tuple:
    """The source database's (encoding, collate, ctype), which its copy on the scratch server is created with."""
    return tuple(engine._rows(
        "SELECT pg_encoding_to_char(encoding), datcollate, datctype FROM pg_database WHERE datname = current_database()")[0])


def create_copy_database(server: PostgresScratch, name: str, locale: tuple) -> None:
    """The database the dump is restored into, on the scratch server, with the source's encoding and locale."""
    conn = server.admin_connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW server_version_num")
            # FILE_COPY (15 and later) copies template0's files instead of writing them block by block to the WAL:
            # its checkpoint costs nothing on a server without fsync.
            strategy = " STRATEGY FILE_COPY" if int(cur.fetchone()[0]) >= 150000 else ""
            cur.execute('CREATE DATABASE "%s" TEMPLATE template0 ENCODING %%s LC_COLLATE %%s LC_CTYPE %%s%s'
                        % (name.replace('"', '""'), strategy), locale)
    finally:
        conn.close()
