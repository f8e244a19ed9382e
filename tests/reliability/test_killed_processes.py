"""Killed processes during a build, on each engine: SIGTERM to ansible-playbook (a CI runner or AWX cancelling the
job), SIGTERM then SIGKILL a few seconds later, SIGKILL of the module process itself; and SIGTERM to a rollback while
it drops.

What must happen is done by the processes that outlive the playbook (the run lock's holder, the maintenance guard) or,
when only the module dies, by the play going on: the run lock is let go, maintenance mode switched off once, the
build on the server cancelled (not left running headless), the record has an `interrupted` event and report.json says
`interrupted` and keeps the backup it had (path and sha256 as the manifest's), the playbook's progress folder under
/tmp is gone, and the rerun heals (an INVALID leftover rebuilt, every index in place, no row lost).
"""

import contextlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO
from tests.integration.conftest import (
    HOST,
    ansible_command,
    connection_args,
    index_in_catalog,
    query,
    run_playbook,
    write_inventory,
)
from tests.reliability.conftest import assert_consistent, assert_no_secret, assert_private, invalid_indexes, table_counts
from tests.reliability.test_interrupt import (
    INTERRUPTED_INDEX,
    SPEC,
    builds_of_run,
    descendants,
    eventually,
    run_lock_held,
    sessions_of_run,
    watch_query,
    watching_connections_closed,  # noqa: F401 (an autouse fixture: the watching connections end with each test)
)

pytestmark = pytest.mark.slow

WAIT_SECONDS = 180
PROGRESS_FILE_ENV = "SAFEINDEX_PROGRESS_FILE"
# The backup is not what these cases try: its checksum proof is enough, and quicker than a restore.
SETTINGS = {"indexes_lock_timeout": 120, "backup_verify": "checksum"}


def app_write(db):
    """The app's write on `message`, not yet committed: a build (or drop) there waits for it, as behind a busy app."""
    connection = db.connect(autocommit=False)
    with connection.cursor() as cur:
        cur.execute("UPDATE message SET content = content WHERE id = (SELECT min(id) FROM message)" if db.engine == "postgresql"
                    else "UPDATE message SET content = content ORDER BY id LIMIT 1")
    return connection


def start_playbook(playbook, inventory, folder, *extra):
    """ansible-playbook in a session of its own (signals reach it alone), its output in a file."""
    with (folder / "stdout.txt").open("w") as out:
        return subprocess.Popen([ansible_command("ansible-playbook"), playbook, "-i", str(inventory), *extra], cwd=REPO,
                                stdout=out, stderr=subprocess.STDOUT, env=dict(os.environ, ANSIBLE_NOCOLOR="1"),
                                start_new_session=True)


def module_process(playbook):
    """(pid, progress folder) of the module process running below the playbook: the interpreter the task's shell
    started, fed the module on its stdin (pipelining: its argv is the interpreter alone) or given its AnsiballZ file. The
    progress folder is the run's own, from the module's environment, which the callback set for its task."""
    for pid in descendants(playbook.pid):
        with contextlib.suppress(OSError):
            argv = [word for word in Path("/proc/%d/cmdline" % pid).read_bytes().split(b"\0") if word]
            parent = Path("/proc/%d/stat" % pid).read_text().rsplit(")", 1)[1].split()[1]
            shell = Path("/proc/%s/cmdline" % parent).read_bytes().split(b"\0")[0]
            if os.path.basename(shell) != b"sh" or not argv or not os.path.basename(argv[0]).startswith(b"python"):
                continue
            if len(argv) == 1 or argv[1].endswith(b".py") and b"AnsiballZ_" in argv[1]:
                environ = dict(entry.split(b"=", 1) for entry in Path("/proc/%d/environ" % pid).read_bytes().split(b"\0")
                               if b"=" in entry)
                progress = environ.get(PROGRESS_FILE_ENV.encode())
                return pid, (Path(progress.decode()).parent if progress else None)
    return None, None


def wait_for(check, playbook, folder, what):
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        found = check()
        if found:
            return found
        assert playbook.poll() is None and time.monotonic() < deadline, (
            "%s never came:\n%s" % (what, (folder / "stdout.txt").read_text()[-3000:]))
        time.sleep(0.05)


def events_of(run_dir):
    return [json.loads(line) for line in (run_dir / "record.jsonl").read_text().splitlines()]


def stop_leftovers(playbook, below):
    """Our own playbook and what was below it, should a failed assertion leave them running (by pid)."""
    for pid in [playbook.pid] + below if playbook is not None else below:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    if playbook is not None:
        playbook.wait()


