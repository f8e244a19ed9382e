"""What an engine can do and where its limits are, as data: the questions code outside engines/ asks instead of
comparing engine names. Each engine package has its own instance (engines/<engine>/features.py); an engine whose
servers differ by flavour or version (MySQL and MariaDB) gives a specific copy per server with for_server()."""

import re
from dataclasses import dataclass, replace


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
    connection_scope: str              # what the preflight's connection count covers (%(database)s: the database)
    prefer_indexes_setting: str        # the session setting that discourages full scans (verify)
    # What differs between the servers of one engine (for_server() gives the server's own values):
    flavour: str = None                # mariadb or mysql for the MySQL engine; None before the server is known
    statement_timeout_setting: str = None  # the session variable that limits a statement's run time
    statement_timeout_unit: str = "seconds"  # what its value counts: seconds or milliseconds
    ddl_timeout: bool = True           # whether a DDL statement's run time can be limited
    descending_indexes: bool = True    # DESC key parts are stored (not parsed and ignored)
    replica_hosts_statements: tuple = ()  # the statements that list attached replicas, the first that works counts
    processlist_progress: bool = False  # the session list shows a running ALTER's stage and percent (MariaDB's PROCESSLIST)
    usage_counters_by_default: bool = True  # the per-index read counters are on unless the server was configured otherwise
    usage_counters_setting: str = None  # the server setting that turns them on, where they can be off
    default_collation: str = None      # what a utf8mb4 column without COLLATE gets on this server
    unknown_collation_markers: tuple = ()  # parts of collation names this server lacks (another flavour's families)
    known_foreign_collations: tuple = ()  # names of another flavour's collations this server takes all the same (aliases)
    # The spec language (issue 19): what a name may be, and which key and uniqueness forms the server builds.
    identifier_length_unit: str = "characters"  # what max_identifier_length counts: characters, or bytes of UTF-8
    identifier_trailing_space: bool = True  # a name may end with a space (MySQL: no)
    expression_keys: bool = True       # a key part may be an expression (MySQL: functional key parts, 8.0.13+)
    nulls_not_distinct: bool = False   # UNIQUE ... NULLS NOT DISTINCT: NULL keys count as equal (PostgreSQL 15+)
    # Known server bugs and traps (run/server_checks.py asks these in preflight, verify asks index_check_*):
    concurrent_build_bug: str = None   # why this server's concurrent builds are unsafe and the fix; None when they are safe
    prepared_transactions: bool = False  # two-phase transactions (PREPARE TRANSACTION) a concurrent build waits for
    online_alter_log_setting: str = None  # the setting that bounds the log of writes an online build keeps (InnoDB)
    sort_directory_setting: str = None  # where an online build writes its sort files, outside the data directory
    index_check_function: str = None   # proves a B-tree index matches its table (amcheck's bt_index_check); None: no such
    index_check_extension: str = None  # the extension that provides index_check_function
    index_check_install: str = None    # how a superuser makes index_check_function available
    # Partitioned tables (build/partitioned.py, engines/<engine>/partitions.py):
    partitioned_online_storage_engines: tuple = None  # storage engines whose partitioned tables take an online index
    # build in one statement (MySQL: InnoDB); None where the engine builds a partitioned table's index part by part
    # Replicas and their lag (engines/<engine>/replication.py, run/replica_lag.py; issue 20):
    lag_seen_from_primary: bool = False  # the primary knows each replica's lag (PostgreSQL: pg_stat_replication)
    replica_lags_by_build_time: bool = False  # a replica applies an index build only after the primary finished it, so
    # it lags by about the build's duration (MySQL/MariaDB statement replication of ALTER TABLE)
    replica_status_statement: str = None  # what a replica answers about its own replication (SHOW REPLICA STATUS)
    replica_status_columns: tuple = ()  # (key, the server's column name) pairs of that answer; keys: io_running,
    # sql_running, seconds_behind, last_io_error, last_sql_error, source_host, source_port
    replication_sender_commands: tuple = ()  # the primary's session commands that feed a replica (binlog dump threads)
    # Seconds behind counts from the end of the event a replica applies (the primary's start of an ALTER plus its
    # execution time), so while it replays a long build it reads about 0: the sure sign is whether the replica has
    # applied what the primary had written. The primary's position, and on a replica whether it applied one, waiting
    # up to N seconds (None where the engine's lag needs no such check: PostgreSQL's bytes behind).
    primary_position_query: str = None
    replica_applied_query: str = None  # parameters: (position, seconds to wait); answers true once applied
    # A cut network (issue 21): the server polls a running statement's client socket and cancels the statement once
    # the client is gone (PostgreSQL 14+: client_connection_check_interval); False: a headless build runs on.
    client_connection_check: bool = False
    # Time estimates (run/estimates.py, issue 22): the conservative rates a plan assumes on a host with no measured run
    # ("uncalibrated"): bytes of table an online build reads per second, bytes of database a verified backup takes.
    default_build_bytes_per_second: int = 20 * 1024 * 1024
    default_backup_bytes_per_second: int = 10 * 1024 * 1024

    @property
    def default_backup_format(self) -> str:
        return self.backup_formats[0]

    def scope_of_connections(self, database: str) -> str:
        """connection_scope for one database: 'on database app' or 'on the server'."""
        return self.connection_scope % {"database": database}

    def timeout_value(self, seconds: float) -> float:
        """A run time limit as statement_timeout_setting counts it."""
        return int(seconds * 1000) if self.statement_timeout_unit == "milliseconds" else seconds

    def for_server(self, server_version: str) -> "Features":
        """The features of one server (a flavour or major version may differ); the engine's own by default."""
        return self

    def unknown_collations(self, names) -> tuple:
        """Of these collation names (a dump's, a source server's), the ones this server cannot create a table with, by
        what is known of its flavour and version; sorted, each once. Conservative: a name of another flavour's family
        counts as unknown unless it is a known alias."""
        known = {name.lower() for name in self.known_foreign_collations}
        return tuple(sorted({
            name for name in names if name and name.lower() not in known
            and any(marker in name.lower() for marker in self.unknown_collation_markers)
        }))

    def collations_unknown_to(self, other: "Features", names=None) -> tuple:
        """What `other` (say, the scratch server a dump of this one is restored into) lacks of `names`, by default of
        this server's default collation: what every table created without COLLATE carries."""
        return other.unknown_collations(names if names is not None else (self.default_collation,))

    def usage_counters_off_note(self) -> str:
        """Why index reads were not counted, and how to count them: a note for the verify report."""
        if self.usage_counters_by_default:
            return "not counted: %s is off on this server (it is on by default: the server's configuration turned it off)" \
                % (self.usage_counters_setting or "the per-index counter")
        return "not counted: %s is off on this server, as it ships; turn it on (%s=ON in the server's configuration," \
               " then a restart) to count index reads" % (self.usage_counters_setting, self.usage_counters_setting)

    def identifier_problem(self, name: str) -> "str | None":
        """Why the server would refuse (or silently cut) this schema, table, column or index name; None when it fits.
        Quoting makes every other character legal: spaces, quotes, reserved words, any case."""
        if "\x00" in name:
            return "contains a NUL character"
        if not self.identifier_trailing_space and name != name.rstrip(" "):
            return "ends with a space, which %s does not allow in a name" % self.label
        size = len(name.encode("utf-8")) if self.identifier_length_unit == "bytes" else len(name)
        if size > self.max_identifier_length:
            return "is %d %s long; %s allows at most %d" % (
                size, self.identifier_length_unit, self.label, self.max_identifier_length)
        return None

    def flavoured(self, **changes) -> "Features":
        return replace(self, **changes)


def version_tuple(text: str) -> tuple:
    """(major, minor, patch) of a version string such as '10.11.6-MariaDB-0+deb12u1', '8.0.36' or '15.4 (Debian)'."""
    numbers = re.match(r"\s*(\d+)(?:\.(\d+))?(?:\.(\d+))?", text or "")
    if not numbers:
        return (0, 0, 0)
    return tuple(int(part or 0) for part in numbers.groups())
