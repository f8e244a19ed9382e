"""MySQL's and MariaDB's capabilities and limits."""

from ansible.module_utils.safeindex.engines.features import Features

FEATURES = Features(
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
)
