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
    options = dict(
        host=params.host,
        port=params.port,
        dbname=params.database,
        user=params.user,
        password=params.password,
        connect_timeout=params.connect_timeout,
        application_name=application_name,
        **keepalive_options(params),
    )
    # The URL query's settings (a keepalives_idle of the app's own wins) and TLS (engines/postgresql/tls.py).
    options.update(tls_driver_options(params))
    return options


def keepalive_options(params) -> dict:
    """libpq's TCP keepalives and user timeout (conninfo keywords, also for pg_dump / pg_restore): a cut network ends
    the session after params.dead_after_seconds instead of a wait without end (core/connection.py KEEPALIVE_DEFAULTS)."""
    return dict(keepalives=1, keepalives_idle=params.keepalive_idle, keepalives_interval=params.keepalive_interval,
                keepalives_count=params.keepalive_count, tcp_user_timeout=params.dead_after_seconds * 1000)


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


def server_keepalive_statement(params, features) -> tuple:
    """SELECT set_config(...) of the session's server-side keepalives (one round trip; the driver passes the values).

    tcp_keepalives_* and tcp_user_timeout make the server's kernel declare a silent client dead; on 14+
    client_connection_check_interval makes a running statement look, every keepalive interval, whether its client is
    still there, and cancel itself when not (before 14 a build whose client is gone runs on to its end)."""
    settings = [("tcp_keepalives_idle", params.keepalive_idle), ("tcp_keepalives_interval", params.keepalive_interval),
                ("tcp_keepalives_count", params.keepalive_count), ("tcp_user_timeout", params.dead_after_seconds * 1000)]
    if features.client_connection_check:
        settings.append(("client_connection_check_interval", params.keepalive_interval * 1000))
    query = "SELECT " + ", ".join(["set_config(%s, %s, false)"] * len(settings))
    return query, tuple(str(part) for setting in settings for part in setting)


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
        # The server's side of the same keepalives: a session whose client is gone (a cut network) ends after about
        # params.dead_after_seconds, and with it its locks (the run lock) and, 14+, its running statement (a build).
        self._rows(*server_keepalive_statement(params, self.features))

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
