"""The run record: an append-only JSON-lines log in artifacts/<host>/<run_id>/record.jsonl.

Each module appends what it did as it does it, so the record tells what a run changed even
when the run was killed halfway (rollback reads it, with the index comments as a second source).
"""

import json
import os
import time

from ansible.module_utils.safeindex.core.files import append_private

RECORD_FILE = "record.jsonl"


def now_iso():
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + "Z"


class RunRecord:
    def __init__(self, run_dir):
        self.run_dir = run_dir
        self.path = os.path.join(run_dir, RECORD_FILE)

    def append(self, event, **data):
        append_private(self.path, json.dumps(dict(data, event=event, at=now_iso()), sort_keys=True, default=str))

    def events(self):
        try:
            with open(self.path) as handle:
                lines = handle.read().splitlines()
        except OSError:
            return []
        events = []
        for line in lines:
            try:
                events.append(json.loads(line))
            except ValueError:
                continue  # a line cut short by a crash: the rest still counts
        return events

    def phases(self):
        """[{name, started, finished, duration_seconds}] in the order the phases began."""
        phases, order = {}, []
        for event in self.events():
            name = event.get("phase")
            if event.get("event") == "phase_start" and name:
                order.append(name)
                phases[name] = {"name": name, "started": event["at"], "finished": None,
                                "duration_seconds": None, "_t0": event.get("monotonic")}
            elif event.get("event") == "phase_end" and name in phases:
                phase = phases[name]
                phase["finished"] = event["at"]
                if phase["_t0"] is not None and event.get("monotonic") is not None:
                    phase["duration_seconds"] = round(event["monotonic"] - phase["_t0"], 3)
        result = []
        for name in order:
            phase = dict(phases[name])
            phase.pop("_t0")
            result.append(phase)
        return result


def recorder(run_dir, check_mode):
    """A `record(event, **data)` callable for the engine: writes nothing in check mode or without a run dir."""
    if check_mode or not run_dir:
        return lambda event, **data: None
    return RunRecord(run_dir).append
