"""Leave an INVALID index behind, as a concurrent build cancelled midway does (PostgreSQL).

The index is dropped and built again with CREATE INDEX CONCURRENTLY while an open REPEATABLE READ transaction
holds an old snapshot, so the build waits at its last phase (it does not block writers meanwhile); once it waits
there, pg_cancel_backend stops it. What remains is the catalog entry with indisvalid = false, the state a run
interrupted at night leaves, which the next migrate run must drop and rebuild.
"""

import argparse
import json
import threading
import time

import psycopg2
from psycopg2 import sql
from rehearsal_db import add_connection_arguments, connect

WAIT_FOR_BUILD_SECONDS = 60


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_connection_arguments(parser)
    parser.add_argument("--index", required=True)
    args = parser.parse_args()

    control = connect(args)
    with control.cursor() as cur:
        cur.execute("SELECT pg_get_indexdef(%s::regclass)", (args.index,))
        definition = cur.fetchone()[0]
        cur.execute(sql.SQL("DROP INDEX CONCURRENTLY {}").format(sql.Identifier(args.index)))
    concurrent_definition = definition.replace("CREATE INDEX ", "CREATE INDEX CONCURRENTLY ", 1)

    blocker = connect(args)
    blocker.autocommit = False
    with blocker.cursor() as cur:
        cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        cur.execute('SELECT count(*) FROM "user"')  # takes the snapshot the build will wait for

    builder = connect(args)
    with builder.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        builder_pid = cur.fetchone()[0]
    outcome = {}

    def build():
        try:
            with builder.cursor() as cur:
                cur.execute(concurrent_definition)
            outcome["error"] = None
        except psycopg2.Error as error:
            outcome["error"] = (error.pgcode, str(error).strip().splitlines()[0])

    thread = threading.Thread(target=build)
    thread.start()
    deadline = time.monotonic() + WAIT_FOR_BUILD_SECONDS
    phase = None
    try:
        while time.monotonic() < deadline and thread.is_alive():
            with control.cursor() as cur:
                cur.execute("SELECT phase FROM pg_stat_progress_create_index WHERE pid = %s", (builder_pid,))
                row = cur.fetchone()
            phase = row[0] if row else None
            if phase and phase.startswith("waiting for old snapshots"):
                with control.cursor() as cur:
                    cur.execute("SELECT pg_cancel_backend(%s)", (builder_pid,))
                break
            time.sleep(0.1)
    finally:
        thread.join(WAIT_FOR_BUILD_SECONDS)
        blocker.rollback()
        blocker.close()
        builder.close()

    with control.cursor() as cur:
        cur.execute("SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass(%s)", (args.index,))
        row = cur.fetchone()
    control.close()
    print(json.dumps({"index": args.index, "cancelled_in_phase": phase, "build_error": outcome.get("error"),
                      "present": row is not None, "valid": row[0] if row else None}))


if __name__ == "__main__":
    main()
