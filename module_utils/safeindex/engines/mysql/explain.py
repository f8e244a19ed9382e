"""MySQL's and MariaDB's verification probes: EXPLAIN and timed runs in a READ ONLY transaction, index usage counters."""

from __future__ import annotations

import contextlib
import json
import time

try:
    import pymysql
except ImportError:  # reported by the module as a missing requirement
    pymysql = None

from ansible.module_utils.safeindex.engines.interface.explain import Explain
from ansible.module_utils.safeindex.engines.mysql.explain_plan import MysqlPlanReading


class MysqlExplain(MysqlPlanReading, Explain):
    @contextlib.contextmanager
    def _read_only(self, timeout, prefer_indexes=False):
        """A READ ONLY transaction with a statement timeout, always rolled back: a probe can change nothing.

        The session settings go back to the server's defaults afterwards.
        """
        timeout_setting = self.features.statement_timeout_setting
        limit = self.features.timeout_value(timeout)  # MariaDB counts seconds, MySQL milliseconds
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

    def explain_json(self, query: str, timeout: float, prefer_indexes: bool = False) -> object:
        with self._read_only(timeout, prefer_indexes):
            return json.loads(self._rows("EXPLAIN FORMAT=JSON " + query)[0][0])

    def explain_text(self, query: str, timeout: float, prefer_indexes: bool = False) -> str:
        with self._read_only(timeout, prefer_indexes):
            rows = self._rows("EXPLAIN " + query, as_dict=True)
        lines = []
        for row in rows:
            lines.append("table %s: %s, key %s (possible: %s), rows %s%s" % (
                row.get("table"), row.get("type"), row.get("key") or "none", row.get("possible_keys") or "none",
                row.get("rows"), "; " + row["Extra"] if row.get("Extra") else ""))
        return "\n".join(lines)

    def time_probe(self, query: str, timeout: float) -> float:
        with self._read_only(timeout):
            try:
                with self.conn.cursor() as cur:
                    started = time.perf_counter()
                    cur.execute(query)
                    cur.fetchall()
                    return time.perf_counter() - started
            except pymysql.Error as exc:
                raise self._error(exc) from None

    def index_usage(self, schema: str, indexes) -> dict | None:
        # Asked, not assumed from the flavour's default (features.usage_counters_by_default): either may be reconfigured.
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
