"""The SQL and client options each MySQL-family server gets: MySQL 8.0 and 8.4 (which cannot be started here), MariaDB
10.11 (also proven live by the integration tests) and 11.4. The real engine and dumper code runs against a recorder that
stands in for the server: each statement is recorded and answered the way that server would."""

from types import SimpleNamespace

import pytest
from ansible.module_utils.safeindex.core.connection import ConnectionParams, connection_params
from ansible.module_utils.safeindex.core.errors import OptionError, ServerRefused
from ansible.module_utils.safeindex.engines import features_for
from ansible.module_utils.safeindex.engines.mysql import tls as mysql_tls
from ansible.module_utils.safeindex.engines.mysql.dialect import MysqlEngine
from ansible.module_utils.safeindex.engines.mysql.dump import MysqlDumper, client_family
from ansible.module_utils.safeindex.spec.definition import IndexColumn, IndexDefinition

MYSQL_8_0, MYSQL_8_4, MARIADB_10_11, MARIADB_11_4 = "8.0.36", "8.4.3", "10.11.6-MariaDB", "11.4.2-MariaDB"
SERVERS = (MYSQL_8_0, MYSQL_8_4, MARIADB_10_11, MARIADB_11_4)
MYSQL_SERVERS, MARIADB_SERVERS = (MYSQL_8_0, MYSQL_8_4), (MARIADB_10_11, MARIADB_11_4)
DEFINITION = IndexDefinition(table="message", schema="app", columns=(IndexColumn(name="conversation_id"),), unique=False,
                             method="btree")
MARIADB_DUMP = "mariadb-dump  Ver 10.19 Distrib 10.11.6-MariaDB, for debian-linux-gnu (x86_64)"
MYSQLDUMP_8 = "mysqldump  Ver 8.0.36 for Linux on x86_64 (MySQL Community Server - GPL)"
MYSQLDUMP_8_4 = "mysqldump  Ver 8.4.3 for Linux on x86_64 (MySQL Community Server - GPL)"
MYSQLDUMP_5_7 = "mysqldump  Ver 10.13 Distrib 5.7.44, for Linux (x86_64)"


class Server:
    """A stand-in for one server's session (_rows): records what it is sent and answers like that server would; a
    MySQL server refuses MariaDB's PROCESSLIST columns and SHOW REPLICA HOSTS, MySQL 8.4 the old SHOW SLAVE HOSTS."""

    def __init__(self, version, performance_schema=None):
        self.version = version
        self.mariadb = "mariadb" in version.lower()
        self.performance_schema = (not self.mariadb) if performance_schema is None else performance_schema
        self.statements = []

    def __call__(self, query, params=None, as_dict=False):
        self.statements.append((query, params))
        refused = ("STAGE" in query and not self.mariadb) or (query == "SHOW REPLICA HOSTS" and not self.mariadb) \
            or (query == "SHOW REPLICAS" and self.mariadb) or (query == "SHOW SLAVE HOSTS" and self.version.startswith("8.4"))
        if refused:
            raise ServerRefused("You have an error in your SQL syntax", code=1064)
        if query.startswith("SHOW"):
            return [{"Server_id": 2, "Host": "replica-1", "Port": 3306}]
        if query == "SELECT @@performance_schema":
            return [(int(self.performance_schema),)]
        if "FROM information_schema.PROCESSLIST" in query:
            return [("altering table", 1, 2, 40.0)] if "STAGE" in query else [("altering table",)]
        if "performance_schema.table_io_waits_summary_by_index_usage" in query:
            return [(7,)]
        if "COLLATION" in query:
            return [("utf8mb4_0900_ai_ci",), ("utf8mb4_bin",), (None,)] if not self.mariadb else [("utf8mb4_general_ci",)]
        return []


def engine_on(version, **server):
    engine = MysqlEngine.__new__(MysqlEngine)  # no server needed: the SQL is what is under test
    engine.params = ConnectionParams(engine="mysql", host="127.0.0.1", port=3306, database="app", user="u")
    engine.application_name = "safeindex test"
    engine.conn = SimpleNamespace(open=True)
    engine._version = version
    engine._rows = Server(version, **server)
    return engine


def sent(engine):
    return [query for query, _params in engine._rows.statements]


