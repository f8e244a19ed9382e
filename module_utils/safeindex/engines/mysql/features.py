"""MySQL's and MariaDB's capabilities and limits; for_server() gives the flavour's own (MariaDB or MySQL) by version."""

from dataclasses import dataclass

from ansible.module_utils.safeindex.engines.features import Features, version_tuple

# Collation families one flavour has and the other lacks, by a part of their names: MySQL 8's UCA 9.0.0 ones
# (utf8mb4_0900_ai_ci, its default, utf8mb4_de_pb_0900_as_cs, ...); MariaDB's UCA 14.0.0 ones (10.10+) and its NO PAD
# variants (utf8mb4_nopad_bin, utf8mb4_uca1400_nopad_ai_ci, ...).
MYSQL_COLLATIONS = ("_0900_",)
MARIADB_COLLATIONS = ("_uca1400_", "_nopad_")
# MariaDB 11.4.5 takes MySQL's default collation as an alias of utf8mb4_uca1400_nopad_ai_ci; no other 0900 name is
# counted on here (the scratch server can be asked for the rest).
MARIADB_0900_ALIASES = ("utf8mb4_0900_ai_ci",)
# SHOW SLAVE STATUS's columns (MariaDB's SHOW REPLICA STATUS too), and MySQL 8.0.22+'s SHOW REPLICA STATUS's.
REPLICA_STATUS_COLUMNS_OLD = (("io_running", "Slave_IO_Running"), ("sql_running", "Slave_SQL_Running"),
                              ("seconds_behind", "Seconds_Behind_Master"), ("last_io_error", "Last_IO_Error"),
                              ("last_sql_error", "Last_SQL_Error"), ("source_host", "Master_Host"),
                              ("source_port", "Master_Port"))
REPLICA_STATUS_COLUMNS_NEW = (("io_running", "Replica_IO_Running"), ("sql_running", "Replica_SQL_Running"),
                              ("seconds_behind", "Seconds_Behind_Source"), ("last_io_error", "Last_IO_Error"),
                              ("last_sql_error", "Last_SQL_Error"), ("source_host", "Source_Host"),
                              ("source_port", "Source_Port"))


@dataclass(frozen=True)
class MysqlFeatures(Features):
    def for_server(self, server_version: str) -> Features:
        """MariaDB names itself in VERSION() ('10.11.6-MariaDB-...'); anything else is MySQL."""
        text = server_version or ""
        if "mariadb" in text.lower():
            # MariaDB's handshake (and a proxy that passes it on) prefixes "5.5.5-" for clients older than 10.0.
            version = version_tuple(text[6:] if text.startswith("5.5.5-") else text)
            return self.flavoured(
                flavour="mariadb",
                statement_timeout_setting="max_statement_time",
                statement_timeout_unit="seconds",
                ddl_timeout=True,  # SET STATEMENT max_statement_time = ... FOR ALTER TABLE ...
                descending_indexes=version >= (10, 8, 0),
                # MariaDB 10.5.1 renamed SHOW SLAVE HOSTS and kept the old name as an alias.
                replica_hosts_statements=("SHOW REPLICA HOSTS", "SHOW SLAVE HOSTS") if version >= (10, 5, 1)
                else ("SHOW SLAVE HOSTS",),
                # 10.5.1 added SHOW REPLICA STATUS; its columns kept their old names (Slave_IO_Running, ...).
                replica_status_statement="SHOW REPLICA STATUS" if version >= (10, 5, 1) else "SHOW SLAVE STATUS",
                replica_status_columns=REPLICA_STATUS_COLUMNS_OLD,
                # MASTER_GTID_WAIT answers 0 once the replica's SQL thread applied the position, -1 at the timeout.
                primary_position_query="SELECT @@GLOBAL.gtid_binlog_pos",
                replica_applied_query="SELECT MASTER_GTID_WAIT(%s, %s) = 0",
                processlist_progress=True,  # PROCESSLIST's STAGE, MAX_STAGE, PROGRESS
                usage_counters_by_default=False,  # MariaDB ships with performance_schema off
                default_collation="utf8mb4_general_ci",
                unknown_collation_markers=MYSQL_COLLATIONS,
                known_foreign_collations=MARIADB_0900_ALIASES if version >= (11, 4, 5) else (),
                expression_keys=False,  # no functional key parts: an index on a generated column does it
            )
        version = version_tuple(text)
        return self.flavoured(
            flavour="mysql",
            statement_timeout_setting="max_execution_time",
            statement_timeout_unit="milliseconds",
            ddl_timeout=False,  # max_execution_time covers SELECT only, and MySQL has no SET STATEMENT ... FOR
            descending_indexes=version >= (8, 0, 0),
            # MySQL 8.0.22 renamed SHOW SLAVE HOSTS to SHOW REPLICAS; 8.4 removed the old name.
            replica_hosts_statements=("SHOW REPLICAS",) if version >= (8, 4, 0)
            else ("SHOW REPLICAS", "SHOW SLAVE HOSTS") if version >= (8, 0, 22) else ("SHOW SLAVE HOSTS",),
            # 8.0.22 added SHOW REPLICA STATUS with renamed columns (Replica_IO_Running, Seconds_Behind_Source, ...);
            # 8.4 removed SHOW SLAVE STATUS.
            replica_status_statement="SHOW REPLICA STATUS" if version >= (8, 0, 22) else "SHOW SLAVE STATUS",
            replica_status_columns=REPLICA_STATUS_COLUMNS_NEW if version >= (8, 0, 22) else REPLICA_STATUS_COLUMNS_OLD,
            # WAIT_FOR_EXECUTED_GTID_SET answers 0 once the replica executed the set, 1 at the timeout (MySQL 5.7.5+).
            primary_position_query="SELECT @@GLOBAL.gtid_executed",
            replica_applied_query="SELECT WAIT_FOR_EXECUTED_GTID_SET(%s, %s) = 0",
            # No STAGE columns in PROCESSLIST. performance_schema's events_stages_current could say how far an ALTER
            # is, but only with the stage/innodb/alter% instruments and their consumer turned on: a server-wide
            # setting this tool does not change. So the state and the elapsed time are what a MySQL build shows.
            processlist_progress=False,
            usage_counters_by_default=version >= (5, 6, 6),  # performance_schema on by default since 5.6.6 (and in 8.x)
            default_collation="utf8mb4_0900_ai_ci" if version >= (8, 0, 0) else "utf8mb4_general_ci",
            unknown_collation_markers=MARIADB_COLLATIONS + (() if version >= (8, 0, 0) else MYSQL_COLLATIONS),
            expression_keys=version >= (8, 0, 13),  # functional key parts ((expr)) came in 8.0.13
        )


