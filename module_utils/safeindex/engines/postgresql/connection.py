"""PostgreSQL sessions: opening one (psycopg2), reading rows, and the engine's errors for the driver's."""

try:
    import psycopg2
except ImportError:  # reported by the module as a missing requirement
    psycopg2 = None

from ansible.module_utils.safeindex.core.errors import DatabaseUnavailable, LockTimeout, ServerRefused, StatementTimeout
from ansible.module_utils.safeindex.engines.interface.connection import Connection
from ansible.module_utils.safeindex.engines.postgresql.tls import driver_options as tls_driver_options

LOCK_NOT_AVAILABLE = "55P03"
QUERY_CANCELED = "57014"  # statement_timeout (or a cancel request)


def driver_options(params, application_name: str) -> dict:
    """The keyword arguments of psycopg2.connect(): where to connect, as whom, and the URL's extra settings."""
    return dict(
        host=params.host,
        port=params.port,
        dbname=params.database,
        user=params.user,
        password=params.password,
        connect_timeout=params.connect_timeout,
        application_name=application_name,
        **tls_driver_options(params),  # the URL query's settings and TLS (engines/postgresql/tls.py)
    )


def connect_driver(params, application_name: str) -> "psycopg2.extensions.connection":
    """The one place a PostgreSQL session is opened: a psycopg2 connection in autocommit, or DatabaseUnavailable."""
    if psycopg2 is None:
        raise DatabaseUnavailable("the psycopg2 Python package is required for PostgreSQL (pip install psycopg2-binary)")
    try:
        conn = psycopg2.connect(**driver_options(params, application_name))
    except psycopg2.Error as exc:
        message = first_line(exc)
        if "timeout expired" in message:
            message = "no answer within connect_timeout %ss (%s)" % (params.connect_timeout, message)
        raise DatabaseUnavailable("cannot connect to %s: %s" % (params.describe(), message)) from None
    # CREATE INDEX CONCURRENTLY cannot run inside a transaction block.
    conn.autocommit = True
    return conn


def first_line(exc) -> str:
    """The server's own message, without the driver's decoration."""
    diag = getattr(exc, "diag", None)
    text = (diag and diag.message_primary) or str(exc) or exc.__class__.__name__
    return " ".join(text.strip().split("\n")[:2]).strip()


class PostgresConnection(Connection):
    def __init__(self, params, application_name="safeindex"):
        super().__init__(params, application_name)
        self.conn = connect_driver(params, self.application_name)
        self._schema = None

    def close(self) -> None:
        if not self.conn.closed:
            self.conn.close()

    def _rows(self, query, params=None):
        try:
            with self.conn.cursor() as cur:
                cur.execute(query, params)
                return cur.fetchall()
        except psycopg2.Error as exc:
            raise self._error(exc) from None

    def server_version(self) -> str:
        return self._rows("SHOW server_version")[0][0]

    def default_schema(self) -> str:
        if self._schema is None:
            self._schema = self._rows("SELECT current_schema()")[0][0] or "public"
        return self._schema

    def _error(self, exc):
        """The engine's error for a driver error: a lock timeout, a lost server, or the server's refusal."""
        if exc.pgcode == LOCK_NOT_AVAILABLE:
            return LockTimeout(first_line(exc))
        if self.conn.closed:
            return DatabaseUnavailable("lost the connection to %s: %s" % (self.params.describe(), first_line(exc)))
        if exc.pgcode == QUERY_CANCELED:
            return StatementTimeout(first_line(exc), sqlstate=exc.pgcode)
        return ServerRefused(first_line(exc), sqlstate=exc.pgcode)

    def ping(self) -> None:
        self._rows("SELECT 1")