@pytest.mark.parametrize("version, flavour, replicas, progress, counters, collation", [
    (MYSQL_8_0, "mysql", ("SHOW REPLICAS", "SHOW SLAVE HOSTS"), False, True, "utf8mb4_0900_ai_ci"),
    (MYSQL_8_4, "mysql", ("SHOW REPLICAS",), False, True, "utf8mb4_0900_ai_ci"),
    (MARIADB_10_11, "mariadb", ("SHOW REPLICA HOSTS", "SHOW SLAVE HOSTS"), True, False, "utf8mb4_general_ci"),
    (MARIADB_11_4, "mariadb", ("SHOW REPLICA HOSTS", "SHOW SLAVE HOSTS"), True, False, "utf8mb4_general_ci"),
    ("8.0.21", "mysql", ("SHOW SLAVE HOSTS",), False, True, "utf8mb4_0900_ai_ci"),
])
def test_each_servers_facts(version, flavour, replicas, progress, counters, collation):
    features = features_for("mysql").for_server(version)
    assert (features.flavour, features.replica_hosts_statements) == (flavour, replicas)
    assert (features.processlist_progress, features.usage_counters_by_default) == (progress, counters)
    assert features.default_collation == collation and features.usage_counters_setting == "performance_schema"


@pytest.mark.parametrize("version", SERVERS)
def test_every_server_builds_and_drops_in_place_without_locking(version):
    # MySQL 8.0.12+ has ALGORITHM=INSTANT, but not for ADD INDEX: INPLACE on every server.
    engine = engine_on(version)
    assert engine.create_statement("idx_a", DEFINITION, "run-1").sql == \
        "ALTER TABLE `message` ADD INDEX `idx_a` (`conversation_id`) COMMENT %s, ALGORITHM=INPLACE, LOCK=NONE"
    assert engine.drop_statement("idx_a", DEFINITION).sql == "ALTER TABLE `message` DROP INDEX `idx_a`, ALGORITHM=INPLACE, LOCK=NONE"
    assert engine.drop_statement("idx_a", DEFINITION, online=False).sql == "ALTER TABLE `message` DROP INDEX `idx_a`"


@pytest.mark.parametrize("version", MARIADB_SERVERS)
def test_mariadb_time_limits_a_build_in_seconds(version):
    assert engine_on(version).create_statement("idx_a", DEFINITION, "run-1", timeout=90).sql.startswith(
        "SET STATEMENT max_statement_time = 90 FOR ALTER TABLE `message` ADD INDEX")


@pytest.mark.parametrize("version", MYSQL_SERVERS)
def test_mysql_refuses_a_time_limit_on_a_build(version):
    with pytest.raises(OptionError, match="max_execution_time covers SELECT only"):
        engine_on(version).create_statement("idx_a", DEFINITION, "run-1", timeout=90)


@pytest.mark.parametrize("version, setting, value", [
    (MYSQL_8_0, "max_execution_time", 1500), (MYSQL_8_4, "max_execution_time", 1500),
    (MARIADB_10_11, "max_statement_time", 1.5), (MARIADB_11_4, "max_statement_time", 1.5),
])
def test_a_probe_is_time_limited_in_the_servers_unit(version, setting, value):
    engine = engine_on(version)
    with engine._read_only(1.5):
        pass
    assert engine._rows.statements == [("SET SESSION %s = %%s" % setting, (value,)), ("START TRANSACTION READ ONLY", None),
                                       ("ROLLBACK", None), ("SET SESSION %s = DEFAULT" % setting, None)]


@pytest.mark.parametrize("version, statements", [
    (MYSQL_8_0, ["SHOW REPLICAS"]), (MYSQL_8_4, ["SHOW REPLICAS"]),
    (MARIADB_10_11, ["SHOW REPLICA HOSTS"]), (MARIADB_11_4, ["SHOW REPLICA HOSTS"]),
])
def test_replicas_are_asked_in_the_servers_words(version, statements):
    engine = engine_on(version)
    assert engine.replicas() == [{"name": "replica-1:3306", "state": "attached", "lag_seconds": None}]
    assert sent(engine) == statements


