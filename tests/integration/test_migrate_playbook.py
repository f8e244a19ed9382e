"""migrate.yml on real PostgreSQL and MariaDB servers, through the command a user types."""

import contextlib
import json
import os
import signal
import stat
import subprocess
import time

import pytest
import yaml

from tests.conftest import REPO
from tests.integration.conftest import (
    HOST,
    ansible_command,
    database_names,
    databases_seen,
    index_in_catalog,
    pg_invalid_indexes,
    play_recap,
    query,
    run_playbook,
    said_of,
    write_inventory,
    write_inventory_of,
)

pytestmark = pytest.mark.slow

SPEC = yaml.safe_load((REPO / "migrations/indexes.yml").read_text())
NAMES = [entry["name"] for entry in SPEC["indexes"]]
TABLES = {entry["name"]: entry["table"] for entry in SPEC["indexes"]}


def catalog_index(db, name):
    return index_in_catalog(db, TABLES[name], name)


def probe_plan(db, sql):
    """The probe's plan when the planner is told to prefer indexes (the small test tables may tempt it to scan)."""
    conn = db.connect()
    try:
        with conn.cursor() as cur:
            if db.engine == "postgresql":
                cur.execute("SET enable_seqscan = off")
                cur.execute("EXPLAIN " + sql)
                return "\n".join(r[0] for r in cur.fetchall())
            cur.execute("SET SESSION max_seeks_for_key = 1")
            cur.execute("EXPLAIN " + sql)
            return " ".join(str(r[5]) for r in cur.fetchall())
    finally:
        conn.close()


def run_lock_held(db):
    if db.engine == "postgresql":
        return query(db, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted")[0][0] > 0
    return query(db, "SELECT IS_USED_LOCK(%s)", ("safeindex:%s" % db.name,))[0][0] is not None


def recap(output):
    return play_recap(output, HOST)


def run_dirs(inventory):
    root = inventory / "artifacts" / HOST
    return sorted(p for p in root.iterdir() if p.is_dir()) if root.exists() else []


def test_migrate_builds_the_20_indexes_with_no_secret_even_at_vvv_then_a_second_run_changes_nothing(dbs, tmp_path):
    # One first migrate for both (a full migrate is the dearest run of this file), at -vvv; one run for both engines.
    inventory = write_inventory_of(tmp_path / "inventory", dbs)
    before = {host: database_names(db) for host, db in dbs.items()}
    with contextlib.ExitStack() as stack:
        during = {host: stack.enter_context(databases_seen(db)) for host, db in dbs.items()}
        first = run_playbook("migrate.yml", inventory, "-vvv", "-e", "run_id=first-run")
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-2000:]
    for db in dbs.values():
        no_secret_in_the_output_even_at_vvv_nor_in_any_file(db, inventory, first)
    for host, db in dbs.items():
        first_run_built_the_20_indexes(db, host, inventory, first, before[host], during[host])

    second = run_playbook("migrate.yml", inventory, "-e", "run_id=second-run")
    assert second.returncode == 0, second.stdout[-3000:]
    for host, db in dbs.items():
        assert play_recap(second.stdout, host)["changed"] == "0"
        assert "Indexes created: 0" in said_of(second, host) and "Already existed: 20" in said_of(second, host)
        assert "Total indexes in place: 20/20" in said_of(second, host)
        assert "no backup needed" in said_of(second, host)  # nothing to build, nothing to back up
        assert json.loads((inventory / "artifacts" / host / "second-run/report.json").read_text())["backup"] is None
        # The second run claimed nothing: the indexes still carry the first run's marker.
        assert catalog_index(db, NAMES[0])["comment"] == "safeindex run_id=first-run"


