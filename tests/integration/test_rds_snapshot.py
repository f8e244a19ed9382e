"""rds_snapshot with the real boto3 client against a moto server on loopback."""

import contextlib
import json
import threading
import time
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from tests.integration.conftest import moto_backend

pytestmark = pytest.mark.slow

REGION = "eu-west-1"
RUN_ID = "20261124T220000Z-1a2b"


@pytest.fixture
def rds(moto_server, aws_credentials):
    """A clean moto RDS with one available PostgreSQL instance, app-db."""
    client = boto3.client("rds", endpoint_url=moto_server, region_name=REGION)
    backend = moto_backend("rds", REGION)
    backend.reset()
    client.create_db_instance(DBInstanceIdentifier="app-db", Engine="postgres", DBInstanceClass="db.t3.micro",
                              AllocatedStorage=20, MasterUsername="admin", MasterUserPassword="secret-admin-pw")
    client.describe_db_instances(DBInstanceIdentifier="app-db")  # moto reports creating once, then available
    yield client
    backend.reset()


def args(moto_server, **extra):
    return dict(instance_id="app-db", run_id=RUN_ID, database="app", aws_region=REGION, aws_endpoint_url=moto_server,
                poll_interval=0.1, wait_timeout=20) | extra


def tags_of(client, arn):
    return {t["Key"]: t["Value"] for t in client.list_tags_for_resource(ResourceName=arn)["TagList"]}


@contextlib.contextmanager
def snapshots_created_slowly(steps):
    """New snapshots start `creating` and move through (seconds, status, percent) steps: what a real snapshot does.

    moto makes its snapshots available at once; this changes its server-side model, not the client."""
    backend = moto_backend("rds", REGION)
    original = backend.create_db_snapshot
    timers = []

    def create_db_snapshot(*arguments, **keywords):
        snapshot = original(*arguments, **keywords)
        snapshot.status, snapshot.percent_progress = "creating", 0
        for seconds, status, percent in steps:
            timer = threading.Timer(seconds, lambda s=status, p=percent: (setattr(snapshot, "status", s),
                                                                         setattr(snapshot, "percent_progress", p)))
            timer.start()
            timers.append(timer)
        return snapshot

    backend.create_db_snapshot = create_db_snapshot
    try:
        yield
    finally:
        backend.create_db_snapshot = original
        for timer in timers:
            timer.cancel()


def test_present_takes_a_tagged_snapshot_and_is_idempotent_by_its_tags(rds, run_module, moto_server):
    result = run_module("rds_snapshot", args(moto_server))
    assert result["changed"] and not result.get("failed"), result.get("msg")
    snapshot = result["snapshot"]
    assert snapshot["id"].startswith("pre-index-migration-%s-" % datetime.now(UTC).strftime("%Y%m%d"))
    assert snapshot["id"].endswith("-1a2b") and snapshot["status"] == "available" and snapshot["arn"]
    described = rds.describe_db_snapshots(DBSnapshotIdentifier=snapshot["id"])["DBSnapshots"][0]
    assert described["DBInstanceIdentifier"] == "app-db" and described["SnapshotType"] == "manual"
    assert tags_of(rds, snapshot["arn"]) == {"safeindex:tool": "safeindex", "safeindex:run-id": RUN_ID, "safeindex:database": "app"}

    # The next day the default name changes; the run's snapshot is still found, by its tags.
    again = run_module("rds_snapshot", args(moto_server, snapshot_id="pre-index-migration-20991231-1a2b"))
    assert not again["changed"] and again["snapshot"]["id"] == snapshot["id"]
    assert len(rds.describe_db_snapshots(DBInstanceIdentifier="app-db", SnapshotType="manual")["DBSnapshots"]) == 1


def test_check_mode_says_what_it_would_create_and_creates_nothing(rds, run_module, moto_server):
    result = run_module("rds_snapshot", args(moto_server), check_mode=True)
    assert result["changed"] and result["snapshot"]["status"] == "would be created"
    assert rds.describe_db_snapshots(DBInstanceIdentifier="app-db", SnapshotType="manual")["DBSnapshots"] == []