@pytest.mark.parametrize("version", MYSQL_SERVERS)
def test_mysql_shows_a_builds_state_without_stages(version):
    engine = engine_on(version)
    assert engine.build_progress(42) == {"phase": "altering table", "stage": None, "max_stage": None}
    assert engine._rows.statements == [("SELECT STATE FROM information_schema.PROCESSLIST WHERE ID = %s", (42,))]


@pytest.mark.parametrize("version", MARIADB_SERVERS)
def test_mariadb_shows_a_builds_stage_and_percent(version):
    engine = engine_on(version)
    assert engine.build_progress(42) == {"phase": "altering table (stage 1 of 2)", "stage": 1, "max_stage": 2,
                                         "percent": 40, "unit": "stage"}
    assert engine._rows.statements == [
        ("SELECT STATE, STAGE, MAX_STAGE, PROGRESS FROM information_schema.PROCESSLIST WHERE ID = %s", (42,))]


@pytest.mark.parametrize("version", SERVERS)
def test_index_reads_are_counted_where_performance_schema_is_on_whatever_the_default(version):
    on, off = engine_on(version, performance_schema=True), engine_on(version, performance_schema=False)
    assert on.index_usage("app", [("message", "idx_a")]) == {"idx_a": 7}
    assert sent(on)[0] == "SELECT @@performance_schema"
    assert "performance_schema.table_io_waits_summary_by_index_usage" in sent(on)[1]
    assert off.index_usage("app", [("message", "idx_a")]) is None and sent(off) == ["SELECT @@performance_schema"]


def test_the_note_on_uncounted_reads_says_whether_off_is_the_servers_default():
    mysql, mariadb = (features_for("mysql").for_server(v).usage_counters_off_note() for v in (MYSQL_8_4, MARIADB_10_11))
    assert mysql.startswith("not counted: performance_schema is off on this server (it is on by default")
    assert mariadb.startswith("not counted: performance_schema is off on this server, as it ships; turn it on")
    assert "performance_schema=ON" in mariadb


@pytest.mark.parametrize("version", SERVERS)
def test_the_collations_a_database_uses_are_read_from_its_catalog(version):
    engine = engine_on(version)
    used = engine.collations_in_use()
    assert used == (("utf8mb4_0900_ai_ci", "utf8mb4_bin") if version in MYSQL_SERVERS else ("utf8mb4_general_ci",))
    assert len(engine._rows.statements) == 1 and "information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE()" in sent(engine)[0]


@pytest.mark.parametrize("version, unknown", [
    (MARIADB_10_11, ("utf8mb4_0900_ai_ci", "utf8mb4_de_pb_0900_as_cs")),
    (MARIADB_11_4, ("utf8mb4_0900_ai_ci", "utf8mb4_de_pb_0900_as_cs")),
    ("11.4.5-MariaDB", ("utf8mb4_de_pb_0900_as_cs",)),  # MySQL's default is an alias from 11.4.5 on
    (MYSQL_8_0, ("utf8mb4_nopad_bin", "utf8mb4_uca1400_ai_ci")),
    (MYSQL_8_4, ("utf8mb4_nopad_bin", "utf8mb4_uca1400_ai_ci")),
    ("5.7.44", ("utf8mb4_0900_ai_ci", "utf8mb4_de_pb_0900_as_cs", "utf8mb4_nopad_bin", "utf8mb4_uca1400_ai_ci")),
])
def test_what_each_server_lacks_of_the_other_flavours_collations(version, unknown):
    names = ["utf8mb4_uca1400_ai_ci", "utf8mb4_0900_ai_ci", "utf8mb4_general_ci", "utf8mb4_bin", "utf8mb4_nopad_bin",
             "utf8mb4_de_pb_0900_as_cs", "utf8mb4_0900_ai_ci", None]
    assert features_for("mysql").for_server(version).unknown_collations(names) == unknown


def test_a_mysql_8_dump_restored_into_mariadb_lacks_its_default_collation():
    mysql8, mariadb = (features_for("mysql").for_server(v) for v in (MYSQL_8_0, MARIADB_10_11))
    assert mysql8.collations_unknown_to(mariadb) == ("utf8mb4_0900_ai_ci",)
    assert mariadb.collations_unknown_to(mysql8) == () and mariadb.collations_unknown_to(mariadb) == ()
    assert mysql8.collations_unknown_to(mariadb, ["utf8mb4_general_ci"]) == ()
    assert mysql8.collations_unknown_to(features_for("mysql").for_server("11.4.5-MariaDB")) == ()


