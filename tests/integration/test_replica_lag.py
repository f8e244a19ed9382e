"""Replica lag on real replicas (tests/integration/replicas.py): read from the primary and from each listed replica,
both engines, and preflight's gate on it."""

import time

import pytest
import yaml
from ansible.module_utils.safeindex.core.connection import connection_params
from ansible.module_utils.safeindex.engines import open_engine
from ansible.module_utils.safeindex.run.replica_lag import lag_problems, read_replica_lags

from tests.integration.conftest import connection_args

pytestmark = pytest.mark.slow  # preflight's gate runs migrate.yml

INDEX = {"name": "idx_message_conversation", "table": "message", "columns": ["conversation_id"]}


def lags(pair, listed, **params):
    engine = open_engine(connection_params(connection_args(pair.db)))
    try:
        return read_replica_lags(engine, dict(connection_args(pair.db), **params), listed)
    finally:
        engine.close()


def test_postgresql_lag_read_from_the_primary_and_the_replica(pg_replicated):
    pair = pg_replicated
    (seen,) = lags(pair, [])
    assert seen.source == "primary" and seen.state == "streaming" and seen.lag_bytes < 8192  # a record may be on its way
    assert seen.name == "replica1@127.0.0.1"
    pair.pause()
    pair.write_on_primary(20000)
    (paused,) = lags(pair, [pair.entry])
    # Joined: the primary's bytes behind (the WAL just written), the replica's own word that replay is paused.
    assert paused.source == "primary+replica" and paused.name == "replica1"
    assert paused.state == "paused" and paused.lag_bytes > 100_000, paused
    assert paused.lag_seconds is not None
    assert lag_problems([paused], 60, None) == [
        "replica replica1 is paused: WAL replay is paused (pg_wal_replay_pause()): it receives but applies nothing"]
    pair.resume()
    pair.wait_caught_up()
    (caught_up,) = lags(pair, [pair.entry])
    # A few bytes may be on their way (the primary writes small records on its own).
    assert caught_up.state == "streaming" and caught_up.lag_bytes < 8192 and caught_up.lag_seconds is not None
    assert lag_problems([caught_up], 60, 1_000_000) == []


def test_mariadb_lag_read_on_the_replica(my_replicated):
    pair = my_replicated
    (seen,) = lags(pair, [])
    # The primary only knows a replica is connected (its binlog dump thread), not how far behind it is.
    assert seen.source == "primary" and seen.state == "unknown" and seen.lag_seconds is None
    assert "binlog dump thread" in seen.name
    (own,) = lags(pair, [pair.entry])
    assert own.source == "replica" and own.state == "streaming" and own.lag_seconds == 0, own
    pair.pause()
    pair.write_on_primary(1000)
    (stopped,) = lags(pair, [pair.entry])
    assert stopped.state == "stopped" and "SQL thread is stopped" in stopped.detail
    assert lag_problems([stopped], 60, None) == ["replica replica1 is stopped: its SQL thread is stopped: it applies nothing"]


def test_an_unreachable_replica_is_named(pg_replicated):
    from ansible.module_utils.safeindex.core.processes import free_port

    entry = {"host": "127.0.0.1", "port": free_port(), "name": "gone"}
    found = {lag.name: lag for lag in lags(pg_replicated, [entry])}
    assert found["gone"].state == "unreachable" and found["gone"].detail
    assert pg_replicated.db.password not in found["gone"].detail
    assert found["replica1@127.0.0.1"].state == "streaming"


class StandbyReader:
    """A session on the standby holding a table in a transaction: replaying the primary's exclusive lock on it must wait
    (up to max_standby_streaming_delay, 30 s), so the standby falls behind for real while replay is not paused."""

    def __init__(self, pair):
        self.conn = pair.replica.admin_connect(pair.db.name)
        self.conn.autocommit = False
        with self.conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM lag_maker")

    def close(self):
        self.conn.close()


