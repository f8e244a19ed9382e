"""What adding the 20 indexes does to the app's traffic: the runbook's plain builds against migrate.yml.

    python bench/production_impact.py [--messages 2000000] [--engine postgresql|mysql|both] [--pg-major 15 18] [--quick]

For each engine (PostgreSQL of each --pg-major, side by side), one sandbox database of the sample app and a steady
workload of the app's writes (a message and its conversation's updated_at, in one transaction) and reads (a page of
messages), from several client threads at a fixed pace (bench/workload.py). Three phases on the same database, in order:

  baseline  the workload alone;
  runbook   the runbook's plain CREATE INDEX statements for the spec's indexes, one after another;
  migrate   `ansible-playbook migrate.yml` (preflight, verified backup, online builds, verify, report),
            after the runbook's indexes were dropped again.

For each phase: throughput (writes and reads per second while the DDL or the playbook ran, and against the
baseline), p50 / p99 / max write
latency, the longest write stall (the longest time in which no write completed) and errors. Target: migrate.yml
keeps throughput at 80 % of the baseline or more and stalls no write longer than 100 ms. Prints the table and the
verdict, writes JSON (bench/results/production_impact.json by default) and the plot of write latency over time
beside it (production_impact.png).
"""

import argparse
import tempfile
import time
from pathlib import Path

import harness
import workload
import yaml

import sandbox

BENCHMARK = "production_impact"
TARGET_THROUGHPUT_RATIO = 0.8
TARGET_STALL_MS = 100  # issue 18: with the restore check off the server (it was 250 before)
TIMELINE_BUCKET_SECONDS = 0.1


def main():
    args = parse_arguments()
    servers = harness.servers_to_measure(args.engine, args.pg_majors)
    shape = workload.WorkloadShape(args.writers, args.readers, args.write_rate, args.read_rate)
    results, samples = [], {}
    for engine, pg_major in servers:
        label = harness.server_label(engine, pg_major)
        harness.say("%s: %d messages..." % (label, args.messages))
        result, samples[label] = measure_engine(engine, args, shape, pg_major)
        results.append(result)
    print_results(results, shape)
    parameters = {"messages": args.messages, "pg_majors": sorted({m for _e, m in servers if m}),
                  "baseline_seconds": args.baseline_seconds, "settle_seconds": args.settle_seconds,
                  "writers": shape.writers, "readers": shape.readers, "writes_per_second_per_writer": shape.writes_per_second,
                  "reads_per_second_per_reader": shape.reads_per_second, "quick": args.quick}
    output = harness.write_json(args.output, BENCHMARK, parameters, results)
    plot(results, samples, output.with_suffix(".png"))


def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    workload.add_workload_arguments(parser)
    parser.add_argument("--baseline-seconds", type=float, default=20.0, help="length of the baseline phase")
    parser.add_argument("--settle-seconds", type=float, default=2.0,
                        help="workload alone before and after the DDL of the runbook and migrate phases")
    parser.add_argument("--quick", action="store_true", help="a tiny database and short phases: proves the benchmark still works")
    parser.add_argument("--output", default=str(harness.default_output(BENCHMARK)))
    harness.add_pg_major_argument(parser)
    args = parser.parse_args()
    if args.quick:
        args.messages, args.baseline_seconds, args.settle_seconds = 5000, 2.0, 0.5
    return args


def measure_engine(engine, args, shape, pg_major=None):
    """The three phases on one fresh sandbox database: (result, {phase: write samples}) of the server."""
    label = harness.server_label(engine, pg_major)
    with sandbox.running(engine, messages=args.messages, progress=harness.quiet, pg_major=pg_major) as db, \
            tempfile.TemporaryDirectory(prefix="safeindex-bench-impact-") as workdir:
        phases, samples = [], {}
        harness.say("%s: baseline, %.0f s of workload alone" % (label, args.baseline_seconds))
        with workload.Workload(db, shape) as load:
            time.sleep(args.baseline_seconds)
        phases.append(summarise("baseline", load))
        samples["baseline"] = load.samples.writes

        harness.say("%s: runbook, the plain CREATE INDEX statements under the workload" % label)
        plain_statements = spec_plain_statements(db)
        with workload.Workload(db, shape) as load:
            time.sleep(args.settle_seconds)
            statements = run_plain_statements(db, plain_statements, load)
            time.sleep(args.settle_seconds)
        phases.append(summarise("runbook", load, ddl_window(statements), spec_indexes_present(db), statements=statements))
        samples["runbook"] = load.samples.writes
        dialect = harness.open_engine(db)
        try:
            harness.drop_spec_indexes(dialect)
        finally:
            dialect.close()

        harness.say("%s: migrate, ansible-playbook migrate.yml under the workload" % label)
        # Monitoring watches the app afterwards for minutes in production; the benchmark measures the migration itself.
        # No client setting: the backup picks the pg_dump that fits the server (its major's), as for a user.
        inventory = harness.write_inventory(Path(workdir) / "inventory", {engine: db}, monitor_duration_seconds=0)
        with workload.Workload(db, shape) as load:
            time.sleep(args.settle_seconds)
            playbook_started = load.elapsed()
            harness.run_playbook("migrate.yml", inventory)
            playbook_window = (playbook_started, load.elapsed())
            time.sleep(args.settle_seconds)
        report_phases = harness.phase_seconds(harness.latest_report(inventory, engine))
        phases.append(summarise("migrate", load, playbook_window, spec_indexes_present(db), playbook_phases=report_phases))
        samples["migrate"] = load.samples.writes

        add_baseline_ratios(phases)
        result = {"engine": engine, "server": label, "pg_major": pg_major, "server_version": server_version(db),
                  "messages": args.messages, "database_bytes": database_bytes(db), "phases": phases,
                  "workload_rows_in_table": workload.count_workload_rows(db),
                  "writes_committed": sum(phase["writes"] for phase in phases)}
        result["target"] = target_verdict(phases)
        return result, samples


