"""MySQL's and MariaDB's replicas: only a replica knows its lag (SHOW REPLICA STATUS / SHOW SLAVE STATUS, as the
server's features name it and its columns); the primary shows the binlog dump threads that feed its replicas."""

from __future__ import annotations


class MysqlReplication:
    def replicas_seen_from_primary(self) -> list:
        commands = self.features.replication_sender_commands
        if not commands:
            return []
        rows = self._rows(
            "SELECT ID, USER, HOST, TIME FROM information_schema.PROCESSLIST WHERE COMMAND IN (%s) ORDER BY ID"
            % ", ".join(["%s"] * len(commands)), commands)
        # The primary does not know how far a replica has applied what it sent: lag None.
        return [{"name": "%s (binlog dump thread %s, user %s)" % (host, thread, user), "thread_id": thread, "user": user,
                 "address": host, "state": "unknown", "lag_seconds": None, "lag_bytes": None,
                 "connected_seconds": seconds} for thread, user, host, seconds in rows]

    def replica_own_view(self) -> dict:
        statement = self.features.replica_status_statement
        rows = self._rows(statement, as_dict=True)
        if not rows:
            return {"replicating": False, "paused": None, "io_running": None, "sql_running": None, "lag_seconds": None,
                    "lag_bytes": None, "last_error": "not a replica (%s is empty)" % statement}
        status = rows[0]
        value = {key: status.get(column) for key, column in self.features.replica_status_columns}
        errors = ["IO thread: %s" % value["last_io_error"] if value.get("last_io_error") else None,
                  "SQL thread: %s" % value["last_sql_error"] if value.get("last_sql_error") else None]
        seconds = value.get("seconds_behind")
        return {
            "replicating": True,
            "paused": None,
            # "Connecting" is not running: the replica cannot reach its source.
            "io_running": value.get("io_running") == "Yes",
            "io_state": value.get("io_running"),
            "sql_running": value.get("sql_running") == "Yes",
            "lag_seconds": None if seconds is None else float(seconds),
            "lag_bytes": None,
            "last_error": "; ".join(e for e in errors if e) or None,
            "source": "%s:%s" % (value.get("source_host"), value.get("source_port")),
        }

    def primary_position(self) -> str | None:
        # MariaDB's gtid_binlog_pos, MySQL's gtid_executed; empty without GTIDs (then nothing to compare).
        rows = self._rows(self.features.primary_position_query)
        return (rows[0][0] or None) if rows else None

    def applied_position(self, position: str, wait_seconds: float) -> bool:
        rows = self._rows(self.features.replica_applied_query, (position, max(float(wait_seconds), 0.0)))
        return bool(rows and rows[0][0])
