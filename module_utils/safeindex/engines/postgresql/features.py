"""PostgreSQL's capabilities and limits."""

from ansible.module_utils.safeindex.engines.features import Features

FEATURES = Features(
    name="postgresql",
    label="PostgreSQL",
    url_scheme="postgresql",
    url_schemes=("postgresql", "postgres", "postgresql+psycopg2"),
    default_port=5432,
    max_identifier_length=63,  # NAMEDATALEN - 1
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
    prefer_indexes_setting="enable_seqscan = off",
    flavour="postgresql",
    statement_timeout_setting="statement_timeout",
    statement_timeout_unit="milliseconds",
    ddl_timeout=True,
    descending_indexes=True,
    replica_hosts_statements=(),  # pg_stat_replication is a view, not a statement that differs by version
)
