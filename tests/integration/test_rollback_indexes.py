"""rollback.yml, mode indexes, on real PostgreSQL and MariaDB servers: migrate, then undo exactly what the run built."""

import json
import os
import shutil
import stat
import subprocess
import time

import pytest
import yaml

from tests.conftest import REPO
from tests.integration.conftest import (
    HOST,
    ansible_command,
    pg_invalid_indexes,
    play_recap,
    query,
    run_playbook,
    said_of,
    write_inventory,
    write_inventory_of,
)

pytestmark = pytest.mark.slow


def catalog(db):
    """Every index of every table of the test database, as a user lists them: {(table, name): definition}."""
    if db.engine == "postgresql":
        rows = query(
            db,
            "SELECT t.relname, c.relname, pg_get_indexdef(i.indexrelid), i.indisvalid,"
            " coalesce(obj_description(i.indexrelid, 'pg_class'), '')"
            " FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')",
        )
        return {(table, name): (definition, valid, comment) for table, name, definition, valid, comment in rows}
    rows = query(
        db,
        "SELECT TABLE_NAME, INDEX_NAME, NON_UNIQUE, INDEX_TYPE, INDEX_COMMENT,"
        " GROUP_CONCAT(CONCAT_WS(' ', COLUMN_NAME, SUB_PART, COLLATION) ORDER BY SEQ_IN_INDEX)"
        " FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() GROUP BY TABLE_NAME, INDEX_NAME,"
        " NON_UNIQUE, INDEX_TYPE, INDEX_COMMENT",
    )
    return {(table, name): rest for table, name, *rest in rows}


def create_by_hand(db, name, table, columns):
    """An index a person made before the run, without any marker."""
    if db.engine == "postgresql":
        query(db, 'CREATE INDEX "%s" ON "%s" (%s)' % (name, table, ", ".join('"%s"' % c for c in columns)))
    else:
        query(db, "CREATE INDEX `%s` ON `%s` (%s)" % (name, table, ", ".join("`%s`" % c for c in columns)))


def rollback(inventory, *extra):
    return run_playbook("rollback.yml", inventory, *extra)


def output(completed):
    return completed.stdout[-4000:] + completed.stderr[-2000:]


def said(completed):
    """The play's output with the callback's line wrapping undone."""
    return " ".join(completed.stdout.split())


def rollback_dirs(run_dir):
    return sorted(run_dir.glob("rollback-indexes-*"))


def test_migrate_then_rollback_leaves_the_catalog_as_it_was_and_keeps_what_existed_before(dbs, tmp_path):
    for db in dbs.values():
        create_by_hand(db, "idx_user_username", "user", ["username"])
        create_by_hand(db, "idx_user_role", "user", ["role"])
    before = {host: catalog(db) for host, db in dbs.items()}
    inventory = write_inventory_of(tmp_path / "inventory", dbs)
    migrated = run_playbook("migrate.yml", inventory, "-e", "run_id=run-a")
    assert migrated.returncode == 0, output(migrated)
    after_migrate = {host: catalog(db) for host, db in dbs.items()}
    for host in dbs:
        assert len(after_migrate[host]) == len(before[host]) + 18, host

    planned = rollback(inventory, "--check")
    assert planned.returncode == 0, output(planned)
    for host, db in dbs.items():
        assert "would drop 18, kept 2 (existed before the run), already gone 0" in said_of(planned, host), host
        assert ("DROP INDEX CONCURRENTLY" if db.engine == "postgresql" else "ALGORITHM=INPLACE, LOCK=NONE") in said_of(planned, host)
        assert catalog(db) == after_migrate[host]

    # The default run is the host's latest: run-a.
    rolled_back = rollback(inventory)
    assert rolled_back.returncode == 0, output(rolled_back)
    for host, db in dbs.items():
        assert "Rollback (indexes) of run run-a on %s: dropped 18, kept 2 (existed before the run), already gone 0" % host \
            in said_of(rolled_back, host)
        assert "Kept idx_user_username: existed before the run" in said_of(rolled_back, host)
        assert "Kept idx_user_role: existed before the run" in said_of(rolled_back, host)
        assert catalog(db) == before[host]  # the done-when: exactly the catalog from before migrate

        # The rollback's own record and report, private, in the run's folder.
        run_dir = inventory / "artifacts" / host / "run-a"
        [own] = rollback_dirs(run_dir)
        report = json.loads((own / "report.json").read_text())
        assert report["status"] == "success" and report["mode"] == "indexes" and report["run_id"] == "run-a"
        assert len(report["details"]["dropped"]) == 18 and report["details"]["source"] == "record"
        assert "dropped 18" in (own / "report.md").read_text()
        dropped_events = [json.loads(line) for line in (own / "record.jsonl").read_text().splitlines()]
        assert sum(1 for e in dropped_events if e.get("action") == "dropped") == 18
        for name in ("report.json", "report.md", "record.jsonl"):
            assert stat.S_IMODE((own / name).stat().st_mode) == 0o600

    again = rollback(inventory, "-e", "run_id=run-a")
    assert again.returncode == 0, output(again)
    for host, db in dbs.items():
        assert play_recap(again.stdout, host)["changed"] == "0"
        assert "dropped 0, kept 2 (existed before the run), already gone 18" in said_of(again, host)
        assert catalog(db) == before[host]


