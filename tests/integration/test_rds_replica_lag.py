"""RDS and Aurora read replicas and their CloudWatch lag: the real boto3 client against a moto server on loopback.

moto keeps the replicas (create_db_instance_read_replica, an Aurora cluster's readers) and the datapoints put with
put_metric_data; what a real replica's lag would be is put there as RDS would publish it."""

import contextlib
import socket
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from tests.integration.conftest import moto_backend
from tests.integration.test_preflight import assert_refused_before_any_work, migrate

pytestmark = pytest.mark.slow

REGION = "eu-west-1"


@pytest.fixture
def aws(moto_server, aws_credentials):
    """The moto server's RDS and CloudWatch clients, and the AWS options a module takes."""
    return (boto3.client("rds", endpoint_url=moto_server, region_name=REGION),
            boto3.client("cloudwatch", endpoint_url=moto_server, region_name=REGION),
            {"aws_region": REGION, "aws_endpoint_url": moto_server})


def instance(rds, name, **extra):
    rds.create_db_instance(DBInstanceIdentifier=name, Engine="postgres", DBInstanceClass="db.t3.micro", AllocatedStorage=20,
                           MasterUsername="admin", MasterUserPassword="secret-admin-pw", **extra)


def lag(cloudwatch, replica, value, metric="ReplicaLag", unit="Seconds", ago=30, at=None):
    """A datapoint as RDS publishes it: the replica's lag `ago` seconds ago (or at `at`)."""
    cloudwatch.put_metric_data(Namespace="AWS/RDS", MetricData=[{
        "MetricName": metric, "Dimensions": [{"Name": "DBInstanceIdentifier", "Value": replica}],
        "Timestamp": at or datetime.now(UTC) - timedelta(seconds=ago), "Value": value, "Unit": unit}])


def rds_row(aws_options, cloudwatch=None, **host):
    """The preflight row for an RDS host, as db_preflight makes it (given the CloudWatch client it built for the disk
    space, or none)."""
    from ansible.module_utils.safeindex.run.rds_replica_check import rds_replica_rows

    params = dict(rds_instance_id=None, rds_cluster_id=None, aws_profile=None, max_replication_lag_seconds=None,
                  **aws_options) | host
    rows = rds_replica_rows(params, cloudwatch)
    assert len(rows) == 1 and rows[0]["check"] == "RDS replica lag", rows
    return rows[0]


def test_an_instance_s_replicas_are_read_with_their_replica_lag(aws):
    rds, cloudwatch, options = aws
    instance(rds, "chat-prod")
    assert rds_row(options, cloudwatch, rds_instance_id="chat-prod", max_replication_lag_seconds=10) == {
        "check": "RDS replica lag", "result": "ok", "detail": "no read replicas (RDS instance chat-prod)"}
    for name in ("chat-prod-r1", "chat-prod-r2"):
        rds.create_db_instance_read_replica(DBInstanceIdentifier=name, SourceDBInstanceIdentifier="chat-prod")
    lag(cloudwatch, "chat-prod-r1", 3.0, ago=200)  # an older datapoint: the newest one counts
    lag(cloudwatch, "chat-prod-r1", 42.0)
    lag(cloudwatch, "chat-prod-r2", 0.5)
    lag(cloudwatch, "chat-prod", 99.0)  # the primary's own metric is not a replica's

    refused = rds_row(options, cloudwatch, rds_instance_id="chat-prod", max_replication_lag_seconds=10)
    assert refused["result"] == "fail", refused
    assert refused["detail"] == ("replica chat-prod-r1 is 42.0 s behind, limit 10 s (max_replication_lag_seconds);"
                                 " within the limit: chat-prod-r2 0.5 s behind")

    # A replica RDS says is not available does not replicate, whatever its last datapoint said; the other one is now
    # within the higher limit.
    moto_backend("rds", REGION).databases["chat-prod-r2"].status = "storage-full"
    broken = rds_row(options, cloudwatch, rds_instance_id="chat-prod", max_replication_lag_seconds=60)
    assert broken["result"] == "fail" and broken["detail"] == "replica chat-prod-r2 is error: RDS status storage-full; within the" \
                                                              " limit: chat-prod-r1 42.0 s behind"


