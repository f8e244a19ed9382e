"""The RDS replica rules: what an RDS status, RDS's replication status and a CloudWatch datapoint make of a replica,
and the preflight row they give. The AWS calls themselves are tested against moto (test_rds_replica_lag.py); here
only the answers RDS gives and moto cannot (StatusInfos, -1, a cross-region replica) are written out."""

from datetime import UTC, datetime, timedelta

import pytest
from ansible.module_utils.safeindex.aws import replicas
from ansible.module_utils.safeindex.run.rds_replica_check import judge
from ansible.module_utils.safeindex.run.replica_lag import ReplicaLag

NOW = datetime(2026, 12, 1, 23, 0, tzinfo=UTC)


class CloudWatchAnswers:
    """get_metric_statistics answering with given datapoints, remembering what it was asked."""

    def __init__(self, *values):
        self.values, self.asked = values, []

    def get_metric_statistics(self, **arguments):
        self.asked.append(arguments)
        return {"Datapoints": [{"Timestamp": NOW - timedelta(minutes=len(self.values) - i), "Maximum": v}
                               for i, v in enumerate(self.values)]}


def lag_of(replica, cloudwatch, metric="ReplicaLag", scale=1.0):
    return replicas._lag(cloudwatch, dict({"DBInstanceIdentifier": "app-db-r1"}, **replica), metric, scale, NOW)


def test_the_newest_datapoint_is_the_lag_and_aurora_milliseconds_become_seconds():
    cloudwatch = CloudWatchAnswers(90.0, 4.0)
    lag = lag_of({"DBInstanceStatus": "available"}, cloudwatch)
    assert (lag.state, lag.lag_seconds, lag.source, lag.lag_bytes) == ("streaming", 4.0, "cloudwatch", None)
    asked = cloudwatch.asked[0]
    assert asked["MetricName"] == "ReplicaLag" and asked["Dimensions"] == [{"Name": "DBInstanceIdentifier", "Value": "app-db-r1"}]
    assert asked["EndTime"] - asked["StartTime"] == timedelta(minutes=replicas.LOOKBACK_MINUTES)
    aurora = lag_of({"DBInstanceStatus": "available"}, CloudWatchAnswers(20.0, 1500.0), "AuroraReplicaLag", 0.001)
    assert aurora.lag_seconds == 1.5 and aurora.extra["metric"] == "AuroraReplicaLag"


@pytest.mark.parametrize("status, state", [
    ("stopped", "stopped"), ("storage-full", "error"), ("incompatible-parameters", "error"), ("failed", "error"),
    ("rebooting", "unreachable"), ("not found", "unreachable"), ("backing-up", "streaming"),
])
def test_an_rds_status_in_which_a_replica_does_not_replicate_is_its_state(status, state):
    lag = lag_of({"DBInstanceStatus": status}, CloudWatchAnswers(1.0))
    assert lag.state == state
    if state != "streaming":
        assert lag.lag_seconds is None and status in lag.detail


def test_rds_saying_replication_stopped_or_broke_wins_over_an_old_datapoint():
    broken = lag_of({"DBInstanceStatus": "available", "StatusInfos": [
        {"StatusType": "read replication", "Status": "error", "Normal": False, "Message": "Error 1062: duplicate key"}]},
        CloudWatchAnswers(0.0))
    assert (broken.state, broken.detail) == ("error", "Error 1062: duplicate key")
    stopped = lag_of({"DBInstanceStatus": "available", "StatusInfos": [
        {"StatusType": "read replication", "Status": "stopped", "Normal": False}]}, CloudWatchAnswers(0.0))
    assert stopped.state == "stopped" and "stopped" in stopped.detail


def test_minus_one_means_replication_is_not_running_and_no_datapoint_is_unknown():
    assert lag_of({"DBInstanceStatus": "available"}, CloudWatchAnswers(-1.0)).state == "stopped"
    unknown = lag_of({"DBInstanceStatus": "available"}, CloudWatchAnswers())
    assert unknown.state == "unknown" and "CloudWatch has no ReplicaLag for app-db-r1" in unknown.detail