def run_plain_statements(db, plain_statements, load):
    """The runbook's statements one after another on their own connection; each with its window in the phase."""
    conn = db.connect()
    done = []
    try:
        with conn.cursor() as cur:
            for name, table, texts in plain_statements:
                started = load.elapsed()
                for text in texts:
                    cur.execute(text)
                done.append({"index": name, "table": table, "start": round(started, 3), "seconds": round(load.elapsed() - started, 3)})
                harness.say("  %s: %.2f s" % (name, done[-1]["seconds"]))
    finally:
        conn.close()
    return done


def spec_plain_statements(db):
    dialect = harness.open_engine(db)
    try:
        return harness.spec_statements(dialect, online=False)
    finally:
        dialect.close()


def spec_indexes_present(db):
    """How many of the spec's indexes the catalog holds, usable (PostgreSQL: valid)."""
    from ansible.module_utils.safeindex.build import indexer
    from ansible.module_utils.safeindex.spec import parse as spec

    dialect = harness.open_engine(db)
    try:
        indexes, _probes = spec.load_spec(yaml.safe_load(harness.SPEC_FILE.read_text()), dialect.engine)
        present = 0
        for index in indexes:
            schema, _wanted = indexer.resolve(dialect, index)
            found = dialect.find_index(index, schema)
            present += bool(found is not None and found.valid)
        return present
    finally:
        dialect.close()


def server_version(db):
    dialect = harness.open_engine(db)
    try:
        return dialect.server_version()
    finally:
        dialect.close()


def database_bytes(db):
    dialect = harness.open_engine(db)
    try:
        return dialect.database_size()
    finally:
        dialect.close()


def ddl_window(statements):
    if not statements:
        return None
    return (statements[0]["start"], statements[-1]["start"] + statements[-1]["seconds"])


def summarise(name, load, window=None, indexes_present=None, **extra):
    """One phase's figures from its samples: throughput, write latency percentiles, longest write stall, errors.

    Throughput counts the operations completed while the DDL ran (`window`; the whole phase for the baseline), so
    the quiet seconds around it do not dilute a short build's effect. Latencies and stalls cover the whole phase.
    """
    seconds = load.seconds
    window = window or (0.0, seconds)
    window_seconds = max(window[1] - window[0], 1e-6)
    writes, reads = load.samples.writes, load.samples.reads
    latencies = sorted(latency for _start, latency in writes)
    phase = {
        "name": name, "seconds": round(seconds, 3),
        "window": [round(edge, 3) for edge in window], "window_seconds": round(window_seconds, 3),
        "writes": len(writes), "reads": len(reads),
        "writes_per_second": round(completed_within(writes, window) / window_seconds, 1),
        "reads_per_second": round(completed_within(reads, window) / window_seconds, 1),
        "write_p50_ms": milliseconds(percentile(latencies, 0.50)),
        "write_p99_ms": milliseconds(percentile(latencies, 0.99)),
        "write_max_ms": milliseconds(latencies[-1] if latencies else None),
        "longest_write_stall_ms": milliseconds(longest_stall(writes, seconds)),
        "errors": load.samples.errors, "last_error": load.samples.last_error,
        "write_latency_timeline": timeline(writes),
        **extra,
    }
    if indexes_present is not None:
        phase["spec_indexes_present"] = indexes_present
    return phase


def completed_within(samples, window):
    return sum(1 for start, latency in samples if window[0] <= start + latency <= window[1])


def percentile(ordered, fraction):
    """Nearest-rank percentile of an ascending list (None when empty)."""
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def longest_stall(writes, seconds):
    """The longest interval of the phase in which no write completed, across all writer threads.

    A gap between consecutive completions: it catches a stall in which every writer waits (each one's own latency
    would only show the wait of its one blocked write).
    """
    completions = sorted(start + latency for start, latency in writes if start + latency <= seconds)
    edges = [0.0, *completions, seconds]
    return max(later - earlier for earlier, later in zip(edges, edges[1:], strict=False))


def timeline(writes):
    """The slowest write started in each 100 ms of the phase: [[seconds, ms], ...] (the plot's data, compact)."""
    slowest = {}
    for start, latency in writes:
        bucket = int(start / TIMELINE_BUCKET_SECONDS)
        slowest[bucket] = max(slowest.get(bucket, 0.0), latency)
    return [[round(bucket * TIMELINE_BUCKET_SECONDS, 1), milliseconds(slowest[bucket])] for bucket in sorted(slowest)]


