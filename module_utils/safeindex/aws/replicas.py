"""The read replicas of an RDS instance or Aurora cluster, and their lag from CloudWatch, as run/replica_lag.ReplicaLag.

An instance's replicas are its ReadReplicaDBInstanceIdentifiers; an Aurora cluster's are its members that are not the
writer (an instance id that belongs to a cluster is read as its cluster). Lag is the newest CloudWatch datapoint of
ReplicaLag (seconds) or AuroraReplicaLag (milliseconds) over the last few minutes; a replica that is not available,
whose replication RDS reports stopped or broken, or with no datapoint, is its own state instead of a number.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from ansible.module_utils.safeindex.aws.cloudwatch import compare, isoformat
from ansible.module_utils.safeindex.aws.rds import INSTANCE, RdsError, snapshots_for
from ansible.module_utils.safeindex.core.errors import SafeIndexError
from ansible.module_utils.safeindex.run.replica_lag import ReplicaLag

# RDS publishes replica lag once a minute, a minute or so late: five minutes hold the newest datapoint.
LOOKBACK_MINUTES = 5
# Statuses in which a replica replicates (RDS keeps applying changes while it backs up or optimizes storage).
REPLICATING = ("available", "backing-up", "storage-optimization")
STOPPED = ("stopped", "stopping")
CROSS_REGION = "in another region"  # what we call the status of a replica we only know by its ARN
BROKEN_PREFIXES = ("failed", "storage-full", "incompatible-", "inaccessible-encryption-credentials", "restore-error")


class ReplicaReadError(SafeIndexError):
    """An AWS call failed while listing the replicas or reading their lag; the message names the call."""


def rds_replica_lags(rds: Any, cloudwatch: Any, instance_id: str | None = None, cluster_id: str | None = None,
                     region: str | None = None, now: datetime | None = None) -> list:
    """One ReplicaLag (source "cloudwatch") per read replica of the instance or Aurora cluster; [] when it has none."""
    replicas, metric, scale = _replicas(rds, instance_id, cluster_id, region)
    now = now or datetime.now(UTC)
    return [_lag(cloudwatch, replica, metric, scale, now) for replica in replicas]


def replica_lag_metrics(rds: Any, cloudwatch: Any, instance_id: str | None, cluster_id: str | None, region: str | None,
                        before: tuple, after: tuple, period: int) -> dict:
    """The monitor's view: each replica's lag metric before the run against the window, as cloudwatch.compare() gives
    it, keyed "<metric> <replica>", with `peak`, the window's highest datapoint. Listing the replicas failing is a note."""
    try:
        replicas, metric, _scale = _replicas(rds, instance_id, cluster_id, region)
    except ReplicaReadError as exc:
        return {"ReplicaLag": {"before": None, "after": None, "unit": None, "change_percent": None, "peak": None,
                               "note": "could not read the read replicas: %s" % exc}}
    compared = {}
    for replica in replicas:
        name = replica["DBInstanceIdentifier"]
        dim = {"Name": "DBInstanceIdentifier", "Value": name}
        entry = compare(cloudwatch, dim, [metric], before, after, period)[metric]
        entry["peak"] = _peak(cloudwatch, metric, dim, after, period) if entry["after"] is not None else None
        compared["%s %s" % (metric, name)] = entry
    return compared


def _peak(cloudwatch, metric, dim, window, period):
    try:
        points = cloudwatch.get_metric_statistics(Namespace="AWS/RDS", MetricName=metric, Dimensions=[dim], StartTime=window[0],
                                                  EndTime=window[1], Period=period, Statistics=["Maximum"])["Datapoints"]
    except Exception:  # botocore's errors: compare() read the same metric a moment ago and noted any error
        return None
    return max((p["Maximum"] for p in points), default=None)


def _replicas(rds, instance_id, cluster_id, region):
    """(the replicas' DBInstances entries, the lag metric, its factor to seconds)."""
    if instance_id:
        instance = _source(rds, instance_id, None, region)
        if not instance.get("DBClusterIdentifier"):
            # Cross-region replicas are named by their ARN (_describe does not look them up here).
            return [_describe(rds, name) for name in instance.get("ReadReplicaDBInstanceIdentifiers") or []], "ReplicaLag", 1.0
        cluster_id = instance["DBClusterIdentifier"]
    cluster = _source(rds, None, cluster_id, region)
    readers = [m["DBInstanceIdentifier"] for m in cluster.get("DBClusterMembers") or [] if not m.get("IsClusterWriter")]
    # Aurora readers share the writer's storage and report AuroraReplicaLag in milliseconds; the readers of a Multi-AZ
    # DB cluster replicate like instance replicas and report ReplicaLag in seconds.
    aurora = (cluster.get("Engine") or "").startswith("aurora")
    metric, scale = ("AuroraReplicaLag", 0.001) if aurora else ("ReplicaLag", 1.0)
    return [_describe(rds, name) for name in readers], metric, scale


