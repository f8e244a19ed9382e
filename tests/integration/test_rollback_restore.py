"""rollback.yml's restores on real servers (and moto for RDS): a run's backup into a new database or, confirmed, over
the live one; a run's snapshot to a new instance. What the live database or instance held is never lost by surprise."""

import contextlib
import dataclasses
import json

import pytest

from sandbox.sample_app import TABLES
from tests.integration.conftest import (
    HOST,
    connection_args,
    play_recap,
    query,
    run_playbook,
    said_of,
    write_inventory,
    write_inventory_of,
)

pytestmark = pytest.mark.slow

RUN_ID = "20261124T220000Z-5e7a"


def row_counts(db):
    return {table: query(db, "SELECT count(*) FROM %s" % quote(db, table))[0][0] for table in TABLES}


def quote(db, name):
    return '"%s"' % name if db.engine == "postgresql" else "`%s`" % name


def manifest_counts(inventory, run_id=RUN_ID, host=HOST):
    report = json.loads((inventory / "artifacts" / host / run_id / "report.json").read_text())
    manifest = json.loads(open(report["backup"]["manifest_path"]).read())
    return {t["name"]: t["rows"] if t.get("rows_after") is None else t["rows_after"] for t in manifest["tables"]}


def index_names(db):
    if db.engine == "postgresql":
        rows = query(db, "SELECT indexname FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1")
    else:
        rows = query(db, "SELECT DISTINCT INDEX_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() ORDER BY 1")
    return [r[0] for r in rows]


def migrate(inventory, run_id=RUN_ID):
    completed = run_playbook("migrate.yml", inventory, "-e", "run_id=" + run_id)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-2000:]


def rollback(inventory, *extra):
    return run_playbook("rollback.yml", inventory, "-e", "run_id=" + RUN_ID, *extra)


@contextlib.contextmanager
def database_to_restore_into(db, name):
    """The sandbox user may create only its own test databases: let it create this one (MySQL), drop it afterwards."""
    admin = db.server.admin_connect()
    try:
        if db.engine == "mysql":
            with admin.cursor() as cur:
                for host in ("127.0.0.1", "localhost"):
                    cur.execute("GRANT ALL PRIVILEGES ON `%s`.* TO %%s@%%s" % name, (db.user, host))
        yield dataclasses.replace(db, name=name)
    finally:
        with admin.cursor() as cur:
            cur.execute(("DROP DATABASE IF EXISTS \"%s\" WITH (FORCE)" if db.engine == "postgresql" else "DROP DATABASE IF EXISTS `%s`")
                        % name)
        admin.close()


# Ten playbook runs over two engines: longer than the default 300 s on a loaded 2-core machine (the timeout stopped it
# in its eighth run at a load average of 15; 280 s when it passed).
@pytest.mark.timeout(600)
def test_restore_backup_into_a_new_database_then_in_place_after_one_migrate(dbs, tmp_path):
    """Both restores of one run's backup, after one migrate (a migrate is the dearest playbook run here): first into a new
    database, which leaves the live one as the migrate left it; then in place, which overwrites it, so it comes last."""
    # Monitoring takes one health sample instead of watching for minutes (as write_inventory).
    inventory = write_inventory_of(tmp_path / "inventory", dbs)
    migrate(inventory)
    restore_backup_makes_a_new_database_with_the_backups_rows_and_leaves_the_live_one_alone(dbs, inventory)
    restore_in_place_needs_the_database_name_then_says_what_is_lost_and_takes_a_safety_backup(dbs, inventory)


