"""What the engine needs from a database engine: one interface, one implementation per engine.

The engine (indexer.py) decides what to do; a dialect knows how its server says it:
catalog reading, statement building with the driver's own quoting, lock errors, and
the sessions that stand in the way.
"""

import re
import time
from dataclasses import dataclass, replace

from ansible.module_utils.safeindex.core.errors import ConnectionConfigError

OWNERSHIP_MARKER = "safeindex run_id=%s"
OWNERSHIP_PATTERN = re.compile(r"safeindex run_id=([A-Za-z0-9_.:-]+)")


def ownership_marker(run_id):
    """The index comment that ties an index to the run that built it (rollback reads it)."""
    return OWNERSHIP_MARKER % run_id


def owner_run_id(comment):
    match = OWNERSHIP_PATTERN.search(comment or "")
    return match.group(1) if match else None


@dataclass
class CatalogIndex:
    """An index as the server's catalog describes it."""

    name: str
    definition: object  # IndexDefinition
    valid: bool = True
    comment: str = None
    size_bytes: int = 0
    constraint: str = None  # the constraint it backs (primary key / unique), if any

    @property
    def owner_run_id(self):
        return owner_run_id(self.comment)


@dataclass
class Statement:
    """One statement to run: driver-level SQL and its parameters, with why it is run."""

    sql: object
    params: tuple = None
    purpose: str = "ddl"  # session | drop | create | comment | analyze
    timeout: float = 0.0  # seconds this statement alone may run; 0 for no limit