def assert_backup_kept(report, inventory, run_id):
    """The report of the cut-short run keeps the backup it had taken and verified: the manifest's path and sha256."""
    manifest_path = inventory / "backups" / HOST / run_id / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    assert report["backup"] is not None, "the interrupted run's report lost its backup"
    assert report["backup"]["sha256"] == manifest["sha256"] and report["backup"]["verified"] is True
    assert Path(report["backup"]["path"]) == manifest_path.parent / manifest["file"]
    assert Path(report["backup"]["manifest_path"]) == manifest_path


def rerun_heals(db, inventory, spec, counts_before, left_invalid):
    """The rerun of migrate.yml finishes the job: every index in place, the INVALID leftover (PostgreSQL) named by
    preflight and rebuilt, no row lost."""
    rerun = run_playbook("migrate.yml", inventory, "-e", "index_spec_file=%s" % spec, "-e", "run_id=after-kill")
    assert rerun.returncode == 0, rerun.stdout[-3000:]
    assert "Total indexes in place: 2/2" in rerun.stdout
    report = json.loads((inventory / "artifacts" / HOST / "after-kill" / "report.json").read_text())
    actions = {row["name"]: row["action"] for row in report["indexes"]}
    assert actions[INTERRUPTED_INDEX] == ("rebuilt_invalid" if left_invalid else "created"), actions
    if left_invalid:
        assert "INVALID leftovers of failed builds: public.%s" % INTERRUPTED_INDEX in json.dumps(report["preflight"])
    assert index_in_catalog(db, "message", INTERRUPTED_INDEX)["usable"]
    assert_consistent(db, counts_before)
    return rerun


def index_phase_heals(db, run_module, counts_before, left_invalid):
    """The index phase run again on its own (db_index with the spec, as migrate.yml calls it; the playbook's rerun is
    the SIGTERM case's): the INVALID leftover rebuilt, every index in place, no row lost."""
    again = run_module("db_index", dict(connection_args(db), indexes=SPEC["indexes"], run_id="after-kill"))
    assert again["_rc"] == 0, again
    actions = {row["name"]: row["action"] for row in again["results"]}
    assert actions == {"idx_user_username": "exists", INTERRUPTED_INDEX: "rebuilt_invalid" if left_invalid else "created"}
    assert index_in_catalog(db, "message", INTERRUPTED_INDEX)["usable"]
    assert_consistent(db, counts_before)
    return json.dumps(again)


def killed_run_setup(db, tmp_path, run_id):
    """What a killed run's case starts from: the rows before, the maintenance hooks' marks file, the spec, the
    inventory and the run's folder."""
    counts_before = table_counts(db)
    marks = tmp_path / "maintenance-marks"
    spec = tmp_path / "indexes.yml"
    spec.write_text(yaml.safe_dump(SPEC))
    inventory = write_inventory(tmp_path / "inventory", db, **SETTINGS, maintenance_on="sh -c 'echo on >> %s'" % marks,
                                maintenance_off="sh -c 'echo off >> %s'" % marks)
    return counts_before, marks, spec, inventory, inventory / "artifacts" / HOST / run_id


