"""Real servers for the integration tests: one sandbox per engine per session, a fresh database per test."""

import contextlib
import dataclasses
import itertools
import os
import re
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from psycopg2 import sql

import sandbox
from sandbox import inventory as sandbox_inventory
from sandbox.sample_app import TABLES
from tests.conftest import REPO
from tests.integration.rows import rows_of

# Big enough that the planner prefers the indexes; small enough to load in a few seconds.
TEST_MESSAGES = int(os.environ.get("SAFEINDEX_TEST_MESSAGES", "20000"))
_database_numbers = itertools.count(1)


def quiet(_line):
    """Sandbox progress lines are noise in test output."""


@pytest.fixture(scope="session")
def pg_sandbox():
    """The PostgreSQL server of the default major (the system's own)."""
    with sandbox.running("postgresql", messages=TEST_MESSAGES, progress=quiet) as db:
        yield db


@pytest.fixture(scope="session")
def pg_sandboxes():
    """Servers of other PostgreSQL majors, started on first use and kept for the session: {major: SandboxDB}."""
    with contextlib.ExitStack() as stack:
        started = {}

        def of_major(major):
            if major not in started:
                started[major] = stack.enter_context(
                    sandbox.running("postgresql", messages=TEST_MESSAGES, progress=quiet, pg_major=major))
            return started[major]

        yield of_major


@pytest.fixture
def pg_db(pg_sandbox):
    """A database of its own for one test: a copy of the loaded sample app (CREATE DATABASE ... TEMPLATE)."""
    yield from _database_copy(pg_sandbox)


@pytest.fixture
def pg_major_db(request, pg_sandboxes):
    """pg_db on a server of the major the test is parametrized with: `@pytest.mark.parametrize("pg_major_db", [17,
    18], indirect=True)`."""
    yield from _database_copy(pg_sandboxes(request.param))


def _database_copy(pg_sandbox):
    name = "test_%d_%d" % (os.getpid(), next(_database_numbers))
    admin = pg_sandbox.server.admin_connect()
    try:
        with admin.cursor() as cur:
            cur.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {} OWNER {}").format(
                    sql.Identifier(name), sql.Identifier(pg_sandbox.name), sql.Identifier(pg_sandbox.user)
                )
            )
        yield dataclasses.replace(pg_sandbox, name=name)
    finally:
        with admin.cursor() as cur:
            cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        admin.close()


@pytest.fixture(scope="session")
def my_sandbox():
    with sandbox.running("mysql", messages=TEST_MESSAGES, progress=quiet) as db:
        yield db


@pytest.fixture
def my_db(my_sandbox):
    """A database of its own for one test: the sample app's tables copied (MariaDB has no templates)."""
    name = "test_%d_%d" % (os.getpid(), next(_database_numbers))
    admin = my_sandbox.server.admin_connect()
    try:
        with admin.cursor() as cur:
            cur.execute("CREATE DATABASE `%s`" % name)
            for table in TABLES:
                cur.execute("CREATE TABLE `%s`.`%s` LIKE `%s`.`%s`" % (name, table, my_sandbox.name, table))
                cur.execute("INSERT INTO `%s`.`%s` SELECT * FROM `%s`.`%s`" % (name, table, my_sandbox.name, table))
            for host in ("127.0.0.1", "localhost"):
                cur.execute("GRANT ALL PRIVILEGES ON `%s`.* TO %%s@%%s" % name, (my_sandbox.user, host))
        yield dataclasses.replace(my_sandbox, name=name)
    finally:
        with admin.cursor() as cur:
            cur.execute("DROP DATABASE IF EXISTS `%s`" % name)
        admin.close()


@pytest.fixture(scope="session")
def moto_server_process():
    """A moto server on a free loopback port, in this process: the real boto3 client (and ansible-playbook)
    talk to it over HTTP through endpoint_url, and a test can still reach its models (see moto_backend)."""
    from moto.server import ThreadedMotoServer

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield "http://127.0.0.1:%d" % port
    finally:
        server.stop()


