"""A light write load on the staging sandbox while the rehearsal migrates it: the app's inserts, each one timed.

    write_load.py start --pid-file F --stats F [connection]   # detached; returns once the first insert is done
    write_load.py stop --pid-file F                            # SIGTERM by pid, waits for the final stats
    write_load.py count [connection]                           # rows the load added, from the table itself

An online build never blocks writers for long: the stats file (JSON) holds the number of inserts committed and
the longest one, which verify.yml holds against a threshold, and compares with the rows the table holds.
"""

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from rehearsal_db import add_connection_arguments, connect

# The `model` column marks the load's rows, so they can be counted apart from the sample data.
LOAD_MARKER = "safeindex-write-load"
# Spread over many conversations, as real traffic is: piling thousands of rows onto one conversation would change
# the plans of the spec's probes (they read conversation 1) and fail verification for a reason prod never has.
CONVERSATION_IDS = range(2, 2000)
PAUSE_SECONDS = 0.05  # about 20 inserts a second: light, like a quiet night's traffic
STATS_EVERY_SECONDS = 1.0
START_TIMEOUT_SECONDS = 30
STOP_TIMEOUT_SECONDS = 30


def insert_statement(engine: str) -> str:
    timestamp = '"timestamp"' if engine == "postgresql" else "`timestamp`"
    return (f"INSERT INTO message (conversation_id, role, content, {timestamp}, token_count, model)"
            f" VALUES (%s, 'user', 'write load during the rehearsal', CURRENT_TIMESTAMP, 6, '{LOAD_MARKER}')")


def run(args: argparse.Namespace) -> None:
    stopping = False

    def stop(_signal, _frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    stats = {"inserts": 0, "errors": 0, "longest_stall_seconds": 0.0, "last_error": None, "running": True}
    statement = insert_statement(args.engine)
    conn = connect(args)
    last_written = 0.0
    while not stopping:
        started = time.monotonic()
        try:
            with conn.cursor() as cur:
                cur.execute(statement, (random.choice(CONVERSATION_IDS),))
            stats["inserts"] += 1
        except Exception as error:  # noqa: BLE001 (a failed insert is counted and the load goes on, reconnected)
            stats["errors"] += 1
            stats["last_error"] = str(error).strip()[:200]
            conn = reconnect(conn, args)
        stats["longest_stall_seconds"] = max(stats["longest_stall_seconds"], round(time.monotonic() - started, 3))
        if time.monotonic() - last_written >= STATS_EVERY_SECONDS:
            write_stats(args.stats, stats)
            last_written = time.monotonic()
        time.sleep(PAUSE_SECONDS)
    conn.close()
    stats["running"] = False
    write_stats(args.stats, stats)


def reconnect(conn, args: argparse.Namespace):
    try:
        conn.close()
    except Exception:  # noqa: BLE001 (already broken)
        pass
    time.sleep(PAUSE_SECONDS)
    try:
        return connect(args)
    except Exception:  # noqa: BLE001 (the next insert fails and counts, and tries again)
        return conn


def write_stats(path: Path, stats: dict) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(stats) + "\n")
    temporary.replace(path)


def start(args: argparse.Namespace, connection_argv: list[str]) -> None:
    """Run the load in a session of its own (it outlives this process), record its pid, wait for its first stats."""
    args.stats.unlink(missing_ok=True)
    with open(args.log, "ab") as log:
        process = subprocess.Popen([sys.executable, __file__, "run", "--stats", str(args.stats), *connection_argv],
                                   stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
    args.pid_file.write_text(f"{process.pid}\n")
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while not args.stats.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            sys.exit(f"the write load did not start (exit {process.poll()}); see {args.log}")
        time.sleep(0.2)
    print(json.dumps({"pid": process.pid, "stats": str(args.stats)}))


def stop_load(args: argparse.Namespace) -> None:
    """SIGTERM the load by its recorded pid (only if that pid is still this script) and wait for it to exit."""
    try:
        pid = int(args.pid_file.read_text().strip())
    except (OSError, ValueError):
        print(json.dumps({"stopped": None, "why": f"no pid in {args.pid_file}"}))
        return
    if not is_write_load(pid):
        args.pid_file.unlink(missing_ok=True)
        print(json.dumps({"stopped": None, "why": f"pid {pid} is not running the write load"}))
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
    while is_write_load(pid):
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            break
        time.sleep(0.1)
    args.pid_file.unlink(missing_ok=True)
    print(json.dumps({"stopped": pid}))


def is_write_load(pid: int) -> bool:
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z" and any(part.endswith(b"write_load.py") for part in command)


def count(args: argparse.Namespace) -> None:
    conn = connect(args)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM message WHERE model = %s", (LOAD_MARKER,))
            print(json.dumps({"rows": cur.fetchone()[0]}))
    finally:
        conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    start_parser = commands.add_parser("start")
    start_parser.add_argument("--pid-file", type=Path, required=True)
    start_parser.add_argument("--stats", type=Path, required=True)
    start_parser.add_argument("--log", type=Path, default=Path(os.devnull))
    add_connection_arguments(start_parser)
    run_parser = commands.add_parser("run")
    run_parser.add_argument("--stats", type=Path, required=True)
    add_connection_arguments(run_parser)
    stop_parser = commands.add_parser("stop")
    stop_parser.add_argument("--pid-file", type=Path, required=True)
    count_parser = commands.add_parser("count")
    add_connection_arguments(count_parser)
    args = parser.parse_args()
    if args.command == "start":
        connection_argv = ["--engine", args.engine, "--host", args.host, "--port", str(args.port), "--database", args.database,
                           "--user", args.user, "--password-file", str(args.password_file)]
        start(args, connection_argv)
    elif args.command == "run":
        run(args)
    elif args.command == "stop":
        stop_load(args)
    else:
        count(args)


if __name__ == "__main__":
    main()
