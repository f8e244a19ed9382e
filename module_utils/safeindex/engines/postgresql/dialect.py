"""PostgreSQL: CREATE INDEX CONCURRENTLY on an autocommit connection, read back from pg_catalog."""

import contextlib
import time

try:
    import psycopg2
    import psycopg2.extensions
    import psycopg2.extras
    from psycopg2 import sql
except ImportError:  # reported by the module as a missing requirement
    psycopg2 = None

from ansible.module_utils.safeindex.core.errors import (
    DatabaseUnavailable,
    LockTimeout,
    ServerRefused,
    SpecError,
    StatementTimeout,
)
from ansible.module_utils.safeindex.engines.base import CatalogIndex, Dialect, Statement, ownership_marker
from ansible.module_utils.safeindex.engines.postgresql.tls import driver_options as tls_driver_options
from ansible.module_utils.safeindex.spec.definition import IndexColumn, IndexDefinition

LOCK_NOT_AVAILABLE = "55P03"
QUERY_CANCELED = "57014"  # statement_timeout (or a cancel request)
OBJECT_IN_USE = "55006"
RUN_LOCK_KEY = (0x5AFE, 1)  # (classid, objid) of pg_try_advisory_lock(int4, int4): ours, per database
# Locks that make CREATE INDEX CONCURRENTLY wait: everything but AccessShare and RowShare.
BUILD_BLOCKING_MODES = (
    "RowExclusiveLock", "ShareUpdateExclusiveLock", "ShareLock",
    "ShareRowExclusiveLock", "ExclusiveLock", "AccessExclusiveLock",
)
INDOPTION_DESC = 1
INDOPTION_NULLS_FIRST = 2

INDEX_QUERY = """
SELECT ic.relname, n.nspname, t.relname, i.indisunique, i.indisvalid AND i.indisready,
       am.amname, pg_get_expr(i.indpred, i.indrelid), obj_description(i.indexrelid, 'pg_class'),
       pg_relation_size(i.indexrelid), i.indnkeyatts, con.conname,
       (SELECT json_agg(json_build_object(
                  'name', a.attname,
                  'expression', CASE WHEN i.indkey[k.pos] = 0
                                     THEN pg_get_indexdef(i.indexrelid, k.pos + 1, true) END,
                  'option', CASE WHEN k.pos < i.indnkeyatts THEN i.indoption[k.pos] END,
                  'opclass', CASE WHEN k.pos < i.indnkeyatts AND NOT opc.opcdefault THEN opc.opcname END)
               ORDER BY k.pos)
          FROM generate_series(0, i.indnatts - 1) AS k(pos)
          LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[k.pos] AND i.indkey[k.pos] <> 0
          LEFT JOIN pg_opclass opc ON opc.oid = i.indclass[k.pos] AND k.pos < i.indnkeyatts)
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_class t ON t.oid = i.indrelid
JOIN pg_namespace n ON n.oid = ic.relnamespace
JOIN pg_am am ON am.oid = ic.relam
LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND con.contype IN ('p', 'u', 'x')
"""

SESSIONS_IN_THE_WAY = """
SELECT a.pid, a.state, extract(epoch FROM now() - a.xact_start)::float8 AS age, left(a.query, 200),
       (SELECT string_agg(DISTINCT l.mode, ',') FROM pg_locks l
         WHERE l.pid = a.pid AND l.relation = %(relid)s AND l.granted) AS locks,
       a.backend_xmin IS NOT NULL AS snapshot
FROM pg_stat_activity a
WHERE a.datname = current_database()
  AND a.pid <> pg_backend_pid()
  AND a.backend_type = 'client backend'
  AND a.xact_start < now() - make_interval(secs => %(min_age)s)
  AND (EXISTS (SELECT 1 FROM pg_locks l
                WHERE l.pid = a.pid AND l.relation = %(relid)s AND l.granted
                  AND (%(any_mode)s OR l.mode = ANY(%(modes)s)))
       OR (NOT %(any_mode)s AND a.backend_xmin IS NOT NULL))
ORDER BY a.xact_start
LIMIT 20
"""


