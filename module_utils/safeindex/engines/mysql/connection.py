"""MySQL and MariaDB sessions: opening one (PyMySQL), reading rows, and the engine's errors for the driver's."""

import socket
import time

try:
    import pymysql
    import pymysql.cursors
except ImportError:  # reported by the module as a missing requirement
    pymysql = None

from ansible.module_utils.safeindex.core.errors import DatabaseUnavailable, LockTimeout, ServerRefused, StatementTimeout
from ansible.module_utils.safeindex.engines.interface.connection import Connection
from ansible.module_utils.safeindex.engines.mysql.tls import driver_options as tls_driver_options
from ansible.module_utils.safeindex.engines.mysql.tls import preferred_context

LOCK_WAIT_TIMEOUT = 1205
STATEMENT_TIMEOUT = (1969, 3024)  # MariaDB max_statement_time, MySQL max_execution_time
QUERY_INTERRUPTED = 1317
# Gone away, lost during a query, lost at reading; and the server's last words: shutting down (1053), KILLed (1927).
CONNECTION_LOST = (2006, 2013, 2055, 1053, 1927)


def driver_options(params, application_name: str) -> dict:
    """The keyword arguments of pymysql.connect(): where to connect, as whom, and the URL's extra settings."""
    return dict(
        host=params.host,
        port=params.port,
        user=params.user,
        password=params.password or "",
        database=params.database,
        connect_timeout=params.connect_timeout,
        # PyMySQL's connect_timeout covers the TCP connect only: a server that accepts and never greets
        # (hung, or a proxy without a backend) would hold the handshake forever. Reset in connect_driver.
        read_timeout=params.connect_timeout,
        write_timeout=params.connect_timeout,
        autocommit=True,
        charset="utf8mb4",
        program_name=application_name,
        **tls_driver_options(params),  # the URL query's settings and TLS (engines/mysql/tls.py)
    )


def connect_driver(params, application_name: str) -> "pymysql.connections.Connection":
    """The one place a MySQL or MariaDB session is opened: a PyMySQL connection in autocommit, or DatabaseUnavailable."""
    if pymysql is None:
        raise DatabaseUnavailable("the PyMySQL Python package is required for MySQL and MariaDB (pip install PyMySQL)")
    options = driver_options(params, application_name)
    try:
        conn = _connection_class(options)(**options)
    except (pymysql.Error, TypeError) as exc:
        message = message_of(exc)
        if "timed out" in message:
            message = "no answer within connect_timeout %ss (%s)" % (params.connect_timeout, message)
        raise DatabaseUnavailable("cannot connect to %s: %s" % (params.describe(), message)) from None
    # Statements (an index build, a dump's reads) may take hours: no read or write timeout once logged in.
    # PyMySQL has no public setter; it applies these before its next read or write.
    conn._read_timeout = conn._write_timeout = None
    set_keepalives(conn._sock, params)
    return conn


if pymysql is not None:

    class PreferredTLSConnection(pymysql.connections.Connection):
        """PyMySQL's Connection, taking preferred_context() as its context of TLS-when-offered (asked for with {})."""

        def _create_ssl_ctx(self, sslp):
            return preferred_context() if sslp == {} else super()._create_ssl_ctx(sslp)


def _connection_class(options: dict):
    """With no TLS option (TLS when offered), the Connection that keeps one context for it; else PyMySQL's own."""
    if "ssl" in options or options.get("ssl_disabled"):
        return pymysql.connections.Connection
    return PreferredTLSConnection


def set_keepalives(sock, params) -> None:
    """TCP keepalives and user timeout on the session's socket (PyMySQL has no option for them): with no read timeout,
    they are what ends a session whose server went silent (a cut network) after params.dead_after_seconds.

    A unix socket has no such options; a kernel without one of them (not Linux) keeps its own default for it."""
    if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for name, value in (("TCP_KEEPIDLE", params.keepalive_idle), ("TCP_KEEPINTVL", params.keepalive_interval),
                        ("TCP_KEEPCNT", params.keepalive_count), ("TCP_USER_TIMEOUT", params.dead_after_seconds * 1000)):
        option = getattr(socket, name, None)
        if option is not None:
            sock.setsockopt(socket.IPPROTO_TCP, option, value)


def message_of(exc) -> str:
    """The server's own message, without the error code."""
    if len(getattr(exc, "args", ())) >= 2:
        return str(exc.args[1])
    return str(exc) or exc.__class__.__name__


def quote(identifier: str) -> str:
    """A MySQL identifier: backticks, with any backtick inside doubled."""
    return "`%s`" % identifier.replace("`", "``")


class MysqlConnection(Connection):
    def __init__(self, params, application_name="safeindex"):
        super().__init__(params, application_name)
        self.conn = connect_driver(params, self.application_name)
        # Reading the catalog must not wait a day behind someone else's DDL (the server default).
        self._rows("SET SESSION lock_wait_timeout = 5")
        self._version = None
        self._connected_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())

    def close(self) -> None:
        if self.conn.open:
            self.conn.close()

    def _rows(self, query, params=None, as_dict=False):
        cursor_class = pymysql.cursors.DictCursor if as_dict else pymysql.cursors.Cursor
        try:
            with self.conn.cursor(cursor_class) as cur:
                cur.execute(query, params)
                return cur.fetchall()
        except pymysql.Error as exc:
            raise self._error(exc) from None

    def server_version(self) -> str:
        if self._version is None:
            self._version = self._rows("SELECT VERSION()")[0][0]
        return self._version

    def default_schema(self) -> str:
        return self._rows("SELECT DATABASE()")[0][0]

    def _error(self, exc, statement=None):
        code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
        if code == LOCK_WAIT_TIMEOUT:
            return LockTimeout(message_of(exc))
        # MariaDB stops an online ALTER over its max_statement_time with 1969, or, caught in some stages, plain 1317.
        if code in STATEMENT_TIMEOUT or (code == QUERY_INTERRUPTED and statement is not None and statement.timeout):
            return StatementTimeout("the statement ran over its statement_timeout and was stopped: %s" % message_of(exc), code=code)
        if code in CONNECTION_LOST or not self.conn.open:
            return DatabaseUnavailable("lost the connection to %s: %s" % (self.params.describe(), message_of(exc)))
        return ServerRefused(message_of(exc), code=code)

    def ping(self) -> None:
        self._rows("SELECT 1")
