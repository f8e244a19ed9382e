"""A real replica next to a sandbox primary: PostgreSQL streaming from a `pg_basebackup -R` copy, MariaDB replicating by
GTID from a primary that writes a binary log. The replica is the same server class as its primary (the engine's
scratch server), living in a folder of its own, started and stopped by pid like the rest.

    primary = make_server("mysql", folder, settings=primary_settings("mysql"))
    primary.start()
    replica = make_replica(primary, folder / "replica")
    replica.start()   # a MariaDB replica attaches at the primary's current GTID position: start it before loading data
"""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path

from sandbox.errors import SandboxError
from sandbox.mariadb import MariadbServer
from sandbox.module_utils import processes
from sandbox.postgres import PostgresServer
from sandbox.server_base import DatabaseServer

REPLICATION_USER = "safeindex_replication"
# MariaDB: what a primary needs for a replica (a binary log, row events, a server id of its own); its replicas get
# ids from 2 up.
MARIADB_PRIMARY_SETTINGS = {"log_bin": "mysql-bin", "server_id": 1, "binlog_format": "ROW"}


def primary_settings(engine: str) -> dict:
    """Settings a primary needs before a replica can follow it (PostgreSQL's defaults already stream: wal_level
    replica, max_wal_senders 10)."""
    return dict(MARIADB_PRIMARY_SETTINGS) if engine == MariadbServer.engine else {}


def make_replica(primary: DatabaseServer, root: Path, port: int | None = None, name: str = "replica1",
                 number: int = 1) -> DatabaseServer:
    """The replica of `primary` in `root` (not started). `name` is what the primary calls it (PostgreSQL's
    application_name in pg_stat_replication)."""
    if isinstance(primary, PostgresServer):
        return PostgresReplica(root, primary, port, name)
    if isinstance(primary, MariadbServer):
        return MariadbReplica(root, primary, port, name, number)
    raise SandboxError(f"no replica for a {primary.engine} server")


def replica_entry(replica: DatabaseServer) -> dict:
    """The replica as an inventory lists it (the `replicas` host variable): host, port, name."""
    return {"host": replica.host, "port": replica.port, "name": replica.name}


class PostgresReplica(PostgresServer):
    """A hot standby: its data folder is the primary's pg_basebackup -R (standby.signal, primary_conninfo), streaming
    over loopback TCP as a replication role with a password of its own."""

    template_cache = False  # its data folder is a copy of its own primary, never a template

    def __init__(self, root: Path, primary: PostgresServer, port: int | None = None, name: str = "replica1"):
        # The primary's settings (its settings file is rewritten with this server's port and socket at each start);
        # cluster_name is the application_name the walreceiver gives the primary.
        super().__init__(root, port, {**primary.settings, "cluster_name": name}, primary.tls, major=primary.major)
        self.primary = primary
        self.name = name

    def _initialise(self, data_dir: Path) -> None:
        password = secrets.token_urlsafe(24)
        allow_replication(self.primary, password)
        conninfo = (f"host={self.primary.host} port={self.primary.port} user={REPLICATION_USER} password={password}"
                    f" application_name={self.name}")
        # -R writes standby.signal and primary_conninfo (with this password) into the copy.
        processes.run_command(self._command("pg_basebackup", "--pgdata", str(data_dir), "--write-recovery-conf",
                                            "--checkpoint=fast", "--wal-method=stream", "--no-sync",
                                            "--dbname", conninfo),
                              cwd=self.root, log_path=self.root / "basebackup.log", what="pg_basebackup")

    def _after_initialise(self) -> None:
        # The copy has the primary's pg_hba.conf and the include of sandbox.conf already.
        pass

    def start(self) -> None:
        super().start()
        wait_replicating(self)


def allow_replication(primary: PostgresServer, password: str) -> None:
    """A replication role with this password, and a pg_hba line that lets it in over loopback TCP (kept once)."""
    hba = primary.data_dir / "pg_hba.conf"
    kind = "hostssl" if primary.tls else "host"
    line = f"{kind}    replication  {REPLICATION_USER}  127.0.0.1/32  scram-sha-256\n"
    text = hba.read_text()
    if line not in text:
        hba.write_text(text.rstrip("\n") + "\n" + line)
    conn = primary.admin_connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (REPLICATION_USER,))
            verb = "ALTER" if cur.fetchone() else "CREATE"
            cur.execute("SET password_encryption = 'scram-sha-256'")
            cur.execute(f'{verb} ROLE "{REPLICATION_USER}" LOGIN REPLICATION PASSWORD %s', (password,))
            cur.execute("SELECT pg_reload_conf()")
    finally:
        conn.close()


