#!/usr/bin/python
"""Ansible module rds_snapshot: an RDS snapshot before the migration, and a restore beside production."""

DOCUMENTATION = r"""
module: rds_snapshot
short_description: Take, prune or restore the RDS snapshot of a migration run
description:
  - O(state=present) takes a manual snapshot of an RDS instance (O(instance_id)) or an Aurora cluster (O(cluster_id)).
    It is named C(pre-index-migration-YYYYMMDD-<short run id>) unless O(snapshot_id) says otherwise. It is tagged with
    the run id, the tool's name and the database, and the module waits until it is C(available).
  - Idempotent by its tags. A snapshot of this source carrying this run's id is the run's snapshot, whatever its name
    and date, so a run resumed the next day does not take a second one.
  - The source must be C(available) (or C(storage-optimization)), as CreateDBSnapshot requires. The wait honours
    O(wait_timeout) and polls every O(poll_interval) seconds. Each change of status or percent goes to the run's
    record as it happens (C(tail -f artifacts/<host>/<run_id>/record.jsonl)) and into RV(progress). On a timeout the
    error names the snapshot, which goes on in AWS, and a re-run finds it.
  - O(state=absent) deletes O(snapshot_id), or with O(prune_older_than_days) this source's snapshots older than that.
    Either way it deletes only snapshots tagged by this tool.
  - O(state=restored) restores a snapshot (O(snapshot_id), or the run's by O(run_id)) to a NEW instance or cluster
    (O(target_id), by default C(<source>-restored-<short run id>)), waits until it is available, and returns its
    endpoint. It never touches an existing instance. A restored Aurora cluster gets a writer instance.
  - Credentials the boto3 way (environment, profile, instance role). Throttling, connection errors and timeouts (60 s
    for an answer) are retried with backoff, 8 attempts in all (botocore's standard mode). C(AWS_MAX_ATTEMPTS) and
    C(AWS_RETRY_MODE), or the profile's C(max_attempts) and C(retry_mode), change that. Past the last attempt the
    error names the call, the throttling or the timeout, and the endpoint.
  - The errors operators meet each get a message saying what to do. These are the instance not found, the snapshot
    quota exceeded, a source that is not available, access denied, and a timeout while C(creating).
  - In check mode the module says what it would create or delete, and changes nothing.
version_added: "0.1.0"
author: safeindex developers (!UNKNOWN)
options:
  state:
    description: What to do.
    type: str
    choices: [present, absent, restored]
    default: present
  instance_id:
    description: The RDS instance (host var C(rds_instance_id)).
    type: str
  cluster_id:
    description: The Aurora cluster (host var C(rds_cluster_id)).
    type: str
  snapshot_id:
    description: The snapshot's identifier. Defaults to C(pre-index-migration-YYYYMMDD-<short run id>).
    type: str
  run_id:
    description: Id of the run; tagged on the snapshot, which it finds again.
  database:
    description: The database the snapshot is taken for, tagged on it.
    type: str
  tags:
    description: More tags for the snapshot.
    type: dict
    default: {}
  wait:
    description: Wait until the snapshot (or the restored instance) is available.
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait at most.
    type: float
    default: 3600
  poll_interval:
    description: Seconds between two looks at the snapshot's status.
    type: float
    default: 15
  prune_older_than_days:
    description: Delete this source's snapshots tagged by this tool that are older than this many days (with V(absent),
      or after a V(present) that succeeded).
    type: int
  target_id:
    description: Identifier of the new instance or cluster for V(restored).
    type: str
  instance_class:
    description: Instance class of the restored instance (or of the restored cluster's writer); the snapshot's when unset.
    type: str
  subnet_group:
    description: DB subnet group of the restored instance.
    type: str
  security_group_ids:
    description: VPC security groups of the restored instance.
    type: list
    elements: str
  run_dir:
    description: The run's folder; each change of status or percent while waiting is appended to its C(record.jsonl),
      and, for O(state=present), the result and the start of the run's C(snapshot) phase and its end once the
      snapshot is available. Nothing is written in check mode.
    type: path
attributes:
  check_mode:
    support: full
    details: Creates, deletes and restores nothing, and does not wait; returns what it would do.
  diff_mode:
    support: none
  platform:
    support: full
    platforms: posix
    details: Runs on the controller and calls the AWS API.
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - safeindex_aws
  - safeindex_run
notes:
  - Supports check mode.
"""

