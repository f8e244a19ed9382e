"""MySQL and MariaDB: ALTER TABLE ... ALGORITHM=INPLACE, LOCK=NONE, read back with SHOW INDEX.

InnoDB's online DDL takes an exclusive metadata lock at its start and at its end; while it waits
for one, every new statement on the table queues behind it. So the wait is short
(lock_wait_timeout), retried, and a build is not started while an old transaction is open.
"""

import contextlib
import hashlib
import json
import math
import re
import time

try:
    import pymysql
    import pymysql.cursors
except ImportError:  # reported by the module as a missing requirement
    pymysql = None

from ansible.module_utils.safeindex.core.errors import (
    DatabaseUnavailable,
    LockTimeout,
    OptionError,
    ServerRefused,
    SpecError,
    StatementTimeout,
)
from ansible.module_utils.safeindex.engines.base import CatalogIndex, Dialect, Statement, ownership_marker
from ansible.module_utils.safeindex.engines.mysql.tls import driver_options as tls_driver_options
from ansible.module_utils.safeindex.spec.definition import IndexColumn, IndexDefinition

LOCK_WAIT_TIMEOUT = 1205
ACCESS_DENIED_TO_DATABASE = 1044
STATEMENT_TIMEOUT = (1969, 3024)  # MariaDB max_statement_time, MySQL max_execution_time
QUERY_INTERRUPTED = 1317
# Gone away, lost during a query, lost at reading; and the server's last words: shutting down (1053), KILLed (1927).
CONNECTION_LOST = (2006, 2013, 2055, 1053, 1927)
LONG_TYPES = ("tinytext", "text", "mediumtext", "longtext", "tinyblob", "blob", "mediumblob", "longblob")
APPLICATION_IN_QUERY = re.compile(r"/\* (safeindex[^*]*?)(?: since=(\S+))? \*/")

SESSIONS_IN_THE_WAY = """
SELECT p.ID, p.COMMAND, p.STATE,
       GREATEST(COALESCE(p.TIME, 0), COALESCE(TIMESTAMPDIFF(SECOND, t.trx_started, NOW()), 0)) AS age,
       LEFT(COALESCE(p.INFO, t.trx_query, ''), 200), t.trx_id IS NOT NULL
FROM information_schema.PROCESSLIST p
LEFT JOIN information_schema.INNODB_TRX t ON t.trx_mysql_thread_id = p.ID
WHERE p.ID <> CONNECTION_ID()
  AND p.COMMAND NOT IN ('Daemon', 'Binlog Dump', 'Binlog Dump GTID', 'Slave_IO', 'Slave_SQL')
  AND p.USER <> 'system user'
  AND COALESCE(p.STATE, '') NOT LIKE 'Waiting for table metadata lock%%'
  AND COALESCE(p.INFO, '') NOT LIKE '%%safeindex lock%%'
  AND (p.DB = %(schema)s OR p.DB IS NULL)
  AND ((t.trx_id IS NOT NULL AND t.trx_started <= NOW() - INTERVAL %(min_age)s SECOND)
       OR (p.COMMAND = 'Query' AND p.TIME >= %(min_age)s))
ORDER BY age DESC
LIMIT 20
"""


def quote(identifier):
    """A MySQL identifier: backticks, with any backtick inside doubled."""
    return "`%s`" % identifier.replace("`", "``")


