"""A crash, not a restart: the database server killed hard (SIGKILL of the postmaster / mariadbd) while a build runs,
then started again by the sandbox, on each engine.

No shutdown happens: the sessions vanish with no word (PostgreSQL's backends exit once their postmaster is gone, InnoDB
recovers at the next start). The run fails naming the lost connection and the index; the rerun heals: on PostgreSQL
preflight finds the INVALID index the cut-off CREATE INDEX CONCURRENTLY left and the run rebuilds it.
"""

import contextlib
import json
import os
import signal
import time
from pathlib import Path

import pytest
import yaml

import sandbox
from sandbox.errors import SandboxError
from tests.integration.conftest import HOST, index_in_catalog, quiet, run_playbook, write_inventory
from tests.reliability.conftest import assert_consistent, assert_no_secret, assert_private, invalid_indexes, table_counts
from tests.reliability.test_interrupt import INTERRUPTED_INDEX, SPEC, builds_of_run
from tests.reliability.test_killed_processes import app_write, start_playbook, wait_for

pytestmark = pytest.mark.slow

# The build waits for the app's write, so it is caught mid-build however small the table: a small server starts fast.
CRASH_MESSAGES = 2000
SETTINGS = {"indexes_lock_timeout": 120, "backup_verify": "checksum"}
RESTART_SECONDS = 60


@pytest.fixture(params=["postgresql", "mysql"])
def crash_db(request):
    """A server of the test's own: killing the session's shared one would break the other tests of the worker."""
    with sandbox.running(request.param, messages=CRASH_MESSAGES, progress=quiet) as db:
        if db.engine == "postgresql":
            # The sandbox trades durability for speed (synchronous_commit off): a crash would then lose the commit of
            # the build's first step, which a production server keeps. (MariaDB's log reaches the OS at each commit.)
            admin = db.server.admin_connect()
            try:
                with admin.cursor() as cur:
                    cur.execute("ALTER SYSTEM SET synchronous_commit = on")
                    cur.execute("SELECT pg_reload_conf()")
            finally:
                admin.close()
        yield db


def crash_and_start(server):
    """SIGKILL to the server's main process, then the sandbox's own start once the old processes let it (PostgreSQL's
    backends leave a moment after their postmaster: until then the old shared memory is in use)."""
    pid = server.pid
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + RESTART_SECONDS
    # Gone from /proc, not only dying (a many-threaded server looks exited before its threads are): else start() finds
    # it still running and does nothing.
    while Path("/proc/%d" % pid).exists():
        assert time.monotonic() < deadline, "the killed server %d did not go" % pid
        server._reap()  # our child (MariaDB): collected, so that it leaves no zombie
        time.sleep(0.05)
    while True:
        try:
            server.start()
            break
        except SandboxError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    assert server.pid not in (None, pid)


def test_a_server_crash_during_a_build_fails_naming_the_lost_connection_and_a_rerun_heals(crash_db, tmp_path):
    db, run_id = crash_db, "crashed"
    counts_before = table_counts(db)
    spec = tmp_path / "indexes.yml"
    spec.write_text(yaml.safe_dump(SPEC))
    inventory = write_inventory(tmp_path / "inventory", db, **SETTINGS)
    writer = app_write(db)
    playbook = None
    try:
        playbook = start_playbook("migrate.yml", inventory, tmp_path, "-e", "index_spec_file=%s" % spec, "-e", "run_id=%s" % run_id)
        wait_for(lambda: builds_of_run(db, run_id, waiting=True), playbook, tmp_path, "the build")
        crash_and_start(db.server)
        playbook.wait(300)
    finally:
        with contextlib.suppress(Exception):
            writer.close()  # its session died with the server
        if playbook is not None and playbook.poll() is None:
            playbook.kill()  # our own child, by its pid
            playbook.wait()
    out = (tmp_path / "stdout.txt").read_text()
    assert playbook.returncode == 2, out[-3000:]
    report = json.loads((inventory / "artifacts" / HOST / run_id / "report.json").read_text())
    assert report["status"] == "failed"
    (failed,) = [row for row in report["indexes"] if row["action"] == "failed"]
    assert failed["name"] == INTERRUPTED_INDEX
    assert failed["error"].startswith(INTERRUPTED_INDEX + ": lost the connection to"), failed["error"]
    assert failed["error"] in report["error"] and INTERRUPTED_INDEX + ": lost the connection to" in out
    assert report["backup"]["verified"] is True  # the gate had passed: the crash hit the index phase
    left = invalid_indexes(db)
    assert left == ([INTERRUPTED_INDEX] if db.engine == "postgresql" else []), left  # InnoDB drops a half-built index

    rerun = run_playbook("migrate.yml", inventory, "-e", "index_spec_file=%s" % spec, "-e", "run_id=after-crash")
    assert rerun.returncode == 0, rerun.stdout[-3000:]
    assert "Total indexes in place: 2/2" in rerun.stdout
    healed = json.loads((inventory / "artifacts" / HOST / "after-crash" / "report.json").read_text())
    actions = {row["name"]: row["action"] for row in healed["indexes"]}
    if db.engine == "postgresql":
        # Preflight names the leftover; the run drops and rebuilds it.
        named = [c for c in healed["preflight"] if "INVALID leftovers of failed builds: public.%s" % INTERRUPTED_INDEX
                 in (c.get("detail") or "")]
        assert named and "INVALID leftovers of failed builds" in rerun.stdout, healed["preflight"]
        assert actions == {"idx_user_username": "exists", INTERRUPTED_INDEX: "rebuilt_invalid"}, actions
    else:
        assert actions == {"idx_user_username": "exists", INTERRUPTED_INDEX: "created"}, actions
    assert index_in_catalog(db, "message", INTERRUPTED_INDEX)["usable"]
    assert_consistent(db, counts_before)
    folders = (inventory / "artifacts", inventory / "backups")
    assert_no_secret(db.password, out, rerun.stdout, rerun.stderr, folders=folders)
    assert_private(*folders)
