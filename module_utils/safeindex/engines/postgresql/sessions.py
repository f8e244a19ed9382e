"""PostgreSQL's other sessions: the advisory run lock, sessions in the way of a build, long transactions, replicas, lock waits."""

from __future__ import annotations

from ansible.module_utils.safeindex.engines.interface.sessions import Sessions

RUN_LOCK_KEY = (0x5AFE, 1)  # (classid, objid) of pg_try_advisory_lock(int4, int4): ours, per database

# Locks that make CREATE INDEX CONCURRENTLY wait: everything but AccessShare and RowShare.
BUILD_BLOCKING_MODES = (
    "RowExclusiveLock", "ShareUpdateExclusiveLock", "ShareLock",
    "ShareRowExclusiveLock", "ExclusiveLock", "AccessExclusiveLock",
)

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


class PostgresSessions(Sessions):
    def sessions_in_the_way(self, schema: str, table: str, min_age_seconds: float, for_drop: bool = False) -> list:
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

    def try_run_lock(self) -> bool:
        return self._rows("SELECT pg_try_advisory_lock(%s, %s)", RUN_LOCK_KEY)[0][0]

    def release_run_lock(self) -> bool:
        return self._rows("SELECT pg_advisory_unlock(%s, %s)", RUN_LOCK_KEY)[0][0]

    def run_lock_holder(self) -> dict | None:
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

    def connection_count(self) -> tuple:
        return tuple(self._rows(
            "SELECT count(*), count(*) FILTER (WHERE state NOT LIKE 'idle%%') FROM pg_stat_activity"
            " WHERE datname = current_database() AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
        )[0])

    def long_transactions(self, min_age_seconds: float) -> list:
        rows = self._rows(
            "SELECT pid, state, extract(epoch FROM now() - xact_start)::float8, left(query, 200) FROM pg_stat_activity"
            " WHERE datname = current_database() AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
            " AND xact_start < now() - make_interval(secs => %s) ORDER BY xact_start",
            (float(min_age_seconds),),
        )
        return [{"pid": pid, "state": state, "age_seconds": round(age, 1), "query": query} for pid, state, age, query in rows]

    def replicas(self) -> list:
        rows = self._rows(
            "SELECT COALESCE(application_name, ''), COALESCE(client_addr::text, 'local'), state,"
            " extract(epoch FROM replay_lag)::float8 FROM pg_stat_replication"
        )
        return [{"name": "%s@%s" % (name, address) if name else address, "state": state, "lag_seconds": lag}
                for name, address, state, lag in rows]

    def lock_waits(self) -> list:
        rows = self._rows(
            "SELECT a.pid, extract(epoch FROM now() - a.query_start)::float8, left(a.query, 200), pg_blocking_pids(a.pid),"
            " (SELECT string_agg(l.locktype || COALESCE(' on ' || l.relation::regclass::text, '') || ' ' || l.mode, ', ')"
            "    FROM pg_locks l WHERE l.pid = a.pid AND NOT l.granted)"
            " FROM pg_stat_activity a WHERE a.datname = current_database() AND a.pid <> pg_backend_pid()"
            " AND a.wait_event_type = 'Lock' ORDER BY a.query_start"
        )
        return [{"pid": pid, "waiting_seconds": round(age or 0, 1), "query": query, "blocked_by": list(blockers or []), "lock": lock}
                for pid, age, query, blockers, lock in rows]

    def cancel_run_statements(self, run_id: str) -> list:
        # The run's sessions carry `run_id=<id>` at the end of their application_name (core/module.connect).
        rows = self._rows(
            "SELECT pid, pg_cancel_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid() AND state = 'active'"
            " AND application_name LIKE 'safeindex %%' AND split_part(application_name, ' run_id=', 2) = %s",
            (run_id,),
        )
        return [pid for pid, cancelled in rows if cancelled]

    def cancel_orphaned_builds(self, run_id: str, dry_run: bool = False) -> list:
        # 14+ the server cancels such a build itself once its client is gone (client_connection_check_interval,
        # connection.py); before 14, or while the server's keepalives have not yet declared the client dead, it runs on.
        rows = self._rows(
            "SELECT pid, split_part(application_name, ' run_id=', 2), extract(epoch FROM now() - query_start),"
            " coalesce(wait_event_type || ': ' || wait_event, state), left(query, 300),"
            " CASE WHEN %s THEN false ELSE pg_cancel_backend(pid) END"
            " FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND state = 'active'"
            # application_name is cut at 63 bytes: a long run id of this run's own may show only its start.
            " AND application_name LIKE 'safeindex %%' AND split_part(application_name, ' run_id=', 2) <> ''"
            " AND NOT starts_with(%s, split_part(application_name, ' run_id=', 2))"
            " AND query ~* '^\\s*(CREATE (UNIQUE )?INDEX|DROP INDEX|REINDEX|ALTER INDEX)'",
            (dry_run, run_id),
        )
        return [{"pid": pid, "run_id": other, "age_seconds": float(age or 0), "state": state or "", "query": query}
                for pid, other, age, state, query, cancelled in rows if dry_run or cancelled]
