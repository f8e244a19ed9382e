"""PostgreSQL's capabilities and limits; for_server() gives a major version's own (what differs between 15, 17 and 18).

Measured on real servers of 15, 17 and 18 (the version suite, tests/integration/test_pg1[578].py): the catalog columns this
engine reads (pg_index, pg_stat_activity, pg_locks, pg_stat_progress_create_index, pg_stat_replication) and the text
of pg_get_indexdef are the same on all three; what differs is below.
"""

from __future__ import annotations

from dataclasses import dataclass

from ansible.module_utils.safeindex.engines.features import Features, version_tuple


@dataclass(frozen=True)
class PostgresFeatures(Features):
    # What differs between majors (for_server() gives the server's own; the engine's defaults are the newest major's):
    stats_flush_function: str = "pg_stat_force_next_flush"  # asks the session's counters to reach pg_stat_* now (15+)
    # The server knows the setting transaction_timeout (17+). pg_restore 17 and 18 send `SET transaction_timeout = 0`
    # first whatever the server, so their restores fail on a server without it (measured: 17.10 and 18.6 into 15.18).
    transaction_timeout: bool = True
    data_checksums_by_default: bool = True  # initdb turns data checksums on unless told otherwise (18+)
    client_connection_check: bool = True  # client_connection_check_interval (14+)

    def for_server(self, server_version: str) -> Features:
        """The facts of one server's major ('15.18 (Debian 15.18-0+deb12u1)', '17.10', '18.6')."""
        major = version_tuple(server_version)[0]
        return self.flavoured(
            stats_flush_function="pg_stat_force_next_flush" if major >= 15 else None,
            transaction_timeout=major >= 17,
            data_checksums_by_default=major >= 18,
            client_connection_check=major >= 14,
            nulls_not_distinct=major >= 15,
            concurrent_build_bug=concurrent_build_bug(server_version),
        )


# Known server bugs (helper block: run/server_checks.py turns these facts into preflight rows).
CONCURRENT_BUILD_BUG = (
    "PostgreSQL %s has the bug of 14.0 to 14.3 where CREATE INDEX CONCURRENTLY and REINDEX CONCURRENTLY can miss rows"
    " written during the build and leave a silently corrupt index (fixed in 14.4): upgrade to 14.4 or later (a minor"
    " upgrade, the same data directory), then REINDEX every index built or reindexed concurrently on 14.0 to 14.3"
    " (pg_amcheck --heapallindexed finds the corrupt ones)")


def concurrent_build_bug(server_version: str) -> str | None:
    """Why concurrent builds are unsafe on this server, and the fix; None where they are safe."""
    version = version_tuple(server_version)
    if (14, 0, 0) <= version < (14, 4, 0):
        return CONCURRENT_BUILD_BUG % ("%d.%d" % version[:2])
    return None


FEATURES = PostgresFeatures(
    name="postgresql",
    label="PostgreSQL",
    url_scheme="postgresql",
    url_schemes=("postgresql", "postgres", "postgresql+psycopg2"),
    default_port=5432,
    max_identifier_length=63,  # NAMEDATALEN - 1
    identifier_length_unit="bytes",  # a longer name is cut to 63 bytes with only a NOTICE: refused before that
    index_methods=("btree", "hash", "gist", "gin", "brin", "spgist"),
    has_schemas=True,
    partial_indexes=True,
    include_columns=True,
    nulls_order=True,
    nulls_first_when_descending=True,  # NULLs sort last ascending and first descending unless told otherwise
    prefix_lengths=False,
    case_insensitive_index_names=False,
    index_names_per_table=False,
    online_build_phrase="CREATE INDEX CONCURRENTLY",
    minimum_version="12.0",
    backup_formats=("custom", "directory"),
    connection_scope="on database %(database)s",
    # Uncalibrated time estimates: low on purpose (a concurrent build scans the table twice; MySQL/MariaDB sort
    # the keys into a temporary file), so a plan without history over-estimates rather than promises too little.
    default_build_bytes_per_second=16 * 1024 * 1024,
    default_backup_bytes_per_second=8 * 1024 * 1024,
    prefer_indexes_setting="enable_seqscan = off",
    flavour="postgresql",
    statement_timeout_setting="statement_timeout",
    statement_timeout_unit="milliseconds",
    ddl_timeout=True,
    descending_indexes=True,
    replica_hosts_statements=(),  # pg_stat_replication is a view, not a statement that differs by version
    # Replicas: the primary sees each standby's replay position (pg_stat_replication); a standby replays the build's
    # WAL as it streams, not after the build.
    lag_seen_from_primary=True,
    replica_lags_by_build_time=False,
    expression_keys=True,
    nulls_not_distinct=True,  # the newest major's answer; for_server() says it for the server's
    # Known server bugs and traps:
    prepared_transactions=True,  # pg_prepared_xacts: a concurrent build waits for every one that holds a lock or a snapshot
    index_check_function="bt_index_check",
    index_check_extension="amcheck",
    index_check_install="CREATE EXTENSION amcheck; in the database, as a superuser (amcheck is in the server's contrib"
                        " package: postgresql-contrib, or postgresql-<major>-contrib on older Debian and Ubuntu)",
)
