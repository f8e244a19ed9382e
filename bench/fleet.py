"""Fleet: migrate.yml on N databases at once (one inventory, --forks N), wall time against N.

    python bench/fleet.py [--sizes 1,4,8] [--messages 20000] [--engine postgresql|mysql|both] [--repeat 1]

For each engine: one sandbox server holding max(sizes) databases of the sample app (each its own data,
seed and host in the inventory). For each N: the spec's indexes are dropped from every database, then
migrate.yml runs on the first N hosts with --forks N and one run id, so every run does the whole job on
every host (preflight, a verified backup, 20 online builds, verify, report). Measured: wall time, the
ratio to N=1, and the CPU seconds of the controller (ansible-playbook, its forks, the modules and the
client tools they start), which on a 2-core machine is what the fleet's time is made of.
Targets (issue 17): N=8 in at most 2.0 times the time of N=1, and at most 6 controller CPU-s per database.
The backup verification is the product's default (a restore), printed with the table (from the reports).
Prints a table, writes JSON (bench/results/fleet.json)
and a plot of wall time and controller CPU against N (bench/results/fleet.png).
"""

import argparse
import dataclasses
import os
import resource
import statistics
import tempfile
import time
from pathlib import Path

import harness

import sandbox

TARGET_N, TARGET_RATIO = 8, 2.0
TARGET_CPU_PER_DATABASE = 6.0
CORES = os.cpu_count() or 1
SPEC_INDEXES = 20


def child_cpu_seconds():
    """User + system CPU of every finished child process of this one (and of their children, once waited for)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def machine_busy_seconds():
    """CPU seconds all cores spent busy so far (/proc/stat): other processes, the servers included."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / 100.0  # USER_HZ; steal and guest excluded from the busy sum


def make_fleet(first, count, messages, progress):
    """`count` app databases on the first's server: the first one, then chatbot_2 ... with the same user, each its own data."""
    fleet = [first]
    for number in range(2, count + 1):
        name = "%s_%d" % (first.name, number)
        progress("  loading %s (%d messages)..." % (name, messages))
        sandbox.prepare_app_database(first.server, name, first.user, first.password, messages, seed=41 + number,
                                     progress=harness.quiet)
        fleet.append(dataclasses.replace(first, name=name))
    return fleet


def reset_indexes(fleet):
    """No spec index on any database: the next run builds all 20 on each."""
    for db in fleet:
        dialect = harness.open_engine(db)
        try:
            harness.drop_spec_indexes(dialect)
        finally:
            dialect.close()


def host_name(db, number):
    return "fleet_%s_%02d" % ("pg" if db.engine == "postgresql" else "my", number)


def migrate_fleet(fleet, workdir, label, monitor_seconds):
    """migrate.yml on every database of `fleet` with one fork each; returns the measurement of this run."""
    hosts = {host_name(db, number): db for number, db in enumerate(fleet, 1)}
    inventory = harness.write_inventory(Path(workdir) / label, hosts, monitor_duration_seconds=monitor_seconds,
                                        monitor_interval_seconds=1)
    cpu_before, busy_before = child_cpu_seconds(), machine_busy_seconds()
    completed, wall = harness.run_playbook("migrate.yml", inventory, "-e", "run_id=%s" % label, forks=len(fleet))
    cpu = child_cpu_seconds() - cpu_before
    busy = machine_busy_seconds() - busy_before
    reports = {host: harness.latest_report(inventory, host) for host in hosts}
    return {
        "wall_seconds": round(wall, 2),
        "controller_cpu_seconds": round(cpu, 2),
        "machine_busy_seconds": round(busy, 2),
        "tasks_ok": completed.stdout.count("\nok: ") + completed.stdout.count("\nchanged: "),
        "hosts": [host_summary(host, report) for host, report in reports.items()],
    }


def host_summary(host, report):
    return {
        "host": host,
        "status": report["status"],
        "run_id": report["run_id"],
        "indexes_created": report["indexes_created"],
        "total_in_place": report["total_in_place"],
        "phases": harness.phase_seconds(report),
        "backup_verified_by": ((report.get("backup") or {}).get("verification") or {}).get("level"),
    }