class Dialect:
    """The interface; see PostgresDialect for the reference implementation."""

    engine = None

    def __init__(self, params, application_name="safeindex"):
        self.params = params
        self.application_name = application_name[:63]

    # connection
    def close(self):
        raise NotImplementedError

    def server_version(self):
        raise NotImplementedError

    def default_schema(self):
        raise NotImplementedError

    # catalog
    def table_columns(self, schema, table):
        """Column names of a table, or None when the table does not exist."""
        raise NotImplementedError

    def find_index(self, spec, schema):
        """The catalog entry holding the spec's index name, or None."""
        raise NotImplementedError

    def table_indexes(self, schema, table):
        raise NotImplementedError

    def canonical_definition(self, spec, schema):
        """The spec's definition in the same form the catalog gives; raises SpecError if the server rejects it."""
        raise NotImplementedError

    def build_in_progress(self, index, schema):
        """The session id building this index right now, or None."""
        raise NotImplementedError

    # statements
    def session_statements(self, options):
        raise NotImplementedError

    def create_statement(self, name, definition, run_id, online=True, timeout=0.0):
        """The build; engines whose index carries its comment (MySQL) mark it with the run id here."""
        raise NotImplementedError

    def drop_statement(self, name, definition, online=True):
        raise NotImplementedError

    def post_build_statements(self, name, definition, run_id):
        raise NotImplementedError

    def render(self, statement):
        """The exact SQL the server receives for this statement, as a list of statements in order."""
        raise NotImplementedError

    def render_definition(self, name, definition):
        """A definition as a CREATE INDEX statement, for messages and diffs."""
        raise NotImplementedError

    def execute(self, statement):
        """Run one statement; raises LockTimeout on a lock wait that ran out, ServerRefused otherwise."""
        raise NotImplementedError

    # sessions
    def sessions_in_the_way(self, schema, table, min_age_seconds, for_drop=False):
        """Sessions whose open transactions would make our DDL wait on this table (oldest first)."""
        raise NotImplementedError

    # one run per database at a time
    def try_run_lock(self):
        raise NotImplementedError

    def release_run_lock(self):
        raise NotImplementedError

    def run_lock_holder(self):
        raise NotImplementedError

    def ping(self):
        raise NotImplementedError

    # preflight

    def index_privilege_problems(self, schema, tables):
        """Why this user may not index some of the tables: {table: reason}; empty when it may index them all."""
        raise NotImplementedError

    def connection_count(self):
        """(client sessions other than ours, of which active) on this database (PostgreSQL) or server (MySQL)."""
        raise NotImplementedError

    def long_transactions(self, min_age_seconds):
        """Sessions whose transaction (or statement) has run longer than this, oldest first."""
        raise NotImplementedError

    def replicas(self):
        """[{name, state, lag_seconds}] of the replicas this server feeds; lag None where it cannot be read."""
        raise NotImplementedError

    def invalid_indexes(self):
        """Names of the indexes a failed build left INVALID (none on MySQL)."""
        return []

    def estimated_index_bytes(self, schema, definition):
        """About how many bytes an index of this definition will take, from the table's size and key widths."""
        raise NotImplementedError

    def data_directory(self):
        """The server's data directory, or None when this user may not see it."""
        raise NotImplementedError

    # backups

    def connect_to(self, database):
        """Another connection of the same kind, to another database of the same server."""
        return self.__class__(replace(self.params, database=database), self.application_name)

    def database_size(self):
        """Bytes the database takes on the server."""
        raise NotImplementedError

    def user_tables(self):
        """[(schema, table)] of every table whose rows a dump carries."""
        raise NotImplementedError

    def row_counts(self, tables):
        """{"schema.table": exact row count}."""
        raise NotImplementedError

    def create_scratch_database(self, name):
        raise NotImplementedError

    def drop_scratch_database(self, name):
        raise NotImplementedError

    def idle(self, seconds):
        """Wait while holding the run lock (MySQL waits inside the server, where others can see who holds it)."""
        time.sleep(seconds)

    # monitoring

    def lock_waits(self):
        """Sessions of this database waiting for a lock right now: [{pid, waiting_seconds, query, blocked_by, lock}]."""
        raise NotImplementedError

    # verification (read only: every probe runs in a READ ONLY transaction that is rolled back)

    def explain_json(self, query, timeout, prefer_indexes=False):
        """EXPLAIN's JSON plan of a query, parsed; prefer_indexes discourages full scans (to prove an index usable)."""
        raise NotImplementedError

    def explain_text(self, query, timeout, prefer_indexes=False):
        """The plan as the engine prints it for people, one string."""
        raise NotImplementedError

    def time_probe(self, query, timeout):
        """Seconds one run of the query takes, measured here: execute and fetch every row."""
        raise NotImplementedError

    def index_usage(self, schema, indexes):
        """{index name: times used since the statistics were reset} for [(table, name)], or None where the server
        does not count (MySQL without performance_schema)."""
        raise NotImplementedError

    def table_row_estimate(self, schema, table):
        """The catalog's estimate of a table's rows (no count), or None when it has none."""
        raise NotImplementedError

    # progress (read from a second connection while the first runs a long statement)

    def backend_id(self):
        """This connection's id on the server (PostgreSQL pid, MySQL connection id)."""
        raise NotImplementedError

    def build_progress(self, backend_id):
        """How far the DDL running on that connection has come: {phase, percent, unit, waiting}, None where unknown."""
        raise NotImplementedError

    # rollback

    def marked_indexes(self):
        """Every index of this database whose comment carries an ownership marker (of any run), as CatalogIndex."""
        raise NotImplementedError

    def database_exists(self, name):
        """Whether a database (MySQL: schema) of this name exists on the server."""
        raise NotImplementedError


def open_dialect(params, application_name="safeindex"):
    """A connected dialect for the engine in the connection parameters."""
    if params.engine == "postgresql":
        from ansible.module_utils.safeindex.engines.postgresql.dialect import PostgresDialect

        return PostgresDialect(params, application_name)
    if params.engine == "mysql":
        try:
            from ansible.module_utils.safeindex.engines.mysql.dialect import MysqlDialect
        except ImportError:
            raise ConnectionConfigError("the mysql engine is not available in this version") from None
        return MysqlDialect(params, application_name)
    raise ConnectionConfigError("unknown engine %r" % params.engine)


def describe_session(session):
    """One line for an operator: who is in the way and what they are doing."""
    return "pid %s (%s, transaction open %.0fs%s): %s" % (
        session.get("pid"),
        session.get("state") or "?",
        session.get("age_seconds") or 0,
        ", holds " + session["locks"] if session.get("locks") else "",
        (session.get("query") or "").replace("\n", " ")[:200],
    )
