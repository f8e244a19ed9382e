"""Faults of the database server during the index phase: a restart, and the build's connection killed.

Each case runs migrate.yml as a user does, breaks the server under it while an online build runs, checks what the
run says, and then runs it again: the rerun must heal (every index in place, none INVALID, no row lost).
"""

import json
import os
import subprocess
import time

import pytest
import yaml

import sandbox
from tests.conftest import REPO
from tests.integration.conftest import HOST, ansible_command, index_in_catalog, quiet, run_playbook, write_inventory
from tests.reliability.conftest import assert_consistent, assert_no_secret, invalid_indexes, table_counts

pytestmark = pytest.mark.slow

SPEC = yaml.safe_load((REPO / "migrations/indexes.yml").read_text())
# One index on the biggest table: its build lasts long enough to be caught running, and the runs stay short.
MESSAGE_SPEC = {"indexes": [entry for entry in SPEC["indexes"] if entry["name"] == "idx_message_conversation_timestamp"]}
# The backup is not what these cases try: its checksum proof is enough, and quicker than a restore.
FAST_BACKUP = {"backup_verify": "checksum"}
# Enough rows that a build on `message` runs for a good part of a second on the restart's own server.
RESTART_MESSAGES = int(os.environ.get("SAFEINDEX_RESTART_TEST_MESSAGES", "100000"))
BUILD_WAIT_SECONDS = 240


class BackgroundRun:
    """migrate.yml in the background, its output in files (a pipe left unread would stall ansible-playbook)."""

    def __init__(self, folder, inventory, *extra):
        self.out_path, self.err_path = folder / "stdout.txt", folder / "stderr.txt"
        with self.out_path.open("w") as out, self.err_path.open("w") as err:
            self.process = subprocess.Popen(
                [ansible_command("ansible-playbook"), "migrate.yml", "-i", str(inventory), *extra],
                cwd=REPO, stdout=out, stderr=err, env=dict(os.environ, ANSIBLE_NOCOLOR="1"),
            )

    def running(self):
        return self.process.poll() is None

    def finish(self, timeout=600):
        try:
            self.process.wait(timeout=timeout)
        finally:
            if self.process.poll() is None:
                self.process.kill()  # our own child, by its pid
                self.process.wait()
        return self.process.returncode, self.out_path.read_text(), self.err_path.read_text()


def report_of(inventory, run_id):
    return json.loads((inventory / "artifacts" / HOST / run_id / "report.json").read_text())


def spec_file(folder, spec):
    path = folder / "indexes.yml"
    path.write_text(yaml.safe_dump(spec))
    return path


def until_caught(run, catch, what):
    """Call catch() until it reports a build it caught (a list of what it did), while the run lasts."""
    deadline = time.monotonic() + BUILD_WAIT_SECONDS
    while run.running() and time.monotonic() < deadline:
        caught = catch()
        if caught:
            return caught
        time.sleep(0.005)
    code, out, _err = run.finish(timeout=60)
    pytest.fail("no %s was seen while migrate.yml ran (exit %s):\n%s" % (what, code, out[-3000:]))


def pg_builds_terminated(admin, database):
    """Find and terminate the run's CREATE INDEX CONCURRENTLY in one statement: no gap for the build to end in."""
    with admin.cursor() as cur:
        cur.execute(
            "SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND state = 'active'"
            " AND query ILIKE 'CREATE INDEX CONCURRENTLY%%'",
            (database,),
        )
        return [pid for pid, terminated in cur.fetchall() if terminated]


def my_builds_killed(admin, database):
    """KILL the connection running the run's online ALTER (not the empty shadow copy's, which has no ALGORITHM)."""
    with admin.cursor() as cur:
        cur.execute(
            "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = %s AND COMMAND = 'Query'"
            " AND INFO LIKE 'ALTER TABLE%%ADD%%ALGORITHM=INPLACE%%' AND ID <> CONNECTION_ID()",
            (database,),
        )
        killed = []
        for (connection_id,) in cur.fetchall():
            try:
                cur.execute("KILL %d" % connection_id)
                killed.append(connection_id)
            except Exception:  # it ended between the two statements: look again
                pass
        return killed


