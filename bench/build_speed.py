"""How much faster the index phase builds with tuned session settings than with the server's defaults (PostgreSQL).

    python bench/build_speed.py [--messages 1000000] [--repeat 3] [--maintenance-work-mem 512MB] [--parallel-workers 2]

One sandbox PostgreSQL database of the sample app; the spec's 20 indexes built through the engine db_index uses
(module_utils/safeindex/indexer.ensure_present: online build, then COMMENT and ANALYZE), each variant on a fresh
connection, the indexes dropped between variants, the order of the variants rotating between repeats:

- server defaults: no session setting (the server's values, read with SHOW, are printed);
- tuned: SET maintenance_work_mem and max_parallel_maintenance_workers, as the indexes role does with
  indexes_maintenance_work_mem / indexes_max_parallel_maintenance_workers;
- memory only: the same maintenance_work_mem with max_parallel_maintenance_workers = 0, to tell memory from workers.

MariaDB is not measured: its InnoDB index build has no session setting (innodb_sort_buffer_size is a global,
read-only variable, set at server start: SET SESSION and SET GLOBAL both fail with error 1238; MySQL 8.0.27's
innodb_ddl_threads / innodb_ddl_buffer_size do not exist in MariaDB 10.11), so db_index takes none for it.
Prints tables, writes JSON (bench/results/build_speed.json by default).
"""

import argparse
import statistics
import time

import harness
import yaml
from ansible.module_utils.safeindex.build import indexer
from ansible.module_utils.safeindex.spec import parse as spec

import sandbox

SERVER_SETTINGS = ("maintenance_work_mem", "max_parallel_maintenance_workers", "max_parallel_workers", "max_worker_processes",
                   "min_parallel_table_scan_size")
MARIADB_NOTE = ("MariaDB: not measured. Its InnoDB index build has no session setting: innodb_sort_buffer_size is global and "
                "read-only (set at server start), and MariaDB 10.11 has no parallel index build (no innodb_ddl_threads).")


def variants(maintenance_work_mem, parallel_workers):
    """Name -> (maintenance_work_mem, parallel_workers) for BuildOptions; None leaves the server's value."""
    return {
        "server defaults": (None, None),
        "tuned": (maintenance_work_mem, parallel_workers),
        "memory only": (maintenance_work_mem, 0),
    }


def server_settings(db):
    dialect = harness.open_engine(db)
    try:
        with dialect.conn.cursor() as cur:
            settings = {}
            for name in SERVER_SETTINGS:
                cur.execute("SELECT current_setting(%s)", (name,))
                settings[name] = cur.fetchone()[0]
            return settings
    finally:
        dialect.close()


def build_all(db, run_id, maintenance_work_mem, parallel_workers):
    """The 20 indexes through the engine on a fresh connection: {index: (whole db_index work, CREATE alone)} seconds."""
    dialect = harness.open_engine(db)
    try:
        create_seconds = time_create_statements(dialect)
        options = indexer.BuildOptions(run_id=run_id, maintenance_work_mem=maintenance_work_mem, parallel_workers=parallel_workers)
        indexes, _probes = spec.load_spec(yaml.safe_load(harness.SPEC_FILE.read_text()), dialect.engine)
        timings = {}
        for index in indexes:
            started = time.monotonic()
            result = indexer.ensure_present(dialect, index, options)
            if result.action != "created":
                raise SystemExit("%s: expected a build, got %s" % (index.name, result.action))
            timings[index.name] = {"table": index.table, "seconds": time.monotonic() - started, "create_seconds": create_seconds.pop()}
        harness.drop_spec_indexes(dialect)
        return timings
    finally:
        dialect.close()


def time_create_statements(dialect):
    """Wrap the dialect's execute so that each CREATE INDEX statement's seconds land in the returned list."""
    seconds = []
    execute = dialect.execute

    def timed_execute(statement):
        started = time.monotonic()
        try:
            return execute(statement)
        finally:
            if statement.purpose == "create":
                seconds.append(time.monotonic() - started)

    dialect.execute = timed_execute
    return seconds


