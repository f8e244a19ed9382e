"""Replicas and their lag, as each engine can read them (run/replica_lag.py judges them).

PostgreSQL sees its standbys from the primary (pg_stat_replication) and each standby can say more about itself;
MySQL/MariaDB replicas only know their own lag (SHOW REPLICA STATUS), so the primary lists connected replicas without it.
"""

from __future__ import annotations


class Replication:
    def replicas_seen_from_primary(self) -> list:
        """The replicas this server feeds, as the primary sees them:
        [{name, state, lag_seconds, lag_bytes}], a value None where this engine cannot read it from the primary."""
        return []

    def replica_own_view(self) -> dict:
        """Read on a connection to a replica: {paused, io_running, sql_running, lag_seconds, lag_bytes, last_error},
        a key None where this engine does not say it."""
        return {}

    def primary_position(self) -> str | None:
        """Where the primary's log stands now, for applied_position() on its replicas; None where the engine's lag
        needs no such check (PostgreSQL: bytes behind say it) or the server does not say."""
        return None

    def applied_position(self, position: str, wait_seconds: float) -> bool:
        """On a replica: whether it has applied the primary's `position`, waiting for it up to `wait_seconds`."""
        return True
