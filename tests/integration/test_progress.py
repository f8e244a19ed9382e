"""Progress while long work runs: ansible-playbook prints the phase of a build or dump before the task ends.

Each build or dump here lasts a while for a reason it would in production: a concurrent build waiting for an
old snapshot, an online ALTER of a big table, a dump waiting for a lock.
"""

import re
import threading
import time

import pytest
import yaml

from tests.integration.conftest import HOST, pg_index, play_recap, query, run_playbook, write_inventory

pytestmark = pytest.mark.slow

CONNECTION = {key: "{{ %s }}" % key for key in ("db_engine", "db_host", "db_port", "db_name", "db_user", "db_password")}
HOLD_SECONDS = 8


def playbook(folder, module, **args):
    """A one-task playbook running one of our modules against the inventory's database."""
    path = folder / "play.yml"
    path.write_text(yaml.safe_dump([{
        "name": "Progress", "hosts": "databases", "gather_facts": False,
        "tasks": [{"name": "Long work", module: dict(CONNECTION, **args)}],
    }]))
    return path


def progress_lines(output, subject):
    return [line for line in output.splitlines() if line.startswith("  [%s] %s: " % (HOST, subject))]


class ReleaseWhenSeen(threading.Thread):
    """Ends `holder`'s transaction HOLD_SECONDS after `seen()` first holds (the work is waiting for it), or after 3 minutes."""

    def __init__(self, holder, seen):
        super().__init__(daemon=True)
        self.holder, self.seen, self.saw = holder, seen, None

    def run(self):
        deadline = time.monotonic() + 180
        try:
            while time.monotonic() < deadline:
                self.saw = self.seen()
                if self.saw:
                    time.sleep(HOLD_SECONDS)
                    break
                time.sleep(0.2)
        finally:
            self.holder.commit()


def run_while_held(play, inventory, holder, seen):
    """Run the playbook while `holder`'s transaction stands in its way; it ends HOLD_SECONDS after `seen()` holds.
    The playbook must succeed; returns (its output, whether it was seen waiting)."""
    release = ReleaseWhenSeen(holder, seen)
    release.start()
    try:
        completed = run_playbook(str(play), inventory)
    finally:
        release.join()
        holder.close()
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-2000:]
    return completed, release.saw


def build_phase(db, index):
    rows = query(db, "SELECT p.phase FROM pg_stat_progress_create_index p JOIN pg_class c ON c.oid = p.index_relid"
                     " WHERE c.relname = %s", (index,))
    return rows[0][0] if rows else None


def test_a_concurrent_build_waiting_for_an_old_snapshot_shows_its_phase(pg_db, tmp_path):
    inventory = write_inventory(tmp_path / "inventory", pg_db)
    play = playbook(tmp_path, "db_index", name="idx_message_progress", table="message", columns=["timestamp"],
                    run_id="progress-run", lock_timeout=60)
    # An app transaction with a snapshot older than the build: CREATE INDEX CONCURRENTLY must wait for it to end.
    holder = pg_db.connect(autocommit=False)
    holder.set_session(isolation_level="REPEATABLE READ")
    holder.cursor().execute("SELECT count(*) FROM conversation")
    waiting = lambda: build_phase(pg_db, "idx_message_progress") == "waiting for old snapshots"  # noqa: E731
    completed, saw = run_while_held(play, inventory, holder, waiting)
    assert saw, "the build never waited for the old snapshot"
    lines = progress_lines(completed.stdout, "idx_message_progress")
    assert any(re.search(r": waiting for old snapshots, \d+ of \d+ sessions done, now pid \d+ \(\d+s\)$", line) for line in lines), \
        completed.stdout[-3000:]
    # Shown while the task ran: before its result.
    assert completed.stdout.index(lines[0]) < completed.stdout.index("changed: [%s]" % HOST)
    found = pg_index(pg_db, "idx_message_progress")
    assert found["valid"] and found["ready"] and found["comment"] == "safeindex run_id=progress-run"


def test_an_online_alter_of_a_big_table_shows_progress(my_db, tmp_path):
    conn = my_db.connect()
    try:
        with conn.cursor() as cur:
            # Three million rows: an online index build that takes several seconds, as a real table's would.
            cur.execute("CREATE TABLE event_log (id BIGINT PRIMARY KEY, fingerprint CHAR(32) NOT NULL, kind INT NOT NULL)")
            cur.execute("INSERT INTO event_log SELECT seq, MD5(seq), seq % 97 FROM seq_1_to_3000000")
    finally:
        conn.close()
    inventory = write_inventory(tmp_path / "inventory", my_db)
    play = playbook(tmp_path, "db_index", name="idx_event_log_fingerprint", table="event_log", columns=["fingerprint", "kind"],
                    run_id="progress-run")

    completed = run_playbook(str(play), inventory)

    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-2000:]
    lines = progress_lines(completed.stdout, "idx_event_log_fingerprint")
    assert lines and all(re.search(r": altering table(, .*)? \(\d+s\)$", line) for line in lines), completed.stdout[-3000:]
    assert query(my_db, "SELECT INDEX_COMMENT FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE()"
                        " AND INDEX_NAME = 'idx_event_log_fingerprint' AND SEQ_IN_INDEX = 1") == (("safeindex run_id=progress-run",),)


def test_a_backup_waiting_for_a_lock_shows_progress(pg_db, tmp_path):
    inventory = write_inventory(tmp_path / "inventory", pg_db)
    play = playbook(tmp_path, "db_backup", run_id="progress-run", host_name=HOST, backup_dir=str(tmp_path / "backups"),
                    verify="restore")
    # A migration of the app's own holds a table: the backup waits for it, as it would at night.
    holder = pg_db.connect(autocommit=False)
    holder.cursor().execute("LOCK TABLE feedback IN ACCESS EXCLUSIVE MODE")

    def backup_waits():
        return query(pg_db, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                            " AND application_name LIKE 'safeindex%' AND wait_event_type = 'Lock'")[0][0]

    completed, saw = run_while_held(play, inventory, holder, backup_waits)
    assert saw, "the backup never waited for the lock"
    lines = progress_lines(completed.stdout, "backup of %s" % pg_db.name)
    assert lines and all(re.search(r": (counting rows|dumping).* \(\d+s\)$", line) for line in lines), completed.stdout[-3000:]
    assert play_recap(completed.stdout)["changed"] == "1"
    manifest = yaml.safe_load((tmp_path / "backups" / HOST / "progress-run" / "manifest.json").read_text())
    assert manifest["verified"]["result"] == "ok"
