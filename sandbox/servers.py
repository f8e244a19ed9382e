"""The sandbox server for an inventory engine name: "postgresql" or "mysql" (served by MariaDB)."""

from pathlib import Path

from sandbox.errors import SandboxError
from sandbox.mariadb import MariadbServer
from sandbox.postgres import PostgresServer
from sandbox.server_base import DatabaseServer

SERVER_CLASSES: dict[str, type[DatabaseServer]] = {
    PostgresServer.engine: PostgresServer,
    MariadbServer.engine: MariadbServer,
}
ENGINES = tuple(SERVER_CLASSES)


def make_server(
    engine: str, root: Path, port: int | None = None, settings: dict[str, object] | None = None, tls: bool = False,
    pg_major: int | None = None,
) -> DatabaseServer:
    """`pg_major`: the PostgreSQL major a postgresql server runs (its default otherwise); other engines ignore it."""
    try:
        server_class = SERVER_CLASSES[engine]
    except KeyError:
        raise SandboxError(f"unknown engine {engine!r}: expected one of {', '.join(ENGINES)}") from None
    if pg_major is not None and server_class is PostgresServer:
        return PostgresServer(root, port, settings, tls, major=pg_major)
    return server_class(root, port, settings, tls)