def test_it_waits_through_creating_and_records_the_progress(rds, run_module, moto_server, tmp_path):
    with snapshots_created_slowly([(0.4, "creating", 35), (0.8, "creating", 80), (1.2, "available", 100)]):
        result = run_module("rds_snapshot", args(moto_server, run_dir=str(tmp_path)))
    assert result["snapshot"]["status"] == "available" and result["duration_seconds"] >= 1.2
    seen = [(p["status"], p["percent"]) for p in result["progress"]]
    assert seen == [("creating", 0), ("creating", 35), ("creating", 80), ("available", 100)]
    events = [json.loads(line) for line in (tmp_path / "record.jsonl").read_text().splitlines()]
    assert [e["percent"] for e in events if e["event"] == "snapshot_progress"] == [0, 35, 80, 100]


def test_a_snapshot_still_creating_at_the_timeout_is_named_so_the_operator_can_watch_it(rds, run_module, moto_server):
    with snapshots_created_slowly([(0.2, "creating", 40)]):
        started = time.monotonic()
        result = run_module("rds_snapshot", args(moto_server, wait_timeout=1))
        elapsed = time.monotonic() - started
    assert result["failed"] and 1 <= elapsed < 5
    snapshot_id = result["snapshot_id"]
    assert snapshot_id.startswith("pre-index-migration-") and "still creating at 40%" in result["msg"]
    assert "aws rds describe-db-snapshots --db-snapshot-identifier %s" % snapshot_id in result["msg"]
    assert rds.describe_db_snapshots(DBSnapshotIdentifier=snapshot_id)["DBSnapshots"][0]["Status"] == "creating"


def test_the_errors_operators_meet_say_what_to_do(rds, run_module, moto_server, monkeypatch):
    missing = run_module("rds_snapshot", args(moto_server, instance_id="no-such-db"))
    assert missing["failed"] and "RDS instance no-such-db not found in region eu-west-1" in missing["msg"]

    rds.stop_db_instance(DBInstanceIdentifier="app-db")
    stopped = run_module("rds_snapshot", args(moto_server))
    assert stopped["failed"] and "is 'stopped', not available" in stopped["msg"]
    rds.start_db_instance(DBInstanceIdentifier="app-db")

    monkeypatch.setenv("MOTO_RDS_SNAPSHOT_LIMIT", "1")  # the instance's automated snapshot fills it
    full = run_module("rds_snapshot", args(moto_server))
    assert full["failed"] and "quota is full" in full["msg"] and "prune_older_than_days" in full["msg"]