def restore_backup_makes_a_new_database_with_the_backups_rows_and_leaves_the_live_one_alone(dbs, inventory):
    live_rows = {host: row_counts(db) for host, db in dbs.items()}
    live_indexes = {host: index_names(db) for host, db in dbs.items()}
    targets = {host: "%s_restored_20261124t220000z_5e7a" % db.name for host, db in dbs.items()}

    with contextlib.ExitStack() as stack:
        restored = {host: stack.enter_context(database_to_restore_into(db, targets[host])) for host, db in dbs.items()}
        dry = rollback(inventory, "-e", "rollback_mode=restore_backup", "--check")
        assert dry.returncode == 0, dry.stdout[-3000:]
        for host, db in dbs.items():
            assert "would restore" in said_of(dry, host), dry.stdout[-3000:]
            assert not database_exists(db, targets[host])

        first = rollback(inventory, "-e", "rollback_mode=restore_backup")
        assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-2000:]
        for host, db in dbs.items():
            assert row_counts(restored[host]) == manifest_counts(inventory, host=host) == live_rows[host]
            # The live database: same rows, same indexes (the run's included: this mode does not drop them).
            assert row_counts(db) == live_rows[host] and index_names(db) == live_indexes[host]
            assert "into the new database %s" % targets[host] in said_of(first, host)
            url = "%s://%s@%s:%s/%s" % ({"postgresql": "postgresql", "mysql": "mysql"}[db.engine], db.user, db.host, db.port,
                                        targets[host])
            assert "DATABASE_URL=" + url in said_of(first, host)
            assert db.password not in first.stdout
            outcome = json.loads(next((inventory / "artifacts" / host / RUN_ID).glob("rollback-restore_backup-*/report.json")).read_text())
            assert outcome["status"] == "success" and outcome["details"]["database"] == targets[host]

        again = rollback(inventory, "-e", "rollback_mode=restore_backup")
        assert again.returncode == 0, again.stdout[-4000:]
        for host in dbs:
            assert play_recap(again.stdout, host)["changed"] == "0" and "already restored" in said_of(again, host)
            assert row_counts(restored[host]) == live_rows[host]

    # Another database in the way of the target is refused, named, and left as it is.
    with contextlib.ExitStack() as stack:
        in_the_way = {host: stack.enter_context(database_to_restore_into(db, targets[host])) for host, db in dbs.items()}
        for host, db in dbs.items():
            admin = db.server.admin_connect()
            with admin.cursor() as cur:
                cur.execute(("CREATE DATABASE \"%s\" OWNER \"%s\"" % (targets[host], db.user)) if db.engine == "postgresql"
                            else "CREATE DATABASE `%s`" % targets[host])
            admin.close()
        refused = rollback(inventory, "-e", "rollback_mode=restore_backup")
        assert refused.returncode != 0
        for host in dbs:
            assert "the database %s already exists" % targets[host] in said_of(refused, host), refused.stdout[-3000:]
            assert query(in_the_way[host], "SELECT 1")

    # This run took no RDS snapshot: restore_snapshot says so and touches nothing.
    no_snapshot = rollback(inventory, "-e", "rollback_mode=restore_snapshot")
    assert no_snapshot.returncode != 0
    for host, db in dbs.items():
        assert "the run took no RDS snapshot" in said_of(no_snapshot, host), no_snapshot.stdout[-3000:]
        assert row_counts(db) == live_rows[host]


def restore_in_place_needs_the_database_name_then_says_what_is_lost_and_takes_a_safety_backup(dbs, inventory):
    backup_rows = {host: manifest_counts(inventory, host=host) for host in dbs}
    # Writes after the backup: the restore in place will lose them.
    written = {}
    for host, db in dbs.items():
        query(db, "DELETE FROM %s WHERE id <= 3" % quote(db, "feedback"))
        query(db, "INSERT INTO %s (user_id, title, is_archived, created_at, updated_at) VALUES (1, 'late', %s, %s, %s)"
              % (quote(db, "conversation"), "false", "CURRENT_TIMESTAMP", "CURRENT_TIMESTAMP"))
        written[host] = row_counts(db)
        assert written[host] != backup_rows[host]

    unconfirmed = rollback(inventory, "-e", "rollback_mode=restore_backup", "-e", "restore_in_place=true")
    assert unconfirmed.returncode != 0
    for host, db in dbs.items():
        assert "confirm with -e confirm=%s" % db.name in said_of(unconfirmed, host), unconfirmed.stdout[-3000:]
    wrong = rollback(inventory, "-e", "rollback_mode=restore_backup", "-e", "restore_in_place=true", "-e", "confirm=production")
    assert wrong.returncode != 0
    for host, db in dbs.items():
        assert "(got production)" in said_of(wrong, host), wrong.stdout[-3000:]
        assert row_counts(db) == written[host]
        assert not list((inventory / "backups" / host).glob("*-before-restore-*"))

    # Confirmed by the database's own name, so one host at a time (--limit <host>, as the runbook's commands say).
    for host, db in dbs.items():
        confirmed = rollback(inventory, "-e", "rollback_mode=restore_backup", "-e", "restore_in_place=true", "-e", "confirm=" + db.name,
                             "--limit", host)
        assert confirmed.returncode == 0, confirmed.stdout[-4000:] + confirmed.stderr[-2000:]
        assert "the row counts of %s differ by 4 rows" % db.name in confirmed.stdout
        assert "every write since the backup will be lost" in confirmed.stdout
        feedback, conversation = backup_rows[host]["feedback"], backup_rows[host]["conversation"]
        assert "feedback: %d rows at the backup, %d now (-3)" % (feedback, feedback - 3) in confirmed.stdout
        assert "conversation: %d rows at the backup, %d now (+1)" % (conversation, conversation + 1) in confirmed.stdout
        assert row_counts(db) == backup_rows[host]
        safety = list((inventory / "backups" / host).glob(RUN_ID + "-before-restore-*/manifest.json"))
        assert len(safety) == 1
        safety_manifest = json.loads(safety[0].read_text())
        assert safety_manifest["verified"]["result"] == "ok"
        assert {t["name"]: t["rows"] for t in safety_manifest["tables"]} == written[host]
        # The run's own backup is still there to restore again.
        assert manifest_counts(inventory, host=host) == backup_rows[host]


