"""How far a PostgreSQL index build has come: pg_stat_progress_create_index, read from a second session."""

from ansible.module_utils.safeindex.engines.interface.progress import Progress


class PostgresProgress(Progress):
    def backend_id(self) -> int:
        return self._rows("SELECT pg_backend_pid()")[0][0]

    def build_progress(self, backend_id) -> dict:
        rows = self._rows(
            "SELECT p.phase, p.blocks_done, p.blocks_total, p.tuples_done, p.tuples_total, p.lockers_done, p.lockers_total,"
            " p.current_locker_pid, a.wait_event_type, a.wait_event"
            " FROM pg_stat_activity a LEFT JOIN pg_stat_progress_create_index p ON p.pid = a.pid WHERE a.pid = %s",
            (backend_id,),
        )
        if not rows:
            return {"phase": None}
        phase, blocks_done, blocks_total, tuples_done, tuples_total, lockers_done, lockers_total, locker, wait_type, wait = rows[0]
        found = {"phase": phase, "blocks_done": blocks_done, "blocks_total": blocks_total, "tuples_done": tuples_done,
                 "tuples_total": tuples_total, "lockers_done": lockers_done, "lockers_total": lockers_total}
        # The waiting phases ("waiting for old snapshots", "... for writers ...") wait for other sessions, one by one;
        # the block and tuple counts they show are left over from the phase before.
        if (phase or "").startswith("waiting"):
            pass
        elif blocks_total:
            found.update(percent=min(100, 100 * blocks_done // blocks_total), unit="blocks")
        elif tuples_total:
            found.update(percent=min(100, 100 * tuples_done // tuples_total), unit="tuples")
        if lockers_total:
            found["waiting"] = "%d of %d sessions done%s" % (lockers_done, lockers_total, ", now pid %s" % locker if locker else "")
        elif wait_type in ("Lock", "IPC"):
            found["waiting"] = "waiting on %s %s" % (wait_type, wait)
        return found
