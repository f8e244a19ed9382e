"""MySQL's and MariaDB's capabilities and limits; for_server() gives the flavour's own (MariaDB or MySQL) by version."""

from dataclasses import dataclass

from ansible.module_utils.safeindex.engines.features import Features, version_tuple


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
            )
        version = version_tuple(text)
        return self.flavoured(
            flavour="mysql",
            statement_timeout_setting="max_execution_time",
            statement_timeout_unit="milliseconds",
            ddl_timeout=False,  # max_execution_time covers SELECT only, and MySQL has no SET STATEMENT ... FOR
            descending_indexes=version >= (8, 0, 0),
            # MySQL 8.0.22 renamed SHOW SLAVE HOSTS to SHOW REPLICAS; 8.4 removed the old name.
            replica_hosts_statements=("SHOW REPLICAS", "SHOW SLAVE HOSTS") if version >= (8, 0, 22) else ("SHOW SLAVE HOSTS",),
        )


FEATURES = MysqlFeatures(
    name="mysql",
    label="MySQL/MariaDB",
    url_scheme="mysql",
    url_schemes=("mysql", "mysql+pymysql", "mariadb", "mariadb+pymysql"),
    default_port=3306,
    max_identifier_length=64,
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
    prefer_indexes_setting="max_seeks_for_key = 1",
    # Until the server is known: MySQL's answers, the stricter ones (no DDL time limit).
    flavour=None,
    statement_timeout_setting="max_execution_time",
    statement_timeout_unit="milliseconds",
    ddl_timeout=False,
    descending_indexes=True,
    replica_hosts_statements=("SHOW REPLICA HOSTS", "SHOW SLAVE HOSTS"),
)