class PostgresDialect(Dialect):
    engine = "postgresql"

    def __init__(self, params, application_name="safeindex"):
        super().__init__(params, application_name)
        if psycopg2 is None:
            raise DatabaseUnavailable("the psycopg2 Python package is required for PostgreSQL (pip install psycopg2-binary)")
        try:
            self.conn = psycopg2.connect(
                host=params.host,
                port=params.port,
                dbname=params.database,
                user=params.user,
                password=params.password,
                connect_timeout=params.connect_timeout,
                application_name=self.application_name,
                **tls_driver_options(params),  # the URL query's settings and TLS (engines/postgresql/tls.py)
            )
        except psycopg2.Error as exc:
            message = _first_line(exc)
            if "timeout expired" in message:
                message = "no answer within connect_timeout %ss (%s)" % (params.connect_timeout, message)
            raise DatabaseUnavailable("cannot connect to %s: %s" % (params.describe(), message)) from None
        # CREATE INDEX CONCURRENTLY cannot run inside a transaction block.
        self.conn.autocommit = True
        self._schema = None

    def close(self):
        if not self.conn.closed:
            self.conn.close()

    def _rows(self, query, params=None):
        try:
            with self.conn.cursor() as cur:
                cur.execute(query, params)
                return cur.fetchall()
        except psycopg2.Error as exc:
            raise self._error(exc) from None

    def server_version(self):
        return self._rows("SHOW server_version")[0][0]

    def default_schema(self):
        if self._schema is None:
            self._schema = self._rows("SELECT current_schema()")[0][0] or "public"
        return self._schema

    # catalog

    def table_columns(self, schema, table):
        rows = self._rows(
            "SELECT a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = %s AND c.relname = %s AND c.relkind IN ('r', 'p', 'm')"
            " AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
            (schema, table),
        )
        if rows:
            return [r[0] for r in rows]
        exists = self._rows(
            "SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = %s AND c.relname = %s AND c.relkind IN ('r', 'p', 'm')",
            (schema, table),
        )
        return [] if exists else None

    def find_index(self, spec, schema):
        kind = self._rows(
            "SELECT c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = %s AND c.relname = %s",
            (schema, spec.name),
        )
        if not kind:
            return None
        if kind[0][0] not in ("i", "I"):
            raise SpecError(
                "the name %s.%s is taken by another kind of relation (relkind %s), not an index" % (schema, spec.name, kind[0][0])
            )
        found = self._read_indexes("WHERE n.nspname = %s AND ic.relname = %s", (schema, spec.name))
        return found[0] if found else None

    def table_indexes(self, schema, table):
        return self._read_indexes("WHERE n.nspname = %s AND t.relname = %s ORDER BY ic.relname", (schema, table))

    def _read_indexes(self, where, params, table_as=None):
        indexes = []
        for (name, schema, table, unique, valid, method, predicate, comment, size, nkey, constraint, columns) in self._rows(
            INDEX_QUERY + where, params
        ):
            keys, include = [], []
            for position, column in enumerate(columns or []):
                if position >= nkey:
                    include.append(column["name"] or column["expression"])
                    continue
                option = column["option"] or 0
                keys.append(
                    IndexColumn(
                        name=column["name"],
                        expression=column["expression"],
                        descending=bool(option & INDOPTION_DESC),
                        nulls_first=bool(option & INDOPTION_NULLS_FIRST),
                        opclass=column["opclass"],
                    )
                )
            if table_as:
                schema, table = table_as
            definition = IndexDefinition(
                table=table, schema=schema, columns=tuple(keys), unique=unique,
                method=method, where=predicate, include=tuple(include),
            )
            indexes.append(
                CatalogIndex(name=name, definition=definition, valid=valid, comment=comment,
                             size_bytes=size, constraint=constraint)
            )
        return indexes

    def canonical_definition(self, spec, schema):
        """Build the spec on an empty temporary copy of the table and read it back from the catalog.

        The server then normalises everything (column order options, the predicate's text,
        defaults), so the result compares field by field with any real index. Rolled back.
        """
        wanted = spec.definition(self.engine, schema)
        shadow_table, shadow_index = "safeindex_shadow", "safeindex_shadow_idx"
        self.conn.autocommit = False
        try:
            with self.conn.cursor() as cur:
                cur.execute("SET LOCAL lock_timeout = '5s'")
                cur.execute(
                    sql.SQL("CREATE TEMPORARY TABLE {} (LIKE {}.{}) ON COMMIT DROP").format(
                        sql.Identifier(shadow_table), sql.Identifier(schema), sql.Identifier(spec.table)
                    )
                )
                shadow = IndexDefinition(
                    table=shadow_table, schema=None, columns=wanted.columns, unique=wanted.unique,
                    method=wanted.method, where=wanted.where, include=wanted.include,
                )
                cur.execute(self._index_sql(shadow_index, shadow, online=False))
            found = self._read_indexes(
                "WHERE ic.relname = %s AND n.oid = pg_my_temp_schema()", (shadow_index,), table_as=(schema, spec.table)
            )
            return found[0].definition
        except psycopg2.Error as exc:
            if exc.pgcode == LOCK_NOT_AVAILABLE:
                raise LockTimeout("%s: cannot read table %s.%s: another session holds an exclusive lock on it (%s)"
                                  % (spec.name, schema, spec.table, _first_line(exc))) from None
            raise SpecError("%s: the server rejects this index definition: %s" % (spec.name, _first_line(exc))) from None
        finally:
            self.conn.rollback()
            self.conn.autocommit = True

    def build_in_progress(self, index, schema):
        rows = self._rows(
            "SELECT p.pid FROM pg_stat_progress_create_index p"
            " JOIN pg_class c ON c.oid = p.index_relid JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = %s AND c.relname = %s",
            (schema, index.name),
        )
        return rows[0][0] if rows else None

    # statements

    def session_statements(self, options):
        settings = [("lock_timeout", "%dms" % int(options.lock_timeout * 1000))]
        if options.maintenance_work_mem:
            settings.append(("maintenance_work_mem", options.maintenance_work_mem))
        if options.parallel_workers is not None:
            settings.append(("max_parallel_maintenance_workers", str(options.parallel_workers)))
        return [
            # Setting names are this module's constants; values go as parameters.
            Statement(sql.SQL("SET %s = %%s" % name), (value,), purpose="session")
            for name, value in settings
        ]

    @staticmethod
    def _statement_timeout(seconds):
        return Statement(sql.SQL("SET statement_timeout = %s"), ("%dms" % int(seconds * 1000),), purpose="session")

    def _index_sql(self, name, definition, online):
        columns = []
        for column in definition.columns:
            part = sql.Identifier(column.name) if column.name else sql.SQL("(%s)" % column.expression)
            if column.opclass:
                part = sql.SQL("{} {}").format(part, sql.SQL(column.opclass))
            if column.descending:
                part = sql.SQL("{} DESC").format(part)
            if column.nulls_first is not None and column.nulls_first != column.descending:
                part = sql.SQL("{} NULLS {}").format(part, sql.SQL("FIRST" if column.nulls_first else "LAST"))
            columns.append(part)
        table = (
            sql.SQL("{}.{}").format(sql.Identifier(definition.schema), sql.Identifier(definition.table))
            if definition.schema else sql.Identifier(definition.table)
        )
        statement = sql.SQL("CREATE {unique}INDEX {online}{name} ON {table} USING {method} ({columns})").format(
            unique=sql.SQL("UNIQUE " if definition.unique else ""),
            online=sql.SQL("CONCURRENTLY " if online else ""),
            name=sql.Identifier(name),
            table=table,
            # Access methods come from the spec's fixed list or the catalog, never free text.
            method=sql.SQL(definition.method),
            columns=sql.SQL(", ").join(columns),
        )
        if definition.include:
            statement += sql.SQL(" INCLUDE ({})").format(sql.SQL(", ").join(map(sql.Identifier, definition.include)))
        if definition.where:
            # A predicate is SQL by nature; the spec parser has refused ';', comments and subqueries.
            statement += sql.SQL(" WHERE {}").format(sql.SQL(definition.where))
        return statement

    def create_statement(self, name, definition, run_id, online=True, timeout=0.0):
        return Statement(self._index_sql(name, definition, online), purpose="create", timeout=timeout)

    def drop_statement(self, name, definition, online=True):
        return Statement(
            sql.SQL("DROP INDEX {}IF EXISTS {}.{}").format(
                sql.SQL("CONCURRENTLY " if online else ""), sql.Identifier(definition.schema), sql.Identifier(name)
            ),
            purpose="drop",
        )

    def post_build_statements(self, name, definition, run_id):
        return [
            Statement(
                sql.SQL("COMMENT ON INDEX {}.{} IS %s").format(sql.Identifier(definition.schema), sql.Identifier(name)),
                (ownership_marker(run_id),),
                purpose="comment",
            ),
            Statement(
                sql.SQL("ANALYZE {}.{}").format(sql.Identifier(definition.schema), sql.Identifier(definition.table)),
                purpose="analyze",
            ),
        ]

    def _expand(self, statement):
        """A statement with a timeout of its own runs between setting it and clearing it again."""
        if not statement.timeout:
            return [statement]
        return [self._statement_timeout(statement.timeout), statement, self._statement_timeout(0)]

    def render(self, statement):
        with self.conn.cursor() as cur:
            return [cur.mogrify(s.sql, s.params).decode("utf-8") for s in self._expand(statement)]

    def render_definition(self, name, definition):
        return self.render(Statement(self._index_sql(name, definition, online=False)))[0]

    def execute(self, statement):
        if not statement.timeout:
            return self._execute(statement)
        self._execute(self._statement_timeout(statement.timeout))
        try:
            self._execute(statement)
        finally:
            if not self.conn.closed:
                self._execute(self._statement_timeout(0))

    def _execute(self, statement):
        try:
            with _cancel_on_interrupt(), self.conn.cursor() as cur:
                cur.execute(statement.sql, statement.params)
        except psycopg2.Error as exc:
            raise self._error(exc) from None

    def _error(self, exc):
        """The engine's error for a driver error: a lock timeout, a lost server, or the server's refusal."""
        if exc.pgcode == LOCK_NOT_AVAILABLE:
            return LockTimeout(_first_line(exc))
        if self.conn.closed:
            return DatabaseUnavailable("lost the connection to %s: %s" % (self.params.describe(), _first_line(exc)))
        if exc.pgcode == QUERY_CANCELED:
            return StatementTimeout(_first_line(exc), sqlstate=exc.pgcode)
        return ServerRefused(_first_line(exc), sqlstate=exc.pgcode)

    # sessions

    def sessions_in_the_way(self, schema, table, min_age_seconds, for_drop=False):
        relid = self._rows(
            "SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = %s",
            (schema, table),
        )
        if not relid:
            return []
        rows = self._rows(
            SESSIONS_IN_THE_WAY,
            {"relid": relid[0][0], "min_age": float(min_age_seconds), "any_mode": bool(for_drop), "modes": list(BUILD_BLOCKING_MODES)},
        )
        return [
            {"pid": pid, "state": state, "age_seconds": round(age or 0, 1), "query": query,
             "locks": locks, "holds_snapshot": snapshot}
            for pid, state, age, query, locks, snapshot in rows
        ]

    # run lock

    def try_run_lock(self):
        return self._rows("SELECT pg_try_advisory_lock(%s, %s)", RUN_LOCK_KEY)[0][0]

    def release_run_lock(self):
        return self._rows("SELECT pg_advisory_unlock(%s, %s)", RUN_LOCK_KEY)[0][0]

    def run_lock_holder(self):
        rows = self._rows(
            "SELECT a.pid, a.application_name, host(a.client_addr), a.usename, a.backend_start::text"
            " FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
            " WHERE l.locktype = 'advisory' AND l.granted AND l.classid = %s AND l.objid = %s AND l.objsubid = 2"
            " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            RUN_LOCK_KEY,
        )
        if not rows:
            return None
        pid, application, client, user, since = rows[0]
        return {"session": pid, "application": application, "client": client or "local socket", "user": user, "since": since}

    def ping(self):
        self._rows("SELECT 1")

    # preflight

    def index_privilege_problems(self, schema, tables):
        # Only a table's owner (a member of the owning role, or a superuser) may create an index on it.
        rows = self._rows(
            "SELECT c.relname, pg_get_userbyid(c.relowner),"
            " pg_has_role(current_user, c.relowner, 'USAGE') OR (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)"
            " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = %s AND c.relname = ANY(%s) AND c.relkind IN ('r', 'p', 'm')",
            (schema, list(tables)),
        )
        return {table: "owned by %s, and only a table's owner may index it" % owner for table, owner, allowed in rows if not allowed}

    def connection_count(self):
        return tuple(self._rows(
            "SELECT count(*), count(*) FILTER (WHERE state NOT LIKE 'idle%%') FROM pg_stat_activity"
            " WHERE datname = current_database() AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
        )[0])

    def long_transactions(self, min_age_seconds):
        rows = self._rows(
            "SELECT pid, state, extract(epoch FROM now() - xact_start)::float8, left(query, 200) FROM pg_stat_activity"
            " WHERE datname = current_database() AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
            " AND xact_start < now() - make_interval(secs => %s) ORDER BY xact_start",
            (float(min_age_seconds),),
        )
        return [{"pid": pid, "state": state, "age_seconds": round(age, 1), "query": query} for pid, state, age, query in rows]

    def replicas(self):
        rows = self._rows(
            "SELECT COALESCE(application_name, ''), COALESCE(client_addr::text, 'local'), state,"
            " extract(epoch FROM replay_lag)::float8 FROM pg_stat_replication"
        )
        return [{"name": "%s@%s" % (name, address) if name else address, "state": state, "lag_seconds": lag}
                for name, address, state, lag in rows]

    def invalid_indexes(self):
        return ["%s.%s (on %s)" % (schema, name, table) for schema, name, table in self._rows(
            "SELECT n.nspname, c.relname, t.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
            " JOIN pg_class t ON t.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE NOT (i.indisvalid AND i.indisready) ORDER BY 1, 2"
        )]

    def estimated_index_bytes(self, schema, definition):
        # A btree entry: the key's average width (pg_stats, else the type's width, else 32) plus
        # about 16 bytes of tuple header and item pointer; leaves are filled to 90 %.
        columns = [c.name for c in definition.columns if c.name] + list(definition.include)
        rows = self._rows(
            "SELECT GREATEST(c.reltuples, 0)::float8, COALESCE(sum(COALESCE(s.avg_width, NULLIF(a.attlen, -1), 32)), 0)::float8"
            " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = ANY(%s)"
            " LEFT JOIN pg_stats s ON s.schemaname = n.nspname AND s.tablename = c.relname AND s.attname = a.attname"
            " WHERE n.nspname = %s AND c.relname = %s GROUP BY c.reltuples",
            (columns, schema, definition.table),
        )
        if not rows:
            return 0
        tuples, width = rows[0]
        return int(tuples * (width + 16) / 0.9) + 8192

    def data_directory(self):
        try:
            return self._rows("SELECT current_setting('data_directory')")[0][0]
        except ServerRefused:
            return None  # needs pg_read_all_settings

    # backups

    def database_size(self):
        return self._rows("SELECT pg_database_size(current_database())")[0][0]

    def user_tables(self):
        # Tables that belong to extensions are the extension's business, not the dump's data.
        return [tuple(r) for r in self._rows(
            "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
            " AND n.nspname !~ '^pg_(toast|temp)'"
            " AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass"
            " AND d.objid = c.oid AND d.deptype = 'e')"
            " ORDER BY 1, 2"
        )]

    def row_counts(self, tables):
        counts = {}
        for schema, table in tables:
            query = sql.SQL("SELECT count(*) FROM {}.{}").format(sql.Identifier(schema), sql.Identifier(table))
            try:
                counts["%s.%s" % (schema, table)] = self._rows(query)[0][0]
            except ServerRefused as exc:
                raise ServerRefused("cannot count the rows of %s.%s: %s" % (schema, table, exc), **exc.details) from None
        return counts

    @contextlib.contextmanager
    def exported_snapshot(self):
        """A read-only repeatable-read transaction whose snapshot pg_dump can share (--snapshot)."""
        self.execute(Statement("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY"))
        try:
            yield self._rows("SELECT pg_export_snapshot()")[0][0]
        finally:
            if not self.conn.closed:
                self.execute(Statement("ROLLBACK"))

    def create_scratch_database(self, name):
        encoding, collate, ctype = self._rows(
            "SELECT pg_encoding_to_char(encoding), datcollate, datctype FROM pg_database WHERE datname = current_database()"
        )[0]
        self.execute(Statement(
            sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING %s LC_COLLATE %s LC_CTYPE %s").format(sql.Identifier(name)),
            (encoding, collate, ctype),
        ))

    def drop_scratch_database(self, name):
        # Not WITH (FORCE): a non-superuser may not terminate the autovacuum worker a fresh restore
        # attracts, while a plain DROP DATABASE cancels autovacuum by itself.
        statement = Statement(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
        for attempt in range(10):
            try:
                return self.execute(statement)
            except ServerRefused as exc:
                if exc.details.get("sqlstate") != OBJECT_IN_USE or attempt == 9:
                    raise ServerRefused("could not drop the scratch database %s: %s" % (name, exc), **exc.details) from None
                time.sleep(1)

    # monitoring

    def lock_waits(self):
        rows = self._rows(
            "SELECT a.pid, extract(epoch FROM now() - a.query_start)::float8, left(a.query, 200), pg_blocking_pids(a.pid),"
            " (SELECT string_agg(l.locktype || COALESCE(' on ' || l.relation::regclass::text, '') || ' ' || l.mode, ', ')"
            "    FROM pg_locks l WHERE l.pid = a.pid AND NOT l.granted)"
            " FROM pg_stat_activity a WHERE a.datname = current_database() AND a.pid <> pg_backend_pid()"
            " AND a.wait_event_type = 'Lock' ORDER BY a.query_start"
        )
        return [{"pid": pid, "waiting_seconds": round(age or 0, 1), "query": query, "blocked_by": list(blockers or []), "lock": lock}
                for pid, age, query, blockers, lock in rows]

    # verification

    @contextlib.contextmanager
    def _read_only(self, timeout, prefer_indexes=False):
        """A READ ONLY transaction with a statement timeout, always rolled back: a probe can change nothing."""
        self.conn.autocommit = False
        try:
            with self.conn.cursor() as cur:
                cur.execute("SET TRANSACTION READ ONLY")
                cur.execute("SET LOCAL statement_timeout = %s", ("%dms" % int(timeout * 1000),))
                if prefer_indexes:
                    cur.execute("SET LOCAL enable_seqscan = off")
                yield cur
        except psycopg2.Error as exc:
            raise self._error(exc) from None
        finally:
            if not self.conn.closed:
                self.conn.rollback()
                self.conn.autocommit = True

    # A probe's SQL is SQL by nature; the spec parser allows one SELECT (or WITH) query only, and the
    # transaction is READ ONLY. It runs without parameters, so a '%' in it stays as written.

    def explain_json(self, query, timeout, prefer_indexes=False):
        with self._read_only(timeout, prefer_indexes) as cur:
            cur.execute("EXPLAIN (FORMAT JSON) " + query)
            return cur.fetchone()[0]

    def explain_text(self, query, timeout, prefer_indexes=False):
        with self._read_only(timeout, prefer_indexes) as cur:
            cur.execute("EXPLAIN " + query)
            return "\n".join(row[0] for row in cur.fetchall())

    def time_probe(self, query, timeout):
        with self._read_only(timeout) as cur:
            started = time.perf_counter()
            cur.execute(query)
            cur.fetchall()
            return time.perf_counter() - started

    def index_usage(self, schema, indexes):
        # This session's counts reach the shared statistics only when it goes idle; PostgreSQL 15 can be told to
        # flush them at the next idle moment, which comes right after this autocommit statement.
        try:
            self._rows("SELECT pg_stat_force_next_flush()")
        except ServerRefused:
            pass  # before 15: the counts arrive within about half a second
        names = [name for _, name in indexes]
        found = dict(self._rows(
            "SELECT indexrelname, idx_scan FROM pg_stat_user_indexes WHERE schemaname = %s AND indexrelname = ANY(%s)",
            (schema, names),
        ))
        return {name: found.get(name) for name in names}

    def table_row_estimate(self, schema, table):
        rows = self._rows(
            "SELECT c.reltuples FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = %s",
            (schema, table),
        )
        # -1: never analyzed nor vacuumed, so the catalog has no estimate.
        return int(rows[0][0]) if rows and rows[0][0] >= 0 else None

    # progress

    def backend_id(self):
        return self._rows("SELECT pg_backend_pid()")[0][0]

    def build_progress(self, backend_id):
        rows = self._rows(
            "SELECT p.phase, p.blocks_done, p.blocks_total, p.tuples_done, p.tuples_total, p.lockers_done, p.lockers_total,"
            " p.current_locker_pid, a.wait_event_type, a.wait_event"
            " FROM pg_stat_activity a LEFT JOIN pg_stat_progress_create_index p ON p.pid = a.pid WHERE a.pid = %s",
            (backend_id,),
        )
        if not rows:
            return {"phase": None}
        phase, blocks_done, blocks_total, tuples_done, tuples_total, lockers_done, lockers_total, locker, wait_type, wait = rows[0]
        found = {"phase": phase, "blocks_done": blocks_done, "blocks_total": blocks_total, "tuples_done": tuples_done,
                 "tuples_total": tuples_total, "lockers_done": lockers_done, "lockers_total": lockers_total}
        # The waiting phases ("waiting for old snapshots", "... for writers ...") wait for other sessions, one by one;
        # the block and tuple counts they show are left over from the phase before.
        if (phase or "").startswith("waiting"):
            pass
        elif blocks_total:
            found.update(percent=min(100, 100 * blocks_done // blocks_total), unit="blocks")
        elif tuples_total:
            found.update(percent=min(100, 100 * tuples_done // tuples_total), unit="tuples")
        if lockers_total:
            found["waiting"] = "%d of %d sessions done%s" % (lockers_done, lockers_total, ", now pid %s" % locker if locker else "")
        elif wait_type in ("Lock", "IPC"):
            found["waiting"] = "waiting on %s %s" % (wait_type, wait)
        return found


    # rollback

    def marked_indexes(self):
        return self._read_indexes(
            "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')"
            " AND obj_description(i.indexrelid, 'pg_class') LIKE %s ORDER BY n.nspname, ic.relname",
            ("%" + ownership_marker("%"),),
        )

    def database_exists(self, name):
        return bool(self._rows("SELECT 1 FROM pg_database WHERE datname = %s", (name,)))


@contextlib.contextmanager
def _cancel_on_interrupt():
    """Ctrl-C (SIGINT, which Ansible passes on to the module) cancels the statement on the server.

    psycopg2 waits for a statement inside libpq, where no signal reaches Python: an interrupted playbook would leave
    its build running on the server, headless. psycopg2's wait_select waits in Python instead and, on
    KeyboardInterrupt, sends the server a cancel request; the statement then fails with 57014 and the caller cleans
    up as after any failed build. Only around DDL: connecting (which honours connect_timeout only when blocking) and
    catalog reads wait as usual.
    """
    previous = psycopg2.extensions.get_wait_callback()
    psycopg2.extensions.set_wait_callback(psycopg2.extras.wait_select)
    try:
        yield
    finally:
        psycopg2.extensions.set_wait_callback(previous)


def _first_line(exc):
    """The server's own message, without the driver's decoration."""
    diag = getattr(exc, "diag", None)
    text = (diag and diag.message_primary) or str(exc) or exc.__class__.__name__
    return " ".join(text.strip().split("\n")[:2]).strip()