def test_postgresql_standby_behind_for_real_is_seen_in_seconds_and_bytes(pg_replicated, run_module, tmp_path):
    pair = pg_replicated
    pair.write_on_primary(10)
    pair.wait_caught_up()
    reader = StandbyReader(pair)
    try:
        conn = pair.db.connect()
        with conn.cursor() as cur:
            cur.execute("TRUNCATE lag_maker")  # its exclusive lock waits for the reader on the standby
        conn.close()
        time.sleep(1.5)
        pair.write_on_primary(20000)
        (behind,) = lags(pair, [pair.entry])
        assert behind.state == "streaming", behind
        assert behind.lag_bytes > 500_000 and behind.lag_seconds >= 1, behind
        result = preflight(run_module, pair, tmp_path, max_replication_lag_seconds=600, max_replication_lag_bytes=100_000)
        row = check_row(result, "replication lag")
        assert row["result"] == "fail", row
        # Not listed: seen from the primary alone, under its application_name and address.
        assert "replica replica1@127.0.0.1 is " in row["detail"] and "limit 100000 bytes (max_replication_lag_bytes)" in row["detail"]
    finally:
        reader.close()
    pair.wait_caught_up()
    result = preflight(run_module, pair, tmp_path, max_replication_lag_seconds=600, max_replication_lag_bytes=1_000_000)
    assert check_row(result, "replication lag")["result"] == "ok", check_row(result, "replication lag")


def test_mariadb_replica_behind_for_real_and_unlisted_replicas(my_replicated, run_module, tmp_path):
    pair = my_replicated
    pair.write_on_primary(10)
    pair.wait_caught_up()
    # Not listed: the primary sees a binlog dump thread and cannot say its lag. Preflight says so, and predicts.
    result = preflight(run_module, pair, tmp_path, max_replication_lag_seconds=60)
    row = check_row(result, "replication lag")
    assert row["result"] == "warn", row
    assert "1 replicas connected (binlog dump threads) whose lag cannot be checked" in row["detail"]
    assert "`replicas` inventory setting" in row["detail"]
    assert "each replica will lag about as long as each build; the largest here is about" in row["detail"]
    # A lock on the replica holds its SQL thread in the middle of an event: it runs, and falls behind.
    holder = pair.replica.admin_connect(pair.db.name)
    try:
        with holder.cursor() as cur:
            cur.execute("LOCK TABLES lag_maker WRITE")
        pair.write_on_primary(10)
        time.sleep(3)
        (behind,) = lags(pair, [pair.entry])
        assert behind.state == "streaming" and behind.lag_seconds >= 2, behind
        result = preflight(run_module, pair, tmp_path, max_replication_lag_seconds=1, replicas=[pair.entry])
        row = check_row(result, "replication lag")
        assert row["result"] == "fail", row
        assert "replica replica1 is" in row["detail"] and "s behind, limit 1 s (max_replication_lag_seconds)" in row["detail"]
    finally:
        holder.close()


def test_a_mariadb_replica_held_on_an_index_build_reads_about_0_s_behind_but_is_behind(my_replicated):
    # Seconds_Behind_Master counts from the end of the event the replica applies (the ALTER's start on the primary plus
    # its execution time), so a replica that has only begun to replay a build reads about 0 s: whether it applies what
    # the primary wrote within the limit tells the truth.
    pair = my_replicated
    pair.write_on_primary(10)
    pair.wait_caught_up()
    holder = pair.replica.admin_connect(pair.db.name)
    try:
        with holder.cursor() as cur:
            cur.execute("LOCK TABLES lag_maker WRITE")
        conn = pair.db.connect()
        try:
            with conn.cursor() as cur:
                cur.execute("ALTER TABLE lag_maker ADD INDEX idx_lag_maker_note (note), ALGORITHM=INPLACE, LOCK=NONE")
        finally:
            conn.close()
        (behind,) = lags(pair, [pair.entry], max_replication_lag_seconds=1)
        assert behind.state == "streaming" and behind.extra["applied_primary_position"] is False, behind
        problems = lag_problems([behind], 1, None)
        assert len(problems) == 1 and "replica replica1 " in problems[0], problems
    finally:
        holder.close()
    pair.wait_caught_up()
    (caught_up,) = lags(pair, [pair.entry], max_replication_lag_seconds=1)
    assert caught_up.extra["applied_primary_position"] is True and lag_problems([caught_up], 1, None) == []


def test_a_paused_postgresql_replica_refuses_migrate_before_the_backup(pg_replicated, tmp_path):
    assert_paused_replica_refuses(pg_replicated, tmp_path, "is paused: WAL replay is paused")


