"""Engine facts as data, and the SQL each MySQL flavour gets (MySQL 8 cannot run here; MariaDB's is also proven live by
tests/integration/test_db_index_mysql.py)."""

from types import SimpleNamespace

import pytest
from ansible.module_utils.safeindex.core.connection import ConnectionParams
from ansible.module_utils.safeindex.core.errors import OptionError
from ansible.module_utils.safeindex.engines import ENGINE_NAMES, engine_for_url_scheme, features_for
from ansible.module_utils.safeindex.engines.features import version_tuple
from ansible.module_utils.safeindex.engines.mysql.dialect import MysqlEngine
from ansible.module_utils.safeindex.spec.definition import IndexColumn, IndexDefinition

MARIADB_10_11 = "10.11.6-MariaDB-0+deb12u1"
MARIADB_10_4 = "10.4.32-MariaDB"
MYSQL_8_4 = "8.4.3"
MYSQL_5_7 = "5.7.44-log"
DEFINITION = IndexDefinition(table="message", schema="app", columns=(IndexColumn(name="conversation_id"),), unique=False,
                             method="btree")
ONLINE_BUILD = "ALTER TABLE `message` ADD INDEX `idx_a` (`conversation_id`) COMMENT %s, ALGORITHM=INPLACE, LOCK=NONE"


class Recorder:
    """Stands in for the session's _rows: records each statement, answers SHOW ... HOSTS with one replica."""

    def __init__(self, refuse=()):
        self.statements = []
        self.refuse = refuse

    def __call__(self, query, params=None, as_dict=False):
        self.statements.append((query, params))
        if query in self.refuse:
            from ansible.module_utils.safeindex.core.errors import ServerRefused

            raise ServerRefused("You have an error in your SQL syntax", code=1064)
        if query.startswith("SHOW"):
            return [{"Server_id": 2, "Host": "replica-1", "Port": 3306}]
        return []


def mysql_engine_on(version, refuse=()):
    """A MySQL engine object that believes it is connected to a server of this version; no server needed."""
    engine = MysqlEngine.__new__(MysqlEngine)
    engine.params = ConnectionParams(engine="mysql", host="127.0.0.1", port=3306, database="app", user="u")
    engine.application_name = "safeindex test"
    engine.conn = SimpleNamespace(open=True)
    engine._version = version
    engine._rows = Recorder(refuse)
    return engine


def test_every_engine_names_itself_and_its_url_schemes():
    for name in ENGINE_NAMES:
        features = features_for(name)
        assert features.name == name
        assert features.url_scheme in features.url_schemes
        assert features.default_backup_format == features.backup_formats[0]
        for scheme in features.url_schemes:
            assert engine_for_url_scheme(scheme) == name
            assert engine_for_url_scheme(scheme.upper()) == name
    assert engine_for_url_scheme("sqlite") is None


def test_the_facts_that_used_to_live_outside_the_engines():
    postgres, mysql = features_for("postgresql"), features_for("mysql")
    assert (postgres.max_identifier_length, mysql.max_identifier_length) == (63, 64)
    assert postgres.index_methods == ("btree", "hash", "gist", "gin", "brin", "spgist") and mysql.index_methods == ("btree",)
    assert (postgres.default_port, mysql.default_port) == (5432, 3306)
    assert (postgres.backup_formats, mysql.backup_formats) == (("custom", "directory"), ("sql",))
    assert (postgres.minimum_version, mysql.minimum_version) == ("12.0", "5.6")
    assert postgres.online_build_phrase == "CREATE INDEX CONCURRENTLY"
    assert mysql.online_build_phrase == "ALGORITHM=INPLACE, LOCK=NONE"
    assert postgres.scope_of_connections("app") == "on database app" and mysql.scope_of_connections("app") == "on the server"
    assert (postgres.prefer_indexes_setting, mysql.prefer_indexes_setting) == ("enable_seqscan = off", "max_seeks_for_key = 1")
    assert postgres.has_schemas and not mysql.has_schemas
    assert mysql.index_names_per_table and mysql.case_insensitive_index_names and not postgres.case_insensitive_index_names


