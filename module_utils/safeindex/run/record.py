"""The run record: an append-only JSON-lines log in artifacts/<host>/<run_id>/record.jsonl.

Each module appends what it did as it does it, so the record tells what a run changed even
when the run was killed halfway (rollback reads it, with the index comments as a second source).
Each phase's module also appends its result as it finishes (record_phase_result): the report of a run,
whether it ended well, failed or was interrupted, is built from this record alone (report/from_record.py).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from typing import Any

from ansible.module_utils.safeindex.core.files import append_private

RECORD_FILE = "record.jsonl"
RESULT_EVENT = "result"
# The run's `start` may name the phases the play runs, in order (`phases`). A phase the play then skipped (no backup
# when nothing is to be built, no snapshot without an RDS id) records nothing: no process is started just to say
# so. phases_of() shows it as a phase of no duration where it would have been, as the report always has.
PLANNED_PHASES = "phases"

# Ansible's own keys of a module's result, and bulky or display-only ones: not the phase's findings.
NOT_RECORDED = {"invocation", "changed", "skipped", "skip_reason", "warnings", "deprecations", "diff", "table"}


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + "Z"


class RunRecord:
    def __init__(self, run_dir: str) -> None:
        self.run_dir = run_dir
        self.path = os.path.join(run_dir, RECORD_FILE)

    def append(self, event: str, **data: Any) -> None:
        append_private(self.path, json.dumps(dict(data, event=event, at=now_iso()), sort_keys=True, default=str))

    def phase(self, event: str, phase: str, run_id: str | None = None, since: float | None = None) -> None:
        """A phase's start or end (`event` phase_start or phase_end), written by the module that does the phase.

        `since` (epoch seconds) dates the event back to when the phase began on the controller (the monitor phase
        starts with its smoke checks, before the module that records it runs)."""
        data: dict[str, Any] = {"phase": phase, "monotonic": time.monotonic()}
        if run_id:
            data["run_id"] = run_id
        at = now_iso()
        if since is not None:
            ago = max(0.0, time.time() - float(since))
            data["monotonic"] -= ago
            at = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(float(since))) + "Z"
        append_private(self.path, json.dumps(dict(data, event=event, at=at), sort_keys=True, default=str))

    def events(self) -> list[dict[str, Any]]:
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

    def phases(self, events: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
        """[{name, started, finished, duration_seconds}] in the order the phases began."""
        return phases_of(self.events() if events is None else events)


def phases_of(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """[{name, started, finished, duration_seconds}] of these events, in the order the phases began; a phase the run's
    start planned that did not run while a later one did was skipped: it is shown where it belongs, of no duration
    (`skipped` true, started and finished when the next phase started)."""
    start = next((event for event in events if event.get("event") == "start"), {})
    return with_skipped(recorded_phases(events), start.get(PLANNED_PHASES) or [])


def with_skipped(phases: list[dict[str, Any]], planned: list[str]) -> list[dict[str, Any]]:
    """The phases, each skipped phase of `planned` put in before the first later phase that ran."""
    planned = list(planned)
    ran = {phase["name"] for phase in phases}
    result = []
    for phase in phases:
        name = phase["name"]
        if name in planned:
            for skipped in planned[:planned.index(name)]:
                if skipped not in ran:
                    ran.add(skipped)
                    result.append({"name": skipped, "started": phase["started"], "finished": phase["started"],
                                   "duration_seconds": 0.0, "skipped": True})
        result.append(phase)
    return result


def recorded_phases(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """[{name, started, finished, duration_seconds}] of the phases these events started, in the order they began."""
    phases, order = {}, []
    for event in events:
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


def last_run(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The events since the run's last `start` (a run id given twice keeps one folder); [] when it never started."""
    starts = [number for number, event in enumerate(events) if event.get("event") == "start"]
    return events[starts[-1]:] if starts else []


def record_phase_result(run_dir: str | None, phase: str, result: dict[str, Any], check_mode: bool = False) -> None:
    """Append a phase's result (a module's result as it exits, failed or not) to the run record, for the report.

    Nothing is written in check mode or without a run folder, like every other entry of the record."""
    if check_mode or not run_dir:
        return
    kept = {k: v for k, v in result.items() if k not in NOT_RECORDED and not k.startswith("_ansible")}
    RunRecord(run_dir).append(RESULT_EVENT, phase=phase, result=kept, monotonic=time.monotonic())


def phase_results(events: list[dict[str, Any]], phase: str) -> list[dict[str, Any]]:
    """Every result recorded for the phase, oldest first."""
    return [e.get("result") or {} for e in events if e.get("event") == RESULT_EVENT and e.get("phase") == phase]


def last_phase_result(events: list[dict[str, Any]], phase: str) -> dict[str, Any] | None:
    """The phase's last recorded result; None when the phase recorded none (it did not run, or not that far)."""
    results = phase_results(events, phase)
    return results[-1] if results else None


def record_phase(run_dir: str | None, event: str, phase: str, check_mode: bool = False, run_id: str | None = None,
                 since: float | None = None) -> None:
    """A phase's start or end in the run record (RunRecord.phase); nothing in check mode or without a run folder."""
    if check_mode or not run_dir:
        return
    RunRecord(run_dir).phase(event, phase, run_id, since)


def record_start(run_dir: str | None, run_id: str, data: dict[str, Any], check_mode: bool = False) -> None:
    """The run's `start` event, the first of its record (the report reads the run's events from its last start):
    its host, engine and settings (`data`, the run's settings among them)."""
    if check_mode or not run_dir:
        return
    RunRecord(run_dir).append("start", **dict(data, run_id=run_id, monotonic=time.monotonic()))


def recorder(run_dir: str | None, check_mode: bool) -> Callable[..., None]:
    """A `record(event, **data)` callable for the engine: writes nothing in check mode or without a run dir."""
    if check_mode or not run_dir:
        return lambda event, **data: None
    return RunRecord(run_dir).append
