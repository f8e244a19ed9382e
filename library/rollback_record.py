#!/usr/bin/python
"""Ansible module rollback_record: which run a rollback works on, and the rollback's record and report."""

DOCUMENTATION = r"""
module: rollback_record
short_description: Find the run a rollback works on, and write the rollback's report
description:
  - O(event=find) names the run to roll back (O(run_id), else the host's latest migrate run in O(artifacts_dir), else
    O(marked_run_id), the one run whose marker M(db_rollback_plan) found in the database), its folder and this rollback's
    own folder, and reads the run's C(report.json) for what it left to restore (its RDS snapshot, its backup's manifest).
    It reads the controller's files only, never the database, so a snapshot restore works while the database is broken.
  - O(event=database_url) returns the C(DATABASE_URL) of a restored copy at O(endpoint) and O(port), with the engine's URL
    scheme and the host's user and database name, never the password.
  - O(event=finish) appends the finish of a rollback to C(<rollback_dir>/record.jsonl) and writes C(report.json) and
    C(report.md) beside it (0600, in a 0700 folder), from the outcome the rollback mode set, and returns the outcome's
    summary lines for the play to print.
  - The run id must be 1-64 letters, digits, C(.), C(_) or C(-), starting with a letter or digit; the module fails otherwise.
  - Bookkeeping on the controller, not a change to the database, so the module never reports C(changed).
  - In check mode nothing is written.
version_added: "0.1.0"
author: safeindex developers (!UNKNOWN)
options:
  event:
    description: What to do.
    type: str
    choices: [find, database_url, finish]
    default: finish
  rollback_dir:
    description: This rollback's folder, C(<run_dir>/rollback-<mode>-<UTC timestamp>), for V(finish).
    type: path
  run_id:
    description: Id of the run rolled back (required for V(finish)); for V(find), the run asked for, if any.
    type: str
  host:
    description: The inventory host.
    type: str
  engine:
    description: The database engine, for the report.
    type: str
  outcome:
    description: What the mode did, with keys C(mode), C(status) (V(success), V(failed) or V(refused)), C(summary_lines)
      and C(details), for V(finish).
    type: dict
  mode:
    description: The rollback mode, for V(find) (it names the rollback's folder).
    type: str
    choices: [indexes, restore_backup, restore_snapshot]
    default: indexes
  artifacts_dir:
    description: Where the runs' folders are (C(<artifacts_dir>/<host>/<run_id>)), for V(find).
    type: path
  marked_run_id:
    description: The one run whose marker is in the database (from M(db_rollback_plan)), for V(find) without artifacts.
    type: str
  backup_dir:
    description: Where backups are kept, for V(find) when the run's report does not name its manifest.
    type: path
  endpoint:
    description: Address of the restored copy, for V(database_url).
    type: str
  port:
    description: Port of the restored copy, for V(database_url).
    type: int
  holder_file:
    description: For V(finish), the run lock's holder file (see M(db_lock)); once the report is written (or could not
      be), the lock is let go, as M(db_lock) C(state=released) does, in the same process.
    type: path
attributes:
  check_mode:
    support: full
    details: V(finish) writes no report and returns the summary lines; V(find) and V(database_url) only read.
  diff_mode:
    support: none
  platform:
    support: full
    platforms: posix
    details: Runs on the controller.
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - safeindex_connection
  - safeindex_run.run_id
notes:
  - Supports check mode.
seealso:
  - module: db_rollback_plan
"""

EXAMPLES = r"""
- name: Name the run and this rollback's folder
  rollback_record:
    event: find
    run_id: "{{ run_id | default(omit) }}"
    host: "{{ inventory_hostname }}"
    mode: restore_snapshot
    artifacts_dir: artifacts
    database_url: "{{ database_url }}"
  register: rollback_target

- name: Write the rollback's report
  rollback_record:
    rollback_dir: "{{ rollback_target.rollback_dir }}"
    run_id: "{{ rollback_target.run_id }}"
    host: "{{ inventory_hostname }}"
    outcome: "{{ rollback_outcome }}"
  register: rollback_report
"""

