"""Real replicas for the integration tests: one primary + replica pair per test module that asks (sandbox/replicas.py),
and lag made for real and ended again.

    def test_x(pg_replicated):
        pg_replicated.db            # the primary's app database (a SandboxDB: host, port, name, user, password)
        pg_replicated.replica       # the replica's server: host, port, name (pg_replicated.entry: as an inventory lists it)
        pg_replicated.pause()       # replay stops (PostgreSQL pg_wal_replay_pause(), MariaDB STOP REPLICA SQL_THREAD)
        pg_replicated.resume()
        pg_replicated.wait_caught_up()

The pair is the module's (binary logs stay off on the session's shared servers); each test gets it back replicating
and caught up, also when it failed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest

import sandbox
from sandbox.replicas import replica_entry
from tests.integration.rows import rows_of


@dataclass
class Replicated:
    db: sandbox.SandboxDB
    replica: object  # the replica's server (sandbox/replicas.py): host, port, name, admin_connect()

    @property
    def entry(self) -> dict:
        """The replica as the `replicas` setting lists it: {host, port, name}."""
        return replica_entry(self.replica)

    def _on(self, server, statement: str, params=None):
        return rows_of(server.admin_connect(), statement, params)

    def pause(self) -> None:
        """Stop applying what the primary sends (it still arrives): the lag grows with each write on the primary."""
        if self.db.engine == "postgresql":
            self._on(self.replica, "SELECT pg_wal_replay_pause()")
        else:
            self._on(self.replica, "STOP REPLICA SQL_THREAD")

    def resume(self) -> None:
        if self.db.engine == "postgresql":
            self._on(self.replica, "SELECT pg_wal_replay_resume()")
        else:
            self._on(self.replica, "START REPLICA SQL_THREAD")

    def write_on_primary(self, rows: int = 1000) -> None:
        """Writes that the replica must replay (a table of its own, so the app's tables stay as loaded)."""
        conn = self.db.connect()
        try:
            with conn.cursor() as cur:
                cur.execute("CREATE TABLE IF NOT EXISTS lag_maker (id integer, note varchar(100))")
                cur.execute("INSERT INTO lag_maker SELECT n, 'x' FROM (%s) numbers" % _numbers(self.db.engine, rows))
        finally:
            conn.close()

    def wait_caught_up(self, timeout: float = 60.0) -> None:
        """Until the replica has replayed everything the primary has written by now."""
        deadline = time.monotonic() + timeout
        if self.db.engine == "postgresql":
            target = self._on(self.db.server, "SELECT pg_current_wal_lsn()::text")[0][0]
            while time.monotonic() < deadline:
                behind = self._on(self.replica, "SELECT pg_wal_lsn_diff(%s, pg_last_wal_replay_lsn())", (target,))[0][0]
                if behind is not None and behind <= 0:
                    return
                time.sleep(0.05)
        else:
            position = self._on(self.db.server, "SELECT @@gtid_binlog_pos")[0][0]
            # MASTER_GTID_WAIT: 0 once the replica has applied that position, -1 at the timeout.
            if self._on(self.replica, "SELECT MASTER_GTID_WAIT(%s, %s)", (position, timeout))[0][0] == 0:
                return
        raise AssertionError("the replica %s did not catch up with its primary within %ss" % (self.entry, timeout))


def _numbers(engine: str, rows: int) -> str:
    if engine == "postgresql":
        return "SELECT generate_series(1, %d) AS n" % rows
    return "SELECT seq AS n FROM seq_1_to_%d" % rows  # MariaDB's Sequence engine


def _pair(engine: str):
    from tests.integration.conftest import TEST_MESSAGES, quiet

    with sandbox.running(engine, messages=TEST_MESSAGES, progress=quiet, replica=True) as db:
        replicated = Replicated(db=db, replica=db.replicas[0])
        replicated.wait_caught_up()
        yield replicated


def _replicating(pair: Replicated):
    """The pair for one test, handed back replicating and caught up whatever the test did to it."""
    try:
        yield pair
    finally:
        pair.resume()
        pair.wait_caught_up()


@pytest.fixture(scope="module")
def pg_replica_pair():
    yield from _pair("postgresql")


@pytest.fixture(scope="module")
def my_replica_pair():
    yield from _pair("mysql")


@pytest.fixture
def pg_replicated(pg_replica_pair):
    """A PostgreSQL primary with a streaming replica (the module's pair), caught up; resumed after the test."""
    yield from _replicating(pg_replica_pair)


@pytest.fixture
def my_replicated(my_replica_pair):
    """A MariaDB primary with a GTID replica (the module's pair), caught up; resumed after the test."""
    yield from _replicating(my_replica_pair)
