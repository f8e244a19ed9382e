"""How far a MySQL or MariaDB ALTER has come: MariaDB's PROCESSLIST stages, else the state."""

from ansible.module_utils.safeindex.engines.interface.progress import Progress


class MysqlProgress(Progress):
    def backend_id(self) -> int:
        return self._rows("SELECT CONNECTION_ID()")[0][0]

    def build_progress(self, backend_id) -> dict:
        # MariaDB reports STAGE, MAX_STAGE and PROGRESS where the engine measures it (InnoDB's online ALTER
        # does not: 0 of 0); MySQL has no such columns (features.processlist_progress). Then the state and the
        # elapsed time are what there is.
        if self.features.processlist_progress:
            rows = self._rows("SELECT STATE, STAGE, MAX_STAGE, PROGRESS FROM information_schema.PROCESSLIST WHERE ID = %s",
                              (backend_id,))
        else:
            rows = [tuple(row) + (None, None, None) for row in
                    self._rows("SELECT STATE FROM information_schema.PROCESSLIST WHERE ID = %s", (backend_id,))]
        if not rows:
            return {"phase": None}
        state, stage, max_stage, progress = rows[0]
        found = {"phase": state or None, "stage": stage, "max_stage": max_stage}
        if max_stage:
            found["phase"] = "%s (stage %d of %d)" % (state or "running", stage, max_stage)
            found.update(percent=int(progress or 0), unit="stage")
        return found