@pytest.mark.parametrize("text, expected", [
    (MARIADB_10_11, (10, 11, 6)), (MYSQL_8_4, (8, 4, 3)), (MYSQL_5_7, (5, 7, 44)), ("15.4 (Debian 15.4-1)", (15, 4, 0)),
    ("", (0, 0, 0)),
])
def test_version_numbers_are_read_from_the_servers_own_string(text, expected):
    assert version_tuple(text) == expected


def test_postgresql_has_one_flavour_and_keeps_the_engines_facts_on_every_major():
    features = features_for("postgresql")
    for version in ("12.17", "15.4 (Debian 15.4-1)", "17.10", "18.6"):
        server = features.for_server(version)
        assert server.flavour == "postgresql" and server.name == "postgresql"
        assert (server.max_identifier_length, server.index_methods, server.online_build_phrase) == (
            features.max_identifier_length, features.index_methods, features.online_build_phrase)
        assert (server.statement_timeout_setting, server.ddl_timeout) == ("statement_timeout", True)


# Each measured on real servers of 15, 17 and 18 (the version suite, tests/integration/pg_majors.py, asserts them there).
@pytest.mark.parametrize("version, flush, transaction_timeout, checksums", [
    ("12.17", None, False, False),
    ("14.11 (Ubuntu 14.11-1.pgdg22.04+1)", None, False, False),
    ("15.18 (Debian 15.18-0+deb12u1)", "pg_stat_force_next_flush", False, False),
    ("16.4", "pg_stat_force_next_flush", False, False),
    ("17.10", "pg_stat_force_next_flush", True, False),
    ("18.6", "pg_stat_force_next_flush", True, True),
    ("19devel", "pg_stat_force_next_flush", True, True),
])
def test_postgresql_facts_follow_the_servers_major(version, flush, transaction_timeout, checksums):
    features = features_for("postgresql").for_server(version)
    assert features.stats_flush_function == flush  # pg_stat_force_next_flush() came with PostgreSQL 15
    assert features.transaction_timeout is transaction_timeout  # the setting came with 17
    assert features.data_checksums_by_default is checksums  # initdb turns them on by default from 18


class FlushRecorder:
    """Stands in for a PostgreSQL session's _rows in index_usage: records statements, answers the usage query."""

    def __init__(self):
        self.statements = []

    def __call__(self, query, params=None):
        self.statements.append(query)
        return [("idx_a", 3)] if "pg_stat_user_indexes" in query else [(None,)]


@pytest.mark.parametrize("version, flushed", [("15.18", True), ("18.6", True), ("14.11", False)])
def test_index_usage_asks_the_server_to_flush_its_counts_only_where_it_can(version, flushed):
    from ansible.module_utils.safeindex.engines.postgresql.dialect import PostgresEngine

    engine = PostgresEngine.__new__(PostgresEngine)
    engine._server_features = features_for("postgresql").for_server(version)
    engine._rows = FlushRecorder()
    assert engine.index_usage("public", [("t", "idx_a"), ("t", "idx_b")]) == {"idx_a": 3, "idx_b": None}
    assert ("SELECT pg_stat_force_next_flush()" in engine._rows.statements) is flushed
    assert len(engine._rows.statements) == (2 if flushed else 1)