@pytest.mark.parametrize("signals", [("SIGTERM",), ("SIGTERM", "SIGKILL")], ids=["sigterm", "sigterm-then-sigkill"])
def test_ansible_playbook_terminated_during_a_build_is_recorded_cleaned_up_and_healed_by_a_rerun(db, tmp_path, run_module,
                                                                                                 signals):
    run_id = "terminated-run"
    counts_before, marks, spec, inventory, run_dir = killed_run_setup(db, tmp_path, run_id)
    writer = app_write(db)
    playbook, below = None, []
    try:
        playbook = start_playbook("migrate.yml", inventory, tmp_path, "-e", "index_spec_file=%s" % spec, "-e", "run_id=%s" % run_id)
        wait_for(lambda: builds_of_run(db, run_id, waiting=True), playbook, tmp_path, "the build")
        _pid, spool = module_process(playbook)
        assert spool is not None and spool.is_dir() and spool.name.startswith("safeindex-progress-")
        below = descendants(playbook.pid)
        os.kill(playbook.pid, signal.SIGTERM)  # to ansible-playbook, as a runner cancelling the job does
        if "SIGKILL" in signals:
            time.sleep(3)  # the runner's grace period, then SIGKILL to whatever of the job is left
            for pid in [playbook.pid] + below:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        playbook.wait(60)
        out = (tmp_path / "stdout.txt").read_text()
        assert playbook.returncode in (-signal.SIGTERM, -signal.SIGKILL), out[-2000:]

        # The build is cancelled on the server at once, though the app's write it waits for is still open.
        eventually(lambda: not builds_of_run(db, run_id), "the build of a terminated playbook went on, headless")
        eventually(lambda: not run_lock_held(db), "the run lock outlived the terminated playbook")
        eventually(lambda: marks.read_text().split() == ["on", "off"], "maintenance_off did not run (once) after SIGTERM")
        eventually(lambda: (run_dir / "report.json").exists(), "no report for the terminated run")
        assert not spool.exists(), "the playbook's progress folder %s outlived it" % spool

        report = json.loads((run_dir / "report.json").read_text())
        assert report["status"] == "interrupted" and report["run_id"] == run_id
        assert "indexes phase" in report["error"] and INTERRUPTED_INDEX in report["error"], report["error"]
        assert report["total_expected"] == 2 and report["indexes_created"] == 1  # the user index was built before
        assert_backup_kept(report, inventory, run_id)
        events = events_of(run_dir)
        interrupted = [e for e in events if e["event"] == "interrupted"]
        assert len(interrupted) == 1 and (interrupted[0]["phase"], interrupted[0]["index"]) == ("indexes", INTERRUPTED_INDEX)
        assert [e["ok"] for e in events if e["event"] == "hook_after_interruption"] == [True]
        # The report waited for the guard (run/guard.py wait_for_guards), so its file is gone; the lock's holder lets go
        # of the lock after the report, then removes its file: that goes a moment after the lock (CI saw it between the two).
        assert not (run_dir / "maintenance-guard.json").exists()
        eventually(lambda: not (run_dir / "run-lock.json").exists(), "the run lock holder's file outlived it")
    finally:
        writer.rollback()
        writer.close()
        if playbook is not None and playbook.poll() is None:
            stop_leftovers(playbook, below)
    eventually(lambda: not sessions_of_run(db, run_id), "a session of the terminated run stayed on the server")
    left_invalid = INTERRUPTED_INDEX in invalid_indexes(db)
    assert left_invalid == (db.engine == "postgresql")  # a cancelled CREATE INDEX CONCURRENTLY leaves one; InnoDB none
    if "SIGKILL" in signals:
        outputs = [index_phase_heals(db, run_module, counts_before, left_invalid)]
    else:
        rerun = rerun_heals(db, inventory, spec, counts_before, left_invalid)
        outputs = [rerun.stdout, rerun.stderr]
    folders = (inventory / "artifacts", inventory / "backups")
    assert_no_secret(db.password, out, *outputs, folders=folders)
    assert_private(*folders)


def test_the_module_process_killed_during_a_build_is_recorded_and_its_build_ends_on_the_server(db, tmp_path, run_module):
    """SIGKILL of db_index's own process (the OOM killer): the playbook goes on, sees a module that printed no result
    and exited by a signal, and records the run as interrupted; the build the module left on the server ends."""
    run_id = "module-killed"
    counts_before, marks, spec, inventory, run_dir = killed_run_setup(db, tmp_path, run_id)
    writer = app_write(db)
    playbook = None
    try:
        playbook = start_playbook("migrate.yml", inventory, tmp_path, "-e", "index_spec_file=%s" % spec, "-e", "run_id=%s" % run_id)
        wait_for(lambda: builds_of_run(db, run_id, waiting=True), playbook, tmp_path, "the build")
        module_pid, spool = module_process(playbook)
        assert module_pid is not None
        os.kill(module_pid, signal.SIGKILL)
        playbook.wait(120)
        out = (tmp_path / "stdout.txt").read_text()
        assert playbook.returncode == 2, out[-3000:]
        # What the server did: the build the killed module left is gone once the run has ended (PostgreSQL ends it by
        # itself, client_connection_check_interval; the lock's holder cancels what is left as it lets go).
        assert not builds_of_run(db, run_id), "the killed module's build runs on, headless"
        assert not run_lock_held(db)
        assert marks.read_text().split() == ["on", "off"]
        assert not spool.exists()
        report = json.loads((run_dir / "report.json").read_text())
        assert report["status"] == "interrupted", report["error"]
        assert "killed (SIGKILL)" in report["error"] and INTERRUPTED_INDEX in report["error"] and "indexes phase" in report["error"]
        assert_backup_kept(report, inventory, run_id)
        interrupted = [e for e in events_of(run_dir) if e["event"] == "interrupted"]
        assert [(e["phase"], e["index"], e["signal"]) for e in interrupted] == [("indexes", INTERRUPTED_INDEX, "SIGKILL")]
        assert "killed (SIGKILL)" in out
    finally:
        writer.rollback()
        writer.close()
        if playbook is not None and playbook.poll() is None:
            stop_leftovers(playbook, [])
    eventually(lambda: not sessions_of_run(db, run_id), "a session of the killed module stayed on the server")
    if db.engine == "mysql":  # the ALTER was killed, not left to finish once the app's write ended: no such index
        assert not query(db, "SHOW INDEX FROM message WHERE Key_name = %s", (INTERRUPTED_INDEX,))
    left_invalid = INTERRUPTED_INDEX in invalid_indexes(db)
    assert left_invalid == (db.engine == "postgresql")
    healed = index_phase_heals(db, run_module, counts_before, left_invalid)
    assert_no_secret(db.password, out, healed, folders=(inventory / "artifacts", inventory / "backups"))


