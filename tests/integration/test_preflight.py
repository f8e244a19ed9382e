"""Preflight through migrate.yml: each check made to fail for real stops the run before any backup or index."""

import json
import time
from datetime import UTC, datetime, timedelta

import boto3
import pytest
import yaml

from tests.integration.conftest import (
    HOST,
    host_lines,
    index_in_catalog,
    pg_invalid_indexes,
    query,
    run_playbook,
    write_inventory,
    write_inventory_of,
)

pytestmark = pytest.mark.slow

# A small spec keeps each run short; the checks do not care how many indexes there are.
SPEC = {"indexes": [
    {"name": "idx_user_username", "table": "user", "columns": ["username"]},
    {"name": "idx_message_conversation_timestamp", "table": "message", "columns": ["conversation_id", "timestamp"]},
]}


def spec_file(folder, spec=SPEC):
    path = folder / "indexes.yml"
    path.write_text(yaml.safe_dump(spec))
    return path


def migrate(folder, db, *extra, spec=SPEC, **host_vars):
    inventory = write_inventory(folder / "inventory", db, **host_vars)
    completed = run_playbook("migrate.yml", inventory, "-e", "index_spec_file=%s" % spec_file(folder, spec), *extra)
    return inventory, completed


def assert_refused_before_any_work(db, inventory, completed, check, *words, host=None):
    """The run failed at preflight, its failed check names the cause, and nothing was backed up or built. With `host`
    (one of several in the inventory), what the play said of that host."""
    assert completed.returncode != 0, completed.stdout[-2000:]
    said = "\n".join(host_lines(completed, host)) if host else completed.stdout
    assert "preflight refused the run" in said
    lines = [line for line in said.splitlines() if line.strip().startswith(check)]
    assert lines, "no line for %s in:\n%s" % (check, completed.stdout[-3000:])
    for word in words:
        assert word in said, word
    assert not (inventory / "backups").exists() or not any(p.is_file() for p in (inventory / "backups").rglob("*"))
    for entry in SPEC["indexes"]:
        assert not index_in_catalog(db, entry["table"], entry["name"]), entry["name"]
    report = json.loads(next((inventory / "artifacts" / (host or HOST)).glob("*/report.json")).read_text())
    assert report["status"] == "failed" and report["backup"] is None
    assert [c for c in report["preflight"] if c["check"] == check][0]["result"] == "fail"
    return report


def migrate_all(folder, dbs, host_vars):
    """migrate() of an inventory of several hosts, each with its own host vars ({host: vars}); monitoring takes one
    health sample instead of watching for minutes, as write_inventory's."""
    inventory = write_inventory_of(folder / "inventory", dbs, host_vars=host_vars)
    completed = run_playbook("migrate.yml", inventory, "-e", "index_spec_file=%s" % spec_file(folder))
    return inventory, completed


class OpenTransaction:
    """A session left idle in a transaction, as an app with a leaked transaction does."""

    def __init__(self, db):
        self.conn = db.connect(autocommit=False)
        with self.conn.cursor() as cur:
            cur.execute("SELECT pg_backend_pid()" if db.engine == "postgresql" else "SELECT CONNECTION_ID()")
            self.pid = cur.fetchone()[0]
            cur.execute("SELECT count(*) FROM message")
            cur.fetchall()

    def close(self):
        self.conn.rollback()
        self.conn.close()


def test_a_session_idle_in_a_transaction_stops_the_run(dbs, tmp_path):
    idle = {host: OpenTransaction(db) for host, db in dbs.items()}
    try:
        time.sleep(1.5)
        inventory, completed = migrate_all(tmp_path, dbs, {host: dict(max_transaction_age_seconds=1, long_transaction_action="fail")
                                                           for host in dbs})
    finally:
        for session in idle.values():
            session.close()
    for host, db in dbs.items():
        assert_refused_before_any_work(db, inventory, completed, "long transactions", "pid %d (idle in transaction" % idle[host].pid,
                                       host=host)


