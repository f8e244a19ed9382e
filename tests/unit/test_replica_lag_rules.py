"""Replica lag's judgements (run/replica_lag.py, preflight's replication lag row) and the SQL each MySQL-family server
is asked in its own words (MySQL 8's SHOW REPLICA STATUS and its renamed columns cannot be started here)."""

from types import SimpleNamespace

import pytest
from ansible.module_utils.safeindex.core.connection import ConnectionParams
from ansible.module_utils.safeindex.core.errors import DatabaseUnavailable, ServerRefused
from ansible.module_utils.safeindex.engines import features_for
from ansible.module_utils.safeindex.engines.mysql.dialect import MysqlEngine
from ansible.module_utils.safeindex.engines.postgresql.replication import _application_name
from ansible.module_utils.safeindex.run import preflight, replica_lag
from ansible.module_utils.safeindex.run.replica_lag import ReplicaLag, joined, lag_problems, read_replica_lags, state_of_view

MYSQL_8_0_21, MYSQL_8_0, MYSQL_8_4, MARIADB_10_4, MARIADB_10_11 = "8.0.21", "8.0.36", "8.4.3", "10.4.30-MariaDB", "10.11.6-MariaDB"
NEW_STATUS = {"Replica_IO_Running": "Yes", "Replica_SQL_Running": "No", "Seconds_Behind_Source": None,
              "Last_IO_Error": "", "Last_SQL_Error": "Error 'Duplicate entry' on query", "Source_Host": "db1",
              "Source_Port": 3306}
OLD_STATUS = {"Slave_IO_Running": "Yes", "Slave_SQL_Running": "Yes", "Seconds_Behind_Master": 42,
              "Last_IO_Error": "", "Last_SQL_Error": "", "Master_Host": "db1", "Master_Port": 3306}


class Replica:
    """A MySQL-family replica's session (_rows): records the statements, answers SHOW ... STATUS in its version's words
    and refuses the spelling it does not know."""

    def __init__(self, version, status):
        self.version, self.status, self.statements = version, status, []

    def __call__(self, query, params=None, as_dict=False):
        self.statements.append(query)
        if query == "SHOW REPLICA STATUS" and self.version in (MYSQL_8_0_21, MARIADB_10_4):
            raise ServerRefused("You have an error in your SQL syntax", code=1064)
        if query == "SHOW SLAVE STATUS" and self.version == MYSQL_8_4:
            raise ServerRefused("You have an error in your SQL syntax", code=1064)
        if query.startswith("SHOW"):
            return [dict(self.status)] if self.status else []
        if "information_schema.PROCESSLIST" in query:
            assert params == ("Binlog Dump", "Binlog Dump GTID")
            return [(12, "repl", "10.0.0.7:51234", 300)]
        return []


def engine_on(version, status=None):
    engine = MysqlEngine.__new__(MysqlEngine)
    engine.params = ConnectionParams(engine="mysql", host="127.0.0.1", port=3306, database="app", user="u")
    engine.application_name = "safeindex test"
    engine.conn = SimpleNamespace(open=True)
    engine._version = version
    engine._rows = Replica(version, status)
    return engine


@pytest.mark.parametrize("version, statement, status", [
    (MYSQL_8_0, "SHOW REPLICA STATUS", NEW_STATUS), (MYSQL_8_4, "SHOW REPLICA STATUS", NEW_STATUS),
    (MYSQL_8_0_21, "SHOW SLAVE STATUS", OLD_STATUS), (MARIADB_10_11, "SHOW REPLICA STATUS", OLD_STATUS),
    (MARIADB_10_4, "SHOW SLAVE STATUS", OLD_STATUS),
])
def test_a_replica_is_asked_in_its_servers_words(version, statement, status):
    engine = engine_on(version, status)
    view = engine.replica_own_view()
    assert engine._rows.statements == [statement]
    assert view["source"] == "db1:3306" and view["replicating"] is True


def test_mysql_8s_renamed_columns_are_read():
    view = engine_on(MYSQL_8_0, NEW_STATUS).replica_own_view()
    assert (view["io_running"], view["sql_running"], view["lag_seconds"]) == (True, False, None)
    assert view["last_error"] == "SQL thread: Error 'Duplicate entry' on query"
    assert state_of_view(view) == ("error", "SQL thread: Error 'Duplicate entry' on query")


def test_mariadbs_old_columns_are_read():
    view = engine_on(MARIADB_10_11, OLD_STATUS).replica_own_view()
    assert (view["io_running"], view["sql_running"], view["lag_seconds"], view["last_error"]) == (True, True, 42.0, None)
    assert state_of_view(view) == ("streaming", "")