EXAMPLES = r"""
- name: Snapshot before the migration
  rds_snapshot:
    instance_id: app-db
    run_id: "{{ run_id }}"
    database: app
    aws_region: eu-west-1
  register: snapshot

- name: Snapshot an Aurora cluster, waiting at most 2 hours
  rds_snapshot:
    cluster_id: app-aurora
    run_id: "{{ run_id }}"
    wait_timeout: 7200

- name: Restore the run's snapshot beside production
  rds_snapshot:
    state: restored
    instance_id: app-db
    run_id: 20261124T220000Z-1a2b
    target_id: app-db-restored
    aws_region: eu-west-1

- name: Remove this tool's snapshots older than 30 days
  rds_snapshot:
    state: absent
    instance_id: app-db
    prune_older_than_days: 30
"""

RETURN = r"""
snapshot:
  description: The snapshot (id, arn, status, percent_progress, created, kind, source, tags).
  returned: when a snapshot was found or made
  type: dict
  sample:
    {
      "id": "safeindex-prod-db-first-run",
      "arn": "arn:aws:rds:eu-west-1:123456789012:snapshot:safeindex-prod-db-first-run",
      "status": "available",
      "percent_progress": 100,
      "created": "2026-12-01T10:16:40Z",
      "kind": "instance",
      "source": "prod-db",
      "tags": {
        "safeindex-run-id": "first-run"
      }
    }
duration_seconds:
  description: Time from the module's start until the snapshot (or restore) was available.
  returned: always
  type: float
  sample: 384.2
progress:
  description: Each status and percent seen while waiting, with the seconds since the start.
  returned: when it waited
  type: list
  elements: dict
  sample: [{"seconds": 12.0, "status": "creating", "percent": 35}]
pruned:
  description: Identifiers of the snapshots deleted (or, in check mode, that would be).
  returned: when snapshots were pruned or deleted
  type: list
  elements: str
  sample: ["safeindex-prod-db-old-run"]
restored:
  description: The new instance or cluster (identifier, status, endpoint, port, arn).
  returned: when state is restored
  type: dict
  sample:
    {
      "identifier": "prod-db-restored-first-run",
      "status": "available",
      "endpoint": "prod-db-restored-first-run.abc123.eu-west-1.rds.amazonaws.com",
      "port": 5432,
      "arn": "arn:aws:rds:eu-west-1:123456789012:db:prod-db-restored-first-run"
    }
"""

import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.safeindex.aws import rds
from ansible.module_utils.safeindex.aws.client import aws_client
from ansible.module_utils.safeindex.core.aws_options import AWS_ARGUMENT_SPEC, aws_settings
from ansible.module_utils.safeindex.core.errors import SafeIndexError
from ansible.module_utils.safeindex.core.module import fail
from ansible.module_utils.safeindex.core.run_options import check_run_options, run_options
from ansible.module_utils.safeindex.run.record import record_phase, record_phase_result, recorder

ARGUMENT_SPEC = dict(
    state=dict(type="str", choices=["present", "absent", "restored"], default="present"),
    instance_id=dict(type="str"),
    cluster_id=dict(type="str"),
    snapshot_id=dict(type="str"),
    database=dict(type="str"),
    tags=dict(type="dict", default={}),
    wait=dict(type="bool", default=True),
    wait_timeout=dict(type="float", default=3600),
    poll_interval=dict(type="float", default=15),
    prune_older_than_days=dict(type="int"),
    target_id=dict(type="str"),
    instance_class=dict(type="str"),
    subnet_group=dict(type="str"),
    security_group_ids=dict(type="list", elements="str"),
    **run_options(),
    **AWS_ARGUMENT_SPEC,
)


def present(module, snapshots, started, record):
    params = module.params
    result = {"changed": False, "progress": []}
    existing = snapshots.of_run(params["run_id"])
    if existing is None:
        snapshot_id = rds.check_snapshot_id(params["snapshot_id"] or rds.default_snapshot_id(params["run_id"]))
        taken = snapshots.get(snapshot_id)
        if taken is not None:
            raise rds.RdsError("a snapshot %s exists and is not this run's (no tag %s=%s): choose another snapshot_id"
                               % (snapshot_id, rds.TAG_RUN, params["run_id"]))
        if module.check_mode:
            snapshots.source()  # the instance must exist for the plan to mean anything
            return dict(result, changed=True, snapshot={"id": snapshot_id, "status": "would be created", "kind": snapshots.kind.name,
                                                        "source": snapshots.source_id})
        created = snapshots.create(snapshot_id, params["run_id"], params["database"], params["tags"])
        existing = created[snapshots.kind.created_field]
        result["changed"] = True
        record("snapshot_started", snapshot_id=snapshot_id, kind=snapshots.kind.name, source=snapshots.source_id)
    snapshot_id = existing[snapshots.kind.snapshot_key]
    if params["wait"] and not module.check_mode:
        def progress(status, percent):
            seen = {"seconds": round(time.monotonic() - started, 1), "status": status, "percent": percent}
            result["progress"].append(seen)
            record("snapshot_progress", snapshot_id=snapshot_id, **seen)

        existing = snapshots.wait(snapshot_id, params["wait_timeout"], params["poll_interval"], progress)
    result["snapshot"] = rds.describe_snapshot(snapshots.kind, existing)
    if params["prune_older_than_days"] and result["snapshot"]["status"] == "available":
        result["pruned"] = prune(module, snapshots, keep=snapshot_id)
    return result


