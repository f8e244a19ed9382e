"""The sandbox helper against real PostgreSQL and MariaDB servers (no mocks)."""

import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg2
import pymysql
import pytest

import sandbox
from sandbox.processes import pid_alive
from sandbox.sample_app import quoted
from sandbox.sample_data import TABLES, row_counts
from sandbox.sample_rows import SampleData

REPO = Path(__file__).resolve().parents[2]
ENGINES = ["postgresql", "mysql"]
MESSAGES = 5_000
# Rows per message of each table, as the sample data promises.
RATIOS = {"conversation": 1 / 10, "plot": 1 / 20, "feedback": 1 / 25, "query_log": 1 / 2, "session": 1 / 40}

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


@pytest.fixture(scope="module", params=ENGINES)
def db(request):
    with sandbox.running(request.param, messages=MESSAGES) as database:
        yield database


@pytest.fixture
def conn(db):
    connection = db.connect()
    yield connection
    connection.close()


def scalar(conn, query: str, params: tuple = ()):
    with conn.cursor() as cur:
        cur.execute(query, params)
        return cur.fetchone()[0]


def test_all_tables_hold_the_sample_data(db, conn):
    counts = row_counts(conn, db.engine)

    assert list(counts) == TABLES == ["user", "session", "conversation", "message", "plot", "feedback", "query_log"]
    assert counts["message"] == MESSAGES
    assert counts["user"] == max(20, MESSAGES // 100)
    for table, ratio in RATIOS.items():
        assert counts[table] == pytest.approx(MESSAGES * ratio, rel=0.05), table


def test_app_user_connects_over_tcp_only_with_its_password(db, monkeypatch, tmp_path):
    conn = db.connect()
    try:
        assert scalar(conn, "SELECT current_user" if db.engine == "postgresql" else "SELECT CURRENT_USER()").startswith(db.user)
    finally:
        conn.close()

    if db.engine == "postgresql":
        # Neither a password in the environment nor a ~/.pgpass may help.
        monkeypatch.delenv("PGPASSWORD", raising=False)
        monkeypatch.setenv("PGPASSFILE", str(tmp_path / "no-pgpass"))
        with pytest.raises(psycopg2.OperationalError, match="password"):
            psycopg2.connect(host=db.host, port=db.port, user=db.user, dbname=db.name, connect_timeout=5)
        with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
            db.server.app_connect(db.name, db.user, "wrong-" + db.password)
    else:
        with pytest.raises(pymysql.err.OperationalError, match="Access denied"):
            db.server.app_connect(db.name, db.user, "")
        with pytest.raises(pymysql.err.OperationalError, match="Access denied"):
            db.server.app_connect(db.name, db.user, "wrong-" + db.password)


def test_ids_refer_to_existing_rows(db, conn):
    def q(name):
        return quoted(conn, db.engine, name)

    orphans = {
        "message without conversation": f"""
            SELECT count(*) FROM {q("message")} m
            LEFT JOIN {q("conversation")} c ON c.id = m.conversation_id WHERE c.id IS NULL""",
        "conversation without user": f"""
            SELECT count(*) FROM {q("conversation")} c
            LEFT JOIN {q("user")} u ON u.id = c.user_id WHERE u.id IS NULL""",
        "session without user": f"""
            SELECT count(*) FROM {q("session")} s
            LEFT JOIN {q("user")} u ON u.id = s.user_id WHERE u.id IS NULL""",
        "plot not on an assistant message of its conversation and user": f"""
            SELECT count(*) FROM {q("plot")} p
            LEFT JOIN {q("message")} m ON m.id = p.message_id AND m.role = 'assistant'
                AND m.conversation_id = p.conversation_id
            LEFT JOIN {q("conversation")} c ON c.id = p.conversation_id AND c.user_id = p.user_id
            WHERE m.id IS NULL OR c.id IS NULL""",
        "feedback not on an assistant message": f"""
            SELECT count(*) FROM {q("feedback")} f
            LEFT JOIN {q("message")} m ON m.id = f.message_id AND m.role = 'assistant'
            WHERE m.id IS NULL""",
        "query_log not of its conversation's user": f"""
            SELECT count(*) FROM {q("query_log")} l
            LEFT JOIN {q("conversation")} c ON c.id = l.conversation_id AND c.user_id = l.user_id
            WHERE c.id IS NULL""",
    }
    found = {name: scalar(conn, query) for name, query in orphans.items()}

    assert found == dict.fromkeys(orphans, 0)


def test_unique_values_are_unique(db, conn):
    for table, column in [("user", "username"), ("user", "email"), ("session", "token")]:
        table_name, column_name = quoted(conn, db.engine, table), quoted(conn, db.engine, column)
        distinct = scalar(conn, f"SELECT count(DISTINCT {column_name}) FROM {table_name}")
        assert distinct == scalar(conn, f"SELECT count(*) FROM {table_name}"), f"{table}.{column}"


def test_values_look_like_the_app_and_stay_in_the_window(db, conn):
    message, query_log = quoted(conn, db.engine, "message"), quoted(conn, db.engine, "query_log")
    timestamp = quoted(conn, db.engine, "timestamp")
    with conn.cursor() as cur:
        cur.execute(f"SELECT min({timestamp}), max({timestamp}) FROM {message}")
        first, last = cur.fetchone()
        cur.execute(f"SELECT DISTINCT role FROM {message}")
        roles = {row[0] for row in cur.fetchall()}
    assert "2025-06-01" <= str(first) < str(last) < "2025-12-01"
    assert roles == {"system", "user", "assistant"}
    ok_share = scalar(conn, f"SELECT avg(CASE WHEN status = 'ok' THEN 1.0 ELSE 0 END) FROM {query_log}")
    assert 0.92 < float(ok_share) < 0.98


def test_only_primary_keys_exist(db, conn):
    if db.engine == "postgresql":
        query = """
            SELECT c.relname, i.indisprimary FROM pg_index i
            JOIN pg_class c ON c.oid = i.indrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = 'public'"""
    else:
        query = "SELECT TABLE_NAME, INDEX_NAME = 'PRIMARY' FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = %s"
    with conn.cursor() as cur:
        cur.execute(query, () if db.engine == "postgresql" else (db.name,))
        indexes = sorted((table, bool(primary)) for table, primary in cur.fetchall())

    assert indexes == sorted((table, True) for table in TABLES)


def test_app_user_may_add_an_index(db, conn):
    """The migration runs as the app user: it must own the tables (PostgreSQL) or hold INDEX (MariaDB)."""
    index, table = quoted(conn, db.engine, "test_sandbox_probe"), quoted(conn, db.engine, "message")
    with conn.cursor() as cur:
        cur.execute(f"CREATE INDEX {index} ON {table} (conversation_id)")
        cur.execute(f"DROP INDEX {index}" if db.engine == "postgresql" else f"DROP INDEX {index} ON {table}")


def test_same_seed_gives_the_same_data_and_another_seed_other_data():
    def messages(seed):
        return list(SampleData(2_000, seed).rows("message"))

    assert messages(7) == messages(7)
    assert messages(7) != messages(8)


@pytest.mark.parametrize("body_raises", [False, True], ids=["normal-exit", "body-raised"])
@pytest.mark.parametrize("engine", ENGINES)
def test_running_removes_server_and_folder_on_exit(engine, body_raises):
    seen = {}

    class BodyFailed(Exception):
        pass

    try:
        with sandbox.running(engine, messages=200) as database:
            seen["pid"], seen["root"] = database.server.pid, database.server.root
            assert pid_alive(seen["pid"])
            if body_raises:
                raise BodyFailed
    except BodyFailed:
        pass

    assert not pid_alive(seen["pid"])
    assert not seen["root"].exists()
    assert not seen["root"].parent.exists()  # the temporary folder holding it


# The command line.


@pytest.fixture
def sandbox_root():
    # Under /tmp and enterable by others: as root, PostgreSQL runs as the postgres system user.
    root = Path(tempfile.mkdtemp(prefix="safeindex-cli-", dir="/tmp"))
    root.chmod(0o711)
    yield root
    shutil.rmtree(root, ignore_errors=True)


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def write_inventory(folder: Path, ports: dict[str, int]) -> Path:
    hosts = {
        "sandbox_postgres": {"db_engine": "postgresql", "db_port": ports["sandbox_postgres"]},
        "sandbox_mariadb": {"db_engine": "mysql", "db_port": ports["sandbox_mariadb"]},
    }
    group_vars = {"db_host": "127.0.0.1", "db_name": "chatbot", "db_user": "chatbot"}
    inventory = {"all": {"children": {"databases": {"hosts": hosts, "vars": group_vars}}}}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "hosts.yml").write_text(json.dumps(inventory))  # JSON is YAML
    return folder


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sandbox", *args],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def kill_leftovers(pids: list[int]) -> None:
    """Last resort when a test failed before `down` worked: the servers lead their own process group."""
    for pid in pids:
        if pid_alive(pid):
            os.killpg(os.getpgid(pid), signal.SIGKILL)


