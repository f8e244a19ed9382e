"""RDS snapshots before a migration, and restores to a new instance: the runbook's console steps, automated.

Instance snapshots and Aurora cluster snapshots differ only in API names; a Kind holds the names and
everything else is written once. A run's snapshot is found by its tags, never by its name alone.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

try:
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError
except ImportError:  # aws_client says boto3 is missing
    pass

from ansible.module_utils.safeindex.core.errors import SafeIndexError

TAG_TOOL, TAG_RUN, TAG_DATABASE, TAG_RESTORED_FROM = "safeindex:tool", "safeindex:run-id", "safeindex:database", "safeindex:restored-from"
TOOL = "safeindex"
SNAPSHOT_ID = re.compile(r"^[A-Za-z](?!.*--)[A-Za-z0-9-]{0,254}(?<!-)$")
SNAPSHOTTABLE = ("available", "storage-optimization")  # CreateDBSnapshot accepts only these source states


class RdsError(SafeIndexError):
    """An RDS step failed; the message says what the operator can do."""


@dataclass(frozen=True)
class Kind:
    """The API names of one kind of snapshot."""

    name: str
    source_key: str
    describe_sources: str
    sources_field: str
    source_status: str
    create: str
    created_field: str
    snapshot_key: str
    describe: str
    snapshots_field: str
    arn_field: str
    delete: str
    not_found_codes: tuple


INSTANCE = Kind(
    name="instance", source_key="DBInstanceIdentifier", describe_sources="describe_db_instances", sources_field="DBInstances",
    source_status="DBInstanceStatus", create="create_db_snapshot", created_field="DBSnapshot", snapshot_key="DBSnapshotIdentifier",
    describe="describe_db_snapshots", snapshots_field="DBSnapshots", arn_field="DBSnapshotArn", delete="delete_db_snapshot",
    not_found_codes=("DBInstanceNotFound", "DBInstanceNotFoundFault"),
)
CLUSTER = Kind(
    name="cluster", source_key="DBClusterIdentifier", describe_sources="describe_db_clusters", sources_field="DBClusters",
    source_status="Status", create="create_db_cluster_snapshot", created_field="DBClusterSnapshot",
    snapshot_key="DBClusterSnapshotIdentifier",
    describe="describe_db_cluster_snapshots", snapshots_field="DBClusterSnapshots", arn_field="DBClusterSnapshotArn",
    delete="delete_db_cluster_snapshot", not_found_codes=("DBClusterNotFoundFault", "DBClusterNotFound"),
)
SNAPSHOT_NOT_FOUND = ("DBSnapshotNotFound", "DBSnapshotNotFoundFault", "DBClusterSnapshotNotFoundFault", "DBClusterSnapshotNotFound")
QUOTA = ("SnapshotQuotaExceeded", "SnapshotQuotaExceededFault", "InstanceQuotaExceeded", "InstanceQuotaExceededFault")
BAD_STATE = ("InvalidDBInstanceState", "InvalidDBInstanceStateFault", "InvalidDBClusterStateFault", "InvalidDBClusterState",
             "InvalidDBSnapshotState", "InvalidDBSnapshotStateFault", "InvalidDBClusterSnapshotStateFault")
DENIED = ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "InvalidClientTokenId", "SignatureDoesNotMatch",
          "ExpiredToken", "ExpiredTokenException")


def short_run_id(run_id: str) -> str:
    """The run id's own short suffix (the 4 hex digits a generated id ends with), or a digest of it."""
    tail = re.search(r"-([0-9a-f]{4,8})$", run_id)
    return tail.group(1) if tail else hashlib.sha256(run_id.encode("utf-8")).hexdigest()[:8]


def default_snapshot_id(run_id: str, today: datetime | None = None) -> str:
    return "pre-index-migration-%s-%s" % ((today or datetime.now(UTC)).strftime("%Y%m%d"), short_run_id(run_id))


def check_snapshot_id(identifier: str) -> str:
    if not SNAPSHOT_ID.match(identifier or ""):
        raise RdsError("snapshot id %r is not valid: 1 to 255 letters, digits and hyphens, starting with a letter,"
                       " no two hyphens in a row and none at the end" % identifier)
    return identifier