def test_the_build_connection_killed_fails_naming_it_and_a_rerun_heals(db, tmp_path):
    counts = table_counts(db)
    inventory = write_inventory(tmp_path / "inventory", db, **FAST_BACKUP)
    spec = spec_file(tmp_path, MESSAGE_SPEC)
    admin = db.server.admin_connect()
    try:
        run = BackgroundRun(tmp_path, inventory, "-e", "index_spec_file=%s" % spec, "-e", "run_id=killed-build")
        try:
            kill = pg_builds_terminated if db.engine == "postgresql" else my_builds_killed
            killed = until_caught(run, lambda: kill(admin, db.name), "online index build")
        finally:
            code, out, err = run.finish()
    finally:
        admin.close()

    assert killed and code != 0, out[-3000:]
    report = report_of(inventory, "killed-build")
    failed = [row for row in report["indexes"] if row["action"] == "failed"]
    assert report["status"] == "failed" and len(failed) == 1, report["indexes"]
    assert failed[0]["error"] in report["error"]  # the run's own error names the cause, not only "an item failed"
    # The index, the lost connection and the server's own words; and what heals a leftover.
    said = "terminating connection due to administrator command" if db.engine == "postgresql" else "Lost connection"
    for words in (failed[0]["name"] + ": lost the connection to", said, "the next run drops and rebuilds it"):
        assert words in failed[0]["error"] and words in out, words
    assert report["backup"]["verified"] is True  # the gate had passed: the fault hit the index phase

    rerun = run_playbook("migrate.yml", inventory, "-e", "index_spec_file=%s" % spec, "-e", "run_id=after-kill")
    assert rerun.returncode == 0, rerun.stdout[-3000:]
    healed = report_of(inventory, "after-kill")
    assert healed["total_in_place"] == healed["total_expected"] == len(MESSAGE_SPEC["indexes"])
    assert all(index_in_catalog(db, "message", entry["name"])["usable"] for entry in MESSAGE_SPEC["indexes"])
    assert_consistent(db, counts)
    assert_no_secret(db.password, out, err, rerun.stdout, rerun.stderr, folders=(inventory / "artifacts", inventory / "backups"))


@pytest.fixture(scope="module")
def restartable_pg():
    """A PostgreSQL server of this module's own: restarting the session-wide one would break the other tests."""
    with sandbox.running("postgresql", messages=RESTART_MESSAGES, progress=quiet) as db:
        yield db


def pg_builds_on_message(admin, database):
    with admin.cursor() as cur:
        cur.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND state = 'active'"
            " AND query ILIKE 'CREATE INDEX CONCURRENTLY%%ON %%\"message\"%%'",
            (database,),
        )
        return [row[0] for row in cur.fetchall()]


def run_lock_seen(admin, database, run):
    """True once a session holds an advisory lock on the database (the run lock), polled while the run lasts."""
    admin.autocommit = True
    while run.running():
        with admin.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
                        " AND database = (SELECT oid FROM pg_database WHERE datname = %s)", (database,))
            if cur.fetchone()[0]:
                return True
        time.sleep(0.2)
    return False


def test_a_server_restart_in_the_index_phase_fails_naming_the_lost_connection_and_a_rerun_heals(restartable_pg, tmp_path):
    db = restartable_pg
    counts = table_counts(db)
    inventory = write_inventory(tmp_path / "inventory", db, **FAST_BACKUP)
    admin = db.server.admin_connect()
    run = BackgroundRun(tmp_path, inventory, "-e", "run_id=restarted")
    try:
        until_caught(run, lambda: pg_builds_on_message(admin, db.name), "CREATE INDEX CONCURRENTLY on message")
        admin.close()
        db.server.stop()  # fast shutdown: every session, the build's too, is ended
        db.server.start()
        # The run lock went with its session: its holder takes it again while the run goes on.
        admin = db.server.admin_connect()
        lock_taken_again = run_lock_seen(admin, db.name, run)
    finally:
        admin.close()
        code, out, err = run.finish()

    assert lock_taken_again, "the run went on after the restart without its run lock"
    assert code != 0, out[-3000:]
    report = report_of(inventory, "restarted")
    assert report["status"] == "failed"
    cut_off = [row for row in report["indexes"] if "lost the connection to" in (row["error"] or "")]
    assert cut_off and "terminating connection due to administrator command" in cut_off[0]["error"], report["indexes"]
    assert "lost the connection to" in out and cut_off[0]["error"] in report["error"]
    # What the restart may leave: an INVALID index from the build it cut off, and nothing else.
    assert set(invalid_indexes(db)) <= {row["name"] for row in cut_off}

    rerun = run_playbook("migrate.yml", inventory, "-e", "run_id=after-restart")
    assert rerun.returncode == 0, rerun.stdout[-3000:]
    assert "Total indexes in place: 20/20" in rerun.stdout
    healed = report_of(inventory, "after-restart")
    assert healed["total_in_place"] == healed["total_expected"] == 20 and healed["errors"] == 0
    assert_consistent(db, counts)
    assert_no_secret(db.password, out, err, rerun.stdout, rerun.stderr, folders=(inventory / "artifacts", inventory / "backups"))
