"""PostgreSQL's verification probes: EXPLAIN and timed runs in a READ ONLY transaction, index usage counters."""

from __future__ import annotations

import contextlib
import time

try:
    import psycopg2
except ImportError:  # reported by the module as a missing requirement
    psycopg2 = None

from ansible.module_utils.safeindex.core.errors import ServerRefused
from ansible.module_utils.safeindex.engines.interface.explain import Explain
from ansible.module_utils.safeindex.engines.postgresql.explain_plan import PostgresPlanReading


class PostgresExplain(PostgresPlanReading, Explain):
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

    def explain_json(self, query: str, timeout: float, prefer_indexes: bool = False) -> object:
        with self._read_only(timeout, prefer_indexes) as cur:
            cur.execute("EXPLAIN (FORMAT JSON) " + query)
            return cur.fetchone()[0]

    def explain_text(self, query: str, timeout: float, prefer_indexes: bool = False) -> str:
        with self._read_only(timeout, prefer_indexes) as cur:
            cur.execute("EXPLAIN " + query)
            return "\n".join(row[0] for row in cur.fetchall())

    def time_probe(self, query: str, timeout: float) -> float:
        with self._read_only(timeout) as cur:
            started = time.perf_counter()
            cur.execute(query)
            cur.fetchall()
            return time.perf_counter() - started

    def index_usage(self, schema: str, indexes) -> dict | None:
        # This session's counts reach the shared statistics only when it goes idle; from PostgreSQL 15 it can be told
        # to flush them at the next idle moment, which comes right after this autocommit statement. Before 15 the
        # counts arrive within about half a second by themselves.
        flush = self.features.stats_flush_function
        if flush:
            try:
                self._rows("SELECT %s()" % flush)  # a function name from the engine's features, not input
            except ServerRefused:
                pass  # a role denied EXECUTE on it: the counts still arrive within about half a second
        names = [name for _table, name in indexes]
        found = dict(self._rows(
            "SELECT indexrelname, idx_scan FROM pg_stat_user_indexes WHERE schemaname = %s AND indexrelname = ANY(%s)",
            (schema, names),
        ))
        return {name: found.get(name) for name in names}