def milliseconds(seconds):
    return None if seconds is None else round(seconds * 1000, 1)


def add_baseline_ratios(phases):
    baseline = phases[0]
    for phase in phases:
        for kind in ("writes", "reads"):
            rate = baseline["%s_per_second" % kind]
            phase["%s_ratio" % kind] = round(phase["%s_per_second" % kind] / rate, 3) if rate else None


def target_verdict(phases):
    """migrate.yml: throughput (writes and reads) at 80 % of the baseline or more, no write stall over 100 ms."""
    migrate = next(phase for phase in phases if phase["name"] == "migrate")
    throughput_kept = all((migrate["%s_ratio" % kind] or 0) >= TARGET_THROUGHPUT_RATIO for kind in ("writes", "reads"))
    stall_short = migrate["longest_write_stall_ms"] <= TARGET_STALL_MS
    return {"throughput_ratio_min": TARGET_THROUGHPUT_RATIO, "stall_ms_max": TARGET_STALL_MS,
            "throughput_kept": throughput_kept, "stall_short": stall_short,
            "verdict": "met" if throughput_kept and stall_short else "missed"}


def print_results(results, shape):
    headers = ["server", "phase", "window s", "writes/s", "reads/s", "% of baseline (w / r)", "p50 ms", "p99 ms",
               "max ms", "longest stall ms", "errors"]
    rows = []
    for result in results:
        for phase in result["phases"]:
            rows.append([result["server"], phase["name"], "%.1f" % phase["window_seconds"], "%.1f" % phase["writes_per_second"],
                         "%.1f" % phase["reads_per_second"], "%s / %s" % (percent(phase["writes_ratio"]), percent(phase["reads_ratio"])),
                         phase["write_p50_ms"], phase["write_p99_ms"], phase["write_max_ms"], phase["longest_write_stall_ms"],
                         phase["errors"]])
    harness.print_table("Production impact: %d writer threads at %g writes/s each, %d reader threads at %g reads/s each;"
                        " throughput while the DDL or the playbook ran (baseline: the whole phase), latencies and"
                        " stalls over the whole phase"
                        % (shape.writers, shape.writes_per_second, shape.readers, shape.reads_per_second), headers, rows)
    for result in results:
        phases = {phase["name"]: phase for phase in result["phases"]}
        migrate, runbook, target = phases["migrate"], phases["runbook"], result["target"]
        slowest = max(runbook["statements"], key=lambda statement: statement["seconds"])
        print("%s, %d messages: target %s (migrate.yml: writes %s and reads %s of the baseline, longest write stall %s ms;"
              " target >= %d %% and <= %d ms). Runbook: longest write stall %s ms; its slowest plain build, %s, took %.0f ms."
              % (result["server"], result["messages"], target["verdict"], percent(migrate["writes_ratio"]),
                 percent(migrate["reads_ratio"]), migrate["longest_write_stall_ms"], TARGET_THROUGHPUT_RATIO * 100,
                 TARGET_STALL_MS, runbook["longest_write_stall_ms"], slowest["index"], slowest["seconds"] * 1000))
    print(flush=True)


def percent(ratio):
    return "-" if ratio is None else "%.0f %%" % (ratio * 100)


def plot(results, samples, path):
    """Write latency over time, runbook and migrate.yml side by side, one row per engine, on a log scale."""
    plt = harness.pyplot()
    figure, axes = plt.subplots(len(results), 2, figsize=(13, 4 * len(results)), sharey=True, squeeze=False)
    for row, result in zip(axes, results, strict=True):
        phases = {phase["name"]: phase for phase in result["phases"]}
        for axis, name, label in ((row[0], "runbook", "plain CREATE INDEX"), (row[1], "migrate", "migrate.yml")):
            phase, writes = phases[name], samples[result["server"]][name]
            if name != "baseline":
                axis.axvspan(*phase["window"], color="tab:orange", alpha=0.12, label="%s running" % label)
            axis.scatter([start for start, _ in writes], [max(latency * 1000, 0.01) for _, latency in writes], s=2,
                         color="tab:blue", alpha=0.5, linewidths=0, rasterized=True, label="a write")
            axis.axhline(TARGET_STALL_MS, color="tab:red", linestyle="--", linewidth=1, label="%d ms" % TARGET_STALL_MS)
            axis.set_yscale("log")
            axis.set_title("%s, %s: longest write stall %.0f ms, writes %s of baseline"
                           % (result["server"], label, phase["longest_write_stall_ms"], percent(phase["writes_ratio"])), fontsize=10)
            axis.set_xlabel("seconds since the phase started")
            axis.grid(True, which="major", alpha=0.3)
        row[0].set_ylabel("write latency, ms (log)")
        row[0].legend(loc="upper right", fontsize=8, markerscale=4)
    figure.suptitle("Write latency while the 20 indexes are built (%d messages)" % results[0]["messages"])
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    harness.say("wrote %s" % path)


if __name__ == "__main__":
    main()
