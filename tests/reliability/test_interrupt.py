"""Ctrl-C (SIGINT) to ansible-playbook in the middle of the index phase, on each engine.

Ansible runs no `always:` after Ctrl-C, so what must still happen is done by processes that outlive the playbook: the
run lock's holder records the interruption and writes the report before it lets the lock go, the maintenance guard
takes the app out of maintenance mode, and the build that was running is cancelled on the server, not left headless.
"""

import contextlib
import json
import os
import signal
import subprocess
import time

import pytest
import yaml

from tests.conftest import REPO
from tests.integration.conftest import HOST, ansible_command, query, run_playbook, write_inventory
from tests.reliability.conftest import assert_consistent, assert_no_secret, assert_private, table_counts

pytestmark = pytest.mark.slow

INTERRUPTED_INDEX = "idx_message_conversation_timestamp"
SPEC = {"indexes": [
    {"name": "idx_user_username", "table": "user", "columns": ["username"]},
    {"name": INTERRUPTED_INDEX, "table": "message", "columns": ["conversation_id", "timestamp"]},
]}
RUN_ID = "interrupted-run"
WAIT_SECONDS = 180
# The backup is not what these cases try: its checksum proof is enough, and far cheaper than a restore check (which
# starts a scratch server for every run).
FAST_BACKUP = {"backup_verify": "checksum"}


_watching = {}


def watch_query(db, statement, params=None):
    """Rows of one query on the test's watching connection: one autocommit connection (each statement sees the server
    afresh) for every look of a polling loop. A new connection per look costs more CPU than the look: PyMySQL loads
    the system's CA bundle for every connection."""
    key = (db.engine, db.host, db.port, db.name)
    if key not in _watching:
        _watching[key] = db.connect(autocommit=True)
    with _watching[key].cursor() as cur:
        cur.execute(statement, params)
        return cur.fetchall()


@pytest.fixture(autouse=True)
def watching_connections_closed():
    """The watching connections end with their test (test_killed_processes imports this too)."""
    yield
    while _watching:
        with contextlib.suppress(Exception):
            _watching.popitem()[1].close()


def run_lock_held(db):
    """This database's run lock, as an operator checks it (pg_locks, IS_USED_LOCK)."""
    if db.engine == "postgresql":
        return watch_query(db, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
                               " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())")[0][0] > 0
    return watch_query(db, "SELECT IS_USED_LOCK(%s)", ("safeindex:%s" % db.name,))[0][0] is not None


def builds_of_run(db, run_id, waiting=False):
    """The run's build of INTERRUPTED_INDEX on the server (or only while it waits for the app's write): PostgreSQL names
    the run's sessions after it, MySQL's ALTER carries the run's marker in its index comment."""
    if db.engine == "postgresql":
        return watch_query(db, "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE %s"
                               " AND state = 'active' AND query LIKE %s AND (NOT %s OR wait_event_type = 'Lock')",
                           ("%% run_id=%s" % run_id, "CREATE INDEX CONCURRENTLY%%%s%%" % INTERRUPTED_INDEX, waiting))
    return watch_query(db, "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = DATABASE() AND ID <> CONNECTION_ID()"
                           " AND INFO LIKE %s AND INFO LIKE %s AND (NOT %s OR STATE LIKE '%%metadata lock%%')",
                       ("ALTER TABLE%%%s%%" % INTERRUPTED_INDEX, "%%run_id=%s%%" % run_id, waiting))


def sessions_of_run(db, run_id):
    """Any session of the run still on the server (PostgreSQL names them `safeindex <module> run_id=<id>`)."""
    if db.engine == "postgresql":
        return watch_query(db, "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE %s",
                           ("%% run_id=%s" % run_id,))
    return watch_query(db, "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = DATABASE() AND ID <> CONNECTION_ID()"
                           " AND INFO LIKE %s", ("%%run_id=%s%%" % run_id,))