def measure(messages, repeat, settings_by_variant):
    with sandbox.running("postgresql", messages=messages, progress=harness.quiet) as db:
        defaults = server_settings(db)
        harness.say("server settings: %s" % ", ".join("%s=%s" % item for item in defaults.items()))
        names = list(settings_by_variant)
        samples = {name: [] for name in names}
        for number in range(repeat):
            order = names[number % len(names):] + names[:number % len(names)]
            for name in order:
                harness.say("repeat %d of %d: %s..." % (number + 1, repeat, name))
                memory, workers = settings_by_variant[name]
                samples[name].append(build_all(db, "bench-build-%d" % number, memory, workers))
        return defaults, samples


def summarize(samples):
    """Per variant: per index medians and the totals (median of the repeats' sums)."""
    summary = {}
    for name, runs in samples.items():
        per_index = {
            index: {
                "table": runs[0][index]["table"],
                "seconds": statistics.median(run[index]["seconds"] for run in runs),
                "create_seconds": statistics.median(run[index]["create_seconds"] for run in runs),
            }
            for index in runs[0]
        }
        summary[name] = {
            "indexes": per_index,
            "total_seconds": statistics.median(sum(timing["seconds"] for timing in run.values()) for run in runs),
            "create_total_seconds": statistics.median(sum(timing["create_seconds"] for timing in run.values()) for run in runs),
        }
    return summary


def print_results(summary, defaults, settings_by_variant, messages, repeat):
    harness.print_table(
        "Server settings (SHOW) and the variants' session settings",
        ["variant", "maintenance_work_mem", "max_parallel_maintenance_workers"],
        [[name, memory or "server: %s" % defaults["maintenance_work_mem"],
          "server: %s" % defaults["max_parallel_maintenance_workers"] if workers is None else workers]
         for name, (memory, workers) in settings_by_variant.items()],
    )
    names = list(summary)
    base = summary[names[0]]
    message_indexes = [index for index, timing in base["indexes"].items() if timing["table"] == "message"]

    def row(label, pick):
        """Seconds of each variant, then each variant's ratio to the server defaults."""
        return [label, *("%.2f" % pick(summary[name]) for name in names),
                *("%.2f" % (pick(summary[name]) / pick(base)) for name in names[1:])]

    rows = [row(index, lambda variant, index=index: variant["indexes"][index]["create_seconds"]) for index in message_indexes]
    rows.append(row("all 20, CREATE INDEX alone", lambda variant: variant["create_total_seconds"]))
    rows.append(row("all 20, db_index's whole work", lambda variant: variant["total_seconds"]))
    harness.print_table(
        "Build speed, PostgreSQL, %s messages (seconds, median of %d; ratio to the server defaults)" % (f"{messages:,}", repeat),
        ["index", *names, *("%s / defaults" % name for name in names[1:])],
        rows,
    )
    print(MARIADB_NOTE)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=1_000_000, help="size of the sample database (message rows)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each variant; the median is kept")
    parser.add_argument("--maintenance-work-mem", default="512MB", help="the tuned session maintenance_work_mem")
    parser.add_argument("--parallel-workers", type=int, default=2, help="the tuned max_parallel_maintenance_workers")
    parser.add_argument("--quick", action="store_true", help="a tiny size and one run: proves the benchmark still works")
    parser.add_argument("--output", default=str(harness.default_output("build_speed")))
    args = parser.parse_args()
    if args.quick:
        args.messages, args.repeat = 3000, 1
    settings_by_variant = variants(args.maintenance_work_mem, args.parallel_workers)
    harness.say("postgresql: %d messages..." % args.messages)
    defaults, samples = measure(args.messages, args.repeat, settings_by_variant)
    summary = summarize(samples)
    print_results(summary, defaults, settings_by_variant, args.messages, args.repeat)
    base = summary["server defaults"]
    ratios = {name: {"total": summary[name]["total_seconds"] / base["total_seconds"],
                     "create_total": summary[name]["create_total_seconds"] / base["create_total_seconds"]}
              for name in summary if name != "server defaults"}
    harness.write_json(
        args.output, "build_speed",
        {"messages": args.messages, "repeat": args.repeat, "maintenance_work_mem": args.maintenance_work_mem,
         "parallel_workers": args.parallel_workers},
        {"engine": "postgresql", "server_settings": defaults,
         "variants": {name: {"maintenance_work_mem": memory, "parallel_workers": workers, **summary[name]}
                      for name, (memory, workers) in settings_by_variant.items()},
         "ratio_to_defaults": ratios, "samples": samples},
        mysql=MARIADB_NOTE,
    )


if __name__ == "__main__":
    main()