def tags_dict(tag_list: list | None) -> dict:
    return {t["Key"]: t["Value"] for t in tag_list or []}


def describe_snapshot(kind: Kind, snapshot: dict) -> dict:
    return {
        "id": snapshot[kind.snapshot_key],
        "arn": snapshot.get(kind.arn_field),
        "status": snapshot.get("Status"),
        "percent_progress": snapshot.get("PercentProgress"),
        "created": snapshot["SnapshotCreateTime"].isoformat() if snapshot.get("SnapshotCreateTime") else None,
        "kind": kind.name,
        "source": snapshot.get(kind.source_key),
        "tags": tags_dict(snapshot.get("TagList")),
    }


class Snapshots:
    """Snapshots of one RDS instance or Aurora cluster."""

    def __init__(self, client: Any, kind: Kind, source_id: str, region: str | None = None):
        self.client, self.kind, self.source_id, self.region = client, kind, source_id, region

    def call(self, operation: str, **arguments: Any) -> dict:
        """One API call, with the errors operators meet turned into what to do about them."""
        try:
            return getattr(self.client, operation)(**arguments)
        except (ClientError, BotoCoreError) as exc:
            raise self.error(operation, exc) from None

    def error(self, operation: str, exc: Exception) -> RdsError:
        """The RdsError for a botocore error, after botocore's own retries (throttling and timeouts) ran out."""
        what = "%s %s" % (self.kind.name, self.source_id)
        if isinstance(exc, NoCredentialsError):
            return RdsError("no AWS credentials: set AWS_PROFILE or the AWS_* environment, or run with an instance role")
        if isinstance(exc, BotoCoreError):  # timeouts and connection errors name the endpoint themselves
            return RdsError("rds:%s on %s failed: %s" % (_api_action(operation), what, exc))
        error = exc.response.get("Error", {})
        code, message = error.get("Code", ""), error.get("Message", "")
        if code in self.kind.not_found_codes:
            return RdsError("RDS %s not found in region %s: %s" % (what, self.region or "(default)", message), code=code)
        if code in QUOTA:
            return RdsError("the account's quota is full (%s): delete old manual snapshots (prune_older_than_days) or ask AWS"
                            " for a higher quota. %s" % (code, message), code=code)
        if code in BAD_STATE:
            return RdsError("RDS %s is not in a state that allows %s: %s" % (what, operation, message), code=code)
        if code in DENIED or "not authorized" in message:
            return RdsError("access denied for rds:%s on %s: %s. The credentials in use need that permission."
                            % (_api_action(operation), what, message), code=code)
        # botocore's own words say how many times it retried (throttling); the endpoint says which RDS answered.
        return RdsError("rds:%s on %s failed at %s: %s" % (_api_action(operation), what, self.client.meta.endpoint_url, exc), code=code)

    def source(self) -> dict:
        found = self.call(self.kind.describe_sources, **{self.kind.source_key: self.source_id})[self.kind.sources_field]
        if not found:
            raise RdsError("RDS %s %s not found in region %s" % (self.kind.name, self.source_id, self.region))
        return found[0]

    def get(self, snapshot_id: str) -> dict | None:
        try:
            found = self.call(self.kind.describe, **{self.kind.snapshot_key: snapshot_id})[self.kind.snapshots_field]
        except RdsError as exc:
            if exc.details.get("code") in SNAPSHOT_NOT_FOUND:
                return None
            raise
        return found[0] if found else None

    def manual(self) -> list[dict]:
        """This source's manual snapshots, with their tags."""
        pages = self.client.get_paginator(self.kind.describe)
        arguments = {self.kind.source_key: self.source_id, "SnapshotType": "manual"}
        try:
            return [s for page in pages.paginate(**arguments) for s in page[self.kind.snapshots_field]]
        except (ClientError, BotoCoreError) as exc:
            # Not the same call again for its message: botocore retried already, and a throttled or silent endpoint
            # would make the run wait twice as long.
            raise self.error(self.kind.describe, exc) from None

    def of_run(self, run_id: str) -> dict | None:
        for snapshot in self.manual():
            tags = tags_dict(snapshot.get("TagList"))
            if tags.get(TAG_TOOL) == TOOL and tags.get(TAG_RUN) == run_id:
                return snapshot
        return None

    def create(self, snapshot_id: str, run_id: str, database: str | None, extra_tags: dict | None = None) -> dict:
        status = self.source()[self.kind.source_status]
        if status not in SNAPSHOTTABLE:
            raise RdsError("RDS %s %s is %r, not available: a snapshot needs an available %s. Wait until it is, then re-run."
                           % (self.kind.name, self.source_id, status, self.kind.name))
        tags = dict(extra_tags or {}, **{TAG_TOOL: TOOL, TAG_RUN: run_id})
        if database:
            tags[TAG_DATABASE] = database
        arguments = {self.kind.snapshot_key: snapshot_id, self.kind.source_key: self.source_id,
                     "Tags": [{"Key": k, "Value": str(v)} for k, v in sorted(tags.items())]}
        return self.call(self.kind.create, **arguments)

    def wait(self, snapshot_id: str, timeout: float, poll_interval: float,
             on_progress: Callable[[str | None, int | None], None] = lambda status, percent: None) -> dict:
        """Until the snapshot is available; raises RdsError on failure or timeout (naming the snapshot to watch)."""
        deadline = time.monotonic() + timeout
        last = None
        while True:
            snapshot = self.get(snapshot_id)
            if snapshot is None:
                raise RdsError("snapshot %s disappeared while it was being created" % snapshot_id)
            status, percent = snapshot.get("Status"), snapshot.get("PercentProgress")
            if (status, percent) != last:
                on_progress(status, percent)
                last = (status, percent)
            if status == "available":
                return snapshot
            if status in ("failed", "error", "incompatible-restore", "deleted", "deleting"):
                raise RdsError("snapshot %s ended %r instead of becoming available" % (snapshot_id, status), snapshot_id=snapshot_id)
            if time.monotonic() >= deadline:
                raise RdsError(
                    "snapshot %s is still %s%s after %ss (wait_timeout). It goes on in AWS: watch it with"
                    " aws rds %s --%s %s, and re-run when it is available (the run will find it by its tags)."
                    % (snapshot_id, status, " at %s%%" % percent if percent is not None else "", int(timeout),
                       self.kind.describe.replace("_", "-"), _cli_flag(self.kind.snapshot_key), snapshot_id),
                    snapshot_id=snapshot_id, arn=snapshot.get(self.kind.arn_field), status=status, percent_progress=percent,
                )
            time.sleep(min(poll_interval, max(0.0, deadline - time.monotonic())))

    def ours(self, snapshot: dict) -> bool:
        return tags_dict(snapshot.get("TagList")).get(TAG_TOOL) == TOOL

    def delete(self, snapshot_id: str) -> None:
        self.call(self.kind.delete, **{self.kind.snapshot_key: snapshot_id})

    def older_than(self, days: float, now: datetime | None = None) -> list[dict]:
        """Our manual snapshots of this source older than `days`."""
        cutoff = (now or datetime.now(UTC)) - timedelta(days=days)
        return [s for s in self.manual() if self.ours(s) and s.get("SnapshotCreateTime") and s["SnapshotCreateTime"] < cutoff]