def test_a_cross_region_replica_is_named_by_its_arn_and_not_guessed():
    arn = "arn:aws:rds:us-east-1:123456789012:db:app-db-dr"
    lag = replicas._lag(CloudWatchAnswers(1.0), replicas._describe(None, arn), "ReplicaLag", 1.0, NOW)
    assert lag.state == "unknown" and lag.name == arn and "us-east-1" in lag.detail


def streaming(name, seconds):
    return ReplicaLag(name, "cloudwatch", lag_seconds=seconds, extra={"metric": "ReplicaLag"})


def test_the_row_names_each_replica_its_lag_and_the_limit():
    row = judge("RDS instance app-db", [streaming("app-db-r1", 42.0), streaming("app-db-r2", 0.4)], 10)
    assert row["result"] == "fail" and row["check"] == "RDS replica lag"
    assert "replica app-db-r1 is 42.0 s behind, limit 10 s (max_replication_lag_seconds)" in row["detail"]
    assert "within the limit: app-db-r2 0.4 s behind" in row["detail"]
    ok = judge("RDS instance app-db", [streaming("app-db-r1", 2.0), streaming("app-db-r2", 0.4)], 10)
    assert ok["result"] == "ok" and "2 read replicas of RDS instance app-db, CloudWatch ReplicaLag" in ok["detail"]
    assert "app-db-r1 2.0 s behind" in ok["detail"] and "limit 10 s" in ok["detail"]


def test_a_replica_not_replicating_refuses_even_without_a_limit_and_an_unknown_lag_warns():
    stopped = ReplicaLag("app-db-r1", "cloudwatch", "stopped", detail="RDS status stopped")
    row = judge("RDS instance app-db", [stopped, streaming("app-db-r2", 300.0)], None)
    assert row["result"] == "fail" and row["detail"].startswith("replica app-db-r1 is stopped: RDS status stopped")
    unknown = ReplicaLag("app-db-r2", "cloudwatch", "unknown", detail="CloudWatch has no ReplicaLag", extra={"metric": "ReplicaLag"})
    warned = judge("RDS instance app-db", [streaming("app-db-r1", 1.0), unknown], 10)
    assert warned["result"] == "warn" and "lag unknown for app-db-r2 (CloudWatch has no ReplicaLag)" in warned["detail"]
    assert judge("Aurora cluster chat", [], 10) == {"check": "RDS replica lag", "result": "ok",
                                                    "detail": "no read replicas (Aurora cluster chat)"}


class DeniedRds:
    """An RDS client whose credentials may not describe instances, as botocore raises it."""

    meta = type("Meta", (), {"endpoint_url": "https://rds.eu-west-1.amazonaws.com"})

    def describe_db_instances(self, **_arguments):
        from botocore.exceptions import ClientError

        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "User: arn:aws:iam::1:user/ci is not authorized"}},
                          "DescribeDBInstances")


def test_the_monitor_notes_replicas_it_cannot_list_and_the_preflight_error_names_the_call():
    window = (NOW - timedelta(minutes=10), NOW)
    noted = replicas.replica_lag_metrics(DeniedRds(), CloudWatchAnswers(), "app-db", None, "eu-west-1", window, window, 60)
    note = noted["ReplicaLag"]["note"]
    # rds_metrics warns on a note with "could not read"; the call and the permission it needs are named.
    assert note.startswith("could not read the read replicas: access denied for rds:DescribeDBInstances on instance"
                           " app-db: User: arn:aws:iam::1:user/ci is not authorized") and noted["ReplicaLag"]["after"] is None
    with pytest.raises(replicas.ReplicaReadError) as failed:
        replicas.rds_replica_lags(DeniedRds(), CloudWatchAnswers(), "app-db", region="eu-west-1")
    assert "rds:DescribeDBInstances" in str(failed.value) and "The credentials in use need that permission" in str(failed.value)
