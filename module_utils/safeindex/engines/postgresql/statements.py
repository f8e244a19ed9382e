"""PostgreSQL's statements: session settings, CREATE INDEX CONCURRENTLY, DROP, COMMENT and ANALYZE, and running them."""

import contextlib

try:
    import psycopg2
    import psycopg2.extensions
    import psycopg2.extras
    from psycopg2 import sql
except ImportError:  # reported by the module as a missing requirement
    psycopg2 = None

from ansible.module_utils.safeindex.engines.base import Statement, ownership_marker
from ansible.module_utils.safeindex.engines.interface.statements import Statements


class PostgresStatements(Statements):
    def session_statements(self, options) -> list:
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

    def _index_sql(self, name, definition, online, only=False):
        columns = []
        for column in definition.columns:
            # An expression is SQL by nature, like a predicate: the spec parser refused ';', comments and subqueries.
            part = sql.Identifier(column.name) if column.name is not None else sql.SQL("(%s)" % column.expression)
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
        if only:  # a partitioned table's own index, not its partitions' (engines/postgresql/partitions.py)
            table = sql.SQL("ONLY {}").format(table)
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
        if not definition.nulls_distinct:
            statement += sql.SQL(" NULLS NOT DISTINCT")  # PostgreSQL 15+; the spec parser asked the server's features
        if definition.where:
            # A predicate is SQL by nature; the spec parser has refused ';', comments and subqueries.
            statement += sql.SQL(" WHERE {}").format(sql.SQL(definition.where))
        return statement

    def create_statement(self, name: str, definition, run_id: str, online: bool = True, timeout: float = 0.0) -> "Statement":
        return Statement(self._index_sql(name, definition, online), purpose="create", timeout=timeout)

    def drop_statement(self, name: str, definition, online: bool = True) -> "Statement":
        return Statement(
            sql.SQL("DROP INDEX {}IF EXISTS {}.{}").format(
                sql.SQL("CONCURRENTLY " if online else ""), sql.Identifier(definition.schema), sql.Identifier(name)
            ),
            purpose="drop",
        )

    def post_build_statements(self, name: str, definition, run_id: str) -> list:
        return [
            # The marker goes in as a literal, not a parameter: with parameters the driver would read a '%' in the
            # index name as a placeholder.
            Statement(
                sql.SQL("COMMENT ON INDEX {}.{} IS {}").format(
                    sql.Identifier(definition.schema), sql.Identifier(name), sql.Literal(ownership_marker(run_id))),
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

    def render(self, statement) -> list:
        with self.conn.cursor() as cur:
            return [cur.mogrify(s.sql, s.params).decode("utf-8") for s in self._expand(statement)]

    def render_definition(self, name: str, definition) -> str:
        return self.render(Statement(self._index_sql(name, definition, online=False)))[0]

    def execute(self, statement) -> None:
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
                self.sent_statements().append(cur.mogrify(statement.sql, statement.params).decode("utf-8"))
                cur.execute(statement.sql, statement.params)
        except psycopg2.Error as exc:
            raise self._error(exc) from None


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
