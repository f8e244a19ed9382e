"""Known server traps on real servers: a prepared transaction refuses the run, the MariaDB online log warns under a writer,
and verify_amcheck proves the indexes a run built with bt_index_check (or says how to install amcheck)."""

import json
import os
import threading
import time

import pytest
import yaml
from ansible.module_utils.safeindex.core.connection import connection_params
from ansible.module_utils.safeindex.engines import open_engine
from ansible.module_utils.safeindex.run import server_checks

from tests.integration.conftest import HOST, connection_args, index_args, run_playbook, write_inventory

pytestmark = pytest.mark.slow

INDEX = {"name": "idx_message_conversation", "table": "message", "columns": ["conversation_id"]}


def spec_file(folder, indexes=(INDEX,)):
    path = folder / "indexes.yml"
    path.write_text(yaml.safe_dump({"indexes": list(indexes), "probes": []}))
    return path


def preflight(run_module, db, folder, **options):
    """db_preflight as the preflight role calls it, in check mode (the run lock is only tested, no holder left behind)."""
    args = dict(connection_args(db), spec_path=str(spec_file(folder)), run_id="traps-1", holder_file=str(folder / "lock.json"),
                **options)
    return run_module("db_preflight", args, check_mode=True)


def check_row(result, name):
    return next(c for c in result["checks"] if c["check"] == name)


def test_a_prepared_transaction_older_than_the_threshold_refuses_the_run(run_module, pg_db, tmp_path):
    gid = "safeindex-test-%d" % os.getpid()
    conn = pg_db.connect(autocommit=False)
    try:
        with conn.cursor() as cur:
            # What a two-phase commit coordinator leaves behind when it dies between PREPARE and COMMIT: locks held for ever.
            cur.execute("UPDATE message SET token_count = token_count WHERE id = 1")
            cur.execute("PREPARE TRANSACTION %s", (gid,))
        time.sleep(1.2)
        result = preflight(run_module, pg_db, tmp_path, max_transaction_age_seconds=1)
        found = check_row(result, "prepared transactions")
        assert result["_rc"] != 0 and found["result"] == "fail", found
        assert "gid '%s' (owner %s, database %s, prepared" % (gid, pg_db.user, pg_db.name) in found["detail"]
        assert "a concurrent build waits for them forever" in found["detail"]
        assert any(line.startswith("prepared transactions:") for line in result["failed_checks"])
        # 1.2 s ago, as the server counts it (rounded to a second in the message).
        assert " ago)" in found["detail"] and "prepared 0s ago" not in found["detail"]
        assert check_row(result, "known server bugs")["result"] == "ok"
    finally:
        with conn.cursor() as cur:
            conn.rollback()
            conn.autocommit = True
            cur.execute("SELECT 1 FROM pg_prepared_xacts WHERE gid = %s", (gid,))
            if cur.fetchone():
                cur.execute("ROLLBACK PREPARED %s", (gid,))
        conn.close()
    assert check_row(preflight(run_module, pg_db, tmp_path, max_transaction_age_seconds=1), "prepared transactions")["result"] == "ok"


class Writer(threading.Thread):
    """An app writing to the table while preflight samples its write rate."""

    def __init__(self, db):
        super().__init__(daemon=True)
        self.db, self.stop, self.written = db, threading.Event(), 0

    def run(self):
        conn = self.db.connect()
        try:
            with conn.cursor() as cur:
                while not self.stop.is_set():
                    cur.execute("INSERT INTO message (conversation_id, role, content, timestamp, token_count)"
                                " VALUES (1, 'user', 'hello', NOW(6), 3)")
                    self.written += 1
        finally:
            conn.close()


@pytest.fixture
def small_online_log(my_db):
    """innodb_online_alter_log_max_size at its minimum (64 KB) for the test's duration, restored after it."""
    admin = my_db.server.admin_connect()
    try:
        with admin.cursor() as cur:
            cur.execute("SELECT @@GLOBAL.innodb_online_alter_log_max_size")
            before = cur.fetchone()[0]
            cur.execute("SET GLOBAL innodb_online_alter_log_max_size = 65536")
        yield before
    finally:
        with admin.cursor() as cur:
            cur.execute("SET GLOBAL innodb_online_alter_log_max_size = %s", (before,))
        admin.close()


def test_a_writer_that_may_overflow_the_online_log_is_warned_of_and_the_sort_directory_checked(run_module, my_db, tmp_path,
                                                                                             small_online_log):
    writer = Writer(my_db)
    writer.start()
    try:
        time.sleep(0.3)
        # 4 MB/s of table data: a slow server's build speed (the assumption a user sets), so the estimate does not hang on
        # this machine's speed; the writer's rate is measured.
        tight = preflight(run_module, my_db, tmp_path, write_rate_sample_seconds=1, build_bytes_per_second=4 * 1024 * 1024,
                          tmpdir_free_bytes=1)
        restored_admin = my_db.server.admin_connect()
        with restored_admin.cursor() as cur:
            cur.execute("SET GLOBAL innodb_online_alter_log_max_size = %s", (small_online_log,))
        restored_admin.close()
        roomy = preflight(run_module, my_db, tmp_path, write_rate_sample_seconds=1, build_bytes_per_second=4 * 1024 * 1024)
    finally:
        writer.stop.set()
        writer.join(10)
    assert writer.written > 50
    log = check_row(tight, "online log size")
    assert log["result"] == "warn", log
    assert "innodb_online_alter_log_max_size = 64.0 KB" in log["detail"] and "may overflow" in log["detail"]
    assert "Handler_write" in log["detail"] and "row changes/s over 1s" in log["detail"]
    assert any(w.startswith("online log size:") for w in tight["warnings_found"])
    # The server's own limit (128 MB as it ships) holds the same writes.
    assert check_row(roomy, "online log size")["result"] == "ok", check_row(roomy, "online log size")
    # The sort directory: the given free space is too little; the server's own /tmp, read here (loopback), is enough.
    sort = check_row(tight, "sort directory space")
    assert sort["result"] == "fail" and "1 B free (given tmpdir_free_bytes)" in sort["detail"], sort
    assert check_row(roomy, "sort directory space")["result"] == "ok" and "df /" in check_row(roomy, "sort directory space")["detail"]
    assert "prepared transactions" not in [c["check"] for c in roomy["checks"]]