def dumper_with(version_text, ssl_mode=None):
    given = dict(db_engine="mysql", db_host="db", db_port=None, db_name="app", db_user="u", db_password="pw", database_url=None,
                 connect_timeout=10, db_ssl_mode=ssl_mode, db_ssl_ca=None)
    dumper = MysqlDumper.__new__(MysqlDumper)  # no tool needed: its --version line is given
    dumper.params = connection_params(given)
    dumper.dump_tool, dumper.client = "/usr/bin/mysqldump", "/usr/bin/mysql"
    dumper._client_texts = {"/usr/bin/mysqldump": version_text, "/usr/bin/mysql": version_text}
    return dumper


@pytest.mark.parametrize("version_text, extra", [
    (MARIADB_DUMP, []),
    (MYSQLDUMP_5_7, []),  # no --column-statistics before mysqldump 8, no histograms to leave out
    (MYSQLDUMP_8, ["--set-gtid-purged=OFF", "--column-statistics=0"]),
    (MYSQLDUMP_8_4, ["--set-gtid-purged=OFF", "--column-statistics=0"]),
])
def test_mysqls_own_dump_tool_is_told_what_a_dump_that_loads_anywhere_needs(version_text, extra):
    command = dumper_with(version_text).dump_command("/b/app.sql.gz", "sql", 1, 6)
    assert command == ["/usr/bin/mysqldump", "--defaults-extra-file=<0600 defaults file>", "--single-transaction", "--routines",
                       "--triggers", "--events", "--hex-blob", "--no-tablespaces", "--skip-dump-date", *extra, "app"]


@pytest.mark.parametrize("version_text, family", [
    (MARIADB_DUMP, "mariadb"), ("mysqldump  Ver 10.19 Distrib 10.11.6-MariaDB, for debian-linux-gnu", "mariadb"),
    (MYSQLDUMP_8, "mysql"), (MYSQLDUMP_5_7, "mysql"), ("mysql  Ver 8.4.3 for Linux on x86_64", "mysql"),
])
def test_a_client_tools_family_is_read_from_its_version_line(version_text, family):
    assert client_family(version_text) == family


@pytest.mark.parametrize("version_text, server, refused", [
    (MARIADB_DUMP, MARIADB_11_4, True), (MARIADB_DUMP, MARIADB_10_11, False), (MARIADB_DUMP, MYSQL_8_4, False),
    (MYSQLDUMP_8, MYSQL_8_4, True), (MYSQLDUMP_8_4, MYSQL_8_4, False), (MYSQLDUMP_8, MARIADB_10_11, False),
])
def test_only_a_client_of_the_servers_own_family_can_be_too_old(version_text, server, refused):
    dumper = dumper_with(version_text)
    if refused:
        with pytest.raises(Exception, match="is older than the server"):
            dumper.check_client(server)
    else:
        assert dumper.check_client(server) == version_text


@pytest.mark.parametrize("mode, lines", [
    ("disable", ["ssl-mode=DISABLED"]), ("prefer", []), ("require", ["ssl-mode=REQUIRED"]),
    ("verify-full", ["ssl-mode=VERIFY_IDENTITY", "ssl-capath="]),
])
def test_mysqls_own_clients_get_tls_as_ssl_mode(tmp_path, mode, lines):
    dumper = dumper_with(MYSQLDUMP_8, ssl_mode=mode)
    written = (tmp_path / "client.cnf")
    path = dumper._defaults_file(str(tmp_path))
    assert path == str(written)
    tls = [line for line in written.read_text().splitlines() if line.startswith(("ssl", "skip-ssl"))]
    assert [line.split('"')[0] for line in tls] == lines  # the system's CA folder, as Python's ssl module has it


def test_mariadbs_clients_keep_their_own_tls_options():
    assert mysql_tls.client_options(dumper_with(MARIADB_DUMP, ssl_mode="require").params, "mariadb") == \
        ["ssl", "skip-ssl-verify-server-cert"]
