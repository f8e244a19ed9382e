"""Known server traps that preflight looks for (run/server_checks.py judges them; the features say which apply).

An engine without a trap keeps the default answer here (nothing found); an engine with one answers it in a mixin of its
own (engines/postgresql/prepared.py, engines/mysql/online_log.py).
"""

from __future__ import annotations


class ServerTraps:
    def prepared_transactions(self, min_age_seconds: float) -> list:
        """Two-phase transactions prepared longer ago than this, oldest first:
        [{gid, owner, database, age_seconds, this_database}]. A concurrent build waits for them, and they never end
        by themselves (COMMIT PREPARED / ROLLBACK PREPARED ends them)."""
        return []

    def sort_directory(self) -> str | None:
        """Where the server writes an online build's sort files, when that is outside its data directory."""
        return None

    def online_alter_log_limit(self) -> int | None:
        """Bytes of concurrent writes one online build may log before it fails (features.online_alter_log_setting)."""
        return None

    def table_bytes(self, schema: str, table: str) -> int | None:
        """The table's data size as the catalog reports it (what a build reads)."""
        return None

    def write_counter(self, schema: str, table: str) -> tuple:
        """(row changes counted so far, what the count covers): sampled twice, the difference over the interval is the
        write rate. (None, why) where nothing counts them."""
        return None, "the server counts no row changes"