@pytest.mark.parametrize("version, flavour, setting, unit, ddl_timeout, descending", [
    (MARIADB_10_11, "mariadb", "max_statement_time", "seconds", True, True),
    ("10.6.16-MariaDB", "mariadb", "max_statement_time", "seconds", True, False),
    ("10.8.0-MariaDB", "mariadb", "max_statement_time", "seconds", True, True),
    ("5.5.5-10.11.6-MariaDB", "mariadb", "max_statement_time", "seconds", True, True),
    (MYSQL_8_4, "mysql", "max_execution_time", "milliseconds", False, True),
    ("8.0.36", "mysql", "max_execution_time", "milliseconds", False, True),
    (MYSQL_5_7, "mysql", "max_execution_time", "milliseconds", False, False),
])
def test_mysql_features_follow_the_servers_flavour_and_version(version, flavour, setting, unit, ddl_timeout, descending):
    features = features_for("mysql").for_server(version)
    assert (features.flavour, features.statement_timeout_setting, features.statement_timeout_unit) == (flavour, setting, unit)
    assert (features.ddl_timeout, features.descending_indexes) == (ddl_timeout, descending)
    assert features.name == "mysql" and features.max_identifier_length == 64  # the engine's facts stay


def test_mariadb_limits_a_builds_run_time_with_set_statement():
    statement = mysql_engine_on(MARIADB_10_11).create_statement("idx_a", DEFINITION, "run-1", timeout=1.5)
    assert statement.sql == "SET STATEMENT max_statement_time = 1.5 FOR " + ONLINE_BUILD
    assert statement.params == ("safeindex run_id=run-1",) and statement.timeout == 1.5


def test_mysql_refuses_a_time_limit_on_ddl_and_says_why():
    with pytest.raises(OptionError, match=r"MySQL cannot limit the run time of DDL \(max_execution_time covers SELECT only\)"):
        mysql_engine_on(MYSQL_8_4).create_statement("idx_a", DEFINITION, "run-1", timeout=1.5)


@pytest.mark.parametrize("version", [MARIADB_10_11, MYSQL_8_4])
def test_without_a_time_limit_both_flavours_get_the_same_online_build(version):
    assert mysql_engine_on(version).create_statement("idx_a", DEFINITION, "run-1").sql == ONLINE_BUILD


@pytest.mark.parametrize("version, setting, value", [
    (MARIADB_10_11, "max_statement_time", 2.5),  # seconds
    (MYSQL_8_4, "max_execution_time", 2500),  # milliseconds
])
def test_a_probe_runs_under_the_flavours_statement_time_limit(version, setting, value):
    engine = mysql_engine_on(version)
    with engine._read_only(2.5, prefer_indexes=True):
        pass
    assert engine._rows.statements == [
        ("SET SESSION %s = %%s" % setting, (value,)),
        ("SET SESSION max_seeks_for_key = 1", None),
        ("START TRANSACTION READ ONLY", None),
        ("ROLLBACK", None),
        ("SET SESSION %s = DEFAULT" % setting, None),
        ("SET SESSION max_seeks_for_key = DEFAULT", None),
    ]


@pytest.mark.parametrize("version, statement", [
    (MARIADB_10_11, "SHOW REPLICA HOSTS"),
    (MARIADB_10_4, "SHOW SLAVE HOSTS"),
    (MYSQL_8_4, "SHOW REPLICAS"),
    (MYSQL_5_7, "SHOW SLAVE HOSTS"),
])
def test_replicas_are_listed_with_the_flavours_own_statement(version, statement):
    engine = mysql_engine_on(version)
    assert engine.replicas() == [{"name": "replica-1:3306", "state": "attached", "lag_seconds": None}]
    assert engine._rows.statements == [(statement, None)]


def test_a_server_that_does_not_know_the_new_name_is_asked_by_the_old_one():
    engine = mysql_engine_on(MARIADB_10_11, refuse=("SHOW REPLICA HOSTS",))
    assert [r["name"] for r in engine.replicas()] == ["replica-1:3306"]
    assert [s for s, _ in engine._rows.statements] == ["SHOW REPLICA HOSTS", "SHOW SLAVE HOSTS"]


def test_the_engine_says_its_name_and_its_servers_features():
    engine = mysql_engine_on(MARIADB_10_11)
    assert engine.engine == "mysql"
    assert engine.features.flavour == "mariadb"
