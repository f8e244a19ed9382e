"""MySQL's and MariaDB's other sessions: the GET_LOCK run lock, long transactions, replicas, lock waits."""

from __future__ import annotations

import hashlib
import re

from ansible.module_utils.safeindex.core.errors import ServerRefused
from ansible.module_utils.safeindex.engines.base import owner_run_id, ownership_marker
from ansible.module_utils.safeindex.engines.interface.sessions import Sessions

# information_schema.PROCESSLIST on both flavours: MySQL deprecated it in 8.0.35 and keeps it in 8.4, and its
# replacement (performance_schema.processlist) is empty where performance_schema is off: it would hide sessions.
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


class MysqlSessions(Sessions):
    def sessions_in_the_way(self, schema: str, table: str, min_age_seconds: float, for_drop: bool = False) -> list:
        # MariaDB shows no metadata locks without an optional plugin, so every old transaction in this
        # database counts: any of them may have touched the table.
        return self.long_transactions(min_age_seconds)

    def long_transactions(self, min_age_seconds: float) -> list:
        rows = self._rows(SESSIONS_IN_THE_WAY, {"schema": self.params.database, "min_age": int(min_age_seconds)})
        return [
            {"pid": pid, "state": _session_state(command, state, in_trx), "age_seconds": float(age or 0),
             "query": query or "", "locks": None}
            for pid, command, state, age, query, in_trx in rows
        ]

    def connection_count(self) -> tuple:
        return tuple(int(v or 0) for v in self._rows(
            "SELECT COUNT(*), SUM(COMMAND <> 'Sleep') FROM information_schema.PROCESSLIST"
            " WHERE ID <> CONNECTION_ID() AND USER <> 'system user'"
            " AND COMMAND NOT IN ('Daemon', 'Binlog Dump', 'Binlog Dump GTID', 'Slave_IO', 'Slave_SQL')"
        )[0])

    def replicas(self) -> list:
        found = []
        for statement in self.features.replica_hosts_statements:
            try:
                found = [{"name": "%s:%s" % (row.get("Host") or row.get("Server_id"), row.get("Port")), "state": "attached",
                          "lag_seconds": None} for row in self._rows(statement, as_dict=True)]
                break
            except ServerRefused as exc:
                if exc.details.get("code") in (1227, 1142):  # no privilege: say so rather than guess
                    raise
        return found

    def _run_lock_name(self):
        # User locks are server-wide: one per database. Names are limited to 64 characters.
        name = "safeindex:%s" % self.params.database
        return name if len(name) <= 64 else "safeindex:%s" % hashlib.sha256(self.params.database.encode()).hexdigest()[:40]

    def try_run_lock(self) -> bool:
        return self._rows("SELECT GET_LOCK(%s, 0)", (self._run_lock_name(),))[0][0] == 1

    def release_run_lock(self) -> bool:
        return self._rows("SELECT RELEASE_LOCK(%s)", (self._run_lock_name(),))[0][0] == 1

    def run_lock_holder(self) -> dict | None:
        session = self._rows("SELECT IS_USED_LOCK(%s)", (self._run_lock_name(),))[0][0]
        if session is None:
            return None
        rows = self._rows("SELECT USER, HOST, TIME, INFO FROM information_schema.PROCESSLIST WHERE ID = %s", (session,))
        if not rows:
            return {"session": session, "application": None, "client": None, "user": None, "since": None}
        user, host, _seconds, info = rows[0]
        named = APPLICATION_IN_QUERY.search(info or "")
        return {"session": session, "application": named.group(1) if named else None,
                "client": host, "user": user, "since": named.group(2) if named else None}

    idle_interruptible = False

    def idle(self, seconds: float) -> None:
        # The holder's query names it in PROCESSLIST, so a refused run can say which run holds the lock.
        if not getattr(self, "_idle_timeout_set", False) and self.params.dead_after_seconds:
            # The holder talks every POLL_SECONDS: a session that waits longer for its next command has lost its client
            # (a cut network: MariaDB has no session keepalives) and ends, letting the run lock go, instead of holding it
            # for wait_timeout (8 hours by default) and refusing every later run.
            self._rows("SET SESSION wait_timeout = %s", (max(self.params.dead_after_seconds, 5),))
            self._idle_timeout_set = True
        label = re.sub(r"[^A-Za-z0-9 _.=:-]", "", self.application_name)
        self._rows("SELECT /* %s since=%s */ SLEEP(%%s)" % (label, self._connected_at), (seconds,))

    def lock_waits(self) -> list:
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

    def cancel_run_statements(self, run_id: str) -> list:
        # The run's DDL carries its ownership marker in the index comment (statements.py); KILL QUERY ends the
        # statement, not the session. Only this database's: a run of many hosts has one id, and two of its databases
        # may share a server (the lock's holder cancels as each host's run ends).
        sessions = [row[0] for row in self._rows(
            "SELECT ID FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() AND COMMAND = 'Query'"
            " AND DB = DATABASE() AND LOCATE(%s, INFO) > 0", (ownership_marker(run_id),))]
        stopped = []
        for session in sessions:
            try:
                self._rows("KILL QUERY %s", (int(session),))
                stopped.append(session)
            except ServerRefused:  # it ended meanwhile
                continue
        return stopped

    def cancel_orphaned_builds(self, run_id: str, dry_run: bool = False) -> list:
        # A build's ALTER carries its run's marker in the index comment (statements.py). MariaDB does not look at a
        # running statement's client: an ALTER whose client is silently gone waits for its metadata lock and builds on,
        # unseen (measured, tests/reliability/test_network_builds.py). KILL QUERY rolls it back.
        rows = self._rows(
            # Only this database's: the lock held is this database's, and another database's run is not ours to stop.
            "SELECT ID, TIME, STATE, LEFT(INFO, 300) FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID()"
            " AND DB = DATABASE() AND COMMAND = 'Query' AND INFO LIKE 'ALTER TABLE%%' AND LOCATE(%s, INFO) > 0",
            (ownership_marker(""),))
        found = []
        for session, age, state, query in rows:
            other = owner_run_id(query)
            if other is None or other == run_id:
                continue
            if not dry_run:
                try:
                    self._rows("KILL QUERY %s", (int(session),))
                except ServerRefused:  # it ended meanwhile
                    continue
            found.append({"pid": session, "run_id": other, "age_seconds": float(age or 0), "state": state or "",
                          "query": query or ""})
        return found


def _session_state(command, state, in_transaction):
    """PostgreSQL's words for what a session is doing, so messages read the same on both engines."""
    if command == "Sleep":
        return "idle in transaction" if in_transaction else "idle"
    activity = (state or command or "active").lower()
    return "active in transaction: %s" % activity if in_transaction else "active: %s" % activity
