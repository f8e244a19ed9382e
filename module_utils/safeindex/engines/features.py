"""What an engine can do and where its limits are, as data: the questions code outside engines/ asks instead of
comparing engine names. Each engine package has its own subclass (engines/<engine>/features.py)."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Features:
    name: str                          # the engine's name in inventories and specs: postgresql, mysql
    label: str                         # how messages name it
    url_scheme: str                    # the scheme of a DATABASE_URL this tool writes
    url_schemes: tuple                 # the schemes of a DATABASE_URL it reads
    default_port: int
    max_identifier_length: int         # schema, table, column and index names
    index_methods: tuple               # access methods a spec may ask for
    has_schemas: bool                  # a spec may name a schema (MySQL: the database is the schema)
    partial_indexes: bool              # `where:`
    include_columns: bool              # `include:`
    nulls_order: bool                  # NULLS FIRST / LAST
    nulls_first_when_descending: bool  # the default NULLS order follows the direction
    prefix_lengths: bool               # a key column's prefix length
    case_insensitive_index_names: bool
    index_names_per_table: bool        # an index is named within its table, not its schema
    online_build_phrase: str           # how the engine says "build without blocking writes"
    minimum_version: str               # the oldest server this tool builds online on
    backup_formats: tuple              # dump formats, the default first
    connection_scope: str              # what the preflight's connection count covers
    prefer_indexes_setting: str        # the session setting that discourages full scans (verify)

    @property
    def default_backup_format(self) -> str:
        return self.backup_formats[0]

    def for_server(self, server_version: str) -> "Features":
        """The features of one server (a flavour or major version may differ); the engine's own by default."""
        return self
