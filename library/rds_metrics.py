#!/usr/bin/python
"""Ansible module rds_metrics: an RDS database's CloudWatch metrics before the run against after."""

DOCUMENTATION = r"""
module: rds_metrics
short_description: Compare an RDS database's CloudWatch metrics before a migration with the monitoring window
description:
  - Reads the C(AWS/RDS) metrics O(metrics) of an RDS instance (O(instance_id)) or an Aurora cluster (O(cluster_id))
    and averages each over two windows. The baseline is the O(baseline_seconds) before O(run_started); the monitoring
    window runs from O(monitor_started) to O(monitor_ended).
  - A window without data gives null and a note (CloudWatch publishes RDS metrics a minute or so late); an error
    reading a metric gives null and the error as its note, and a warning. Neither fails the module.
  - With O(replica_lag), the lag of each read replica of the instance (or reader of the Aurora cluster) is compared
    the same way, C(ReplicaLag) (seconds) or C(AuroraReplicaLag) (milliseconds) on the replica's own dimension, under
    the name C(<metric> <replica>), with C(peak), the highest datapoint of the monitoring window.
  - Credentials the boto3 way (environment, profile, instance role); throttling is retried with backoff.
  - Reads only; never changed; supports check mode.
version_added: "0.1.0"
author: safeindex developers (!UNKNOWN)
options:
  instance_id:
    description: The RDS instance (host var C(rds_instance_id)).
    type: str
  cluster_id:
    description: The Aurora cluster (host var C(rds_cluster_id)).
    type: str
  metrics:
    description: The metric names.
    type: list
    elements: str
    default: [CPUUtilization, ReadLatency, WriteLatency, DatabaseConnections]
  run_started:
    description: When the run started, as epoch seconds or ISO 8601 (UTC when it has no zone). The baseline ends here.
    type: str
    required: true
  baseline_seconds:
    description: Length of the baseline window before O(run_started).
    type: int
    default: 1800
  monitor_started:
    description: Start of the monitoring window, as epoch seconds or ISO 8601.
    type: str
    required: true
  monitor_ended:
    description: End of the monitoring window; now when unset.
    type: str
  period:
    description: CloudWatch period in seconds (a multiple of 60).
    type: int
    default: 60
  replica_lag:
    description: Also compare the read replicas' lag (see above).
    type: bool
    default: true
attributes:
  check_mode:
    support: full
    details: Reads only (CloudWatch), so check mode runs it as usual.
  diff_mode:
    support: none
  platform:
    support: full
    platforms: posix
    details: Runs on the controller and calls the AWS API.
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - safeindex_aws
"""

EXAMPLES = r"""
- name: CloudWatch before the run against the monitoring window
  rds_metrics:
    instance_id: app-db
    run_started: "2026-11-24T22:00:05Z"
    monitor_started: "2026-11-24T22:14:40Z"
    aws_region: eu-west-1
  register: cloudwatch
"""

RETURN = r"""
metrics:
  description: Per metric, C(before) and C(after) (averages, null without data), C(unit), C(change_percent) and
    C(note) (why a value is missing). With O(replica_lag), also one per read replica, C(<metric> <replica>), with
    C(peak) (the window's highest).
  returned: always
  type: dict
  sample: {CPUUtilization: {before: 41.5, after: 23.0, unit: Percent, change_percent: -44.6, note: null},
           "ReplicaLag app-db-r1": {before: 0.2, after: 3.5, unit: Seconds, change_percent: 1650.0, peak: 12.0, note: null}}
windows:
  description: The two windows read, C(before) and C(after), each C(start) and C(end) in ISO 8601.
  returned: always
  type: dict
  sample:
    {
      "before": {
        "start": "2026-12-01T09:15:00Z",
        "end": "2026-12-01T10:15:00Z"
      },
      "after": {
        "start": "2026-12-01T10:45:00Z",
        "end": "2026-12-01T11:15:00Z"
      }
    }
dimension:
  description: The CloudWatch dimension read (C(Name), C(Value)).
  returned: always
  type: dict
  sample: {"Name": "DBInstanceIdentifier", "Value": "prod-db"}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.safeindex.aws import cloudwatch as metrics
from ansible.module_utils.safeindex.aws.client import aws_client
from ansible.module_utils.safeindex.core.aws_options import AWS_ARGUMENT_SPEC, aws_settings
from ansible.module_utils.safeindex.core.errors import SafeIndexError

ARGUMENT_SPEC = dict(
    instance_id=dict(type="str"),
    cluster_id=dict(type="str"),
    metrics=dict(type="list", elements="str", default=list(metrics.RDS_METRICS)),
    run_started=dict(type="str", required=True),
    baseline_seconds=dict(type="int", default=1800),
    monitor_started=dict(type="str", required=True),
    monitor_ended=dict(type="str"),
    period=dict(type="int", default=60),
    replica_lag=dict(type="bool", default=True),
    **AWS_ARGUMENT_SPEC,
)


def main():
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        supports_check_mode=True,
        mutually_exclusive=[("instance_id", "cluster_id")],
        required_one_of=[("instance_id", "cluster_id")],
    )
    params = module.params
    try:
        before, after = metrics.windows(params["run_started"], params["baseline_seconds"], params["monitor_started"],
                                        params["monitor_ended"])
    except ValueError as exc:
        module.fail_json(msg="run_started, monitor_started and monitor_ended take epoch seconds or ISO 8601: %s" % exc)
    dim = metrics.dimension(params["instance_id"], params["cluster_id"])
    try:
        cloudwatch = aws_client("cloudwatch", *aws_settings(params))
    except SafeIndexError as exc:
        module.fail_json(msg=str(exc))
    compared = metrics.compare(cloudwatch, dim, params["metrics"], before, after, params["period"])
    if params["replica_lag"]:
        # The read replicas' lag over the same windows (aws/replicas.py finds the replicas).
        from ansible.module_utils.safeindex.aws.replicas import replica_lag_metrics

        try:
            rds = aws_client("rds", *aws_settings(params))
        except SafeIndexError as exc:
            module.fail_json(msg=str(exc))
        compared.update(replica_lag_metrics(rds, cloudwatch, params["instance_id"], params["cluster_id"], rds.meta.region_name,
                                            before, after, params["period"]))
    for name, entry in compared.items():
        if entry["note"] and "could not read" in entry["note"]:
            module.warn("CloudWatch %s: %s" % (name, entry["note"]))
    module.exit_json(
        changed=False, metrics=compared, dimension=dim,
        windows={key: {"start": metrics.isoformat(start), "end": metrics.isoformat(end)}
                 for key, (start, end) in (("before", before), ("after", after))},
    )


if __name__ == "__main__":
    main()