@pytest.fixture
def moto_server(moto_server_process):
    """The moto server, emptied first: tests of one worker share it, and two runs may name the same snapshot."""
    urllib.request.urlopen(urllib.request.Request(moto_server_process + "/moto-api/reset", method="POST"), timeout=10).close()
    return moto_server_process


def moto_backend(service, region="eu-west-1"):
    """The moto server's own model of a service, for setting up states the API cannot make (a snapshot held in creating)."""
    from moto.backends import get_backend
    from moto.core import DEFAULT_ACCOUNT_ID

    return get_backend(service)[DEFAULT_ACCOUNT_ID][region]


@pytest.fixture
def aws_credentials(monkeypatch):
    """Fake credentials for moto, so nothing can reach a real AWS account."""
    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"), ("AWS_DEFAULT_REGION", "eu-west-1")):
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(params=["postgresql", "mysql"])
def db(request):
    """The test's own database, on each engine in turn."""
    return request.getfixturevalue({"postgresql": "pg_db", "mysql": "my_db"}[request.param])


@pytest.fixture
def dbs(pg_db, my_db):
    """A database on each engine, one inventory host each ({host: db}), for write_inventory_of."""
    return {"test_pg": pg_db, "test_my": my_db}


def connection_args(db):
    """Module options that reach the test database."""
    return dict(db_engine=db.engine, db_host=db.host, db_port=db.port, db_name=db.name, db_user=db.user, db_password=db.password)


def index_args(db, **index):
    """db_index options for one index, with short lock waits so lock tests take seconds."""
    return dict(connection_args(db), run_id="test-run-1", lock_timeout=1, lock_retries=2, lock_retry_delay=0.2) | index


def query(db, statement, params=None):
    """Rows of one query, on a connection of its own."""
    return rows_of(db.connect(), statement, params)


@contextlib.contextmanager
def read_only_login(db, name, password, temporary=True):
    """A login that may only read the test database: SELECT (and CONNECT); with temporary=False, on PostgreSQL no
    TEMPORARY either (revoked from PUBLIC on the test's own database copy). Dropped afterwards."""
    admin = db.server.admin_connect(db.name)
    try:
        with admin.cursor() as cur:
            if db.engine == "postgresql":
                cur.execute('CREATE ROLE "%s" LOGIN PASSWORD %%s' % name, (password,))
                if not temporary:
                    cur.execute('REVOKE TEMPORARY ON DATABASE "%s" FROM PUBLIC' % db.name)
                cur.execute('GRANT CONNECT ON DATABASE "%s" TO "%s"' % (db.name, name))
                cur.execute('GRANT SELECT ON ALL TABLES IN SCHEMA public TO "%s"' % name)
            else:
                cur.execute("CREATE USER '%s'@'127.0.0.1' IDENTIFIED BY %%s" % name, (password,))
                cur.execute("GRANT SELECT ON `%s`.* TO '%s'@'127.0.0.1'" % (db.name, name))
        yield name
    finally:
        with admin.cursor() as cur:
            if db.engine == "postgresql":
                cur.execute('DROP OWNED BY "%s"' % name)
                cur.execute('DROP ROLE "%s"' % name)
            else:
                cur.execute("DROP USER IF EXISTS '%s'@'127.0.0.1'" % name)
        admin.close()


def pg_index(db, name):
    """What a user would check in the catalog: valid, ready, the definition and the comment; None if absent."""
    rows = query(
        db,
        "SELECT i.indisvalid, i.indisready, pg_get_indexdef(i.indexrelid), obj_description(i.indexrelid, 'pg_class')"
        " FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = %s",
        (name,),
    )
    if not rows:
        return None
    valid, ready, definition, comment = rows[0]
    return {"valid": valid, "ready": ready, "definition": definition, "comment": comment}


def pg_invalid_indexes(db):
    return [r[0] for r in query(db, "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE NOT i.indisvalid")]


def ansible_command(name):
    """An Ansible command from the interpreter's own environment (the project's .venv)."""
    return str(Path(sys.executable).parent / name)