def test_a_server_that_replicates_from_nothing_is_no_replica():
    view = engine_on(MARIADB_10_11, None).replica_own_view()
    assert state_of_view(view) == ("error", "not a replica (SHOW REPLICA STATUS is empty)")


def test_the_primary_lists_its_binlog_dump_threads_without_a_lag():
    (seen,) = engine_on(MARIADB_10_11).replicas_seen_from_primary()
    assert seen["name"] == "10.0.0.7:51234 (binlog dump thread 12, user repl)"
    assert (seen["state"], seen["lag_seconds"], seen["lag_bytes"]) == ("unknown", None, None)


@pytest.mark.parametrize("view, state", [
    ({"paused": True, "sql_running": False}, "paused"),
    ({"sql_running": False, "io_running": True, "lag_seconds": None}, "stopped"),
    ({"sql_running": True, "io_running": False, "io_state": "Connecting", "lag_seconds": None}, "stopped"),
    ({"sql_running": True, "io_running": True, "lag_seconds": None}, "unknown"),
    ({"sql_running": True, "io_running": True, "lag_seconds": None, "last_error": "IO thread: access denied"}, "error"),
    ({"sql_running": True, "io_running": True, "lag_seconds": 3.0}, "streaming"),
])
def test_the_state_of_a_replica_from_its_own_view(view, state):
    assert state_of_view(view)[0] == state


def test_an_idle_primary_is_no_lag_on_its_standby():
    # Seconds since the last replayed transaction grow while nothing is written: lag only when WAL waits for replay.
    primary = ReplicaLag(name="r1@10.0.0.2", source="primary", lag_seconds=None, lag_bytes=40)
    own = ReplicaLag(name="r1", source="replica", lag_seconds=0.0, lag_bytes=0, extra={"seconds_since_replay": 3600.0})
    assert joined(primary, own).lag_seconds == 0.0
    behind = ReplicaLag(name="r1@10.0.0.2", source="primary", lag_seconds=None, lag_bytes=50_000_000)
    assert joined(behind, own).lag_seconds == 3600.0 and joined(behind, own).lag_bytes == 50_000_000


def test_a_paused_standby_is_paused_whatever_its_primary_says():
    primary = ReplicaLag(name="r1@10.0.0.2", source="primary", state="streaming", lag_seconds=0.2, lag_bytes=90_000)
    own = ReplicaLag(name="r1", source="replica", state="paused", lag_seconds=12.0, lag_bytes=0, detail="replay paused")
    both = joined(primary, own)
    assert (both.state, both.name, both.lag_seconds, both.lag_bytes, both.source) == ("paused", "r1", 12.0, 90_000,
                                                                                      "primary+replica")
    assert lag_problems([both], 60, None) == ["replica r1 is paused: replay paused"]


class Primary:
    """An engine as read_replica_lags sees it: its features and its view of the replicas."""

    def __init__(self, engine_name, seen):
        self.features = features_for(engine_name)
        self.seen = seen
        self.table_sizes = {}
        self.position = None

    def replicas_seen_from_primary(self):
        return self.seen

    def primary_position(self):
        return self.position

    def table_bytes(self, schema, table):
        return self.table_sizes.get(table)


class Opened:
    def __init__(self, view, applied=True):
        self.view, self.closed, self.applied, self.asked = view, False, applied, []

    def replica_own_view(self):
        return self.view

    def applied_position(self, position, wait_seconds):
        self.asked.append((position, wait_seconds))
        return self.applied

    def close(self):
        self.closed = True