def test_connections_over_the_threshold_stop_the_run(dbs, tmp_path):
    sessions = [db.connect() for db in dbs.values() for _ in range(3)]
    try:
        inventory, completed = migrate_all(tmp_path, dbs, {host: dict(max_active_connections=2) for host in dbs})
    finally:
        for session in sessions:
            session.close()
    for host, db in dbs.items():
        assert_refused_before_any_work(db, inventory, completed, "active connections", "more than max_active_connections 2", host=host)


def test_a_user_who_may_not_create_indexes_stops_the_run(dbs, tmp_path):
    admins = {host: db.server.admin_connect(db.name) for host, db in dbs.items()}
    for host, db in dbs.items():
        with admins[host].cursor() as cur:
            if db.engine == "postgresql":
                cur.execute("CREATE ROLE reader LOGIN PASSWORD 'reader-pw-42'")
                cur.execute("GRANT SELECT ON ALL TABLES IN SCHEMA public TO reader")
            else:
                cur.execute("CREATE USER reader@'127.0.0.1' IDENTIFIED BY 'reader-pw-42'")
                cur.execute("GRANT SELECT ON `%s`.* TO reader@'127.0.0.1'" % db.name)
    try:
        inventory, completed = migrate_all(tmp_path, dbs, {host: dict(db_user="reader", db_password="reader-pw-42") for host in dbs})
        for host, db in dbs.items():
            reason = "only a table's owner may index it" if db.engine == "postgresql" else "lacks ALTER and INDEX"
            assert_refused_before_any_work(db, inventory, completed, "privileges", "reader may not create indexes on", reason, host=host)
    finally:
        for host, db in dbs.items():
            with admins[host].cursor() as cur:
                if db.engine == "postgresql":
                    cur.execute("REVOKE ALL ON ALL TABLES IN SCHEMA public FROM reader")
                    cur.execute("DROP ROLE reader")
                else:
                    cur.execute("DROP USER reader@'127.0.0.1'")
            admins[host].close()


def test_a_missing_column_stops_the_run(pg_db, tmp_path):
    spec = {"indexes": SPEC["indexes"] + [{"name": "idx_user_nickname", "table": "user", "columns": ["nickname"]}]}
    inventory, completed = migrate(tmp_path, pg_db, spec=spec)
    assert_refused_before_any_work(pg_db, inventory, completed, "index spec", "table public.user has no column nickname")


def test_outside_the_maintenance_window_the_run_stops_unless_told_otherwise_and_maintenance_mode_goes_off_even_when_a_build_fails(
        pg_db, tmp_path):
    later = datetime.now(UTC) + timedelta(hours=2)
    window = {"start": later.strftime("%H:%M"), "end": (later + timedelta(hours=1)).strftime("%H:%M"), "timezone": "UTC"}
    inventory, completed = migrate(tmp_path / "closed", pg_db, maintenance_window=window)
    assert_refused_before_any_work(pg_db, inventory, completed, "maintenance window", "is outside the window", "DO NOT run migrations")

    # The run told to go on anyway is also the successful run of the maintenance mode hooks (one full migrate for both).
    marks = tmp_path / "marks"
    hooks = {"maintenance_on": "sh -c 'echo on >> %s'" % marks, "maintenance_off": "sh -c 'echo off >> %s'" % marks}
    inventory, overridden = migrate(tmp_path / "overridden", pg_db, "-e", "ignore_maintenance_window=true", maintenance_window=window,
                                    **hooks)
    assert overridden.returncode == 0, overridden.stdout[-2000:]
    report = json.loads(next((inventory / "artifacts" / HOST).glob("*/report.json")).read_text())
    assert report["status"] == "success" and report["indexes_created"] == 2
    assert any(w.startswith("maintenance window:") and "going on anyway" in w for w in report["warnings"])
    assert marks.read_text().split() == ["on", "off"]

    maintenance_mode_goes_off_even_when_a_build_fails(pg_db, tmp_path, marks, hooks)


def test_a_deployment_in_progress_stops_the_run(pg_db, tmp_path):
    inventory, completed = migrate(tmp_path, pg_db, deployment_check="sh -c 'echo release 42 is rolling out; exit 1'")
    assert_refused_before_any_work(pg_db, inventory, completed, "deployment", "says a deployment is in progress", "(exit 1)",
                                   "release 42 is rolling out")