def test_access_denied_names_the_permission_that_is_missing(rds, run_module, moto_server, monkeypatch):
    from moto.core.authorization import enable_iam_authentication

    iam = boto3.client("iam", endpoint_url=moto_server, region_name=REGION)
    iam.create_user(UserName="night-operator")
    key = iam.create_access_key(UserName="night-operator")["AccessKey"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
    with enable_iam_authentication():
        result = run_module("rds_snapshot", args(moto_server))
    assert result["failed"] and "access denied for rds:DescribeDBSnapshots" in result["msg"]
    assert "The credentials in use need that permission" in result["msg"]


def test_prune_and_absent_delete_only_what_this_tool_tagged(rds, run_module, moto_server):
    backend = moto_backend("rds", REGION)
    ours_tags = [{"Key": "safeindex:tool", "Value": "safeindex"}, {"Key": "safeindex:run-id", "Value": "old"}]
    for name, tags, days_old in (("ours-old", ours_tags, 40), ("ours-recent", ours_tags, 2), ("theirs-old", [], 40)):
        rds.create_db_snapshot(DBSnapshotIdentifier=name, DBInstanceIdentifier="app-db", Tags=tags)
        backend.database_snapshots[name].created = datetime.now(UTC) - timedelta(days=days_old)

    planned = run_module("rds_snapshot", dict(args(moto_server), state="absent", prune_older_than_days=30), check_mode=True)
    assert planned["pruned"] == ["ours-old"]
    pruned = run_module("rds_snapshot", dict(args(moto_server), state="absent", prune_older_than_days=30))
    assert pruned["changed"] and pruned["pruned"] == ["ours-old"]
    manual = rds.describe_db_snapshots(DBInstanceIdentifier="app-db", SnapshotType="manual")["DBSnapshots"]
    left = sorted(s["DBSnapshotIdentifier"] for s in manual)
    assert left == ["ours-recent", "theirs-old"]

    theirs = run_module("rds_snapshot", dict(args(moto_server), state="absent", snapshot_id="theirs-old"))
    assert theirs["failed"] and "was not made by this tool" in theirs["msg"]
    ours = run_module("rds_snapshot", dict(args(moto_server), state="absent", snapshot_id="ours-recent"))
    assert ours["changed"] and ours["pruned"] == ["ours-recent"]
    gone = run_module("rds_snapshot", dict(args(moto_server), state="absent", snapshot_id="ours-recent"))
    assert not gone["changed"]


def test_restore_makes_a_new_instance_returns_its_endpoint_and_never_touches_the_source(rds, run_module, moto_server):
    taken = run_module("rds_snapshot", args(moto_server))
    source_before = rds.describe_db_instances(DBInstanceIdentifier="app-db")["DBInstances"][0]

    planned = run_module("rds_snapshot", dict(args(moto_server), state="restored"), check_mode=True)
    assert planned["changed"] and planned["restored"]["identifier"] == "app-db-restored-1a2b"
    assert len(rds.describe_db_instances()["DBInstances"]) == 1

    result = run_module("rds_snapshot", dict(args(moto_server), state="restored"))
    assert result["changed"] and result["restored"]["identifier"] == "app-db-restored-1a2b"
    assert result["restored"]["status"] == "available" and result["restored"]["endpoint"] and result["restored"]["port"]
    assert result["snapshot"]["id"] == taken["snapshot"]["id"]
    new = rds.describe_db_instances(DBInstanceIdentifier="app-db-restored-1a2b")["DBInstances"][0]
    assert new["Endpoint"]["Address"] == result["restored"]["endpoint"]
    source_after = rds.describe_db_instances(DBInstanceIdentifier="app-db")["DBInstances"][0]
    assert source_after["DBInstanceStatus"] == "available" and source_after["Endpoint"] == source_before["Endpoint"]

    again = run_module("rds_snapshot", dict(args(moto_server), state="restored"))
    assert not again["changed"] and again["restored"]["identifier"] == "app-db-restored-1a2b"
    onto_source = run_module("rds_snapshot", dict(args(moto_server), state="restored", target_id="app-db"))
    assert onto_source["failed"] and "is the source itself" in onto_source["msg"]
    rds.create_db_instance(DBInstanceIdentifier="someone-elses", Engine="postgres", DBInstanceClass="db.t3.micro",
                           AllocatedStorage=20, MasterUsername="admin", MasterUserPassword="secret-admin-pw")
    onto_other = run_module("rds_snapshot", dict(args(moto_server), state="restored", target_id="someone-elses"))
    assert onto_other["failed"] and "already exists" in onto_other["msg"]


def test_aurora_clusters_are_snapshotted_and_restored_with_a_writer(rds, run_module, moto_server):
    rds.create_db_cluster(DBClusterIdentifier="app-aurora", Engine="aurora-postgresql", MasterUsername="admin",
                          MasterUserPassword="secret-admin-pw")
    rds.create_db_instance(DBInstanceIdentifier="app-aurora-1", DBClusterIdentifier="app-aurora", Engine="aurora-postgresql",
                           DBInstanceClass="db.r6g.large")
    cluster_args = {k: v for k, v in args(moto_server).items() if k != "instance_id"} | {"cluster_id": "app-aurora"}
    result = run_module("rds_snapshot", cluster_args)
    assert result["changed"] and result["snapshot"]["kind"] == "cluster" and result["snapshot"]["status"] == "available"
    described = rds.describe_db_cluster_snapshots(DBClusterSnapshotIdentifier=result["snapshot"]["id"])["DBClusterSnapshots"][0]
    assert described["DBClusterIdentifier"] == "app-aurora"
    assert tags_of(rds, result["snapshot"]["arn"])["safeindex:run-id"] == RUN_ID
    assert not run_module("rds_snapshot", cluster_args)["changed"]

    restored = run_module("rds_snapshot", dict(cluster_args, state="restored", target_id="app-aurora-copy"))
    assert restored["changed"] and restored["restored"]["endpoint"]
    cluster = rds.describe_db_clusters(DBClusterIdentifier="app-aurora-copy")["DBClusters"][0]
    writer = rds.describe_db_instances(DBInstanceIdentifier="app-aurora-copy-writer")["DBInstances"][0]
    assert writer["DBClusterIdentifier"] == "app-aurora-copy" and writer["DBInstanceClass"] == "db.r6g.large"
    assert cluster["Engine"] == "aurora-postgresql"
