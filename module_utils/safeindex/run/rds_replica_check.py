"""Preflight's "RDS replica lag" row: the read replicas of the host's RDS instance or Aurora cluster, their CloudWatch
lag against max_replication_lag_seconds (CloudWatch has no bytes behind, so max_replication_lag_bytes does not apply).

A replica over the limit, or not replicating at all, refuses the run; a lag CloudWatch has no datapoint for warns; an
AWS call that fails warns, naming the call (the other checks, and the database's own view of its replicas, still run).
"""

from __future__ import annotations

from typing import Any

from ansible.module_utils.safeindex.core.aws_options import aws_settings
from ansible.module_utils.safeindex.core.errors import SafeIndexError
from ansible.module_utils.safeindex.run.preflight import row
from ansible.module_utils.safeindex.run.replica_lag import lag_problems

CHECK = "RDS replica lag"


def rds_replica_rows(params: dict, cloudwatch: Any = None) -> list:
    """[the row] for a host with rds_instance_id or rds_cluster_id, [] for any other. `cloudwatch`: a client preflight
    built already (for the disk space), else one is built here."""
    instance_id, cluster_id = params.get("rds_instance_id"), params.get("rds_cluster_id")
    if not (instance_id or cluster_id):
        return []
    what = "RDS instance %s" % instance_id if instance_id else "Aurora cluster %s" % cluster_id
    try:
        lags = rds_lags(params, cloudwatch)
    except SafeIndexError as exc:
        return [row(CHECK, "warn", "could not read the read replicas of %s: %s" % (what, exc))]
    return [judge(what, lags, params.get("max_replication_lag_seconds"))]


def rds_lags(params: dict, cloudwatch: Any = None) -> list:
    """The host's RDS read replicas as ReplicaLag (source "cloudwatch"), from module params with rds_instance_id or
    rds_cluster_id and the AWS options; [] without an RDS id. Raises SafeIndexError naming the AWS call that failed.
    (For whatever else wants the RDS replicas' lag: the index phase's wait, the monitor.)"""
    instance_id, cluster_id = params.get("rds_instance_id"), params.get("rds_cluster_id")
    if not (instance_id or cluster_id):
        return []
    # Only here: boto3 takes a while to import, and only an RDS host needs it.
    from ansible.module_utils.safeindex.aws.client import aws_client
    from ansible.module_utils.safeindex.aws.replicas import rds_replica_lags

    rds = aws_client("rds", *aws_settings(params))
    cloudwatch = cloudwatch or aws_client("cloudwatch", *aws_settings(params))
    return rds_replica_lags(rds, cloudwatch, instance_id, None if instance_id else cluster_id, rds.meta.region_name)


def judge(what: str, lags: list, max_seconds: float | None) -> dict:
    """The row for the replicas' lags (ReplicaLag, source cloudwatch): fail on lag_problems(), warn on an unknown lag."""
    if not lags:
        return row(CHECK, "ok", "no read replicas (%s)" % what)
    limit = ("limit %g s (max_replication_lag_seconds)" % max_seconds if max_seconds is not None
             else "no max_replication_lag_seconds set")
    judged = [(lag, lag_problems([lag], max_seconds, None)) for lag in lags]
    problems = [problem for _lag, found in judged for problem in found]
    unknown = ["%s (%s)" % (lag.name, lag.detail) for lag in lags if lag.state == "unknown"]
    fine = ["%s %.1f s behind" % (lag.name, lag.lag_seconds) for lag, found in judged if not found and lag.lag_seconds is not None]
    metric = lags[0].extra.get("metric", "ReplicaLag")
    if problems:
        return row(CHECK, "fail", "; ".join(problems + (["within the limit: " + ", ".join(fine)] if fine else [])
                                            + (["lag unknown: " + ", ".join(unknown)] if unknown else [])))
    seen = "%d read replicas of %s, CloudWatch %s: %s" % (len(lags), what, metric, ", ".join(fine) or "no lag read")
    if unknown:
        return row(CHECK, "warn", "%s; lag unknown for %s (check them in the RDS console); %s" % (seen, ", ".join(unknown), limit))
    return row(CHECK, "ok", "%s; %s" % (seen, limit))