def test_rollback_after_a_partly_failed_migration_drops_only_what_was_built(dbs, tmp_path):
    # One more spec index, unique over a column full of duplicates: its build fails, the other 20 are built.
    spec = yaml.safe_load((REPO / "migrations/indexes.yml").read_text())
    spec["indexes"].insert(0, {"name": "idx_message_role_unique", "table": "message", "columns": ["role"], "unique": True})
    spec_path = tmp_path / "indexes.yml"
    spec_path.write_text(yaml.safe_dump(spec))
    before = {host: catalog(db) for host, db in dbs.items()}
    inventory = write_inventory_of(tmp_path / "inventory", dbs)
    # The unique precheck would refuse this spec before the backup; off, the build itself meets the duplicates.
    migrated = run_playbook("migrate.yml", inventory, "-e", "run_id=run-partial", "-e", "index_spec_file=%s" % spec_path,
                            "-e", "unique_precheck=off")
    assert migrated.returncode != 0, output(migrated)
    for host, db in dbs.items():
        assert "idx_message_role_unique" in said_of(migrated, host), output(migrated)
        assert len(catalog(db)) == len(before[host]) + 20, host

    rolled_back = rollback(inventory, "-e", "run_id=run-partial")
    assert rolled_back.returncode == 0, output(rolled_back)
    for host, db in dbs.items():
        assert "dropped 20, kept 0 (existed before the run), already gone 0" in said_of(rolled_back, host), host
        # Nothing half-built is left of the failed one, and the rest is as before the run.
        assert catalog(db) == before[host]
        if db.engine == "postgresql":
            assert pg_invalid_indexes(db) == []


def test_without_artifacts_the_markers_find_the_run_and_an_unknown_run_is_refused(dbs, tmp_path):
    before = {host: catalog(db) for host, db in dbs.items()}
    inventory = write_inventory_of(tmp_path / "inventory", dbs)
    migrated = run_playbook("migrate.yml", inventory, "-e", "run_id=run-gone")
    assert migrated.returncode == 0, output(migrated)
    after_migrate = {host: catalog(db) for host, db in dbs.items()}
    shutil.rmtree(inventory / "artifacts")

    unknown = rollback(inventory, "-e", "run_id=no-such-run")
    assert unknown.returncode != 0
    for host, db in dbs.items():
        assert "run no-such-run not found" in said_of(unknown, host) and "safeindex run_id=no-such-run" in said_of(unknown, host), \
            output(unknown)
        assert catalog(db) == after_migrate[host]

    # No run id and no artifacts: the one run marked in the database.
    rolled_back = rollback(inventory)
    assert rolled_back.returncode == 0, output(rolled_back)
    for host, db in dbs.items():
        assert "Rollback (indexes) of run run-gone on %s: dropped 20" % host in said_of(rolled_back, host)
        assert catalog(db) == before[host]
        report = json.loads((rollback_dirs(inventory / "artifacts" / host / "run-gone")[0] / "report.json").read_text())
        assert report["details"]["source"] == "markers"


def test_a_rollback_while_another_run_holds_the_database_is_refused_and_names_it(pg_db, tmp_path):
    # One run per database at a time: a rollback must not drop indexes under a migration that is still working.
    inventory = write_inventory(tmp_path / "inventory", pg_db)
    create_by_hand(pg_db, "idx_kept_while_locked", "message", ["timestamp"])
    before = catalog(pg_db)
    holder = subprocess.Popen(
        [ansible_command("ansible-playbook"), "tests/integration/playbooks/hold_run_lock.yml", "-i", str(inventory),
         "-e", "run_id=the-migration", "-e", "holder_file=%s" % (tmp_path / "holder.json")],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ, ANSIBLE_NOCOLOR="1"),
    )
    try:
        deadline = time.monotonic() + 60
        while not query(pg_db, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted")[0][0]:
            assert holder.poll() is None and time.monotonic() < deadline, "the holder never took the lock"
            time.sleep(0.2)
        refused = rollback(inventory, "-e", "run_id=the-migration")
        assert refused.returncode != 0, output(refused)
        assert "another run holds this database's run lock: safeindex lock run_id=the-migration" in said(refused), output(refused)
        assert catalog(pg_db) == before
        report = json.loads(next((inventory / "artifacts" / HOST / "the-migration").glob("rollback-indexes-*/report.json")).read_text())
        assert report["status"] == "refused"
    finally:
        holder.terminate()
        holder.wait(30)