ROLLBACK_RUN = "to-roll-back"
# Dropped in this order on both engines (PostgreSQL by name, MySQL by table): the first is free to go, the second waits
# for the app's write on `message`.
ROLLBACK_INDEXES = [
    {"name": "idx_conversation_user_id", "table": "conversation", "columns": ["user_id"]},
    {"name": "idx_message_model", "table": "message", "columns": ["model"]},
]


def drops_waiting(db):
    """The rollback's drop of the message index, waiting for the app's write."""
    if db.engine == "postgresql":
        return watch_query(db, "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND state = 'active'"
                               " AND query LIKE 'DROP INDEX CONCURRENTLY%%idx_message_model%%' AND wait_event_type = 'Lock'")
    return watch_query(db, "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = DATABASE() AND INFO LIKE %s"
                           " AND STATE LIKE '%%metadata lock%%'", ("ALTER TABLE%%DROP INDEX%%idx_message_model%%",))


def drops_running(db):
    if db.engine == "postgresql":
        return watch_query(db, "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND state = 'active'"
                               " AND query LIKE 'DROP INDEX%%'")
    return watch_query(db, "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = DATABASE() AND INFO LIKE 'ALTER TABLE%%DROP%%'")


def test_a_rollback_terminated_while_it_drops_reports_what_it_dropped_and_a_second_rollback_finishes(db, tmp_path, run_module):
    built = run_module("db_index", dict(connection_args(db), indexes=ROLLBACK_INDEXES, run_id=ROLLBACK_RUN))
    assert built["_rc"] == 0 and built["changed"], built
    counts_before = table_counts(db)
    inventory = write_inventory(tmp_path / "inventory", db)
    writer = app_write(db)
    playbook, below = None, []
    try:
        playbook = start_playbook("rollback.yml", inventory, tmp_path, "-e", "run_id=%s" % ROLLBACK_RUN,
                                  "-e", "rollback_mode=indexes")
        wait_for(lambda: drops_waiting(db), playbook, tmp_path, "the rollback's drop")
        _pid, spool = module_process(playbook)
        below = descendants(playbook.pid)
        os.kill(playbook.pid, signal.SIGTERM)
        playbook.wait(60)
        out = (tmp_path / "stdout.txt").read_text()
        assert playbook.returncode == -signal.SIGTERM, out[-2000:]
        run_folder = inventory / "artifacts" / HOST / ROLLBACK_RUN
        eventually(lambda: list(run_folder.glob("rollback-indexes-*/report.json")), "no report for the terminated rollback")
        eventually(lambda: not run_lock_held(db), "the run lock outlived the terminated rollback")
        # The drop left waiting ends on the server (cancelled, or its lock timeout), before the app's write does: the
        # report's "not dropped" is what the catalog shows.
        eventually(lambda: not drops_running(db), "the terminated rollback's drop went on, headless")
        assert spool is None or not spool.exists()
        (folder,) = [path.parent for path in run_folder.glob("rollback-indexes-*/report.json")]
        report = json.loads((folder / "report.json").read_text())
        assert report["status"] == "interrupted" and report["mode"] == "indexes"
        assert report["details"]["dropped"] == ["idx_conversation_user_id"]
        assert report["details"]["not_dropped"] == ["idx_message_model"]
        line = report["summary_lines"][0]
        assert "after dropping 1 of 2 (idx_conversation_user_id); not dropped: idx_message_model" in line
        assert "run rollback.yml again" in line
        assert "idx_message_model" in (folder / "report.md").read_text()
        assert [e["event"] for e in events_of(folder)][-2:] == ["interrupted", "finish"]
    finally:
        writer.rollback()
        writer.close()
        if playbook is not None and playbook.poll() is None:
            stop_leftovers(playbook, below)
    assert index_in_catalog(db, "message", "idx_message_model")  # not dropped, as the report says
    assert not index_in_catalog(db, "conversation", "idx_conversation_user_id")

    again = run_playbook("rollback.yml", inventory, "-e", "run_id=%s" % ROLLBACK_RUN, "-e", "rollback_mode=indexes")
    assert again.returncode == 0, again.stdout[-3000:]
    assert "dropped 1" in again.stdout, again.stdout[-3000:]
    assert not index_in_catalog(db, "message", "idx_message_model")
    assert_consistent(db, counts_before)
    folders = (inventory / "artifacts",)
    assert_no_secret(db.password, out, again.stdout, again.stderr, folders=folders)
    assert_private(*folders)