class MariadbReplica(MariadbServer):
    """A read-only MariaDB server that replicates from the primary by GTID (MASTER_USE_GTID=slave_pos), from the
    primary's binlog position when it was attached: what the primary does afterwards (the app's user, database and
    data, when the replica is started first) reaches it by replication."""

    def __init__(self, root: Path, primary: MariadbServer, port: int | None = None, name: str = "replica1",
                 number: int = 1):
        settings = {key: value for key, value in primary.settings.items() if key not in MARIADB_PRIMARY_SETTINGS}
        super().__init__(root, port, {**settings, "server_id": 1 + number, "read_only": 1,
                                      "relay_log": "relay-bin"}, primary.tls)
        self.primary = primary
        self.name = name

    def start(self) -> None:
        fresh = not self._initialised_marker.exists()
        super().start()
        if fresh:
            self._attach()

    def _attach(self) -> None:
        primary = self.primary.admin_connect()
        try:
            with primary.cursor() as cur:
                cur.execute("SELECT @@log_bin, @@gtid_binlog_pos")
                log_bin, position = cur.fetchone()
                if not log_bin:
                    raise SandboxError(f"the MariaDB primary in {self.primary.root} writes no binary log; start it"
                                       " with the sandbox's primary settings (python -m sandbox down, then up --replica)")
                password = secrets.token_urlsafe(24)
                # Not replicated: the replica starts after this point anyway.
                cur.execute("SET sql_log_bin = 0")
                cur.execute("CREATE USER IF NOT EXISTS %s@'127.0.0.1' IDENTIFIED BY %s", (REPLICATION_USER, password))
                cur.execute("ALTER USER %s@'127.0.0.1' IDENTIFIED BY %s", (REPLICATION_USER, password))
                cur.execute("GRANT REPLICATION SLAVE ON *.* TO %s@'127.0.0.1'", (REPLICATION_USER,))
        finally:
            primary.close()
        replica = self.admin_connect()
        try:
            with replica.cursor() as cur:
                cur.execute("STOP SLAVE")
                cur.execute("SET GLOBAL gtid_slave_pos = %s", (position,))
                cur.execute("CHANGE MASTER TO MASTER_HOST = %s, MASTER_PORT = %s, MASTER_USER = %s, MASTER_PASSWORD = %s,"
                            " MASTER_USE_GTID = slave_pos, MASTER_CONNECT_RETRY = 1",
                            (self.primary.host, self.primary.port, REPLICATION_USER, password))
                cur.execute("START SLAVE")
        finally:
            replica.close()
        wait_replicating(self)


def wait_replicating(replica: DatabaseServer, timeout: float = 30.0) -> None:
    """Wait until the replica's replication runs (PostgreSQL: a walreceiver streaming; MariaDB: both threads)."""
    deadline = time.monotonic() + timeout
    status = None
    while time.monotonic() < deadline:
        conn = replica.admin_connect()
        try:
            with conn.cursor() as cur:
                if replica.engine == PostgresServer.engine:
                    cur.execute("SELECT status FROM pg_stat_wal_receiver")
                    row = cur.fetchone()
                    status = row and row[0]
                    if status == "streaming":
                        return
                else:
                    cur.execute("SHOW SLAVE STATUS")
                    row = cur.fetchone()
                    names = [column[0] for column in cur.description or ()]
                    values = dict(zip(names, row or (), strict=False))
                    status = (values.get("Slave_IO_Running"), values.get("Slave_SQL_Running"),
                              values.get("Last_IO_Error") or values.get("Last_SQL_Error"))
                    if status[:2] == ("Yes", "Yes"):
                        return
        finally:
            conn.close()
        time.sleep(0.1)
    raise SandboxError(f"the replica in {replica.root} does not replicate after {timeout:.0f}s ({status});"
                       f" last lines of {replica.log_path}:\n{replica.log_tail()}")


def replicas_in(folder: Path) -> list[Path]:
    """The replica folders of a sandbox host's folder (replica1, ...)."""
    return sorted(path for path in Path(folder).glob("replica*") if path.is_dir()) if os.path.isdir(folder) else []