def run_playbook(playbook, inventory, *extra, env=None, timeout=600):
    completed = subprocess.run(
        [ansible_command("ansible-playbook"), playbook, "-i", str(inventory), *extra],
        cwd=REPO, capture_output=True, text=True, timeout=timeout, env=dict(os.environ, ANSIBLE_NOCOLOR="1", **(env or {})),
    )
    return completed


HOST = "test_db"


def write_inventory(folder, db, **host_vars):
    """An inventory like inventories/local, pointing at the test's own database; extra host vars as given."""
    # Monitoring takes one health sample instead of watching for minutes; test_monitor sets its own window.
    return sandbox_inventory.write_inventory(folder, {HOST: db}, host_vars={HOST: host_vars}, monitor_duration_seconds=0)


def write_inventory_of(folder, dbs, host_vars=None):
    """write_inventory for several hosts ({host: db}, extra host vars by host): one playbook run covers them all, so the
    run's own cost (Ansible's start, each module's payload) is paid once instead of once per host."""
    return sandbox_inventory.write_inventory(folder, dbs, host_vars=host_vars, monitor_duration_seconds=0)


# A task result's first line: "ok: [host] => ...", "fatal: [host]: FAILED! => ...", "changed: [host] => (item=...)".
HOST_RESULT = re.compile(r"^[a-z]+: \[(?P<host>[^\]]+)\]")


def host_lines(completed, host):
    """What the play said of one host of several: its task results, each its first line and the indented ones under it."""
    own, lines = False, []
    for line in completed.stdout.splitlines():
        start = HOST_RESULT.match(line)
        if start:
            own = start["host"] == host
        elif not line[:1].isspace():
            own = False
        if own:
            lines.append(line)
    return lines


def said_of(completed, host):
    """host_lines as one text, the callback's line wrapping undone."""
    return " ".join(" ".join(host_lines(completed, host)).split())


def play_recap(output, host=HOST):
    line = next(line for line in output.splitlines() if line.startswith(host) and "ok=" in line)
    return dict(part.split("=") for part in line.split(":", 1)[1].split())


def index_in_catalog(db, table, name):
    """What a user checks in the catalog: is the index there and usable, and which run's marker it carries."""
    if db.engine == "postgresql":
        found = pg_index(db, name)
        return found and {"usable": found["valid"] and found["ready"], "comment": found["comment"]}
    rows = query(
        db,
        "SELECT INDEX_COMMENT FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s"
        " AND INDEX_NAME = %s",
        (table, name),
    )
    return rows and {"usable": True, "comment": rows[0][0]}


def database_names(db):
    """The server's databases, as its superuser sees them (pg_database, SHOW DATABASES)."""
    admin = db.server.admin_connect()
    try:
        with admin.cursor() as cur:
            cur.execute("SELECT datname FROM pg_database" if db.engine == "postgresql" else "SHOW DATABASES")
            return {row[0] for row in cur.fetchall()}
    finally:
        admin.close()


@contextlib.contextmanager
def databases_seen(db, every=0.02):
    """Every database name the server had while the block ran, sampled every `every` seconds: {name}."""
    import threading

    seen, stop = set(), threading.Event()

    def sample():
        # One connection for all samples: a connection per sample takes longer than a short-lived database lives on a
        # loaded machine.
        admin = db.server.admin_connect()
        try:
            with admin.cursor() as cur:
                while not stop.is_set():
                    cur.execute("SELECT datname FROM pg_database" if db.engine == "postgresql" else "SHOW DATABASES")
                    seen.update(row[0] for row in cur.fetchall())
                    if db.engine == "postgresql":
                        admin.rollback()  # the next sample reads the catalog afresh
                    stop.wait(every)
        finally:
            admin.close()

    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    try:
        yield seen
    finally:
        stop.set()
        watcher.join(10)
        seen.update(database_names(db))


from tests.integration.replicas import my_replica_pair, my_replicated, pg_replica_pair, pg_replicated  # noqa: E402,F401
