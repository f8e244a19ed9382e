"""What an online ALTER on InnoDB needs besides the data directory: room for its sort files in the server's tmpdir, and
room in its online log (innodb_online_alter_log_max_size) for the table's writes while it builds."""

from __future__ import annotations

from ansible.module_utils.safeindex.engines.interface.traps import ServerTraps

# MariaDB 10.11 counts row changes per table only with the user statistics on (userstat=ON, off as it ships:
# information_schema.TABLE_STATISTICS.ROWS_CHANGED). Otherwise the server's own Handler_write, Handler_update and
# Handler_delete count every table's: an upper bound for this table's. (Measured on 10.11: INNODB_METRICS has no dml_*
# counters, and INNODB_SYS_TABLESTATS.MODIFIED_COUNTER skips updates of unindexed columns and resets when statistics
# are recalculated, so it is not used.)
SERVER_WIDE = "row changes on the whole server (Handler_write + Handler_update + Handler_delete; an upper bound for" \
              " the table's own: userstat=ON counts them per table)"


class MysqlOnlineLog(ServerTraps):
    def sort_directory(self) -> str | None:
        # innodb_tmpdir, when set, is where InnoDB's online ALTER sorts; else tmpdir (a list: the first takes the files).
        innodb_tmpdir, tmpdir = self._rows("SELECT @@innodb_tmpdir, @@tmpdir")[0]
        chosen = innodb_tmpdir or (tmpdir or "").split(":")[0]
        return chosen or None

    def online_alter_log_limit(self) -> int | None:
        return int(self._rows("SELECT @@innodb_online_alter_log_max_size")[0][0])

    def table_bytes(self, schema: str, table: str) -> int | None:
        rows = self._rows("SELECT DATA_LENGTH FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s",
                          (schema, table))
        return int(rows[0][0]) if rows and rows[0][0] is not None else None

    def write_counter(self, schema: str, table: str) -> tuple:
        userstat = self._rows("SHOW GLOBAL VARIABLES LIKE 'userstat'")
        if userstat and str(userstat[0][1]).upper() == "ON":
            rows = self._rows("SELECT ROWS_CHANGED FROM information_schema.TABLE_STATISTICS WHERE TABLE_SCHEMA = %s"
                              " AND TABLE_NAME = %s", (schema, table))
            return (int(rows[0][0]) if rows else 0), "row changes of %s (TABLE_STATISTICS.ROWS_CHANGED)" % table
        counters = self._rows("SHOW GLOBAL STATUS WHERE Variable_name IN ('Handler_write', 'Handler_update', 'Handler_delete')")
        return sum(int(value) for _name, value in counters), SERVER_WIDE