def eventually(check, what, seconds=20):
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def test_ctrl_c_during_a_build_releases_the_lock_ends_maintenance_and_records_the_interruption(db, tmp_path):
    counts_before = table_counts(db)
    marks = tmp_path / "maintenance-marks"
    spec = tmp_path / "indexes.yml"
    spec.write_text(yaml.safe_dump(SPEC))
    # A lock timeout longer than the test: the build waits on the app's open write below until Ctrl-C, not until a retry.
    inventory = write_inventory(tmp_path / "inventory", db, indexes_lock_timeout=120, **FAST_BACKUP,
                                maintenance_on="sh -c 'echo on >> %s'" % marks, maintenance_off="sh -c 'echo off >> %s'" % marks)
    run_dir = inventory / "artifacts" / HOST / RUN_ID
    # The app's write, not yet committed: the build waits for it (CREATE INDEX CONCURRENTLY "waiting for writers", the
    # ALTER's metadata lock), the moment an operator who thinks the run hangs presses Ctrl-C.
    app_write = db.connect(autocommit=False)
    out_path, err_path = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    playbook = None
    try:
        with app_write.cursor() as cur:
            cur.execute("UPDATE message SET content = content WHERE id = (SELECT min(id) FROM message)" if db.engine == "postgresql"
                        else "UPDATE message SET content = content ORDER BY id LIMIT 1")
        with out_path.open("w") as out, err_path.open("w") as err:
            # Its own session, so that killpg reaches ansible-playbook as a terminal's Ctrl-C would, and nothing else.
            playbook = subprocess.Popen(
                [ansible_command("ansible-playbook"), "migrate.yml", "-i", str(inventory), "-e", "index_spec_file=%s" % spec,
                 "-e", "run_id=%s" % RUN_ID],
                cwd=REPO, stdout=out, stderr=err, env=dict(os.environ, ANSIBLE_NOCOLOR="1"), start_new_session=True,
            )
        deadline = time.monotonic() + WAIT_SECONDS
        while not builds_of_run(db, RUN_ID, waiting=True):
            assert playbook.poll() is None and time.monotonic() < deadline, (
                "the build never started:\n" + out_path.read_text()[-3000:])
            time.sleep(0.05)
        assert run_lock_held(db)

        os.killpg(playbook.pid, signal.SIGINT)
        playbook.wait(60)
        out, err = out_path.read_text(), err_path.read_text()
        assert playbook.returncode == 99 and "User interrupted execution" in err, out[-2000:] + err[-2000:]

        # The build is cancelled on the server at once, though the app's write it waits for is still open.
        eventually(lambda: not builds_of_run(db, RUN_ID), "the interrupted build went on, headless")
        eventually(lambda: not run_lock_held(db), "the run lock outlived the interrupted playbook")
        eventually(lambda: marks.read_text().split() == ["on", "off"], "maintenance_off did not run after Ctrl-C")
        eventually(lambda: (run_dir / "report.json").exists(), "no report for the interrupted run")

        report = json.loads((run_dir / "report.json").read_text())
        assert report["status"] == "interrupted" and report["run_id"] == RUN_ID
        assert "interrupted" in report["error"] and "indexes phase" in report["error"] and INTERRUPTED_INDEX in report["error"]
        assert report["total_expected"] == 2 and report["indexes_created"] == 1  # the user index was built before Ctrl-C
        assert "interrupted" in (run_dir / "report.md").read_text()
        events = [json.loads(line) for line in (run_dir / "record.jsonl").read_text().splitlines()]
        interrupted = [e for e in events if e["event"] == "interrupted"]
        assert len(interrupted) == 1 and (interrupted[0]["phase"], interrupted[0]["index"]) == ("indexes", INTERRUPTED_INDEX)
        assert [e["ok"] for e in events if e["event"] == "hook_after_interruption"] == [True]
        # The report waited for the guard (run/guard.py wait_for_guards), so its file is gone; the lock's holder lets go
        # of the lock after the report, then removes its file: that goes a moment after the lock (CI saw it between the two).
        assert not (run_dir / "maintenance-guard.json").exists()
        eventually(lambda: not (run_dir / "run-lock.json").exists(), "the run lock holder's file outlived it")
        assert db.password not in out + err
    finally:
        if playbook is not None and playbook.poll() is None:
            playbook.kill()  # our own child, by its pid
            playbook.wait()
        app_write.rollback()
        app_write.close()

    # Once the app's write is over, a cancelled PostgreSQL build's INVALID leftover is dropped; a new run can start and
    # finishes.
    eventually(lambda: not sessions_of_run(db, RUN_ID), "a session of the interrupted run stayed on the server")
    rerun = run_playbook("migrate.yml", inventory, "-e", "index_spec_file=%s" % spec, "-e", "run_id=after-interruption")
    assert rerun.returncode == 0, rerun.stdout[-3000:]
    assert "Total indexes in place: 2/2" in rerun.stdout
    assert_consistent(db, counts_before)
    folders = (inventory / "artifacts", inventory / "backups")
    assert_no_secret(db.password, out, err, rerun.stdout, rerun.stderr, folders=folders)
    assert_private(*folders)