class MysqlDialect(Dialect):
    engine = "mysql"

    def __init__(self, params, application_name="safeindex"):
        super().__init__(params, application_name)
        if pymysql is None:
            raise DatabaseUnavailable("the PyMySQL Python package is required for MySQL and MariaDB (pip install PyMySQL)")
        try:
            self.conn = pymysql.connect(
                host=params.host,
                port=params.port,
                user=params.user,
                password=params.password or "",
                database=params.database,
                connect_timeout=params.connect_timeout,
                # PyMySQL's connect_timeout covers the TCP connect only: a server that accepts and never greets
                # (hung, or a proxy without a backend) would hold the handshake forever. Reset below.
                read_timeout=params.connect_timeout,
                write_timeout=params.connect_timeout,
                autocommit=True,
                charset="utf8mb4",
                program_name=self.application_name,
                **tls_driver_options(params),  # the URL query's settings and TLS (engines/mysql/tls.py)
            )
        except (pymysql.Error, TypeError) as exc:
            message = _message(exc)
            if "timed out" in message:
                message = "no answer within connect_timeout %ss (%s)" % (params.connect_timeout, message)
            raise DatabaseUnavailable("cannot connect to %s: %s" % (params.describe(), message)) from None
        # Statements (an index build, a dump's reads) may take hours: no read or write timeout once logged in.
        # PyMySQL has no public setter; it applies these before its next read or write.
        self.conn._read_timeout = self.conn._write_timeout = None
        # Reading the catalog must not wait a day behind someone else's DDL (the server default).
        self._rows("SET SESSION lock_wait_timeout = 5")
        self._version = None
        self._connected_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())

    def close(self):
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

    def server_version(self):
        if self._version is None:
            self._version = self._rows("SELECT VERSION()")[0][0]
        return self._version

    def is_mariadb(self):
        return "mariadb" in self.server_version().lower()

    def default_schema(self):
        return self._rows("SELECT DATABASE()")[0][0]

    # catalog

    def _column_types(self, schema, table):
        return dict(self._rows(
            "SELECT COLUMN_NAME, DATA_TYPE FROM information_schema.COLUMNS"
            " WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION",
            (schema, table),
        ))

    def table_columns(self, schema, table):
        exists = self._rows(
            "SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s AND TABLE_TYPE = 'BASE TABLE'",
            (schema, table),
        )
        return list(self._column_types(schema, table)) if exists else None

    def find_index(self, spec, schema):
        if not spec.table:
            raise OptionError("%s: on MySQL an index belongs to a table: give its table" % spec.name)
        if self.table_columns(schema, spec.table) is None:
            return None
        # The server compares index names without case: IDX_A is the index idx_a.
        found = [i for i in self.table_indexes(schema, spec.table) if i.name.lower() == spec.name.lower()]
        return found[0] if found else None

    def table_indexes(self, schema, table):
        return self._read_indexes(schema, table, quote(schema) + "." + quote(table), with_sizes=True)

    def _read_indexes(self, schema, table, relation, with_sizes=False):
        """SHOW INDEX reads real and temporary tables alike, so the spec's shadow reads back the same way."""
        keys = {}
        for row in self._rows("SHOW INDEX FROM %s" % relation, as_dict=True):
            keys.setdefault(row["Key_name"], []).append(row)
        indexes = []
        for name, rows in keys.items():
            rows.sort(key=lambda r: r["Seq_in_index"])
            columns = tuple(
                IndexColumn(
                    name=r["Column_name"],
                    expression=None if r["Column_name"] else (r.get("Expression") or "functional key part"),
                    descending=r["Collation"] == "D",
                    length=r["Sub_part"],
                )
                for r in rows
            )
            definition = IndexDefinition(
                table=table, schema=schema, columns=columns, unique=not int(rows[0]["Non_unique"]),
                method=rows[0]["Index_type"].lower(),
            )
            indexes.append(CatalogIndex(
                name=name, definition=definition, valid=True, comment=rows[0].get("Index_comment") or None,
                size_bytes=self._index_size(schema, table, name) if with_sizes else None,
                constraint="PRIMARY KEY" if name == "PRIMARY" else None,
            ))
        return sorted(indexes, key=lambda i: i.name)

    def _index_size(self, schema, table, name):
        """From InnoDB's persistent statistics, where this user may read them."""
        try:
            rows = self._rows(
                "SELECT stat_value * @@innodb_page_size FROM mysql.innodb_index_stats"
                " WHERE database_name = %s AND table_name = %s AND index_name = %s AND stat_name = 'size'",
                (schema, table, name),
            )
        except ServerRefused:
            return None
        return int(rows[0][0]) if rows else None

    def canonical_definition(self, spec, schema):
        """Build the spec on an empty temporary copy of the table and read it back, as for PostgreSQL.

        The server then checks what only it knows (key length limits, prefix lengths against column
        types) and says how it will store the definition; dropped at once.
        """
        wanted = spec.definition(self.engine, schema)
        types = self._column_types(schema, spec.table)
        for column in wanted.columns:
            if types.get(column.name) in LONG_TYPES and not column.length:
                raise SpecError(
                    "%s: column %s is %s: give a prefix length, e.g. %s(100)" % (spec.name, column.name, types[column.name], column.name)
                )
        shadow_table, shadow_index = "safeindex_shadow", "safeindex_shadow_idx"
        try:
            self._rows("DROP TEMPORARY TABLE IF EXISTS %s" % quote(shadow_table))
            try:
                self._rows("CREATE TEMPORARY TABLE %s LIKE %s.%s" % (quote(shadow_table), quote(schema), quote(spec.table)))
            except ServerRefused as exc:
                if exc.details.get("code") != ACCESS_DENIED_TO_DATABASE:
                    raise
                # The server's own words ("Access denied ... to database") would read as a failed login.
                raise SpecError("%s: cannot check the definition on an empty temporary copy of %s: %s lacks CREATE TEMPORARY"
                                " TABLES on %s" % (spec.name, spec.table, self._grantee(), schema)) from None
            try:
                self._rows("ALTER TABLE %s ADD %s" % (quote(shadow_table), self._index_clause(shadow_index, wanted)))
            except ServerRefused as exc:
                raise SpecError("%s: the server rejects this index definition: %s" % (spec.name, exc)) from None
            found = [i for i in self._read_indexes(schema, spec.table, quote(shadow_table)) if i.name == shadow_index]
        finally:
            self._rows("DROP TEMPORARY TABLE IF EXISTS %s" % quote(shadow_table))
        canonical = found[0].definition
        if any(w.descending and not c.descending for w, c in zip(wanted.columns, canonical.columns, strict=True)):
            raise SpecError("%s: this server ignores DESC in indexes (it needs MySQL 8.0 or MariaDB 10.8)" % spec.name)
        return canonical

    def build_in_progress(self, index, schema):
        return None  # an online build is invisible in the catalog until it commits

    # statements

    def session_statements(self, options):
        if options.maintenance_work_mem or options.parallel_workers is not None:
            raise OptionError("maintenance_work_mem and max_parallel_maintenance_workers are PostgreSQL settings")
        # lock_wait_timeout counts whole seconds.
        return [Statement("SET SESSION lock_wait_timeout = %s", (max(1, math.ceil(options.lock_timeout)),), purpose="session")]

    def _index_clause(self, name, definition):
        parts = []
        for column in definition.columns:
            part = quote(column.name)
            if column.length:
                part += "(%d)" % column.length
            if column.descending:
                part += " DESC"
            parts.append(part)
        return "%sINDEX %s (%s)" % ("UNIQUE " if definition.unique else "", quote(name), ", ".join(parts))

    def _timed(self, text, timeout):
        if not timeout:
            return text
        if not self.is_mariadb():
            raise OptionError("MySQL cannot limit the run time of DDL (max_execution_time covers SELECT only): unset statement_timeout")
        return "SET STATEMENT max_statement_time = %s FOR %s" % (_seconds(timeout), text)

    def create_statement(self, name, definition, run_id, online=True, timeout=0.0):
        text = "ALTER TABLE %s ADD %s COMMENT %%s" % (quote(definition.table), self._index_clause(name, definition))
        if online:
            # Stated, never assumed: a server that cannot build online refuses, and says why.
            text += ", ALGORITHM=INPLACE, LOCK=NONE"
        return Statement(self._timed(text, timeout), (ownership_marker(run_id),), purpose="create", timeout=timeout)

    def drop_statement(self, name, definition, online=True):
        text = "ALTER TABLE %s DROP INDEX %s" % (quote(definition.table), quote(name))
        if online:
            text += ", ALGORITHM=INPLACE, LOCK=NONE"
        return Statement(text, purpose="drop")

    def post_build_statements(self, name, definition, run_id):
        # The comment went in with the build, and InnoDB computed the new index's statistics as part
        # of it. No ANALYZE TABLE: on MySQL before 8.0.24 it makes every later statement on the table
        # wait for a table flush behind the longest running query.
        return []

    def render(self, statement):
        with self.conn.cursor() as cur:
            return [cur.mogrify(statement.sql, statement.params)]

    def render_definition(self, name, definition):
        text = self._index_clause(name, definition)
        unique = text.startswith("UNIQUE ")
        return "CREATE %sINDEX %s ON %s.%s %s" % (
            "UNIQUE " if unique else "", quote(name), quote(definition.schema), quote(definition.table),
            text[text.index("("):],
        )

    def execute(self, statement):
        try:
            with self.conn.cursor() as cur:
                cur.execute(statement.sql, statement.params)
        except pymysql.Error as exc:
            raise self._error(exc, statement) from None
        except KeyboardInterrupt:
            # Ctrl-C (Ansible passes SIGINT on to the module) breaks off our read, not the statement: the server would go
            # on with it, headless (an ALTER waiting for its metadata lock queues every query on the table behind it).
            raise ServerRefused("interrupted (Ctrl-C): %s" % self._kill_query()) from None

    def _kill_query(self):
        """Stop our statement on the server, from a connection of its own (ours is mid-read); then drop ours."""
        thread_id = self.conn.thread_id()
        try:
            killer = MysqlDialect(self.params, self.application_name)
            try:
                killer._rows("KILL QUERY %s", (thread_id,))
            finally:
                killer.close()
            outcome = "the statement was stopped on the server (KILL QUERY %s)" % thread_id
        except Exception as exc:  # the interruption goes on all the same
            outcome = "could not stop the statement on the server (connection %s): %s" % (thread_id, exc)
        with contextlib.suppress(Exception):
            self.conn.close()
        return outcome

    def _error(self, exc, statement=None):
        code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
        if code == LOCK_WAIT_TIMEOUT:
            return LockTimeout(_message(exc))
        # MariaDB stops an online ALTER over its max_statement_time with 1969, or, caught in some stages, plain 1317.
        if code in STATEMENT_TIMEOUT or (code == QUERY_INTERRUPTED and statement is not None and statement.timeout):
            return StatementTimeout("the statement ran over its statement_timeout and was stopped: %s" % _message(exc), code=code)
        if code in CONNECTION_LOST or not self.conn.open:
            return DatabaseUnavailable("lost the connection to %s: %s" % (self.params.describe(), _message(exc)))
        return ServerRefused(_message(exc), code=code)

    # sessions

    def sessions_in_the_way(self, schema, table, min_age_seconds, for_drop=False):
        # MariaDB shows no metadata locks without an optional plugin, so every old transaction in this
        # database counts: any of them may have touched the table.
        return self.long_transactions(min_age_seconds)

    def long_transactions(self, min_age_seconds):
        rows = self._rows(SESSIONS_IN_THE_WAY, {"schema": self.params.database, "min_age": int(min_age_seconds)})
        return [
            {"pid": pid, "state": _session_state(command, state, in_trx), "age_seconds": float(age or 0),
             "query": query or "", "locks": None}
            for pid, command, state, age, query, in_trx in rows
        ]

    # preflight

    def _grantee(self):
        user, host = self._rows("SELECT CURRENT_USER()")[0][0].rsplit("@", 1)
        return "'%s'@'%s'" % (user, host)

    def index_privilege_problems(self, schema, tables):
        # ALTER TABLE ... ADD INDEX needs ALTER and INDEX on the table, granted at any level.
        grantee = self._grantee()
        granted = {r[0] for r in self._rows(
            "SELECT PRIVILEGE_TYPE FROM information_schema.USER_PRIVILEGES WHERE GRANTEE = %s"
            " UNION SELECT PRIVILEGE_TYPE FROM information_schema.SCHEMA_PRIVILEGES WHERE GRANTEE = %s AND TABLE_SCHEMA = %s",
            (grantee, grantee, schema),
        )}
        problems = {}
        for table in tables:
            on_table = granted | {r[0] for r in self._rows(
                "SELECT PRIVILEGE_TYPE FROM information_schema.TABLE_PRIVILEGES WHERE GRANTEE = %s AND TABLE_SCHEMA = %s"
                " AND TABLE_NAME = %s", (grantee, schema, table))}
            missing = [p for p in ("ALTER", "INDEX") if p not in on_table]
            if missing:
                problems[table] = "%s lacks %s on it" % (grantee, " and ".join(missing))
        return problems

    def connection_count(self):
        return tuple(int(v or 0) for v in self._rows(
            "SELECT COUNT(*), SUM(COMMAND <> 'Sleep') FROM information_schema.PROCESSLIST"
            " WHERE ID <> CONNECTION_ID() AND USER <> 'system user'"
            " AND COMMAND NOT IN ('Daemon', 'Binlog Dump', 'Binlog Dump GTID', 'Slave_IO', 'Slave_SQL')"
        )[0])

    def replicas(self):
        found = []
        for statement in ("SHOW REPLICA HOSTS", "SHOW SLAVE HOSTS"):
            try:
                found = [{"name": "%s:%s" % (row.get("Host") or row.get("Server_id"), row.get("Port")), "state": "attached",
                          "lag_seconds": None} for row in self._rows(statement, as_dict=True)]
                break
            except ServerRefused as exc:
                if exc.details.get("code") in (1227, 1142):  # no privilege: say so rather than guess
                    raise
        return found

    def estimated_index_bytes(self, schema, definition):
        # An InnoDB secondary entry holds the key and the primary key, about 14 bytes of record
        # overhead, on pages filled to about 70 %.
        rows = self._rows("SELECT COALESCE(TABLE_ROWS, 0) FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s",
                          (schema, definition.table))
        if not rows:
            return 0
        types = {name: (kind, length) for name, kind, length in self._rows(
            "SELECT COLUMN_NAME, DATA_TYPE, CHARACTER_MAXIMUM_LENGTH FROM information_schema.COLUMNS"
            " WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s", (schema, definition.table))}
        primary = [r[0] for r in self._rows(
            "SELECT COLUMN_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s"
            " AND INDEX_NAME = 'PRIMARY'", (schema, definition.table))]
        width = sum(_column_width(*types.get(c.name, ("varchar", 64)), prefix=c.length) for c in definition.columns)
        width += sum(_column_width(*types.get(c, ("bigint", None))) for c in primary)
        return int(int(rows[0][0]) * (width + 14) / 0.7) + 16384

    def data_directory(self):
        return self._rows("SELECT @@datadir")[0][0]

    # run lock

    def _run_lock_name(self):
        # User locks are server-wide: one per database. Names are limited to 64 characters.
        name = "safeindex:%s" % self.params.database
        return name if len(name) <= 64 else "safeindex:%s" % hashlib.sha256(self.params.database.encode()).hexdigest()[:40]

    def try_run_lock(self):
        return self._rows("SELECT GET_LOCK(%s, 0)", (self._run_lock_name(),))[0][0] == 1

    def release_run_lock(self):
        return self._rows("SELECT RELEASE_LOCK(%s)", (self._run_lock_name(),))[0][0] == 1

    def run_lock_holder(self):
        session = self._rows("SELECT IS_USED_LOCK(%s)", (self._run_lock_name(),))[0][0]
        if session is None:
            return None
        rows = self._rows("SELECT USER, HOST, TIME, INFO FROM information_schema.PROCESSLIST WHERE ID = %s", (session,))
        if not rows:
            return {"session": session, "application": None, "client": None, "user": None, "since": None}
        user, host, _, info = rows[0]
        named = APPLICATION_IN_QUERY.search(info or "")
        return {"session": session, "application": named.group(1) if named else None,
                "client": host, "user": user, "since": named.group(2) if named else None}

    def ping(self):
        self._rows("SELECT 1")

    # backups

    def database_size(self):
        size = self._rows(
            "SELECT COALESCE(SUM(DATA_LENGTH + INDEX_LENGTH), 0) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()"
        )[0][0]
        return int(size)

    def user_tables(self):
        return [tuple(r) for r in self._rows(
            "SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES"
            " WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME"
        )]

    def row_counts(self, tables):
        """Exact counts, all read in one consistent snapshot."""
        self._rows("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
        counts = {}
        try:
            for schema, table in tables:
                try:
                    counts["%s.%s" % (schema, table)] = self._rows("SELECT COUNT(*) FROM %s.%s" % (quote(schema), quote(table)))[0][0]
                except ServerRefused as exc:
                    raise ServerRefused("cannot count the rows of %s.%s: %s" % (schema, table, exc), **exc.details) from None
        finally:
            self._rows("ROLLBACK")
        return counts

    def create_scratch_database(self, name):
        self._rows("CREATE DATABASE %s" % quote(name))

    def drop_scratch_database(self, name):
        self._rows("DROP DATABASE IF EXISTS %s" % quote(name))

    def idle(self, seconds):
        # The holder's query names it in PROCESSLIST, so a refused run can say which run holds the lock.
        label = re.sub(r"[^A-Za-z0-9 _.=:-]", "", self.application_name)
        self._rows("SELECT /* %s since=%s */ SLEEP(%%s)" % (label, self._connected_at), (seconds,))

    # monitoring

    def lock_waits(self):
        # Row locks show in INNODB_TRX (LOCK WAIT); metadata and table locks only in PROCESSLIST's state.
        rows = self._rows(
            "SELECT p.ID, GREATEST(COALESCE(p.TIME, 0), COALESCE(TIMESTAMPDIFF(SECOND, t.trx_wait_started, NOW()), 0)),"
            " LEFT(COALESCE(p.INFO, t.trx_query, ''), 200), IF(t.trx_state = 'LOCK WAIT', 'row lock', p.STATE)"
            " FROM information_schema.PROCESSLIST p"
            " LEFT JOIN information_schema.INNODB_TRX t ON t.trx_mysql_thread_id = p.ID"
            " WHERE p.ID <> CONNECTION_ID() AND (p.DB = %s OR p.DB IS NULL)"
            " AND (t.trx_state = 'LOCK WAIT' OR p.STATE LIKE 'Waiting for%%lock')"
            " ORDER BY 2 DESC",
            (self.params.database,),
        )
        return [{"pid": pid, "waiting_seconds": float(age or 0), "query": query or "", "blocked_by": [], "lock": lock}
                for pid, age, query, lock in rows]

    # verification

    @contextlib.contextmanager
    def _read_only(self, timeout, prefer_indexes=False):
        """A READ ONLY transaction with a statement timeout, always rolled back: a probe can change nothing.

        The session settings go back to the server's defaults afterwards.
        """
        timeout_setting = "max_statement_time" if self.is_mariadb() else "max_execution_time"
        limit = timeout if self.is_mariadb() else int(timeout * 1000)  # MariaDB counts seconds, MySQL milliseconds
        settings = [timeout_setting] + (["max_seeks_for_key"] if prefer_indexes else [])
        self._rows("SET SESSION %s = %%s" % timeout_setting, (limit,))
        try:
            if prefer_indexes:
                # The optimizer then assumes a key lookup costs at most one seek, so it prefers one to a scan.
                self._rows("SET SESSION max_seeks_for_key = 1")
            self._rows("START TRANSACTION READ ONLY")
            try:
                yield
            finally:
                if self.conn.open:
                    self._rows("ROLLBACK")
        finally:
            if self.conn.open:
                for name in settings:
                    self._rows("SET SESSION %s = DEFAULT" % name)

    # A probe's SQL is SQL by nature; the spec parser allows one SELECT (or WITH) query only, and the
    # transaction is READ ONLY. It runs without parameters, so a '%' in it stays as written.

    def explain_json(self, query, timeout, prefer_indexes=False):
        with self._read_only(timeout, prefer_indexes):
            return json.loads(self._rows("EXPLAIN FORMAT=JSON " + query)[0][0])

    def explain_text(self, query, timeout, prefer_indexes=False):
        with self._read_only(timeout, prefer_indexes):
            rows = self._rows("EXPLAIN " + query, as_dict=True)
        lines = []
        for row in rows:
            lines.append("table %s: %s, key %s (possible: %s), rows %s%s" % (
                row.get("table"), row.get("type"), row.get("key") or "none", row.get("possible_keys") or "none",
                row.get("rows"), "; " + row["Extra"] if row.get("Extra") else ""))
        return "\n".join(lines)

    def time_probe(self, query, timeout):
        with self._read_only(timeout):
            try:
                with self.conn.cursor() as cur:
                    started = time.perf_counter()
                    cur.execute(query)
                    cur.fetchall()
                    return time.perf_counter() - started
            except pymysql.Error as exc:
                raise self._error(exc) from None

    def index_usage(self, schema, indexes):
        if not int(self._rows("SELECT @@performance_schema")[0][0]):
            return None
        # Rows fetched through each index (performance_schema counts row reads, not scans).
        counts = {}
        for table, name in indexes:
            rows = self._rows(
                "SELECT COUNT_FETCH FROM performance_schema.table_io_waits_summary_by_index_usage"
                " WHERE OBJECT_SCHEMA = %s AND OBJECT_NAME = %s AND INDEX_NAME = %s",
                (schema, table, name),
            )
            counts[name] = int(rows[0][0]) if rows else None
        return counts

    def table_row_estimate(self, schema, table):
        rows = self._rows("SELECT TABLE_ROWS FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s",
                          (schema, table))
        return int(rows[0][0]) if rows and rows[0][0] is not None else None

    # progress

    def backend_id(self):
        return self._rows("SELECT CONNECTION_ID()")[0][0]

    def build_progress(self, backend_id):
        # MariaDB reports STAGE, MAX_STAGE and PROGRESS where the engine measures it (InnoDB's online ALTER
        # does not: 0 of 0); MySQL has no such columns. Then the state and the elapsed time are what there is.
        try:
            rows = self._rows("SELECT STATE, STAGE, MAX_STAGE, PROGRESS FROM information_schema.PROCESSLIST WHERE ID = %s",
                              (backend_id,))
        except ServerRefused:
            rows = [row + (None, None, None) for row in
                    self._rows("SELECT STATE FROM information_schema.PROCESSLIST WHERE ID = %s", (backend_id,))]
        if not rows:
            return {"phase": None}
        state, stage, max_stage, progress = rows[0]
        found = {"phase": state or None, "stage": stage, "max_stage": max_stage}
        if max_stage:
            found["phase"] = "%s (stage %d of %d)" % (state or "running", stage, max_stage)
            found.update(percent=int(progress or 0), unit="stage")
        return found

    # rollback

    def marked_indexes(self):
        schema = self.default_schema()
        tables = self._rows(
            "SELECT DISTINCT TABLE_NAME FROM information_schema.STATISTICS"
            " WHERE TABLE_SCHEMA = %s AND INDEX_COMMENT LIKE %s ORDER BY TABLE_NAME",
            (schema, "%" + ownership_marker("%")),
        )
        return [index for (table,) in tables for index in self.table_indexes(schema, table) if index.owner_run_id]

    def database_exists(self, name):
        return bool(self._rows("SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s", (name,)))


FIXED_WIDTHS = {"tinyint": 1, "smallint": 2, "mediumint": 3, "int": 4, "bigint": 8, "float": 4, "double": 8, "decimal": 8,
                "date": 3, "time": 3, "datetime": 8, "timestamp": 4, "year": 1, "bit": 8}


def _column_width(kind, length, prefix=None):
    """About how many bytes a key column takes: fixed types by size, strings by a third of their maximum."""
    if kind in FIXED_WIDTHS:
        return FIXED_WIDTHS[kind]
    characters = prefix or min(int(length or 64), 255)
    return max(4, characters // 3) + 2


def _session_state(command, state, in_transaction):
    """PostgreSQL's words for what a session is doing, so messages read the same on both engines."""
    if command == "Sleep":
        return "idle in transaction" if in_transaction else "idle"
    activity = (state or command or "active").lower()
    return "active in transaction: %s" % activity if in_transaction else "active: %s" % activity


def _seconds(value):
    return ("%.3f" % value).rstrip("0").rstrip(".")


def _message(exc):
    if len(getattr(exc, "args", ())) >= 2:
        return str(exc.args[1])
    return str(exc) or exc.__class__.__name__