RETURN = r"""
run_id:
  description: The run to roll back; null when none was found (RV(message) says why).
  returned: when event is find
  type: str
  sample: 20260101T120000Z-1a2b
run_dir:
  description: The run's folder (it may be gone).
  returned: when event is find and a run was found
  type: str
  sample: artifacts/prod_db/20260101T120000Z-1a2b
rollback_dir:
  description: This rollback's own folder inside the run's folder.
  returned: when event is find and a run was found
  type: str
  sample: artifacts/prod_db/20260101T120000Z-1a2b/rollback-indexes-20260102T080000Z
lock_run_id:
  description: The run id this rollback takes the database's run lock under (C(rollback-<run id>), cut with a digest to
    fit the run id rule when the run's id is long).
  returned: when event is find and a run was found
  type: str
  sample: rollback-20260101T120000Z-1a2b
safety_backup_run_id:
  description: The run id of the safety backup a restore in place takes first (C(<run id>-before-restore-<UTC time>),
    cut with a digest to fit the run id rule).
  returned: when event is find and a run was found
  type: str
  sample: 20260101T120000Z-1a2b-before-restore-20260102T080000Z
message:
  description: Why no run was found.
  returned: when event is find and no run was found
  type: str
  sample: "no run found in artifacts/prod_db; give -e run_id=..."
snapshot:
  description: The run's RDS snapshot as its report names it (id, arn, status, kind, source); null when it took none.
  returned: when event is find and a run was found
  type: dict
  sample: {"id": "pre-index-migration-20260101-1a2b", "kind": "instance", "source": "chat-prod", "status": "available"}
no_snapshot_reason:
  description: Why the run has no snapshot to restore.
  returned: when event is find and the run has no snapshot
  type: str
  sample: its report.json names none
manifest_path:
  description: The run's backup manifest, as its report names it (or where M(db_backup) puts it).
  returned: when event is find and a run was found
  type: str
  sample: backups/prod_db/20260101T120000Z-1a2b/manifest.json
live_database:
  description: The name of the host's database (the live one, which a restore beside it does not touch).
  returned: when event is find
  type: str
  sample: chat
database_url:
  description: The DATABASE_URL of the restored copy, without the password.
  returned: when event is database_url
  type: str
  sample: postgresql://app@chat-restored.example.com:5432/chat
summary_lines:
  description: The outcome's summary lines.
  returned: when event is finish
  type: list
  elements: str
  sample: ["Rollback (indexes) of run first-run on prod_db: dropped 18, kept 2 (existed before the run), already gone 0"]
report_path:
  description: Path of report.json (none in check mode).
  returned: when event is finish
  type: str
  sample: /srv/safeindex/artifacts/prod_db/first-run/rollback-indexes-20260102T080000Z/report.json
released:
  description: Whether a run lock was held (O(holder_file)) and let go; false when nothing was held.
  returned: when event is finish
  type: bool
  sample: true
"""

import os
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.safeindex.core.connection import connection_params
from ansible.module_utils.safeindex.core.errors import SafeIndexError
from ansible.module_utils.safeindex.core.module import argument_spec
from ansible.module_utils.safeindex.core.run_id import derived_run_id
from ansible.module_utils.safeindex.core.run_options import check_run_options, run_options
from ansible.module_utils.safeindex.report.rollback import build_rollback_report, write_rollback_report
from ansible.module_utils.safeindex.rollback import target
from ansible.module_utils.safeindex.run import lock as runlock

ARGUMENT_SPEC = argument_spec(
    event=dict(type="str", choices=["find", "database_url", "finish"], default="finish"),
    rollback_dir=dict(type="path"),
    **run_options("run_id"),
    host=dict(type="str"),
    engine=dict(type="str"),
    outcome=dict(type="dict"),
    mode=dict(type="str", choices=list(target.MODES), default="indexes"),
    artifacts_dir=dict(type="path"),
    marked_run_id=dict(type="str"),
    backup_dir=dict(type="path"),
    endpoint=dict(type="str"),
    port=dict(type="int"),
    holder_file=dict(type="path"),
)


def live_database(module):
    """The host's database name, from db_name or database_url; None when the settings do not say."""
    try:
        return connection_params(module.params).database
    except SafeIndexError:
        return None


def find(module):
    params = module.params
    host = params["host"]
    latest = target.latest_run(params["artifacts_dir"], host) if not params["run_id"] else None
    run_id = target.choose_run(params["run_id"], latest, params["marked_run_id"])
    if run_id is None:
        module.exit_json(changed=False, run_id=None, live_database=live_database(module),
                         message="no run found in %s" % os.path.join(params["artifacts_dir"], host))
    found = target.folders(params["artifacts_dir"], host, run_id, params["mode"])
    report = target.run_report(found["run_dir"])
    snapshot, no_snapshot = target.snapshot_of(report, found["run_dir"])
    manifest = target.backup_manifest(report, params["backup_dir"] or "", host, run_id)
    # The ids this rollback's own work runs under (its run lock, a safety backup), within the run id rule however long
    # the run's id is.
    found["lock_run_id"] = derived_run_id("rollback-" + run_id)
    found["safety_backup_run_id"] = derived_run_id("%s-before-restore-%s" % (run_id, time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())))
    module.exit_json(changed=False, run_id=run_id, snapshot=snapshot, no_snapshot_reason=no_snapshot, manifest_path=manifest,
                     live_database=live_database(module), **found)


def database_url(module):
    params = module.params
    connection = connection_params(module.params)
    module.exit_json(changed=False, database_url=target.switch_url(connection.engine, connection.user, connection.database,
                                                                   params["endpoint"], params["port"]))


def finish(module):
    """The rollback's report, then the run lock let go (also when the report could not be written)."""
    params = module.params
    try:
        report = build_rollback_report(params["outcome"], params["run_id"], params["host"], params["engine"])
        lines = list(report.get("summary_lines") or [])
        path = None if module.check_mode else os.path.abspath(write_rollback_report(params["rollback_dir"], report))
    finally:
        released = runlock.release(params["holder_file"]) if params["holder_file"] else False
    module.exit_json(changed=False, summary_lines=lines, report_path=path, released=released)


def main():
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        supports_check_mode=True,
        required_if=[("event", "finish", ("rollback_dir", "run_id", "outcome")), ("event", "find", ("artifacts_dir", "host")),
                     ("event", "database_url", ("endpoint", "port"))],
    )
    check_run_options(module)
    try:
        {"find": find, "database_url": database_url, "finish": finish}[module.params["event"]](module)
    except (ValueError, SafeIndexError) as exc:
        module.fail_json(msg=str(exc), changed=False)


if __name__ == "__main__":
    main()