def snapshots_for(client: Any, instance_id: str | None = None, cluster_id: str | None = None, region: str | None = None) -> Snapshots:
    if bool(instance_id) == bool(cluster_id):
        raise RdsError("give one of rds_instance_id or rds_cluster_id")
    return Snapshots(client, INSTANCE if instance_id else CLUSTER, instance_id or cluster_id, region)


def restore(snapshots: Snapshots, snapshot: dict, target_id: str, instance_class: str | None = None, subnet_group: str | None = None,
            security_group_ids: list | None = None, timeout: float = 3600, poll_interval: float = 15,
            check_mode: bool = False) -> tuple[dict, bool]:
    """Restore a snapshot to a NEW instance or cluster and wait for it; never touches an existing one."""
    kind, snapshot_id = snapshots.kind, snapshot[snapshots.kind.snapshot_key]
    if target_id == snapshots.source_id:
        raise RdsError("the restore target %s is the source itself: a restore goes to a new %s" % (target_id, kind.name))
    existing = _find_source(snapshots, target_id)
    if existing is not None:
        if tags_dict(existing.get("TagList")).get(TAG_RESTORED_FROM) != snapshot_id:
            raise RdsError("RDS %s %s already exists and was not restored from %s by this tool: choose another target_id"
                           % (kind.name, target_id, snapshot_id))
        changed = False
    else:
        changed = True
        if check_mode:
            return {"identifier": target_id, "status": "would be created", "endpoint": None, "port": None}, True
        tags = [{"Key": TAG_TOOL, "Value": TOOL}, {"Key": TAG_RESTORED_FROM, "Value": snapshot_id}]
        options = {}
        if subnet_group:
            options["DBSubnetGroupName"] = subnet_group
        if security_group_ids:
            options["VpcSecurityGroupIds"] = list(security_group_ids)
        if kind is INSTANCE:
            if instance_class:
                options["DBInstanceClass"] = instance_class
            snapshots.call("restore_db_instance_from_db_snapshot", DBInstanceIdentifier=target_id,
                           DBSnapshotIdentifier=snapshot_id, Tags=tags, **options)
        else:
            snapshots.call("restore_db_cluster_from_snapshot", DBClusterIdentifier=target_id, SnapshotIdentifier=snapshot_id,
                           Engine=snapshot["Engine"], Tags=tags, **options)
            # A restored Aurora cluster has no instance: give it a writer so it can serve.
            writer_class = instance_class or _writer_class(snapshots)
            snapshots.call("create_db_instance", DBInstanceIdentifier=target_id + "-writer", DBClusterIdentifier=target_id,
                           Engine=snapshot["Engine"], DBInstanceClass=writer_class, Tags=tags)
    restored = _wait_source(snapshots, target_id, timeout, poll_interval)
    if kind is INSTANCE:
        endpoint = restored.get("Endpoint") or {}
        address, port = endpoint.get("Address"), endpoint.get("Port")
    else:
        address, port = restored.get("Endpoint"), restored.get("Port")
    status = restored[kind.source_status]
    return {"identifier": target_id, "status": status, "endpoint": address, "port": port,
            "arn": restored.get("DBInstanceArn") or restored.get("DBClusterArn")}, changed