def in_place_by_catalog(fleet):
    """How many spec indexes each database has, read from its catalog (not from the reports)."""
    counts = []
    for db in fleet:
        dialect = harness.open_engine(db)
        try:
            counts.append(count_spec_indexes(dialect))
        finally:
            dialect.close()
    return counts


def count_spec_indexes(dialect):
    """How many of the spec's indexes the database's catalog holds, by name."""
    import yaml
    from ansible.module_utils.safeindex.build import indexer
    from ansible.module_utils.safeindex.spec import parse as spec

    indexes, _probes = spec.load_spec(yaml.safe_load(harness.SPEC_FILE.read_text()), dialect.engine)
    found = 0
    for index in indexes:
        schema, _wanted = indexer.resolve(dialect, index)
        found += dialect.find_index(index, schema) is not None
    return found


def measure_engine(engine, sizes, messages, repeat, monitor_seconds, workdir):
    harness.say("%s: %d databases of %d messages..." % (engine, max(sizes), messages))
    started = time.monotonic()
    with sandbox.running(engine, messages=messages, progress=harness.quiet) as first:
        fleet = make_fleet(first, max(sizes), messages, harness.say)
        harness.say("  ready in %.0f s" % (time.monotonic() - started))
        rows = []
        for size in sizes:
            runs = []
            for attempt in range(1, repeat + 1):
                reset_indexes(fleet)
                label = "%s-n%d-r%d" % (engine, size, attempt)
                harness.say("  N=%d (run %d of %d): migrate.yml --forks %d..." % (size, attempt, repeat, size))
                run = migrate_fleet(fleet[:size], workdir, label, monitor_seconds)
                run["catalog_indexes"] = in_place_by_catalog(fleet[:size])
                harness.say("    %.1f s wall, %.1f s controller CPU" % (run["wall_seconds"], run["controller_cpu_seconds"]))
                runs.append(run)
            rows.append(summarise(engine, size, messages, runs))
        for row in rows:
            row["ratio_to_n1"] = round(row["wall_seconds"] / rows[0]["wall_seconds"], 2) if rows[0]["databases"] == 1 else None
        return rows


