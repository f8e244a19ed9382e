"""MySQL's and MariaDB's statements: ALTER TABLE ... ADD / DROP INDEX online, session settings, and running them."""

import contextlib
import math

try:
    import pymysql
except ImportError:  # reported by the module as a missing requirement
    pymysql = None

from ansible.module_utils.safeindex.core.errors import OptionError, ServerRefused
from ansible.module_utils.safeindex.engines.base import Statement, ownership_marker
from ansible.module_utils.safeindex.engines.interface.statements import Statements
from ansible.module_utils.safeindex.engines.mysql.connection import quote


class MysqlStatements(Statements):
    def session_statements(self, options) -> list:
        if options.maintenance_work_mem or options.parallel_workers is not None:
            raise OptionError("maintenance_work_mem and max_parallel_maintenance_workers are PostgreSQL settings")
        # lock_wait_timeout counts whole seconds.
        return [Statement("SET SESSION lock_wait_timeout = %s", (max(1, math.ceil(options.lock_timeout)),), purpose="session")]

    def _index_clause(self, name, definition):
        parts = []
        for column in definition.columns:
            # A functional key part (MySQL 8.0.13+) is written in parentheses of its own: INDEX i ((lower(email))).
            # SQL by nature, like a predicate: the spec parser refused ';', comments and subqueries.
            part = quote(column.name) if column.name is not None else "(%s)" % column.expression
            if column.length:
                part += "(%d)" % column.length
            if column.descending:
                part += " DESC"
            parts.append(part)
        return "%sINDEX %s (%s)" % ("UNIQUE " if definition.unique else "", quote(name), ", ".join(parts))

    def _timed(self, text, timeout):
        if not timeout:
            return text
        features = self.features
        if not features.ddl_timeout:
            raise OptionError("MySQL cannot limit the run time of DDL (max_execution_time covers SELECT only): unset statement_timeout")
        # MariaDB's SET STATEMENT ... FOR: the limit holds for this one statement, in the setting's own unit.
        return "SET STATEMENT %s = %s FOR %s" % (features.statement_timeout_setting, _seconds(timeout), text)

    def create_statement(self, name: str, definition, run_id: str, online: bool = True, timeout: float = 0.0) -> "Statement":
        # The comment goes as a parameter, so the driver formats the text: a '%' in a name or an expression is doubled.
        text = "ALTER TABLE %s ADD %s" % (quote(definition.table), self._index_clause(name, definition))
        text = text.replace("%", "%%") + " COMMENT %s"
        if online:
            # Stated, never assumed: a server that cannot build online refuses, and says why. INPLACE on both
            # flavours: MySQL 8.0.12+'s ALGORITHM=INSTANT covers some column changes, never ADD INDEX.
            text += ", " + self.features.online_build_phrase
        return Statement(self._timed(text, timeout), (ownership_marker(run_id),), purpose="create", timeout=timeout)

    def drop_statement(self, name: str, definition, online: bool = True) -> "Statement":
        text = "ALTER TABLE %s DROP INDEX %s" % (quote(definition.table), quote(name))
        if online:
            text += ", " + self.features.online_build_phrase
        return Statement(text, purpose="drop")

    def post_build_statements(self, name: str, definition, run_id: str) -> list:
        # The comment went in with the build, and InnoDB computed the new index's statistics as part
        # of it. No ANALYZE TABLE: on MySQL before 8.0.24 it makes every later statement on the table
        # wait for a table flush behind the longest running query.
        return []

    def render(self, statement) -> list:
        with self.conn.cursor() as cur:
            return [cur.mogrify(statement.sql, statement.params)]

    def render_definition(self, name: str, definition) -> str:
        text = self._index_clause(name, definition)
        unique = text.startswith("UNIQUE ")
        return "CREATE %sINDEX %s ON %s.%s %s" % (
            "UNIQUE " if unique else "", quote(name), quote(definition.schema), quote(definition.table),
            text[text.index("("):],
        )

    def execute(self, statement) -> None:
        try:
            with self.conn.cursor() as cur:
                self.sent_statements().append(cur.mogrify(statement.sql, statement.params))
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
            killer = self.__class__(self.params, self.application_name)
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


def _seconds(value):
    return ("%.3f" % value).rstrip("0").rstrip(".")