@pytest.mark.timeout(240)
def test_cli_up_reuses_running_servers_and_down_removes_them(sandbox_root, tmp_path):
    names = ["sandbox_postgres", "sandbox_mariadb"]
    ports = dict(zip(names, free_ports(2), strict=True))
    inventory = write_inventory(tmp_path / "inventory", ports)
    options = ["--inventory", str(inventory), "--root", str(sandbox_root)]
    pids: list[int] = []
    try:
        first = run_cli("up", *options, "--messages", "2000")
        assert first.returncode == 0, first.stderr
        states = {name: json.loads((sandbox_root / name / "state.json").read_text()) for name in names}
        pids = [state["pid"] for state in states.values()]

        for name in names:
            password_file = sandbox_root / name / "password"
            password = password_file.read_text()
            assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
            assert password_file.stat().st_uid == os.geteuid()
            assert password not in first.stdout + first.stderr
            assert "password" not in states[name]
            assert states[name]["port"] == ports[name]
            assert pid_alive(states[name]["pid"])
            assert f"127.0.0.1:{ports[name]}" in first.stdout
        assert len(first.stdout.splitlines()) == 2
        assert "2000 messages" in first.stdout

        second = run_cli("up", *options, "--messages", "2000")
        assert second.returncode == 0, second.stderr
        assert "loaded" not in second.stderr  # the data was not loaded again
        for name in names:
            assert json.loads((sandbox_root / name / "state.json").read_text())["pid"] == states[name]["pid"]

        status = run_cli("status", *options)
        assert status.returncode == 0
        assert status.stdout.count("running") == 2

        down = run_cli("down", *options)
        assert down.returncode == 0, down.stderr
        for name in names:
            assert not pid_alive(states[name]["pid"])
            assert not (sandbox_root / name).exists()
        assert run_cli("down", *options).returncode == 0  # idempotent
    finally:
        run_cli("down", *options)
        kill_leftovers(pids)


def test_cli_up_names_a_port_taken_by_another_process(sandbox_root, tmp_path):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        inventory = write_inventory(tmp_path / "inventory", {"sandbox_postgres": taken, "sandbox_mariadb": taken})
        options = ["--inventory", str(inventory), "--root", str(sandbox_root), "--host", "sandbox_postgres"]
        try:
            result = run_cli("up", *options)
        finally:
            run_cli("down", *options)

    assert result.returncode != 0
    assert str(taken) in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1  # one line, no traceback
