"""What a backup that proves itself costs, against the runbook's plain dump to a file.

    python bench/backup_overhead.py [--messages 1000000] [--engine postgresql|mysql|both] [--repeat 3] [--pg-major 15 18]

For each engine (PostgreSQL of each --pg-major, side by side): a sandbox database of the sample app, then (on the same
data) the runbook's
`pg_dump > file.sql` (or `mysqldump > file.sql`), and db_backup's engine at each verification
level (compression level 1, the default), the restore check both on a scratch server of the controller (the
default, restored while dumped) and on the server itself, and once more at checksum level with compression 6.
Prints a table and the target (a verified backup, restore on the scratch server, at most TARGET_RATIO times the
plain dump) met or missed per engine, side by side; writes JSON (bench/results/backup_overhead.json by default).
"""

import argparse
import os
import statistics
import subprocess
import tempfile
import time

import harness
from ansible.module_utils.safeindex.backup import take as backup
from ansible.module_utils.safeindex.engines import dumper_for

import sandbox

# (key, verify level, where a restore check runs, gzip level)
RUNS = [("checksum", "checksum", "scratch", 1), ("list", "list", "scratch", 1), ("restore", "restore", "scratch", 1),
        ("restore_server", "restore", "server", 1), ("checksum_compress6", "checksum", "scratch", 6)]
TARGET_RATIO = 1.5  # issue 18: a verified backup (restore on the scratch server) / the plain dump


def plain_dump(db, target, bin_dir=None):
    """The runbook's step: the client's default output redirected to a file (pg_dump of `bin_dir` when given)."""
    if db.engine == "postgresql":
        argv = [os.path.join(bin_dir, "pg_dump") if bin_dir else "pg_dump", "-h", db.host, "-p", str(db.port), "-U", db.user, "-d", db.name]
        env = dict(os.environ, PGPASSWORD=db.password)
    else:
        argv = ["mysqldump", "-h", db.host, "-P", str(db.port), "-u", db.user, db.name]
        env = dict(os.environ, MYSQL_PWD=db.password)
    with open(target, "wb") as output:
        subprocess.run(argv, env=env, stdout=output, check=True)


def timed(action, repeat):
    times = []
    for _ in range(repeat):
        started = time.monotonic()
        action()
        times.append(time.monotonic() - started)
    return statistics.median(times)


def measure(engine, messages, repeat, workdir, pg_major=None):
    with sandbox.running(engine, messages=messages, progress=harness.quiet, pg_major=pg_major) as db:
        dialect = harness.open_engine(db)
        server_version = dialect.server_version()
        # The client the backup picks for this server by itself; the runbook's plain dump runs the same program.
        dumper = dumper_for(dialect.params, server_version=server_version)
        program = dumper.client_choice(server_version)["program"]
        bin_dir = os.path.dirname(program) if engine == "postgresql" else None
        row = {"engine": engine, "server": harness.server_label(engine, pg_major), "pg_major": pg_major,
               "server_version": server_version, "client": dumper.describe_client(), "messages": messages,
               "database_bytes": dialect.database_size()}
        # A folder per server: a backup of the same run id found there is taken as done (a rerun), not measured again.
        backups = os.path.join(workdir, "backups", row["server"].replace(" ", "-"))
        row["plain_seconds"] = timed(lambda: plain_dump(db, os.path.join(workdir, "plain.sql"), bin_dir), repeat)
        row["plain_bytes"] = os.path.getsize(os.path.join(workdir, "plain.sql"))
        for key, level, target, compress in RUNS:
            runs = iter(range(repeat))

            def verified_backup(level=level, compress=compress, runs=runs, key=key, target=target):
                options = backup.BackupOptions(run_id="bench-%s-%d" % (key, next(runs)), host_name=engine, retention_days=0,
                                               backup_dir=backups, verify=level, compress_level=compress,
                                               verify_target=target)
                result = backup.take(dialect, dumper, options)
                row["%s_bytes" % key] = result["size_bytes"]
                row["%s_checked_on" % key] = result["verified"].get("target")
                if result["verified"].get("scratch_start_seconds") is not None:
                    row["%s_scratch_start_seconds" % key] = result["verified"]["scratch_start_seconds"]

            row["%s_seconds" % key] = timed(verified_backup, repeat)
            row["%s_ratio" % key] = round(row["%s_seconds" % key] / row["plain_seconds"], 2)
        dialect.close()
        return row


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=1_000_000, help="size of the sample database (message rows)")
    parser.add_argument("--engine", choices=["postgresql", "mysql", "both"], default="both")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measurement; the median is kept")
    parser.add_argument("--quick", action="store_true", help="a tiny size and one run: proves the benchmark still works")
    parser.add_argument("--output", default=str(harness.default_output("backup_overhead")))
    harness.add_pg_major_argument(parser)
    args = parser.parse_args()
    if args.quick:
        args.messages, args.repeat = 2000, 1
    servers = harness.servers_to_measure(args.engine, args.pg_majors)
    rows = []
    with tempfile.TemporaryDirectory(prefix="safeindex-bench-") as workdir:
        for engine, pg_major in servers:
            harness.say("%s: %d messages..." % (harness.server_label(engine, pg_major), args.messages))
            rows.append(measure(engine, args.messages, args.repeat, workdir, pg_major))
    print("seconds (ratio to the plain dump); sizes in MB; restore: on the scratch server (default) / on the server")
    print("%-13s %7s %14s %16s %16s %16s %16s %18s" % ("server", "db", "plain dump", "checksum", "list", "restore", "restore server",
                                                      "checksum, gzip 6"))
    for row in rows:
        def cell(key, row=row):
            return "%6.2f (x%.2f)" % (row[key + "_seconds"], row[key + "_ratio"])

        print("%-13s %7.1f %7.2f %6.1fMB %16s %16s %16s %16s %18s" % (
            row["server"], row["database_bytes"] / 1e6, row["plain_seconds"], row["plain_bytes"] / 1e6,
            cell("checksum"), cell("list"), cell("restore"), cell("restore_server"), cell("checksum_compress6")))
        print("%-13s %7s %16s %16s %16s %16s %16s %18s" % (
            "", "", "", "%.1fMB" % (row["checksum_bytes"] / 1e6), "", "", "", "%.1fMB" % (row["checksum_compress6_bytes"] / 1e6)))
    for row in rows:
        print("%s: server %s, dumped with %s" % (row["server"], row["server_version"], row["client"]))
    for row in rows:
        row["target_ratio"] = TARGET_RATIO
        row["target_met"] = row["restore_ratio"] <= TARGET_RATIO
    print("target: verified backup (restore on the scratch server) / plain dump <= %.1f: %s" % (TARGET_RATIO, "  |  ".join(
        "%s x%.2f %s (%s, its start %.2fs)" % (row["server"], row["restore_ratio"], "met" if row["target_met"] else "MISSED",
                                               row["restore_checked_on"], row.get("restore_scratch_start_seconds") or 0)
        for row in rows)))
    harness.write_json(args.output, "backup_overhead", {"messages": args.messages, "repeat": args.repeat,
                                                         "pg_majors": sorted({m for _e, m in servers if m})}, rows)


if __name__ == "__main__":
    main()