def test_listed_replicas_are_joined_with_the_primarys_rows_and_closed(monkeypatch):
    opened, asked = [], []

    def open_replica(engine, params, entry):
        asked.append((entry["host"], entry.get("user")))
        if entry["host"] == "gone":
            raise DatabaseUnavailable("could not connect to server: Connection refused")
        opened.append(Opened({"replicating": True, "paused": False, "io_running": True, "sql_running": True,
                              "lag_seconds": 0.0, "lag_bytes": 0, "primary_name": "standby_a",
                              "seconds_since_replay": 5.0}))
        return opened[-1]

    monkeypatch.setattr(replica_lag, "open_replica", open_replica)
    primary = Primary("postgresql", [
        {"name": "standby_a@10.0.0.2", "application_name": "standby_a", "state": "streaming", "lag_seconds": 1.5,
         "lag_bytes": 20_000_000},
        {"name": "standby_b@10.0.0.3", "application_name": "standby_b", "state": "catching_up", "lag_seconds": None,
         "lag_bytes": 5},
    ])
    lags = read_replica_lags(primary, {}, [{"host": "10.0.0.2", "port": 5432}, {"host": "gone", "port": 5432, "name": "c",
                                                                                "user": "monitor", "password": "s3cret"}])
    by_name = {lag.name: lag for lag in lags}
    assert sorted(by_name) == ["10.0.0.2:5432", "c", "standby_b@10.0.0.3"]
    assert (by_name["10.0.0.2:5432"].lag_seconds, by_name["10.0.0.2:5432"].lag_bytes) == (5.0, 20_000_000)
    assert by_name["c"].state == "unreachable" and "Connection refused" in by_name["c"].detail
    assert "s3cret" not in repr(lags)
    assert by_name["standby_b@10.0.0.3"].source == "primary"
    assert all(conn.closed for conn in opened) and asked == [("10.0.0.2", None), ("gone", "monitor")]


def test_open_replica_takes_the_hosts_settings_and_the_entrys_own(monkeypatch):
    made = []
    monkeypatch.setattr("ansible.module_utils.safeindex.engines.open_engine",
                        lambda params, application_name: made.append(params) or "engine")
    host = {"db_engine": "mysql", "db_host": "db1", "db_port": 3306, "db_name": "app", "db_user": "app", "db_password": "pw"}
    replica_lag.open_replica(None, host, {"host": "db2", "port": 3307})
    replica_lag.open_replica(None, host, {"host": "db3", "user": "monitor", "password": "other"})
    assert [(p.host, p.port, p.user, p.password, p.database) for p in made] == [
        ("db2", 3307, "app", "pw", "app"), ("db3", 3306, "monitor", "other", "app")]


def row_for(primary, listed=(), max_seconds=None, max_bytes=None, to_build=(), monkeypatch=None, views=None):
    if monkeypatch is not None:
        monkeypatch.setattr(replica_lag, "open_replica", lambda engine, params, entry: Opened(views[entry["host"]]))
    return preflight.replication_lag(primary, {}, list(listed), max_seconds, max_bytes, to_build, 20 * 1024 * 1024)


def test_unlisted_mysql_replicas_are_warned_about_with_the_prediction():
    primary = Primary("mysql", [{"name": "10.0.0.7:51234 (binlog dump thread 12, user repl)", "state": "unknown",
                                 "lag_seconds": None, "lag_bytes": None}] * 2)
    primary.features = primary.features.for_server(MARIADB_10_11)
    primary.table_sizes = {"message": 600 * 1024 * 1024, "user": 1024}
    to_build = [("app", SimpleNamespace(table="message")), ("app", SimpleNamespace(table="user"))]
    row = row_for(primary, max_seconds=10, to_build=to_build)
    assert row["result"] == "warn"
    assert row["detail"] == (
        "2 replicas connected (binlog dump threads) whose lag cannot be checked from the primary: list them in the"
        " `replicas` inventory setting ([{host, port}]) so preflight reads each one's own lag; each replica will lag"
        " about as long as each build; the largest here is about 30 s; more than max_replication_lag_seconds 10 s")


def test_a_listed_mysql_replica_over_its_limit_refuses_naming_it_and_the_limit(monkeypatch):
    primary = Primary("mysql", [{"name": "dump thread", "state": "unknown", "lag_seconds": None, "lag_bytes": None}])
    views = {"db2": {"replicating": True, "io_running": True, "sql_running": True, "lag_seconds": 42.0, "lag_bytes": None}}
    row = row_for(primary, [{"host": "db2", "port": 3306, "name": "replica-2"}], max_seconds=10, monkeypatch=monkeypatch,
                  views=views)
    assert row["result"] == "fail"
    assert row["detail"] == ("replica replica-2 is 42.0 s behind, limit 10 s (max_replication_lag_seconds); 1 replicas:"
                             " replica-2 streaming (42.0 s); limits: max_replication_lag_seconds 10 s")


def test_a_postgresql_standby_over_its_byte_limit_refuses():
    primary = Primary("postgresql", [{"name": "s1@10.0.0.2", "state": "streaming", "lag_seconds": 0.4,
                                      "lag_bytes": 300 * 1024 * 1024}])
    row = row_for(primary, max_seconds=10, max_bytes=64 * 1024 * 1024)
    assert row["result"] == "fail"
    assert row["detail"].startswith("replica s1@10.0.0.2 is 314572800 bytes behind, limit 67108864 bytes"
                                    " (max_replication_lag_bytes); 1 replicas: s1@10.0.0.2 streaming (0.4 s, 300.0 MB behind)")


