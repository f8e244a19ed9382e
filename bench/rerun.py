"""The idempotent rerun: migrate.yml on one database whose indexes are all in place, with nothing to do.

    python bench/rerun.py [--messages 20000] [--engine postgresql|mysql|both] [--repeat 3]

For each engine: one sandbox database; migrate.yml once to build the spec (not measured), then migrate.yml again
`--repeat` times with monitor_duration_seconds 0: every index exists, so the run checks, verifies and reports.
Side by side, in the same run: a play that does nothing on the same inventory (bench/playbooks/noop.yml), which is
what any playbook pays to start. Measured: wall time, the controller's CPU seconds (ansible-playbook, its forks and
the module processes), the tasks and the module processes of the run (bench/callback_plugins/task_times.py), and
changed=0 in the recap. Target (issue 17): the rerun in at most 5 s wall and 5 CPU-s. Prints a table and the
slowest tasks of the median run, writes JSON (bench/results/rerun.json by default).
"""

import argparse
import json
import os
import re
import resource
import statistics
import tempfile
import time
from pathlib import Path

import harness

import sandbox

TARGET_WALL_SECONDS = 5.0
TARGET_CPU_SECONDS = 5.0
NOOP_PLAYBOOK = "bench/playbooks/noop.yml"
HOST = "rerun_db"
ENGINE_LABELS = {"postgresql": "PostgreSQL", "mysql": "MariaDB"}


def child_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def profiled_run(playbook: str, inventory: Path, times_file: Path, *extra: str) -> dict:
    """One timed ansible-playbook run with the task_times callback; its wall, CPU, recap and task profile."""
    env = {
        "ANSIBLE_CALLBACK_PLUGINS": "%s:%s" % (harness.REPO / "bench" / "callback_plugins", harness.REPO / "callback_plugins"),
        "ANSIBLE_CALLBACKS_ENABLED": "task_times,safeindex_progress",
        "SAFEINDEX_TASK_TIMES_FILE": str(times_file),
    }
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        cpu_before = child_cpu_seconds()
        completed, wall = harness.run_playbook(playbook, inventory, *extra)
        cpu = child_cpu_seconds() - cpu_before
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    profile = json.loads(times_file.read_text())
    # The host's own line of the recap (the inventory check's play may add localhost's before it).
    recap = re.search(r"^%s\s*:.*?changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)" % HOST, completed.stdout, re.M)
    return {
        "wall_seconds": round(wall, 2),
        "cpu_seconds": round(cpu, 2),
        "tasks": profile["tasks"],
        "module_processes": profile["module_processes"],
        "changed": int(recap.group(1)) if recap else None,
        "failed": int(recap.group(3)) if recap else None,
        "slowest_tasks": profile["per_task"][:8],
    }


def measure_engine(engine: str, messages: int, repeat: int, workdir: Path) -> dict:
    harness.say("%s: a database of %d messages..." % (engine, messages))
    with sandbox.running(engine, messages=messages, progress=harness.quiet) as db:
        inventory = harness.write_inventory(workdir / engine, {HOST: db}, monitor_duration_seconds=0,
                                            monitor_interval_seconds=1)
        harness.say("  migrate.yml: building the spec...")
        first = profiled_run("migrate.yml", inventory, workdir / ("%s-first.json" % engine))
        noops, reruns = [], []
        for attempt in range(1, repeat + 1):
            noops.append(profiled_run(NOOP_PLAYBOOK, inventory, workdir / ("%s-noop-%d.json" % (engine, attempt))))
            harness.say("  rerun %d of %d..." % (attempt, repeat))
            rerun = profiled_run("migrate.yml", inventory, workdir / ("%s-rerun-%d.json" % (engine, attempt)))
            harness.say("    %.2f s wall, %.2f CPU-s, %d module processes, changed=%s"
                        % (rerun["wall_seconds"], rerun["cpu_seconds"], rerun["module_processes"], rerun["changed"]))
            reruns.append(rerun)
        report = harness.latest_report(inventory, HOST)
    middle = sorted(reruns, key=lambda run: run["wall_seconds"])[len(reruns) // 2]
    wall = statistics.median(run["wall_seconds"] for run in reruns)
    cpu = statistics.median(run["cpu_seconds"] for run in reruns)
    return {
        "engine": engine,
        "messages": messages,
        "first_run": first,
        "noop_play_wall_seconds": statistics.median(run["wall_seconds"] for run in noops),
        "noop_play_cpu_seconds": statistics.median(run["cpu_seconds"] for run in noops),
        "rerun_wall_seconds": wall,
        "rerun_cpu_seconds": cpu,
        "rerun_module_processes": middle["module_processes"],
        "rerun_tasks": middle["tasks"],
        "rerun_changed": [run["changed"] for run in reruns],
        "rerun_slowest_tasks": middle["slowest_tasks"],
        "rerun_report": {"status": report["status"], "indexes_created": report["indexes_created"],
                         "total_in_place": report["total_in_place"]},
        "reruns": reruns,
        "target": {
            "wall": "met" if wall <= TARGET_WALL_SECONDS else "missed",
            "cpu": "met" if cpu <= TARGET_CPU_SECONDS else "missed",
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--engine", choices=["postgresql", "mysql", "both"], default="both")
    parser.add_argument("--repeat", type=int, default=3, help="reruns measured; the median is kept")
    parser.add_argument("--quick", action="store_true", help="a tiny database and one rerun: proves the benchmark still works")
    parser.add_argument("--output", default=str(harness.default_output("rerun")))
    args = parser.parse_args()
    if args.quick:
        args.messages, args.repeat = 2000, 1
    engines = ["postgresql", "mysql"] if args.engine == "both" else [args.engine]
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="safeindex-bench-rerun-") as workdir:
        rows = [measure_engine(engine, args.messages, args.repeat, Path(workdir)) for engine in engines]
    harness.print_table(
        "migrate.yml rerun with every index in place (monitor 0 s), median of %d; a play doing nothing beside it" % args.repeat,
        ["engine", "no-op play wall", "rerun wall", "rerun CPU-s", "tasks", "module processes", "changed",
         "first run (builds) wall", "first run module processes", "target (<= 5 s, <= 5 CPU-s)"],
        [[ENGINE_LABELS[row["engine"]], "%.2f" % row["noop_play_wall_seconds"], "%.2f" % row["rerun_wall_seconds"],
          "%.2f" % row["rerun_cpu_seconds"], row["rerun_tasks"], row["rerun_module_processes"],
          ",".join(str(value) for value in row["rerun_changed"]), "%.2f" % row["first_run"]["wall_seconds"],
          row["first_run"]["module_processes"], "wall %s, CPU %s" % (row["target"]["wall"], row["target"]["cpu"])]
         for row in rows])
    for row in rows:
        print("Slowest tasks of the median rerun (%s):" % ENGINE_LABELS[row["engine"]])
        for task in row["rerun_slowest_tasks"]:
            print("    %5.2f s  %2d process(es)  %s" % (task["seconds"], task["modules"], task["name"]))
        print()
    harness.write_json(args.output, "rerun", {
        "messages": args.messages, "repeat": args.repeat, "engines": engines,
        "target": {"wall_seconds": TARGET_WALL_SECONDS, "cpu_seconds": TARGET_CPU_SECONDS}}, rows,
        seconds=round(time.monotonic() - started, 1))


if __name__ == "__main__":
    main()