def _find_source(snapshots, identifier):
    kind = snapshots.kind
    try:
        found = snapshots.call(kind.describe_sources, **{kind.source_key: identifier})[kind.sources_field]
    except RdsError as exc:
        if exc.details.get("code") in kind.not_found_codes:
            return None
        raise
    return found[0] if found else None


def _wait_source(snapshots, identifier, timeout, poll_interval):
    kind = snapshots.kind
    deadline = time.monotonic() + timeout
    while True:
        found = _find_source(snapshots, identifier)
        status = found and found[kind.source_status]
        if status == "available":
            return found
        if status in ("failed", "incompatible-restore", "incompatible-parameters", "deleting"):
            raise RdsError("the restored %s %s ended %r" % (kind.name, identifier, status))
        if time.monotonic() >= deadline:
            raise RdsError("the restored %s %s is still %s after %ss; it goes on in AWS: re-run to wait again"
                           % (kind.name, identifier, status, int(timeout)), target_id=identifier)
        time.sleep(min(poll_interval, max(0.0, deadline - time.monotonic())))


def _writer_class(snapshots):
    members = snapshots.source().get("DBClusterMembers") or []
    for member in members:
        if member.get("IsClusterWriter"):
            instance = snapshots.call("describe_db_instances", DBInstanceIdentifier=member["DBInstanceIdentifier"])["DBInstances"][0]
            return instance["DBInstanceClass"]
    raise RdsError("cannot tell the writer's instance class of cluster %s: give instance_class" % snapshots.source_id)


def _api_action(operation):
    return "".join(part.capitalize() if part not in ("db",) else "DB" for part in operation.split("_"))


def _cli_flag(key):
    return re.sub(r"(?<!^)(?=[A-Z][a-z])", "-", key.replace("DB", "Db")).lower()