def test_no_replicas_is_ok_and_postgresql_makes_no_build_time_prediction():
    assert row_for(Primary("postgresql", [])) == {"check": "replication lag", "result": "ok", "detail": "no replicas attached"}
    primary = Primary("postgresql", [{"name": "s1", "state": "streaming", "lag_seconds": 0.0, "lag_bytes": 0}])
    primary.table_sizes = {"message": 10 ** 12}
    row = row_for(primary, max_seconds=10, to_build=[("app", SimpleNamespace(table="message"))])
    assert row == {"check": "replication lag", "result": "ok",
                   "detail": "1 replicas: s1 streaming (0.0 s, 0 B behind); limits: max_replication_lag_seconds 10 s"}


@pytest.mark.parametrize("conninfo, name", [
    ("user=repl host=10.0.0.1 application_name=standby_a port=5432", "standby_a"),
    ("user=repl application_name='my standby' host=h", "my standby"),
    ("user=repl host=h", None),
])
def test_the_name_a_standby_gives_its_primary(conninfo, name):
    assert _application_name(conninfo) == name


def test_a_listed_standby_that_cannot_be_reached_stays_unreachable_with_the_primarys_figures():
    primary = ReplicaLag(name="r1@10.0.0.2", source="primary", state="streaming", lag_seconds=0.2, lag_bytes=100,
                         extra={"application_name": "r1"})
    own = ReplicaLag(name="r1", source="replica", state="unreachable", detail="connection refused")
    both = joined(primary, own)
    assert (both.state, both.lag_bytes, both.detail) == ("unreachable", 100, "connection refused")
    assert lag_problems([both], None, None) == ["replica r1 is unreachable: connection refused"]


def test_a_mysql_replica_replaying_a_build_reads_about_0_s_behind_yet_has_not_applied_the_primarys_position(monkeypatch):
    # Seconds_Behind_Master counts from the end of the event being applied (the ALTER's start on the primary plus its
    # execution time): while the replica replays a 16 s build it reads about 0. What it has applied says it.
    primary = Primary("mysql", [])
    primary.features = primary.features.for_server(MARIADB_10_11)
    primary.position = "0-1-4242"
    replaying = Opened({"replicating": True, "io_running": True, "sql_running": True, "lag_seconds": 0.0}, applied=False)
    monkeypatch.setattr(replica_lag, "open_replica", lambda engine, params, entry: replaying)
    lags = read_replica_lags(primary, {"max_replication_lag_seconds": 10}, [{"host": "db2", "port": 3306, "name": "r2"}])
    assert replaying.asked == [("0-1-4242", 10)] and replaying.closed
    assert lags[0].extra["applied_primary_position"] is False
    assert lag_problems(lags, 10, None) == [
        "replica r2 has not applied within 10 s what the primary had written (it reads 0 s behind while it replays an"
        " earlier event, such as an index build), limit 10 s (max_replication_lag_seconds)"]
    replaying.applied = True
    assert lag_problems(read_replica_lags(primary, {"max_replication_lag_seconds": 10}, [{"host": "db2", "port": 3306}]),
                        10, None) == []


def test_without_a_lag_limit_the_position_is_not_waited_for(monkeypatch):
    primary = Primary("mysql", [])
    primary.position = "0-1-7"
    opened = Opened({"replicating": True, "io_running": True, "sql_running": True, "lag_seconds": 3.0}, applied=False)
    monkeypatch.setattr(replica_lag, "open_replica", lambda engine, params, entry: opened)
    lags = read_replica_lags(primary, {}, [{"host": "db2", "port": 3306}])
    assert opened.asked == [] and "applied_primary_position" not in lags[0].extra


def test_the_position_queries_of_each_flavour():
    mariadb = features_for("mysql").for_server(MARIADB_10_11)
    assert mariadb.primary_position_query == "SELECT @@GLOBAL.gtid_binlog_pos"
    assert mariadb.replica_applied_query == "SELECT MASTER_GTID_WAIT(%s, %s) = 0"
    mysql8 = features_for("mysql").for_server("8.0.36")
    assert mysql8.primary_position_query == "SELECT @@GLOBAL.gtid_executed"
    assert mysql8.replica_applied_query == "SELECT WAIT_FOR_EXECUTED_GTID_SET(%s, %s) = 0"
    assert features_for("postgresql").primary_position_query is None