def test_an_unrehearsed_spec_stops_a_prod_run_until_staging_has_passed_it(pg_db, tmp_path):
    prod, refused = migrate(tmp_path / "prod", pg_db, environment_name="prod")
    assert_refused_before_any_work(pg_db, prod, refused, "rehearsal", "has not passed the staging rehearsal", "skip_rehearsal_gate")

    staging, rehearsed = migrate(tmp_path / "staging", pg_db, "-e", "rehearsal_dir=%s" % (tmp_path / "rehearsals"),
                                 environment_name="staging")
    assert rehearsed.returncode == 0, rehearsed.stdout[-2000:]
    records = list((tmp_path / "rehearsals").glob("*-postgresql.json"))
    assert len(records) == 1 and json.loads(records[0].read_text())["status"] == "success"

    prod, allowed = migrate(tmp_path / "prod-again", pg_db, "-e", "rehearsal_dir=%s" % (tmp_path / "rehearsals"), environment_name="prod")
    assert allowed.returncode == 0, allowed.stdout[-2000:]
    report = json.loads(next((prod / "artifacts" / HOST).glob("*/report.json")).read_text())
    assert [c for c in report["preflight"] if c["check"] == "rehearsal"][0]["result"] == "ok"


def test_no_room_for_the_indexes_on_rds_stops_the_run(pg_db, tmp_path, moto_server, aws_credentials):
    cloudwatch = boto3.client("cloudwatch", endpoint_url=moto_server, region_name="eu-west-1")
    cloudwatch.put_metric_data(Namespace="AWS/RDS", MetricData=[{
        "MetricName": "FreeStorageSpace", "Dimensions": [{"Name": "DBInstanceIdentifier", "Value": "chat-full"}],
        "Timestamp": datetime.now(UTC), "Value": 1024.0, "Unit": "Bytes"}])
    inventory, completed = migrate(tmp_path, pg_db, rds_instance_id="chat-full", aws_region="eu-west-1", aws_endpoint_url=moto_server)
    assert_refused_before_any_work(pg_db, inventory, completed, "disk space", "but only 1.0 KB free",
                                   "CloudWatch FreeStorageSpace of chat-full")


def test_a_client_older_than_the_server_stops_the_run(pg_db, tmp_path):
    old_client = tmp_path / "old-client"
    old_client.mkdir()
    for tool in ("pg_dump", "pg_restore"):
        (old_client / tool).write_text('#!/bin/sh\necho "%s (PostgreSQL) 11.22"\n' % tool)
        (old_client / tool).chmod(0o755)
    inventory, completed = migrate(tmp_path, pg_db, backup_client_bin_dir=str(old_client))
    assert_refused_before_any_work(pg_db, inventory, completed, "client tools", "11.22", "older than the server")


def test_leftovers_and_duplicates_are_listed_and_the_run_goes_on(pg_db, tmp_path):
    query(pg_db, "CREATE INDEX legacy_username ON \"user\" (username)")
    inventory, completed = migrate(tmp_path, pg_db)
    assert completed.returncode == 0, completed.stdout[-2000:]
    report = json.loads(next((inventory / "artifacts" / HOST).glob("*/report.json")).read_text())
    row = [c for c in report["preflight"] if c["check"] == "invalid and duplicate indexes"][0]
    assert row["result"] == "warn" and "legacy_username = idx_user_username" in row["detail"]
    assert report["equivalent_existed"] == 1 and report["indexes_created"] == 1
    assert pg_invalid_indexes(pg_db) == []


def maintenance_mode_goes_off_even_when_a_build_fails(pg_db, tmp_path, marks, hooks):
    marks.unlink()
    doomed = {"indexes": [{"name": "idx_message_role_unique", "table": "message", "columns": ["role"], "unique": True}]}
    # The duplicate precheck would refuse this spec in preflight, before maintenance mode goes on: off, so the build fails.
    inventory, failed = migrate(tmp_path / "failing", pg_db, "-e", "unique_precheck=off", spec=doomed, **hooks)
    assert failed.returncode != 0 and "could not create unique index" in failed.stdout
    assert marks.read_text().split() == ["on", "off"]