def _source(rds, instance_id, cluster_id, region):
    """The instance or cluster itself, with rds.py's words for its errors (not found, access denied, throttled)."""
    snapshots = snapshots_for(rds, instance_id, cluster_id, region)
    try:
        return snapshots.source()
    except RdsError as exc:
        raise _named(snapshots.kind.describe_sources, exc) from None


def _describe(rds, name):
    if name.startswith("arn:"):
        return {"DBInstanceIdentifier": name, "DBInstanceStatus": CROSS_REGION}
    try:
        found = rds.describe_db_instances(DBInstanceIdentifier=name)["DBInstances"]
    except Exception as exc:  # botocore's errors, after its retries: access denied, throttled
        code = (getattr(exc, "response", None) or {}).get("Error", {}).get("Code")
        if code not in INSTANCE.not_found_codes:  # a replica deleted since its primary was described is just gone
            raise _named("describe_db_instances", exc, "replica %s" % name) from None
        found = []
    return found[0] if found else {"DBInstanceIdentifier": name, "DBInstanceStatus": "not found"}


def _lag(cloudwatch, replica, metric, scale, now):
    name = replica["DBInstanceIdentifier"]
    status = replica.get("DBInstanceStatus") or "unknown"
    extra = {"rds_status": status, "metric": metric}
    if status == CROSS_REGION:
        region = name.split(":")[3]
        return ReplicaLag(name, "cloudwatch", "unknown", detail="a replica in region %s: its %s is in that region's"
                          " CloudWatch, not read here" % (region, metric), extra=extra)
    state = _state_of(status)
    if state:
        return ReplicaLag(name, "cloudwatch", state, detail="RDS status %s" % status, extra=extra)
    replication = _replication_status(replica)
    if replication and replication.get("Status") != "replicating":
        words = replication.get("Message") or "RDS read replication status %s" % replication.get("Status")
        return ReplicaLag(name, "cloudwatch", "error" if replication.get("Status") == "error" else "stopped",
                          detail=words, extra=extra)
    start = now - timedelta(minutes=LOOKBACK_MINUTES)
    try:
        points = cloudwatch.get_metric_statistics(
            Namespace="AWS/RDS", MetricName=metric, Dimensions=[{"Name": "DBInstanceIdentifier", "Value": name}],
            StartTime=start, EndTime=now, Period=60, Statistics=["Maximum"])["Datapoints"]
    except Exception as exc:  # botocore's errors, after its retries
        raise _named("cloudwatch:GetMetricStatistics", exc, "%s of %s" % (metric, name), service="") from None
    if not points:
        return ReplicaLag(name, "cloudwatch", "unknown", detail="CloudWatch has no %s for %s since %s"
                          % (metric, name, isoformat(start)), extra=extra)
    newest = max(points, key=lambda p: p["Timestamp"])
    extra["timestamp"] = isoformat(newest["Timestamp"])
    if newest["Maximum"] < 0:
        # RDS for MySQL and MariaDB report -1 when replication is not running.
        return ReplicaLag(name, "cloudwatch", "stopped", detail="CloudWatch %s is %s: replication is not running"
                          % (metric, newest["Maximum"]), extra=extra)
    return ReplicaLag(name, "cloudwatch", "streaming", lag_seconds=round(newest["Maximum"] * scale, 3), extra=extra)


def _state_of(status):
    """The ReplicaLag state of an RDS status in which the replica does not replicate; None when it does."""
    if status in REPLICATING:
        return None
    if status in STOPPED:
        return "stopped"
    if status.startswith(BROKEN_PREFIXES):
        return "error"
    return "unreachable"  # creating, rebooting, modifying, upgrading, deleting, not found...


def _replication_status(replica):
    """RDS's own word on a replica's replication (StatusInfos "read replication": replicating, error, stopped)."""
    return next((s for s in replica.get("StatusInfos") or [] if s.get("StatusType") == "read replication"), None)


def _named(operation, exc, what="", service="rds:"):
    """The error with the API call it came from, once (rds.py's messages may name it already)."""
    action = operation if ":" in operation else service + "".join(
        "DB" if part == "db" else part.capitalize() for part in operation.split("_"))
    message = str(exc)
    if action in message:
        return ReplicaReadError(message)
    return ReplicaReadError("%s%s failed: %s" % (action, " (%s)" % what if what else "", message))