def grant_amcheck(db):
    admin = db.server.admin_connect(db.name)
    try:
        with admin.cursor() as cur:
            cur.execute("CREATE EXTENSION IF NOT EXISTS amcheck")
            # amcheck's functions are revoked from PUBLIC: the migration's user is granted the one verify runs.
            cur.execute('GRANT EXECUTE ON FUNCTION bt_index_check(regclass, boolean) TO "%s"' % db.user)
    finally:
        admin.close()


def migrate_with_amcheck(db, folder):
    inventory = write_inventory(folder / "inventory", db)
    completed = run_playbook("migrate.yml", inventory, "-e", "index_spec_file=%s" % spec_file(folder), "-e", "run_id=amcheck-run",
                             "-e", "verify_amcheck=true")
    run_dir = inventory / "artifacts" / HOST / "amcheck-run"
    return completed, json.loads((run_dir / "report.json").read_text()), (run_dir / "report.md").read_text()


def test_verify_amcheck_proves_each_index_the_run_built(pg_db, tmp_path):
    grant_amcheck(pg_db)
    completed, report, markdown = migrate_with_amcheck(pg_db, tmp_path)
    assert completed.returncode == 0, completed.stdout[-3000:]
    amcheck = report["verify"]["amcheck"]
    assert amcheck["ran"] and amcheck["problems"] == []
    assert [(i["spec_index"], i["result"]) for i in amcheck["indexes"]] == [("idx_message_conversation", "ok")]
    assert "## Index check (amcheck)" in markdown and "| idx_message_conversation | bt_index_check | ok |" in markdown
    # The record holds it: the report is built from it alone.
    record = (tmp_path / "inventory" / "artifacts" / HOST / "amcheck-run" / "record.jsonl").read_text()
    assert '"amcheck": {' in record


def test_without_the_amcheck_extension_the_report_says_how_to_install_it(pg_db, tmp_path):
    completed, report, markdown = migrate_with_amcheck(pg_db, tmp_path)
    assert completed.returncode == 0, completed.stdout[-3000:]
    amcheck = report["verify"]["amcheck"]
    assert not amcheck["ran"] and amcheck["indexes"] == []
    assert "CREATE EXTENSION amcheck;" in amcheck["note"] and "superuser" in amcheck["note"]
    assert "CREATE EXTENSION amcheck;" in markdown and "contrib" in markdown


def test_a_corrupt_index_fails_bt_index_check_naming_it_and_partitions_are_checked_each(pg_db):
    grant_amcheck(pg_db)
    conn = pg_db.connect()
    with conn.cursor() as cur:
        # An expression index over a function declared IMMUTABLE that then changes: the index's entries no longer match
        # what its table's rows compute, the corruption heapallindexed finds.
        cur.execute("CREATE TABLE shifted (a int)")
        cur.execute("INSERT INTO shifted SELECT generate_series(1, 1000)")
        cur.execute("CREATE FUNCTION shift(int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT $1 + 1'")
        cur.execute("CREATE INDEX idx_shifted ON shifted (shift(a))")
        cur.execute("CREATE OR REPLACE FUNCTION shift(int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT $1 + 2'")
        # A partitioned index holds no entries: its partitions' indexes are the ones checked.
        cur.execute("CREATE TABLE monthly (a int, d date) PARTITION BY RANGE (d)")
        for month in (1, 2):
            cur.execute("CREATE TABLE monthly_%d PARTITION OF monthly FOR VALUES FROM ('2026-%02d-01') TO ('2026-%02d-01')"
                        % (month, month, month + 1))
        cur.execute("INSERT INTO monthly SELECT i, date '2026-01-01' + i % 50 FROM generate_series(1, 500) i")
        cur.execute("CREATE INDEX idx_monthly ON monthly (a)")
    conn.close()
    engine = open_engine(connection_params(connection_args(pg_db)))
    try:
        outcome = server_checks.index_checks(engine, [("public", "idx_shifted"), ("public", "idx_monthly")])
    finally:
        engine.close()
    assert [(i["name"], i["spec_index"], i["result"]) for i in outcome["indexes"]] == [
        ("idx_shifted", "idx_shifted", "corrupt"), ("monthly_1_a_idx", "idx_monthly", "ok"), ("monthly_2_a_idx", "idx_monthly", "ok")]
    assert len(outcome["problems"]) == 1 and outcome["problems"][0].startswith("idx_shifted failed bt_index_check: ")
    assert "REINDEX INDEX CONCURRENTLY" in outcome["problems"][0]


def test_amcheck_on_mariadb_is_a_note_not_a_failure(run_module, my_db, tmp_path):
    assert run_module("db_index", index_args(my_db, **INDEX))["_rc"] == 0
    result = run_module("db_verify", dict(connection_args(my_db), spec_path=str(spec_file(tmp_path)), amcheck=True, probe_runs=1))
    assert result["_rc"] == 0, result.get("msg")
    assert result["amcheck"]["function"] is None and "PostgreSQL-only" in result["amcheck"]["note"]
