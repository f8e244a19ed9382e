"""amcheck's bt_index_check on PostgreSQL: proof that a B-tree matches its table (heapallindexed: every row is in it)."""

from __future__ import annotations

try:
    from psycopg2 import sql
except ImportError:  # the module reports the missing driver when it connects
    sql = None

from ansible.module_utils.safeindex.core.errors import SafeIndexError
from ansible.module_utils.safeindex.engines.interface.index_check import IndexCheck


class PostgresAmcheck(IndexCheck):
    def _amcheck_schema(self):
        rows = self._rows("SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace"
                          " WHERE e.extname = %s", (self.features.index_check_extension,))
        return rows[0][0] if rows else None

    def index_check_ready(self) -> tuple:
        schema = self._amcheck_schema()
        if schema is None:
            return False, "the %s extension is not installed in database %s: %s" % (
                self.features.index_check_extension, self.params.database, self.features.index_check_install)
        function = "%s.%s(regclass, boolean)" % (sql.Identifier(schema).as_string(self.conn), self.features.index_check_function)
        # amcheck's functions are revoked from PUBLIC: a superuser grants them to the migration's user.
        if not self._rows("SELECT has_function_privilege(current_user, %s, 'EXECUTE')", (function,))[0][0]:
            return False, "%s may not run %s: GRANT EXECUTE ON FUNCTION %s TO %s; as a superuser" % (
                self.params.user, self.features.index_check_function, function, sql.Identifier(self.params.user).as_string(self.conn))
        return True, None

    def checkable_indexes(self, schema: str, name: str) -> list:
        # The index itself when it holds entries (relkind i); for a partitioned one (relkind I, no entries of its own), its
        # partitions' indexes, the leaves of pg_partition_tree (which lists nothing for an index that is not partitioned).
        rows = self._rows(
            "WITH wanted AS (SELECT to_regclass(format('%%I.%%I', %s::text, %s::text)) AS oid)"
            " SELECT c.oid, c.oid::regclass::text, am.amname FROM pg_class c JOIN pg_am am ON am.oid = c.relam, wanted"
            " WHERE c.relkind = 'i' AND (c.oid = wanted.oid OR c.oid IN (SELECT relid FROM pg_partition_tree(wanted.oid)))"
            " ORDER BY c.oid <> wanted.oid, 2",
            (schema, name),
        )
        return [{"name": qualified, "oid": oid, "method": method} for oid, qualified, method in rows]

    def check_index(self, oid: int) -> str | None:
        statement = sql.SQL("SELECT {}.{}(index => %s::oid::regclass, heapallindexed => true)").format(
            sql.Identifier(self._amcheck_schema()), sql.Identifier(self.features.index_check_function))
        try:
            self._rows(statement, (oid,))
        except SafeIndexError as exc:
            return str(exc)
        return None
