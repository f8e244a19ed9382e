"""An ephemeral PostgreSQL server: initdb + pg_ctl in its own folder, loopback TCP with passwords.

The server itself is the engine's (module_utils engines/postgresql/scratch.py, which the restore check's scratch
server is too); the sandbox picks its build by major and adds the app's role and database.
"""

from pathlib import Path

import psycopg2
from psycopg2 import sql

from sandbox.errors import SandboxError
from sandbox.module_utils import pg_builds as builds
from sandbox.module_utils import pg_scratch
from sandbox.server_base import DatabaseServer

PostgresScratch = pg_scratch.PostgresScratch
SUPERUSER = pg_scratch.SUPERUSER
SERVER_PROGRAMS = pg_scratch.SERVER_PROGRAMS
SYSTEM_USER = pg_scratch.SYSTEM_USER
PG_HBA = pg_scratch.PG_HBA


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


class PostgresServer(PostgresScratch, DatabaseServer):
    """The sandbox's PostgreSQL server: the engine's own server (engines/postgresql/scratch.py) of a chosen major,
    with the app's login role and database."""

    # Two-phase commit on, as many production servers have it (XA): preflight lists prepared transactions, which a
    # concurrent build waits for forever, and its tests prepare one. 0, as PostgreSQL ships, refuses PREPARE TRANSACTION.
    default_settings = {**PostgresScratch.default_settings, "max_prepared_transactions": 5}

    def __init__(self, root: Path, port: int | None = None, settings: dict[str, object] | None = None, tls: bool = False,
                 major: int | None = None):
        self.major = major or default_major()
        super().__init__(root, str(postgres_bin_dir(self.major)), port, settings, tls)

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