def test_a_stopped_mariadb_sql_thread_refuses_migrate_before_the_backup(my_replicated, tmp_path):
    assert_paused_replica_refuses(my_replicated, tmp_path, "is stopped: its SQL thread is stopped")


def assert_paused_replica_refuses(pair, tmp_path, words):
    from tests.integration.test_preflight import assert_refused_before_any_work, migrate

    pair.pause()
    pair.write_on_primary(1000)
    # write_inventory lists the pair's replica under the host (replicas: [{host, port, name}]).
    inventory, completed = migrate(tmp_path, pair.db, max_replication_lag_seconds=30, max_replication_lag_bytes=50_000_000)
    report = assert_refused_before_any_work(pair.db, inventory, completed, "replication lag", "replica replica1 " + words,
                                            "max_replication_lag_seconds 30 s", "max_replication_lag_bytes 50000000")
    return report


def preflight(run_module, pair, folder, **options):
    """db_preflight as the preflight role calls it, in check mode (the run lock is only tested)."""
    spec = folder / "indexes.yml"
    spec.write_text(yaml.safe_dump({"indexes": [INDEX], "probes": []}))
    args = dict(connection_args(pair.db), spec_path=str(spec), run_id="replica-lag-1", holder_file=str(folder / "lock.json"),
                **options)
    return run_module("db_preflight", args, check_mode=True)


def check_row(result, name):
    return next(c for c in result["checks"] if c["check"] == name)


@pytest.mark.timeout(240)
def test_sandbox_up_replica_starts_real_replicas_and_down_stops_them(tmp_path):
    """`python -m sandbox up --replica`: a replica next to each server, with the app's data (replicated), listed in
    replicas.json as inventories/local reads it; `down` stops the replicas by pid with the rest."""
    import json
    import shutil
    import tempfile
    from pathlib import Path

    from sandbox.processes import pid_alive
    from tests.integration.test_sandbox import free_ports, kill_leftovers, run_cli
    from tests.integration.test_sandbox import write_inventory as sandbox_inventory

    names = ["sandbox_postgres", "sandbox_mariadb"]
    root = Path(tempfile.mkdtemp(prefix="safeindex-rep-", dir="/tmp"))
    root.chmod(0o711)
    options = ["--inventory", str(sandbox_inventory(tmp_path / "inventory", dict(zip(names, free_ports(2), strict=True)))),
               "--root", str(root)]
    pids = []
    try:
        up = run_cli("up", *options, "--messages", "500", "--replica")
        assert up.returncode == 0, up.stderr
        states = {name: json.loads((root / name / "state.json").read_text()) for name in names}
        pids = [state["pid"] for state in states.values()] + [r["pid"] for s in states.values() for r in s["replicas"]]
        for name, state in states.items():
            (replica,) = state["replicas"]
            listed = json.loads((root / name / "replicas.json").read_text())
            assert listed == [{"host": "127.0.0.1", "port": replica["port"], "name": "replica1"}]
            assert pid_alive(replica["pid"]) and "replica replica1 on 127.0.0.1:%d" % replica["port"] in up.stdout
            entry = {"host": "127.0.0.1", "port": replica["port"], "name": "replica1"}
            args = {"db_engine": state["engine"], "db_host": "127.0.0.1", "db_port": state["port"], "db_name": "chatbot",
                    "db_user": "chatbot", "db_password": (root / name / "password").read_text()}
            engine = open_engine(connection_params(args))
            try:
                (lag,) = read_replica_lags(engine, args, [entry])
            finally:
                engine.close()
            assert lag.state == "streaming", lag
            # The app's data is there, as the app user reads it on the replica.
            replica_engine = open_engine(connection_params(dict(args, db_port=replica["port"])))
            try:
                assert replica_engine._rows("SELECT count(*) FROM message")[0][0] == 500
            finally:
                replica_engine.close()
        status = run_cli("status", *options)
        assert status.stdout.count("replica replica1 running") == 2, status.stdout
        down = run_cli("down", *options)
        assert down.returncode == 0, down.stderr
        assert not any(pid_alive(pid) for pid in pids)
        assert down.stdout.count("replica replica1: stopped pid") == 2
    finally:
        run_cli("down", *options)
        kill_leftovers([pid for pid in pids if pid])
        shutil.rmtree(root, ignore_errors=True)