FEATURES = MysqlFeatures(
    name="mysql",
    label="MySQL/MariaDB",
    url_scheme="mysql",
    url_schemes=("mysql", "mysql+pymysql", "mariadb", "mariadb+pymysql"),
    default_port=3306,
    max_identifier_length=64,
    identifier_length_unit="characters",
    identifier_trailing_space=False,  # "Database, table, and column names cannot end with space characters"
    index_methods=("btree",),
    has_schemas=False,
    partial_indexes=False,
    include_columns=False,
    nulls_order=False,
    nulls_first_when_descending=False,
    prefix_lengths=True,
    case_insensitive_index_names=True,
    index_names_per_table=True,
    online_build_phrase="ALGORITHM=INPLACE, LOCK=NONE",
    minimum_version="5.6",
    backup_formats=("sql",),
    connection_scope="on the server",
    # Uncalibrated time estimates: low on purpose (a concurrent build scans the table twice; MySQL/MariaDB sort
    # the keys into a temporary file), so a plan without history over-estimates rather than promises too little.
    default_build_bytes_per_second=8 * 1024 * 1024,
    default_backup_bytes_per_second=8 * 1024 * 1024,
    prefer_indexes_setting="max_seeks_for_key = 1",
    # Until the server is known: MySQL's answers, the stricter ones (no DDL time limit).
    flavour=None,
    statement_timeout_setting="max_execution_time",
    statement_timeout_unit="milliseconds",
    ddl_timeout=False,
    descending_indexes=True,
    replica_hosts_statements=("SHOW REPLICA HOSTS", "SHOW SLAVE HOSTS"),
    processlist_progress=False,
    usage_counters_setting="performance_schema",
    usage_counters_by_default=False,
    # Until the server is known, a collation of either flavour's own families may be missing.
    unknown_collation_markers=MYSQL_COLLATIONS + MARIADB_COLLATIONS,
    # Until the server is known a spec may have expression keys (MySQL 8 builds them); the server's own features
    # (MariaDB: no) refuse them in preflight, before the backup.
    expression_keys=True,
    nulls_not_distinct=False,
    # Known server traps: an online ALTER keeps the table's concurrent writes in a log bounded by this setting (the build
    # fails at its end, after all the work, when they do not fit), and sorts the new index in the server's tmpdir.
    online_alter_log_setting="innodb_online_alter_log_max_size",
    sort_directory_setting="tmpdir",
    index_check_function=None,  # no amcheck: CHECK TABLE locks the table, so verify_amcheck is PostgreSQL-only
    # Measured on MariaDB 10.11: ALTER TABLE ... ADD INDEX, ALGORITHM=INPLACE, LOCK=NONE runs on a partitioned InnoDB
    # table; on a partitioned MyISAM table the server answers "ALGORITHM=INPLACE is not supported" (1845).
    partitioned_online_storage_engines=("InnoDB",),
    # Replicas: only a replica knows its lag; the primary shows the binlog dump threads that feed them.
    lag_seen_from_primary=False,
    replica_lags_by_build_time=True,
    replica_status_statement="SHOW SLAVE STATUS",  # until the server is known: the name every version takes but 8.4
    replica_status_columns=REPLICA_STATUS_COLUMNS_OLD,
    replication_sender_commands=("Binlog Dump", "Binlog Dump GTID"),
)
