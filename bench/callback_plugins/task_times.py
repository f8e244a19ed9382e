# Benchmark aid: the wall time of every task and the number of module processes, printed at the end of the play
# (ansible-core has no profile_tasks of its own; that one is in ansible.posix).
# Enable with ANSIBLE_CALLBACK_PLUGINS=bench/callback_plugins ANSIBLE_CALLBACKS_ENABLED=task_times,...
from __future__ import annotations

import json
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: task_times
type: aggregate
short_description: wall time per task and the count of module processes (benchmarks)
description:
  - Prints each task's wall time, slowest first, and how many tasks ran a module process (actions the controller
    runs itself, such as set_fact, assert and debug, start none).
  - With SAFEINDEX_TASK_TIMES_FILE set, also writes the figures there as JSON.
requirements: []
"""

# Actions that run inside the controller's worker and start no module process on the target.
CONTROLLER_ACTIONS = frozenset({
    "set_fact", "assert", "debug", "fail", "meta", "include_role", "import_role", "include_tasks",
    "import_tasks", "include_vars", "validate_argument_spec", "add_host", "group_by", "set_stats",
})


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "task_times"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self) -> None:
        super().__init__()
        self._started: dict[str, float] = {}
        self._tasks: dict[str, dict] = {}
        self._current = ""

    def v2_playbook_on_task_start(self, task, is_conditional) -> None:
        self._current = task._uuid
        self._started[task._uuid] = time.monotonic()
        short = task.action.rsplit(".", 1)[-1]
        self._tasks[task._uuid] = {"name": task.get_name(), "action": short, "seconds": 0.0, "modules": 0}

    def _finished(self, result, ran: bool) -> None:
        entry = self._tasks.get(result._task._uuid)
        if entry is None:
            return
        entry["seconds"] = time.monotonic() - self._started[result._task._uuid]
        if ran and entry["action"] not in CONTROLLER_ACTIONS:
            # A loop runs one process per item; a module that returns a `results` list of its own (db_index with
            # `indexes:`) is one process.
            items = result._result.get("results", []) if result._task.loop else []
            entry["modules"] += len(items) or 1

    def v2_runner_on_ok(self, result) -> None:
        self._finished(result, True)

    def v2_runner_on_failed(self, result, ignore_errors=False) -> None:
        self._finished(result, True)

    def v2_runner_on_skipped(self, result) -> None:
        self._finished(result, False)

    def v2_playbook_on_stats(self, stats) -> None:
        tasks = sorted(self._tasks.values(), key=lambda entry: -entry["seconds"])
        modules = sum(entry["modules"] for entry in tasks)
        self._display.display(f"task times: {len(tasks)} tasks, {modules} module processes")
        for entry in tasks[:25]:
            self._display.display(f"  {entry['seconds']:6.2f} s  {entry['modules']:3d}  {entry['action']:<22} {entry['name']}")
        path = os.environ.get("SAFEINDEX_TASK_TIMES_FILE")
        if path:
            with open(path, "w", encoding="utf-8") as handle:
                json.dump({"tasks": len(tasks), "module_processes": modules, "per_task": tasks}, handle, indent=1)