def test_an_aurora_cluster_s_readers_are_read_with_aurora_replica_lag_in_milliseconds(aws):
    rds, cloudwatch, options = aws
    rds.create_db_cluster(DBClusterIdentifier="chat-aurora", Engine="aurora-postgresql", MasterUsername="admin",
                          MasterUserPassword="secret-admin-pw")
    for name in ("chat-aurora-writer", "chat-aurora-reader"):
        rds.create_db_instance(DBInstanceIdentifier=name, DBClusterIdentifier="chat-aurora", Engine="aurora-postgresql",
                               DBInstanceClass="db.r6g.large")
    lag(cloudwatch, "chat-aurora-reader", 2500.0, metric="AuroraReplicaLag", unit="Milliseconds")
    lag(cloudwatch, "chat-aurora-writer", 9000.0, metric="AuroraReplicaLag", unit="Milliseconds")  # the writer lags no one

    refused = rds_row(options, cloudwatch, rds_cluster_id="chat-aurora", max_replication_lag_seconds=1)
    assert refused == {"check": "RDS replica lag", "result": "fail",
                       "detail": "replica chat-aurora-reader is 2.5 s behind, limit 1 s (max_replication_lag_seconds)"}
    # The writer's instance id stands for its cluster.
    assert rds_row(options, cloudwatch, rds_instance_id="chat-aurora-writer", max_replication_lag_seconds=1) == refused


def test_no_datapoint_and_aws_errors_warn_naming_the_call(aws, monkeypatch):
    rds, cloudwatch, options = aws
    instance(rds, "chat-prod")
    rds.create_db_instance_read_replica(DBInstanceIdentifier="chat-prod-r1", SourceDBInstanceIdentifier="chat-prod")
    quiet = rds_row(options, cloudwatch, rds_instance_id="chat-prod", max_replication_lag_seconds=10)
    assert quiet["result"] == "warn" and "lag unknown for chat-prod-r1 (CloudWatch has no ReplicaLag for chat-prod-r1 since" \
        in quiet["detail"]
    typo = rds_row(options, cloudwatch, rds_instance_id="chat-prod-typo", max_replication_lag_seconds=10)
    assert typo["result"] == "warn" and typo["detail"].startswith(
        "could not read the read replicas of RDS instance chat-prod-typo: rds:DescribeDBInstances failed: RDS instance"
        " chat-prod-typo not found in region eu-west-1")
    assert "testing" not in typo["detail"]  # the access key, or the secret one
    # Nothing answers there: botocore's retries (one attempt here, as the operator may set it) end in a connection error.
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    with socket_nobody_listens_on() as nowhere:
        down = rds_row(dict(options, aws_endpoint_url=nowhere), rds_instance_id="chat-prod", max_replication_lag_seconds=10)
    assert down["result"] == "warn" and "rds:DescribeDBInstances" in down["detail"] and nowhere in down["detail"]


@contextlib.contextmanager
def socket_nobody_listens_on():
    """A loopback URL whose port is bound but not listening: connections are refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield "http://127.0.0.1:%d" % sock.getsockname()[1]


def test_migrate_refuses_an_rds_host_whose_replica_lags_before_the_backup_and_the_snapshot(pg_db, tmp_path, aws):
    rds, cloudwatch, options = aws
    instance(rds, "chat-prod")
    rds.create_db_instance_read_replica(DBInstanceIdentifier="chat-prod-r1", SourceDBInstanceIdentifier="chat-prod")
    lag(cloudwatch, "chat-prod-r1", 75.0)

    inventory, completed = migrate(tmp_path, pg_db, rds_instance_id="chat-prod", max_replication_lag_seconds=30, **options)
    report = assert_refused_before_any_work(pg_db, inventory, completed, "RDS replica lag",
                                            "RDS replica lag: replica chat-prod-r1 is 75.0 s behind, limit 30 s")
    rows = [c["check"] for c in report["preflight"]]
    assert rows.index("RDS replica lag") == rows.index("replication lag") + 1
    assert report["snapshot"] is None
    # moto takes an automated snapshot when it creates an instance, as RDS does; the run took none of its own.
    assert [s["DBSnapshotIdentifier"] for s in rds.describe_db_snapshots()["DBSnapshots"] if s["SnapshotType"] == "manual"] == []


def test_rds_metrics_compares_each_replica_s_lag_before_the_run_with_the_monitoring_window(aws, run_module):
    rds, cloudwatch, options = aws
    instance(rds, "chat-prod")
    rds.create_db_instance_read_replica(DBInstanceIdentifier="chat-prod-r1", SourceDBInstanceIdentifier="chat-prod")
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    for minutes, value in ((30, 0.5), (25, 0.5), (10, 2.0), (6, 12.0), (2, 1.0)):  # the build made it lag, then it caught up
        lag(cloudwatch, "chat-prod-r1", value, at=now - timedelta(minutes=minutes))

    result = run_module("rds_metrics", dict(
        instance_id="chat-prod", metrics=["CPUUtilization"], run_started=(now - timedelta(minutes=15)).isoformat(),
        baseline_seconds=1800, monitor_started=(now - timedelta(minutes=12)).isoformat(), monitor_ended=now.isoformat(), **options))
    assert result["_rc"] == 0 and not result.get("warnings"), result
    assert result["metrics"]["ReplicaLag chat-prod-r1"] == {"before": 0.5, "after": 5.0, "unit": "Seconds", "change_percent": 900.0,
                                                           "peak": 12.0, "note": None}