def database_exists(db, name):
    return bool(query(db, "SELECT 1 FROM pg_database WHERE datname = %s" if db.engine == "postgresql"
                      else "SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s", (name,)))


def test_a_restore_whose_rows_do_not_match_the_manifest_drops_the_database_it_made(db, run_module, tmp_path):
    backup = run_module("db_backup", dict(connection_args(db), run_id="r1", host_name=HOST, backup_dir=str(tmp_path)))
    assert backup["verified"]["result"] == "ok", backup.get("msg")
    # The manifest promises a row the dump does not hold.
    manifest = json.loads(open(backup["manifest_path"]).read())
    manifest["tables"][0]["rows"] += 1
    manifest["tables"][0]["rows_after"] = None
    open(backup["manifest_path"], "w").write(json.dumps(manifest))
    target = db.name + "_restored_r1"
    with database_to_restore_into(db, target):
        result = run_module("db_restore", dict(connection_args(db), manifest_path=backup["manifest_path"], run_id="r1"))
        assert result["failed"] and "the restored database differs from the backup" in result["msg"]
        assert "%s was dropped" % target in result["msg"]
        assert not database_exists(db, target)


def test_restore_snapshot_makes_a_new_instance_and_never_touches_the_old_one(pg_db, tmp_path, moto_server, aws_credentials):
    import boto3

    rds = boto3.client("rds", endpoint_url=moto_server, region_name="eu-west-1")
    rds.create_db_instance(DBInstanceIdentifier="chat-restore", Engine="postgres", DBInstanceClass="db.t3.micro",
                           AllocatedStorage=20, MasterUsername="admin", MasterUserPassword="secret-admin-pw")
    source_before = rds.describe_db_instances(DBInstanceIdentifier="chat-restore")["DBInstances"][0]
    aws = {"aws_region": "eu-west-1", "aws_endpoint_url": moto_server, "snapshot_poll_interval": 0.2}
    inventory = write_inventory(tmp_path / "inventory", pg_db, rds_instance_id="chat-restore", **aws)
    migrate(inventory)

    completed = rollback(inventory, "-e", "rollback_mode=restore_snapshot")
    assert completed.returncode == 0, completed.stdout[-4000:] + completed.stderr[-2000:]
    new = rds.describe_db_instances(DBInstanceIdentifier="chat-restore-restored-5e7a")["DBInstances"][0]
    assert new["DBInstanceStatus"] == "available"
    endpoint = "%s:%s" % (new["Endpoint"]["Address"], new["Endpoint"]["Port"])
    assert "New endpoint: " + endpoint in completed.stdout
    assert "DATABASE_URL=postgresql://%s@%s/%s" % (pg_db.user, endpoint, pg_db.name) in completed.stdout
    source = rds.describe_db_instances(DBInstanceIdentifier="chat-restore")["DBInstances"][0]
    assert (source["DBInstanceStatus"], source["Endpoint"]) == (source_before["DBInstanceStatus"], source_before["Endpoint"])
    assert source["DBInstanceArn"] == source_before["DBInstanceArn"]

    again = rollback(inventory, "-e", "rollback_mode=restore_snapshot")
    assert again.returncode == 0 and play_recap(again.stdout)["changed"] == "0", again.stdout[-3000:]
    assert len(rds.describe_db_instances()["DBInstances"]) == 2
