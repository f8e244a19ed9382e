"""`python -m sandbox up|down|status`: the inventory's database hosts as local sandbox servers.

Each host gets a folder <root>/<host>/ holding the server, `password` (0600, made at first
creation, read by the inventory) and `state.json` (no password).
"""

import argparse
import json
import os
import secrets
import shlex
import sys
from pathlib import Path

import psycopg2
import pymysql

from sandbox import prepare_app_database
from sandbox import replicas as replica_support
from sandbox.errors import SandboxError
from sandbox.inventory import DatabaseHost, database_hosts, select_hosts
from sandbox.server_base import DatabaseServer
from sandbox.servers import make_server

DEFAULT_ROOT = "/tmp/safeindex-sandbox"
DEFAULT_INVENTORY = "inventories/local"
PASSWORD_FILE = "password"
STATE_FILE = "state.json"
# The host's replicas as the inventory lists them ([{host, port, name}]; inventories/local reads it).
REPLICAS_FILE = "replicas.json"
REPLICA_NAME = "replica1"


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        hosts = select_hosts(database_hosts(Path(args.inventory)), args.host)
        for host in hosts:
            folder = Path(args.root).absolute() / host.name
            try:
                args.action(host, folder, args)
            except (psycopg2.Error, pymysql.MySQLError) as error:
                first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
                raise SandboxError(f"{host.name}: database error: {first_line}") from None
    except SandboxError as error:
        print(f"sandbox {args.command}: {str(error).splitlines()[0]}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"sandbox {args.command}: interrupted", file=sys.stderr)
        return 130
    return 0


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--inventory", default=DEFAULT_INVENTORY, help="inventory folder with hosts.yml (default: %(default)s)")
    common.add_argument("--host", action="append", metavar="NAME", help="only this host of group databases (repeatable)")
    common.add_argument(
        "--root",
        default=os.environ.get("SAFEINDEX_SANDBOX_ROOT") or DEFAULT_ROOT,
        help=f"folder holding one folder per server (default: $SAFEINDEX_SANDBOX_ROOT or {DEFAULT_ROOT})",
    )
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", parents=[common], help="start the servers and fill them with sample data")
    up.add_argument("--messages", type=int, default=200_000, help="size of the sample data (default: %(default)s)")
    up.add_argument("--seed", type=int, default=42, help="random seed of the sample data (default: %(default)s)")
    up.add_argument("--pg-major", type=int, metavar="N",
                    help="PostgreSQL major of the postgresql hosts: 15, 17 or 18 (default: the system's own, 15 on Debian 12)")
    up.add_argument("--replica", action="store_true",
                    help="start a real replica next to each server (PostgreSQL streaming, MariaDB by GTID); kept by later `up`s")
    up.set_defaults(action=up_host)
    down = commands.add_parser("down", parents=[common], help="stop the servers and remove their folders")
    down.set_defaults(action=down_host)
    status = commands.add_parser("status", parents=[common], help="show whether the servers run")
    status.set_defaults(action=status_host)
    return parser


def up_host(host: DatabaseHost, folder: Path, args: argparse.Namespace) -> None:
    """Start (or reuse) the host's server, then make sure the app's database, user and data exist."""
    state = read_state(folder)
    if state and state.get("engine") != host.engine:
        raise SandboxError(
            f"{host.name}: {folder} holds a {state.get('engine')} server but the inventory says {host.engine}; "
            "run `python -m sandbox down` first"
        )
    if state and args.pg_major and state.get("pg_major") not in (None, args.pg_major):
        raise SandboxError(
            f"{host.name}: {folder} holds a PostgreSQL {state.get('pg_major')} server, not {args.pg_major}; "
            "run `python -m sandbox down` first"
        )
    with_replica = bool(getattr(args, "replica", False) or (state or {}).get("replicas"))
    server = make_server(host.engine, folder, host.port, pg_major=args.pg_major or (state or {}).get("pg_major"),
                         settings=replica_support.primary_settings(host.engine) if with_replica else None)
    if server.is_running():
        if state and state.get("port") != host.port:
            raise SandboxError(
                f"{host.name}: the server runs on port {state.get('port')} but the inventory says {host.port}; "
                "run `python -m sandbox down` first"
            )
    else:
        server.start()
    replicas = [_start_replica(host, folder, server, state)] if with_replica else []
    password = _ensure_password(folder / PASSWORD_FILE)
    counts = prepare_app_database(
        server,
        host.db_name,
        host.db_user,
        password,
        messages=args.messages,
        seed=args.seed,
        progress=lambda line: print(f"{host.name}: {line}", file=sys.stderr, flush=True),
    )
    version = server.version()
    _write_state(folder, host, server, version, replicas)
    print(
        f"{host.name}: {host.engine} ({version}) on {server.host}:{server.port}, database {host.db_name}, "
        f"{counts['message']} messages; connect: {connect_command(host, server, folder / PASSWORD_FILE)}"
    )
    for replica in replicas:
        print(f"{host.name}: replica {replica.name} on {replica.host}:{replica.port} (pid {replica.pid}), following it")


def _start_replica(host: DatabaseHost, folder: Path, server: DatabaseServer, state: dict | None) -> DatabaseServer:
    """The host's replica, started (made first when new: a MariaDB replica follows from the primary's current binlog
    position, so only a primary without the app's data yet can get one)."""
    known = {entry["name"]: entry for entry in (state or {}).get("replicas") or []}
    replica = replica_support.make_replica(server, folder / REPLICA_NAME, port=(known.get(REPLICA_NAME) or {}).get("port"),
                                           name=REPLICA_NAME)
    if host.engine == "mysql" and not (replica.root / ".initialised").exists() and _has_database(server, host.db_name):
        raise SandboxError(f"{host.name}: the MariaDB server already holds {host.db_name}, which a new replica would miss"
                           " (it follows from the primary's current binlog position); run `python -m sandbox down`,"
                           " then `up --replica`")
    replica.start()
    return replica


def _has_database(server: DatabaseServer, name: str) -> bool:
    conn = server.admin_connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s", (name,))
            return cur.fetchone() is not None
    finally:
        conn.close()


def down_host(host: DatabaseHost, folder: Path, args: argparse.Namespace) -> None:
    """Stop the host's server by its pid and remove its folder."""
    if not folder.exists():
        print(f"{host.name}: nothing to do, {folder} does not exist")
        return
    state = read_state(folder)
    if state is None and not (folder / ".initialised").exists() and not (folder / "data").exists():
        raise SandboxError(f"{host.name}: refusing to remove {folder}: it does not look like a sandbox server folder")
    for replica_folder in replica_support.replicas_in(folder):
        replica = make_server((state or {}).get("engine", host.engine), replica_folder, pg_major=(state or {}).get("pg_major"))
        replica_pid = replica.pid
        replica.stop()
        print(f"{host.name}: replica {replica_folder.name}: " + (f"stopped pid {replica_pid}" if replica_pid else "was not running"))
    server = _server_in(folder, state, host)
    pid = server.pid
    server.destroy()
    stopped = f"stopped pid {pid}" if pid else "was not running"
    print(f"{host.name}: {stopped}, removed {folder}")


def status_host(host: DatabaseHost, folder: Path, args: argparse.Namespace) -> None:
    if not folder.exists():
        print(f"{host.name}: {host.engine} not created ({folder} does not exist)")
        return
    server = _server_in(folder, read_state(folder), host)
    pid = server.pid
    if pid:
        print(f"{host.name}: {server.engine} running, pid {pid}, {server.host}:{server.port}")
    else:
        print(f"{host.name}: {server.engine} stopped (data kept in {folder}; `up` starts it again)")
    for entry in (read_state(folder) or {}).get("replicas") or []:
        replica = make_server(server.engine, Path(entry["root"]), entry["port"], pg_major=getattr(server, "major", None))
        replica_pid = replica.pid
        print(f"{host.name}: replica {entry['name']} " + (f"running, pid {replica_pid}, {entry['host']}:{entry['port']}"
                                                         if replica_pid else "stopped"))


def connect_command(host: DatabaseHost, server: DatabaseServer, password_file: Path) -> str:
    """A shell command that connects as the app user, reading the password from its file."""
    password = f"$(cat {shlex.quote(str(password_file))})"
    user, database = shlex.quote(host.db_user), shlex.quote(host.db_name)
    if host.engine == "postgresql":
        return f"PGPASSWORD={password} psql -h {server.host} -p {server.port} -U {user} {database}"
    return f"MYSQL_PWD={password} mariadb -h {server.host} -P {server.port} -u {user} {database}"


def read_state(folder: Path) -> dict | None:
    try:
        return json.loads((folder / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None


def _server_in(folder: Path, state: dict | None, host: DatabaseHost) -> DatabaseServer:
    """The server a folder holds, as state.json describes it (the inventory may have changed since)."""
    state = state or {}
    return make_server(state.get("engine", host.engine), folder, state.get("port", host.port), pg_major=state.get("pg_major"))


def _ensure_password(path: Path) -> str:
    """The password kept beside the server, made at first creation; only the owner may read it."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        os.chmod(path, 0o600)
        return path.read_text().strip()
    password = secrets.token_urlsafe(24)
    with os.fdopen(descriptor, "w") as password_file:
        password_file.write(password)
    return password


def _write_state(folder: Path, host: DatabaseHost, server: DatabaseServer, version: str,
                 replicas: list | None = None) -> None:
    state = {
        "host": host.name,
        "engine": host.engine,
        "version": version,
        "pg_major": getattr(server, "major", None),
        "pid": server.pid,
        "address": server.host,
        "port": server.port,
        "root": str(server.root),
        "data_dir": str(server.data_dir),
        "socket": str(server.socket_path),
        "log": str(server.log_path),
        "db_name": host.db_name,
        "db_user": host.db_user,
        "password_file": str(folder / PASSWORD_FILE),
        "replicas": [{**replica_support.replica_entry(r), "pid": r.pid, "root": str(r.root)} for r in replicas or ()],
    }
    (folder / REPLICAS_FILE).write_text(json.dumps([replica_support.replica_entry(r) for r in replicas or ()]) + "\n")
    temporary = folder / (STATE_FILE + ".tmp")
    temporary.write_text(json.dumps(state, indent=2) + "\n")
    temporary.replace(folder / STATE_FILE)