KILLED_RUN_ID = "killed-run"
LATER_INDEX = "idx_message_model"  # after the interrupted build in the spec: must never be started
KILL_SPEC = {"indexes": SPEC["indexes"] + [{"name": LATER_INDEX, "table": "message", "columns": ["model"]}]}


def descendants(pid):
    """The processes below `pid` (its Ansible workers and their module processes), while it still runs."""
    children, found = {}, []
    for stat in os.listdir("/proc"):
        if stat.isdigit():
            try:
                with open("/proc/%s/stat" % stat) as handle:
                    children.setdefault(int(handle.read().rsplit(")", 1)[1].split()[1]), []).append(int(stat))
            except (OSError, IndexError, ValueError):
                continue
    pending = [pid]
    while pending:
        for child in children.get(pending.pop(), []):
            found.append(child)
            pending.append(child)
    return found


def test_ansible_playbook_killed_during_a_build_cancels_it_on_the_server_and_starts_nothing_more(db, tmp_path):
    """SIGKILL of ansible-playbook (an AWX job killed, a runner out of memory): no signal reaches the module, which
    would go on building. The run lock's holder sees its playbook gone, cancels the run's build on the server, records
    the interruption and lets go; the batch starts no further index."""
    marks = tmp_path / "maintenance-marks"
    spec = tmp_path / "indexes.yml"
    spec.write_text(yaml.safe_dump(KILL_SPEC))
    inventory = write_inventory(tmp_path / "inventory", db, indexes_lock_timeout=120, **FAST_BACKUP,
                                maintenance_on="sh -c 'echo on >> %s'" % marks, maintenance_off="sh -c 'echo off >> %s'" % marks)
    run_dir = inventory / "artifacts" / HOST / KILLED_RUN_ID
    app_write = db.connect(autocommit=False)
    playbook, below = None, []
    try:
        with app_write.cursor() as cur:
            cur.execute("UPDATE message SET content = content WHERE id = (SELECT min(id) FROM message)" if db.engine == "postgresql"
                        else "UPDATE message SET content = content ORDER BY id LIMIT 1")
        with (tmp_path / "stdout.txt").open("w") as out:
            playbook = subprocess.Popen(
                [ansible_command("ansible-playbook"), "migrate.yml", "-i", str(inventory), "-e", "index_spec_file=%s" % spec,
                 "-e", "run_id=%s" % KILLED_RUN_ID],
                cwd=REPO, stdout=out, stderr=subprocess.STDOUT, env=dict(os.environ, ANSIBLE_NOCOLOR="1"), start_new_session=True,
            )
        deadline = time.monotonic() + WAIT_SECONDS
        while not builds_of_run(db, KILLED_RUN_ID, waiting=True):
            assert playbook.poll() is None and time.monotonic() < deadline, (
                "the build never started:\n" + (tmp_path / "stdout.txt").read_text()[-3000:])
            time.sleep(0.05)
        below = descendants(playbook.pid)
        playbook.kill()  # SIGKILL to ansible-playbook alone: its workers live in sessions of their own
        playbook.wait(60)

        eventually(lambda: not builds_of_run(db, KILLED_RUN_ID), "the build of a killed playbook went on, headless")
        eventually(lambda: not run_lock_held(db), "the run lock outlived the killed playbook")
        eventually(lambda: marks.read_text().split() == ["on", "off"], "maintenance_off did not run after the kill")
        eventually(lambda: (run_dir / "report.json").exists(), "no report for the killed run")
        report = json.loads((run_dir / "report.json").read_text())
        assert report["status"] == "interrupted" and INTERRUPTED_INDEX in report["error"]
    finally:
        app_write.rollback()
        app_write.close()
        try:
            # The module, no longer held up by the app's write, ends its batch: it must start nothing more.
            eventually(lambda: not sessions_of_run(db, KILLED_RUN_ID), "a session of the killed run stayed on the server", 60)
        finally:
            for pid in below:  # the orphaned worker of our own playbook, should it still wait for its dead parent
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
    names = {row[0] for row in query(db, "SELECT indexname FROM pg_indexes WHERE tablename = 'message'")} \
        if db.engine == "postgresql" else {row[0] for row in query(db, "SELECT DISTINCT INDEX_NAME FROM"
                                           " information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'message'")}
    assert LATER_INDEX not in names, "the batch went on after its playbook was killed"
    assert INTERRUPTED_INDEX not in names or db.engine == "postgresql"  # PostgreSQL may keep an INVALID leftover
    if db.engine == "postgresql" and INTERRUPTED_INDEX in names:
        assert not query(db, "SELECT indisvalid FROM pg_index WHERE indexrelid = %s::regclass", (INTERRUPTED_INDEX,))[0][0]
