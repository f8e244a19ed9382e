"""Replica lag on real replicas (tests/integration/replicas.py): read from the primary and from each listed replica,
both engines, and preflight's gate on it."""

import pytest
from ansible.module_utils.safeindex.core.connection import connection_params
from ansible.module_utils.safeindex.engines import open_engine
from ansible.module_utils.safeindex.run.replica_lag import lag_problems, read_replica_lags

from tests.integration.conftest import connection_args

pytestmark = pytest.mark.slow  # preflight's gate runs migrate.yml


def lags(pair, listed):
    engine = open_engine(connection_params(connection_args(pair.db)))
    try:
        return read_replica_lags(engine, connection_args(pair.db), listed)
    finally:
        engine.close()


def test_postgresql_lag_read_from_the_primary_and_the_replica(pg_replicated):
    pair = pg_replicated
    (seen,) = lags(pair, [])
    assert seen.source == "primary" and seen.state == "streaming" and seen.lag_bytes == 0
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
