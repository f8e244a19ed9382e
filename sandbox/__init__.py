"""Ephemeral PostgreSQL and MariaDB servers with the sample chat/analytics app's schema and data.

    with sandbox.running("postgresql", messages=20_000) as db:
        conn = db.connect()

Used by `make demo` (through `python -m sandbox up`), the pytest fixtures and molecule.
"""

import contextlib
import os
import secrets
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from sandbox import replicas as replica_support
from sandbox.errors import SandboxError
from sandbox.sample_data import create_schema, load_sample_data, print_progress
from sandbox.server_base import DatabaseServer
from sandbox.servers import make_server

__all__ = ["SandboxDB", "SandboxError", "running"]

APP_DATABASE = "chatbot"
APP_USER = "chatbot"
URL_SCHEMES = {"postgresql": "postgresql", "mysql": "mysql"}


@dataclass
class SandboxDB:
    """The app's database on a running sandbox server, and how to reach it as the app user."""

    engine: str
    host: str
    port: int
    name: str
    user: str
    password: str = field(repr=False)
    server: DatabaseServer
    ca_file: str | None = None  # TLS mode: the CA that signed the server's certificate
    # Replicas following this server (sandbox/replicas.py): servers with host, port and name.
    replicas: list = field(default_factory=list, repr=False)

    def connect(self, autocommit: bool = True):
        """A DB-API connection as the app user over TCP."""
        return self.server.app_connect(self.name, self.user, self.password, autocommit=autocommit)

    def url(self) -> str:
        return (
            f"{URL_SCHEMES[self.engine]}://{quote(self.user, safe='')}:{quote(self.password, safe='')}"
            f"@{self.host}:{self.port}/{quote(self.name, safe='')}"
        )


def prepare_app_database(
    server: DatabaseServer,
    name: str,
    user: str,
    password: str,
    messages: int,
    seed: int,
    progress: Callable[[str], None] = print_progress,
) -> dict[str, int]:
    """The app's user, database, schema and sample data on a running server; returns the row counts."""
    server.create_app_database(name, user, password)
    conn = server.app_connect(name, user, password)
    try:
        # Created as the app user, so the app user owns the tables (only the owner may add indexes).
        create_schema(conn, server.engine)
        return load_sample_data(conn, server.engine, messages=messages, seed=seed, progress=progress)
    finally:
        conn.close()


@contextlib.contextmanager
def running(
    engine: str,
    messages: int = 20_000,
    root: Path | None = None,
    seed: int = 42,
    progress: Callable[[str], None] = print_progress,
    tls: bool = False,
    pg_major: int | None = None,
    replica: bool = False,
) -> Iterator[SandboxDB]:
    """A fresh server of that engine on a free loopback port, with the sample app; removed on exit.

    pg_major: the PostgreSQL major of a postgresql server (15, 17, 18; default: the system's own).
    tls=True: the server has a certificate of its own CA (SandboxDB.ca_file) and takes the app user over TCP only with TLS.
    replica=True: a real replica follows it (SandboxDB.replicas; sandbox/replicas.py), started before the app's data is
    loaded, so the data reaches it by replication.

    The server lives in a new temporary folder under `root` (default /tmp: short enough for unix
    socket paths); the folder and the server go away when the block ends, also when it raised.
    """
    folder = Path(tempfile.mkdtemp(prefix=f"safeindex-{engine}-", dir=root or "/tmp"))
    server = None
    replicas = []
    try:
        # The PostgreSQL server may run as the postgres system user, which must be able to enter the folder.
        os.chmod(folder, 0o711)
        server = make_server(engine, folder / "server", tls=tls, pg_major=pg_major,
                             settings=replica_support.primary_settings(engine) if replica else None)
        server.start()
        if replica:
            replicas.append(replica_support.make_replica(server, folder / "replica1"))
            replicas[-1].start()
        password = secrets.token_urlsafe(24)
        prepare_app_database(server, APP_DATABASE, APP_USER, password, messages, seed, progress)
        yield SandboxDB(
            engine=engine,
            host=server.host,
            port=server.port,
            name=APP_DATABASE,
            user=APP_USER,
            password=password,
            server=server,
            ca_file=str(server.tls_files.ca_cert) if tls else None,
            replicas=replicas,
        )
    finally:
        try:
            for follower in replicas:
                follower.destroy()
            if server is not None:
                server.destroy()
        finally:
            shutil.rmtree(folder, ignore_errors=True)