def first_run_built_the_20_indexes(db, host, inventory, first, before, during):
    # The default restore check runs on a scratch server of the controller: no database came or went on this one.
    assert during == before == database_names(db), sorted(during ^ before)
    assert "Indexes created: 20" in said_of(first, host) and "Total indexes in place: 20/20" in said_of(first, host)
    # Two tasks changed something: the backup, and the index builds.
    assert play_recap(first.stdout, host)["changed"] == "2" and play_recap(first.stdout, host)["failed"] == "0"

    for name in NAMES:
        found = catalog_index(db, name)
        assert found and found["usable"], name
        assert found["comment"] == "safeindex run_id=first-run", name
    if db.engine == "postgresql":
        assert pg_invalid_indexes(db) == []
    for probe in SPEC["probes"]:
        sql = probe.get(db.engine, {}).get("sql", probe["sql"])
        plan = probe_plan(db, sql)
        assert probe["expect_index"] in plan, (probe["name"], plan)

    report_path = inventory / "artifacts" / host / "first-run/report.json"
    report = json.loads(report_path.read_text())
    assert stat.S_IMODE(report_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(report_path.parent.stat().st_mode) == 0o700
    assert report["run_id"] == "first-run" and report["status"] == "success" and report["engine"] == db.engine
    assert (report["indexes_created"], report["already_existed"], report["errors"]) == (20, 0, 0)
    assert (report["total_in_place"], report["total_expected"]) == (20, 20)
    assert report["snapshot"] is None
    assert report["backup"]["verified"] and report["backup"]["verification"]["level"] == "restore"
    assert report["backup"]["path"] == str(inventory / "backups" / host / "first-run" / os.path.basename(report["backup"]["path"]))
    assert os.path.exists(report["backup"]["manifest_path"])
    # Where the restore check ran, in the report and in the manifest.
    engine_label = "PostgreSQL" if db.engine == "postgresql" else "MariaDB"
    assert report["backup"]["checked_on"].startswith("scratch %s " % engine_label), report["backup"]
    assert report["backup"]["checked_on"].endswith(" on the controller")
    manifest = json.loads(open(report["backup"]["manifest_path"]).read())
    assert manifest["verified"]["target"] == report["backup"]["checked_on"] and manifest["verified"]["streamed"]
    assert "verified by restore on scratch %s" % engine_label in (report_path.parent / "report.md").read_text()
    assert [p["name"] for p in report["phases"]] == ["preflight", "backup", "snapshot", "indexes", "verify", "monitor"]
    # The gate: the backup was finished and verified before the first index build began.
    events = [json.loads(line) for line in (report_path.parent / "record.jsonl").read_text().splitlines()]
    kinds = [(e["event"], e.get("phase")) for e in events]
    assert kinds.index(("phase_end", "backup")) < kinds.index(("index_build_started", None))
    assert all(p["duration_seconds"] is not None for p in report["phases"])
    assert sorted(i["name"] for i in report["indexes"] if i["action"] == "created") == sorted(NAMES)
    assert (report_path.parent / "report.md").exists()


def test_check_diff_prints_the_plan_and_changes_nothing(db, tmp_path):
    inventory = write_inventory(tmp_path / "inventory", db)
    query(db, 'CREATE INDEX idx_user_role ON "user" (role)' if db.engine == "postgresql" else "CREATE INDEX idx_user_role ON `user` (role)")
    planned = run_playbook("migrate.yml", inventory, "--check", "--diff")
    assert planned.returncode == 0, planned.stdout[-3000:]
    build = "CREATE INDEX CONCURRENTLY \"idx_message_conversation_timestamp\"" if db.engine == "postgresql" else (
        "ALTER TABLE `message` ADD INDEX `idx_message_conversation_timestamp`")
    assert build in planned.stdout
    assert "+CREATE INDEX" in planned.stdout  # the diff's "after"
    assert "Indexes to build: 19" in planned.stdout and "Already existed: 1" in planned.stdout
    assert "Total indexes in place: 1/20" in planned.stdout
    assert [name for name in NAMES if catalog_index(db, name)] == ["idx_user_role"]
    assert run_dirs(inventory) == []


def test_a_second_run_at_the_same_time_is_refused_and_names_the_holder(db, tmp_path):
    inventory = write_inventory(tmp_path / "inventory", db)
    holder = subprocess.Popen(
        [ansible_command("ansible-playbook"), "tests/integration/playbooks/hold_run_lock.yml", "-i", str(inventory),
         "-e", "run_id=the-other-run", "-e", "holder_file=%s" % (tmp_path / "holder.json")],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=dict(os.environ, ANSIBLE_NOCOLOR="1"),
    )
    try:
        deadline = time.monotonic() + 60
        while not run_lock_held(db):
            assert holder.poll() is None and time.monotonic() < deadline, "the holder never took the lock"
            time.sleep(0.2)

        refused = run_playbook("migrate.yml", inventory, "-e", "run_id=refused-run")
        assert refused.returncode != 0
        assert "another run holds this database's run lock: safeindex lock run_id=the-other-run" in refused.stdout
        assert "run refused-run refused on %s" % HOST in refused.stdout
        assert not any(catalog_index(db, name) for name in NAMES)
        assert not (inventory / "backups").exists()
        report = json.loads((inventory / "artifacts" / HOST / "refused-run/report.json").read_text())
        assert report["status"] == "refused" and "the-other-run" in report["error"] and report["backup"] is None

        # Interrupting the holder's playbook (Ctrl-C) lets the lock go within a moment.
        holder.send_signal(signal.SIGINT)
        holder.wait(30)
        deadline = time.monotonic() + 5
        while run_lock_held(db):
            assert time.monotonic() < deadline, "the run lock outlived its playbook"
            time.sleep(0.1)
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()


def test_no_verified_backup_no_index(dbs, tmp_path):
    inventory = write_inventory_of(tmp_path / "inventory", dbs)
    refused = run_playbook("migrate.yml", inventory, "-e", "run_id=no-room", "-e", "backup_space_factor=1000000000")
    assert refused.returncode != 0
    for host, db in dbs.items():
        assert "not enough space for the backup" in said_of(refused, host), refused.stdout[-3000:]
        assert not any(catalog_index(db, name) for name in NAMES)
        report = json.loads((inventory / "artifacts" / host / "no-room/report.json").read_text())
        assert report["status"] == "failed" and report["backup"] is None and report["indexes_created"] == 0
    assert not list((inventory / "backups").rglob("*.partial"))


def no_secret_in_the_output_even_at_vvv_nor_in_any_file(db, inventory, completed):
    assert db.password not in completed.stdout and db.password not in completed.stderr
    for folder in (inventory / "artifacts", inventory / "backups"):
        for path in folder.rglob("*"):
            if path.is_file():
                content = path.read_bytes()
                if path.name.endswith(".gz"):
                    import gzip

                    content = gzip.decompress(content)
                assert db.password.encode() not in content, path
                assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_an_rds_host_gets_its_snapshot_before_any_index_is_built(pg_db, tmp_path, moto_server, aws_credentials):
    import boto3

    rds = boto3.client("rds", endpoint_url=moto_server, region_name="eu-west-1")
    rds.create_db_instance(DBInstanceIdentifier="chat-prod", Engine="postgres", DBInstanceClass="db.t3.micro",
                           AllocatedStorage=20, MasterUsername="admin", MasterUserPassword="secret-admin-pw")
    aws = {"aws_region": "eu-west-1", "aws_endpoint_url": moto_server, "snapshot_poll_interval": 0.2}

    wrong = write_inventory(tmp_path / "wrong", pg_db, rds_instance_id="chat-prod-typo", **aws)
    refused = run_playbook("migrate.yml", wrong, "-e", "run_id=wrong-instance")
    assert refused.returncode != 0 and "RDS instance chat-prod-typo not found in region eu-west-1" in refused.stdout
    assert not any(catalog_index(pg_db, name) for name in NAMES)

    inventory = write_inventory(tmp_path / "inventory", pg_db, rds_instance_id="chat-prod", **aws)
    completed = run_playbook("migrate.yml", inventory, "-e", "run_id=20261124T220000Z-5e7a")
    assert completed.returncode == 0, completed.stdout[-3000:]
    report = json.loads((inventory / "artifacts" / HOST / "20261124T220000Z-5e7a/report.json").read_text())
    snapshot = report["snapshot"]
    assert snapshot["status"] == "available" and snapshot["id"].startswith("pre-index-migration-") and snapshot["id"].endswith("-5e7a")
    assert snapshot["arn"] and snapshot["duration_seconds"] is not None
    tags = {t["Key"]: t["Value"] for t in rds.list_tags_for_resource(ResourceName=snapshot["arn"])["TagList"]}
    assert tags == {"safeindex:tool": "safeindex", "safeindex:run-id": "20261124T220000Z-5e7a", "safeindex:database": pg_db.name}
    events = [json.loads(line) for line in (inventory / "artifacts" / HOST / "20261124T220000Z-5e7a/record.jsonl").read_text().splitlines()]
    kinds = [(e["event"], e.get("phase")) for e in events]
    assert kinds.index(("phase_end", "backup")) < kinds.index(("phase_end", "snapshot")) < kinds.index(("index_build_started", None))
    assert [p["name"] for p in report["phases"]] == ["preflight", "backup", "snapshot", "indexes", "verify", "monitor"]
