"""Builds of an earlier run still running on the server (issue 21): which sessions count, what is stopped, what is said.

The live proof is tests/reliability/test_network_builds.py (a MariaDB ALTER orphaned by a cut network)."""

from ansible.module_utils.safeindex.core.connection import ConnectionParams
from ansible.module_utils.safeindex.core.errors import DatabaseUnavailable, ServerRefused
from ansible.module_utils.safeindex.engines.mysql.dialect import MysqlEngine
from ansible.module_utils.safeindex.run.orphans import orphans_row

OTHER = ("ALTER TABLE `message` ADD INDEX `idx_m` (`conversation_id`) COMMENT 'safeindex run_id=cut-run',"
         " ALGORITHM=INPLACE, LOCK=NONE")
OWN = OTHER.replace("cut-run", "after-cut")


class Processlist:
    """Stands in for the session's _rows: PROCESSLIST answers these rows; records every KILL."""

    def __init__(self, rows, gone=()):
        self.rows, self.gone, self.killed = rows, gone, []

    def __call__(self, query, params=None, as_dict=False):
        if query.startswith("KILL QUERY"):
            if params[0] in self.gone:
                raise ServerRefused("Unknown thread id: %s" % params[0], code=1094)
            self.killed.append(params[0])
            return ()
        assert "PROCESSLIST" in query and params == ("safeindex run_id=",)
        assert "DB = DATABASE()" in query  # another database's run on the same server is not ours to stop
        return self.rows


def mysql_on(rows, gone=()):
    engine = MysqlEngine.__new__(MysqlEngine)  # no server needed: the choice of sessions is under test
    engine.params = ConnectionParams(engine="mysql", host="127.0.0.1", port=3306, database="app", user="u")
    engine._rows = Processlist(rows, gone)
    return engine


def test_only_another_runs_marked_alter_is_stopped():
    engine = mysql_on([(48, 12, "Waiting for table metadata lock", OTHER), (49, 1, "altering table", OWN),
                       (50, 3, "Sending data", "ALTER TABLE `t` ADD INDEX `x` (`a`) COMMENT 'safeindex run_id=',"
                                                " ALGORITHM=INPLACE")])
    found = engine.cancel_orphaned_builds("after-cut")
    assert engine._rows.killed == [48]
    assert found == [{"pid": 48, "run_id": "cut-run", "age_seconds": 12.0, "state": "Waiting for table metadata lock",
                      "query": OTHER}]


def test_check_mode_names_the_orphan_and_stops_nothing():
    engine = mysql_on([(48, 12, "Waiting for table metadata lock", OTHER)])
    row = orphans_row(engine, "after-cut", check_mode=True)
    assert engine._rows.killed == []
    assert row["result"] == "warn" and row["detail"].startswith("would stop (check mode) 1 build(s) of an earlier run")
    assert "session 48 of run cut-run, 12 s, Waiting for table metadata lock: ALTER TABLE `message`" in row["detail"]


def test_an_orphan_that_ended_meanwhile_is_not_reported_as_stopped():
    engine = mysql_on([(48, 12, "", OTHER)], gone=(48,))
    assert engine.cancel_orphaned_builds("after-cut") == []
    assert orphans_row(engine, "after-cut", check_mode=False) == {
        "check": "orphaned builds", "result": "ok", "detail": "no build of an earlier run is running"}


def test_a_stopped_orphan_is_a_warning_naming_it():
    row = orphans_row(mysql_on([(48, 12, "", OTHER)]), "after-cut", check_mode=False)
    assert row["result"] == "warn" and row["detail"].startswith("stopped 1 build(s) of an earlier run still running")
    assert "session 48 of run cut-run" in row["detail"]


def test_a_failed_look_is_a_warning_not_a_refusal():
    class Failing:
        def cancel_orphaned_builds(self, run_id, dry_run=False):
            raise DatabaseUnavailable("lost the connection to mysql://u@127.0.0.1:3306/app: gone")

    row = orphans_row(Failing(), "after-cut", check_mode=False)
    assert row["result"] == "warn" and "could not look for builds of earlier runs" in row["detail"]