def summarise(engine, size, messages, runs):
    middle = sorted(runs, key=lambda run: run["wall_seconds"])[len(runs) // 2]
    return {
        "engine": engine,
        "databases": size,
        "forks": size,
        "messages_per_database": messages,
        "wall_seconds": statistics.median(run["wall_seconds"] for run in runs),
        "controller_cpu_seconds": middle["controller_cpu_seconds"],
        "controller_cpu_per_database": round(middle["controller_cpu_seconds"] / size, 2),
        "machine_busy_seconds": middle["machine_busy_seconds"],
        # Of all cores over the run's wall time: near 100 % means the machine, not the play, sets the pace.
        "machine_busy_percent": round(100 * middle["machine_busy_seconds"] / (middle["wall_seconds"] * CORES), 1),
        "runs": runs,
    }


def target_verdict(rows):
    """{'ratio': 'met' / 'missed' for N=8 against N=1 (None when the sizes do not include both), 'cpu': per database}."""
    by_size = {row["databases"]: row for row in rows}
    ratio = None
    if TARGET_N in by_size and 1 in by_size:
        ratio = "met" if by_size[TARGET_N]["ratio_to_n1"] <= TARGET_RATIO else "missed"
    worst_cpu = max(row["controller_cpu_per_database"] for row in rows)
    return {"ratio": ratio, "cpu": "met" if worst_cpu <= TARGET_CPU_PER_DATABASE else "missed",
            "worst_cpu_per_database": worst_cpu}


def plot(rows_by_engine, path):
    plt = harness.pyplot()
    figure, axis = plt.subplots(figsize=(7, 4.5))
    for engine, rows in rows_by_engine.items():
        sizes = [row["databases"] for row in rows]
        axis.plot(sizes, [row["wall_seconds"] for row in rows], marker="o", label="%s: wall time" % engine)
        axis.plot(sizes, [row["controller_cpu_seconds"] / 2 for row in rows], marker="x", linestyle="--",
                  label="%s: controller CPU / 2 cores" % engine)
        if rows[0]["databases"] == 1:
            axis.axhline(rows[0]["wall_seconds"] * TARGET_RATIO, color="grey", linestyle=":", linewidth=1,
                         label="%s: target for N=%d (%.1fx N=1)" % (engine, TARGET_N, TARGET_RATIO))
    axis.set_xlabel("databases (forks = N)")
    axis.set_ylabel("seconds")
    axis.set_title("migrate.yml on a fleet of N databases, one 2-core controller")
    axis.legend(fontsize="small")
    axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    harness.say("wrote %s" % path)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1,4,8", help="fleet sizes N, comma-separated (forks = N)")
    parser.add_argument("--messages", type=int, default=20_000, help="message rows of each database")
    parser.add_argument("--engine", choices=["postgresql", "mysql", "both"], default="postgresql")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each size; the median is kept")
    parser.add_argument("--monitor-seconds", type=float, default=0,
                        help="monitor_duration_seconds of the run (0: one health sample; a waiting window only flatters the ratio)")
    parser.add_argument("--quick", action="store_true", help="sizes 1,2 of tiny databases: proves the benchmark still works")
    parser.add_argument("--output", default=str(harness.default_output("fleet")))
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.messages, args.repeat = "1,2", 2000, 1
    sizes = sorted({int(size) for size in args.sizes.split(",")})
    engines = ["postgresql", "mysql"] if args.engine == "both" else [args.engine]
    rows_by_engine = {}
    with tempfile.TemporaryDirectory(prefix="safeindex-bench-fleet-") as workdir:
        for engine in engines:
            rows_by_engine[engine] = measure_engine(engine, sizes, args.messages, args.repeat, args.monitor_seconds, workdir)
    rows = [row for engine_rows in rows_by_engine.values() for row in engine_rows]
    verdicts = {engine: target_verdict(engine_rows) for engine, engine_rows in rows_by_engine.items()}
    harness.print_table(
        "migrate.yml on N databases (forks = N), %d messages each; seconds; CPU = controller + modules + client tools"
        % args.messages,
        ["engine", "N", "wall", "ratio to N=1", "controller CPU", "CPU per database", "machine busy", "indexes in place"],
        [[row["engine"], row["databases"], "%.1f" % row["wall_seconds"],
          "-" if row["ratio_to_n1"] is None else "%.2fx" % row["ratio_to_n1"],
          "%.1f" % row["controller_cpu_seconds"], "%.1f" % row["controller_cpu_per_database"],
          "%.0f %% of %d cores" % (row["machine_busy_percent"], CORES),
          "%d/%d" % (sum(row["runs"][0]["catalog_indexes"]), SPEC_INDEXES * row["databases"])] for row in rows])
    for engine, verdict in verdicts.items():
        print("Target (%s): N=%d in at most %.1fx the time of N=1: %s" % (
            engine, TARGET_N, TARGET_RATIO, verdict["ratio"] or "not measured (sizes lack 1 or %d)" % TARGET_N))
        print("Target (%s): at most %.1f controller CPU-s per database: %s (worst %.1f)" % (
            engine, TARGET_CPU_PER_DATABASE, verdict["cpu"], verdict["worst_cpu_per_database"]))
    verified = sorted({str(host["backup_verified_by"]) for row in rows for run in row["runs"] for host in run["hosts"]})
    print("Backups verified by: %s (the product's default, backup_verify)" % ", ".join(verified))
    output = harness.write_json(args.output, "fleet", {
        "sizes": sizes, "messages": args.messages, "cores": CORES, "repeat": args.repeat, "monitor_seconds": args.monitor_seconds,
        "target": {"databases": TARGET_N, "max_ratio_to_n1": TARGET_RATIO,
                   "max_cpu_per_database": TARGET_CPU_PER_DATABASE}}, rows, target=verdicts)
    plot(rows_by_engine, Path(output).with_suffix(".png"))


if __name__ == "__main__":
    main()