def prune(module, snapshots, keep=None):
    old = [s[snapshots.kind.snapshot_key] for s in snapshots.older_than(module.params["prune_older_than_days"])]
    old = [identifier for identifier in old if identifier != keep]
    if not module.check_mode:
        for identifier in old:
            snapshots.delete(identifier)
    return old


def absent(module, snapshots):
    params = module.params
    if params["prune_older_than_days"]:
        pruned = prune(module, snapshots)
        return {"changed": bool(pruned), "pruned": pruned}
    if not params["snapshot_id"]:
        raise rds.RdsError("state=absent needs snapshot_id or prune_older_than_days")
    snapshot = snapshots.get(params["snapshot_id"])
    if snapshot is None:
        return {"changed": False, "pruned": []}
    if not snapshots.ours(snapshot):
        raise rds.RdsError("snapshot %s was not made by this tool (no tag %s=%s): delete it yourself if you mean to"
                           % (params["snapshot_id"], rds.TAG_TOOL, rds.TOOL))
    if not module.check_mode:
        snapshots.delete(params["snapshot_id"])
    return {"changed": True, "pruned": [params["snapshot_id"]], "snapshot": rds.describe_snapshot(snapshots.kind, snapshot)}


def restored(module, snapshots):
    params = module.params
    if params["snapshot_id"]:
        snapshot = snapshots.get(params["snapshot_id"])
    elif params["run_id"]:
        snapshot = snapshots.of_run(params["run_id"])
    else:
        raise rds.RdsError("state=restored needs snapshot_id or run_id")
    if snapshot is None:
        raise rds.RdsError("no snapshot %s of %s %s to restore" % (params["snapshot_id"] or "of run %s" % params["run_id"],
                                                                   snapshots.kind.name, snapshots.source_id))
    if snapshot.get("Status") != "available":
        identifier = snapshot[snapshots.kind.snapshot_key]
        raise rds.RdsError("snapshot %s is %s, not available: it cannot be restored yet" % (identifier, snapshot.get("Status")))
    tags = rds.tags_dict(snapshot.get("TagList"))
    target = params["target_id"] or "%s-restored-%s" % (snapshots.source_id, rds.short_run_id(tags.get(rds.TAG_RUN) or
                                                                                              snapshot[snapshots.kind.snapshot_key]))
    outcome, changed = rds.restore(snapshots, snapshot, target, params["instance_class"], params["subnet_group"],
                                   params["security_group_ids"], params["wait_timeout"], params["poll_interval"], module.check_mode)
    return {"changed": changed, "restored": outcome, "snapshot": rds.describe_snapshot(snapshots.kind, snapshot)}


def main():
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        supports_check_mode=True,
        mutually_exclusive=[("instance_id", "cluster_id")],
        required_one_of=[("instance_id", "cluster_id")],
        required_if=[("state", "present", ("run_id",))],
    )
    params = module.params
    check_run_options(module)
    started = time.monotonic()
    # A snapshot of a run (state present, with run_dir) is the run's snapshot phase: its start and, once the snapshot is
    # available, its end go to the record (one that fails or times out leaves the phase unfinished).
    phase = params["state"] == "present"
    if phase:
        record_phase(params["run_dir"], "phase_start", "snapshot", module.check_mode, params["run_id"])
    try:
        client = aws_client("rds", *aws_settings(params))
        snapshots = rds.snapshots_for(client, params["instance_id"], params["cluster_id"], params["aws_region"])
        record = recorder(params["run_dir"], module.check_mode)
        if params["state"] == "present":
            result = present(module, snapshots, started, record)
        elif params["state"] == "absent":
            result = absent(module, snapshots)
        else:
            result = restored(module, snapshots)
    except SafeIndexError as exc:
        if params["state"] == "present":
            failed = dict(getattr(exc, "details", {}) or {}, msg=str(exc), duration_seconds=round(time.monotonic() - started, 3))
            record_phase_result(params["run_dir"], "snapshot", failed, module.check_mode)
        fail(module, exc, changed=False, duration_seconds=round(time.monotonic() - started, 3))
    result["duration_seconds"] = round(time.monotonic() - started, 3)
    if phase:
        record_phase_result(params["run_dir"], "snapshot", result, module.check_mode)
        record_phase(params["run_dir"], "phase_end", "snapshot", module.check_mode, params["run_id"])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
