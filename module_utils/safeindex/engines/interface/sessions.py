"""Other sessions on the server: the run lock, sessions in the way, long transactions, replicas, lock waits."""

from __future__ import annotations

import time


class Sessions:
    # Whether idle() may be cut short by a signal: a client-side sleep may; a wait inside the server may not (the session
    # would stay busy there, and its lock held, after the holder has gone).
    idle_interruptible = True

    def sessions_in_the_way(self, schema: str, table: str, min_age_seconds: float, for_drop: bool = False) -> list:
        """Sessions whose open transactions would make our DDL wait on this table (oldest first)."""
        raise NotImplementedError

    # one run per database at a time
    def try_run_lock(self) -> bool:
        raise NotImplementedError

    def release_run_lock(self) -> bool:
        raise NotImplementedError

    def run_lock_holder(self) -> dict | None:
        raise NotImplementedError

    def idle(self, seconds: float) -> None:
        """Wait while holding the run lock (MySQL waits inside the server, where others can see who holds it)."""
        time.sleep(seconds)

    def connection_count(self) -> tuple:
        """(client sessions other than ours, of which active) on this database (PostgreSQL) or server (MySQL)."""
        raise NotImplementedError

    def long_transactions(self, min_age_seconds: float) -> list:
        """Sessions whose transaction (or statement) has run longer than this, oldest first."""
        raise NotImplementedError

    def replicas(self) -> list:
        """[{name, state, lag_seconds}] of the replicas this server feeds; lag None where it cannot be read."""
        raise NotImplementedError

    def lock_waits(self) -> list:
        """Sessions of this database waiting for a lock right now: [{pid, waiting_seconds, query, blocked_by, lock}]."""
        raise NotImplementedError

    def cancel_run_statements(self, run_id: str) -> list:
        """Cancel the statements other sessions of this run are running (a build its ended playbook left behind);
        returns the sessions told to stop."""
        raise NotImplementedError

    def cancel_orphaned_builds(self, run_id: str, dry_run: bool = False) -> list:
        """Index DDL of another run still running on the server (a build whose client went away: a cut network, a
        killed process), stopped unless dry_run: [{pid, run_id, age_seconds, state, query}]. Called with the run
        lock held, so no other run is live: what carries another run's marker is an orphan."""
        raise NotImplementedError
