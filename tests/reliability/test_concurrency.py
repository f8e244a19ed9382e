"""Concurrency: two real migrate.yml runs on one database at once, and the app's writes going on during a run.

(test_migrate_playbook.py covers a refusal against a stand-in holder, hold_run_lock.yml; here both are real runs.)
"""

import json
import os
import random
import subprocess
import threading
import time

import pytest
import yaml

from tests.conftest import REPO
from tests.integration.conftest import HOST, ansible_command, index_in_catalog, query, run_playbook, write_inventory
from tests.reliability.conftest import assert_consistent, assert_no_secret, assert_private, table_counts

pytestmark = pytest.mark.slow

# The second run's refusal is checked against both tables' indexes; the busiest table's three are the builds the app's
# writes go on beside.
SPEC = {"indexes": [
    {"name": "idx_user_username", "table": "user", "columns": ["username"]},
    {"name": "idx_message_conversation_timestamp", "table": "message", "columns": ["conversation_id", "timestamp"]},
    {"name": "idx_message_timestamp", "table": "message", "columns": ["timestamp"]},
    {"name": "idx_message_conversation_role", "table": "message", "columns": ["conversation_id", "role"]},
]}
WAIT_SECONDS = 180
# The backup is not what these cases try: its checksum proof is enough, and far cheaper than a restore check (which
# starts a scratch server for every run).
FAST_BACKUP = {"backup_verify": "checksum"}


def spec_file(folder, spec):
    path = folder / "indexes.yml"
    path.write_text(yaml.safe_dump(spec))
    return path


def folders(inventory):
    return inventory / "artifacts", inventory / "backups"


class WriteLoad(threading.Thread):
    """The app's inserts into `message`, one committed row at a time, for as long as the run lasts."""

    def __init__(self, db):
        super().__init__(name="write load", daemon=True)
        self.db, self.stopping = db, threading.Event()
        self.committed, self.errors, self.longest_seconds = 0, [], 0.0
        timestamp = '"timestamp"' if db.engine == "postgresql" else "`timestamp`"
        self.statement = ("INSERT INTO message (conversation_id, role, content, %s, token_count, model)"
                          " VALUES (%%s, 'user', 'written during the migration', CURRENT_TIMESTAMP, 5, 'write-load')" % timestamp)

    def run(self):
        conn = self.db.connect(autocommit=True)
        try:
            while not self.stopping.is_set():
                started = time.monotonic()
                try:
                    with conn.cursor() as cur:
                        # Spread over conversations, as real traffic is (the probes read conversation 1).
                        cur.execute(self.statement, (random.randrange(2, 2000),))
                    self.committed += 1
                except Exception as exc:  # noqa: BLE001 (every failed insert is reported by the test)
                    self.errors.append(str(exc)[:200])
                self.longest_seconds = max(self.longest_seconds, time.monotonic() - started)
                time.sleep(0.01)
        finally:
            conn.close()

    def stop(self):
        self.stopping.set()
        self.join(30)


def test_a_second_real_run_is_refused_names_the_first_and_changes_nothing_and_the_apps_writes_are_all_kept(db, tmp_path):
    """Both cases on one real run (one migrate.yml less per engine): the app writes for as long as the first run lasts,
    its backup and builds too, and a second run is refused while the first holds the lock."""
    counts_before = table_counts(db)
    marks, go = tmp_path / "maintenance-marks", tmp_path / "go"
    # The first run stays in maintenance mode until the test says go: it holds the lock, after its backup, before its builds.
    inventory = write_inventory(
        tmp_path / "inventory", db, **FAST_BACKUP,
        maintenance_on="sh -c 'echo on >> %s; while [ ! -e %s ]; do sleep 0.1; done'" % (marks, go),
        maintenance_off="sh -c 'echo off >> %s'" % marks)
    spec = spec_file(tmp_path, SPEC)
    load = WriteLoad(db)
    load.start()
    try:
        with (tmp_path / "first.out").open("w") as out:
            first = subprocess.Popen(
                [ansible_command("ansible-playbook"), "migrate.yml", "-i", str(inventory), "-e", "index_spec_file=%s" % spec,
                 "-e", "run_id=first-run"],
                cwd=REPO, stdout=out, stderr=subprocess.STDOUT, env=dict(os.environ, ANSIBLE_NOCOLOR="1"),
            )
        try:
            deadline = time.monotonic() + WAIT_SECONDS
            while not (marks.exists() and marks.read_text().split() == ["on"]):
                assert first.poll() is None and time.monotonic() < deadline, (tmp_path / "first.out").read_text()[-3000:]
                time.sleep(0.1)

            second = run_playbook("migrate.yml", str(inventory), "-e", "index_spec_file=%s" % spec, "-e", "run_id=second-run")
            assert second.returncode != 0
            assert "another run holds this database's run lock: safeindex lock run_id=first-run" in second.stdout
            assert "run second-run refused on %s" % HOST in second.stdout
            report = json.loads((inventory / "artifacts" / HOST / "second-run/report.json").read_text())
            assert report["status"] == "refused" and "run_id=first-run" in report["error"] and report["backup"] is None
            # The refused run changed nothing: no backup of its own, no maintenance hook, no index.
            assert not (inventory / "backups" / HOST / "second-run").exists()
            assert marks.read_text().split() == ["on"]
            assert not any(index_in_catalog(db, entry["table"], entry["name"]) for entry in SPEC["indexes"])

            go.touch()
            first.wait(WAIT_SECONDS)
            first_out = (tmp_path / "first.out").read_text()
            assert first.returncode == 0, first_out[-3000:]
        finally:
            go.touch()
            if first.poll() is None:
                first.kill()  # our own child, by its pid
                first.wait()
    finally:
        load.stop()
    assert "Total indexes in place: 4/4" in first_out and marks.read_text().split() == ["on", "off"]
    for entry in SPEC["indexes"]:
        assert index_in_catalog(db, entry["table"], entry["name"])["comment"] == "safeindex run_id=first-run"
    assert load.errors == [] and load.committed > 50, (load.committed, load.errors[:3])
    # Online builds never held the writers for long (lock_timeout is 5 s).
    assert load.longest_seconds < 5, load.longest_seconds
    counts_after = table_counts(db)
    assert counts_after["message"] == counts_before["message"] + load.committed
    # No row lost, none added but the app's: the refused run changed nothing, the first run only added indexes.
    assert_consistent(db, dict(counts_before, message=counts_before["message"] + load.committed))
    assert query(db, "SELECT count(*) FROM message WHERE model = 'write-load'")[0][0] == load.committed
    assert_no_secret(db.password, first_out, second.stdout, second.stderr, folders=folders(inventory))
    assert_private(*folders(inventory))
