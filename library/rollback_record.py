#!/usr/bin/python
"""Ansible module rollback_record: a rollback's record and report, in its own folder inside the run's folder."""

DOCUMENTATION = r"""
module: rollback_record
short_description: Write a rollback's report and finish its record
description:
  - Appends the finish of a rollback to C(<rollback_dir>/record.jsonl) and writes C(report.json) and C(report.md)
    beside it (0600, in a 0700 folder), from the outcome the rollback mode set.
  - Returns the outcome's summary lines for the play to print.
  - Bookkeeping on the controller, not a change to the database, so the module never reports C(changed).
  - In check mode nothing is written.
version_added: "0.1.0"
author: safeindex developers (!UNKNOWN)
options:
  rollback_dir:
    description: This rollback's folder, C(<run_dir>/rollback-<mode>-<UTC timestamp>).
    type: path
    required: true
  run_id:
    description: Id of the run rolled back.
    required: true
  host:
    description: The inventory host.
    type: str
  engine:
    description: The database engine.
    type: str
  outcome:
    description: What the mode did, with keys C(mode), C(status) (V(success), V(failed) or V(refused)), C(summary_lines)
      and C(details).
    type: dict
    required: true
attributes:
  check_mode:
    support: full
    details: Writes no report; returns the summary lines.
  diff_mode:
    support: none
  platform:
    support: full
    platforms: posix
    details: Runs on the controller (or the host it is delegated to) and works over the network.
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - safeindex_run.run_id
"""

EXAMPLES = r"""
- name: Write the rollback's report
  rollback_record:
    rollback_dir: "{{ rollback_dir }}"
    run_id: "{{ rollback_run_id }}"
    host: "{{ inventory_hostname }}"
    outcome: "{{ rollback_outcome }}"
  register: rollback_report
"""

RETURN = r"""
summary_lines:
  description: The outcome's summary lines.
  returned: always
  type: list
  elements: str
  sample: ["Rollback (indexes) of run first-run on prod_db: dropped 18, kept 2 (existed before the run), already gone 0"]
report_path:
  description: Path of report.json (none in check mode).
  returned: always
  type: str
  sample: "/srv/safeindex/artifacts/prod_db/rollback-first-run/report.json"
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.safeindex.core.run_options import check_run_options, run_options
from ansible.module_utils.safeindex.report.rollback import build_rollback_report, write_rollback_report

ARGUMENT_SPEC = dict(
    rollback_dir=dict(type="path", required=True),
    **run_options("run_id", required=("run_id",)),
    host=dict(type="str"),
    engine=dict(type="str"),
    outcome=dict(type="dict", required=True),
)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    check_run_options(module)
    params = module.params
    report = build_rollback_report(params["outcome"], params["run_id"], params["host"], params["engine"])
    lines = list(report.get("summary_lines") or [])
    if module.check_mode:
        module.exit_json(changed=False, summary_lines=lines, report_path=None)
    path = write_rollback_report(params["rollback_dir"], report)
    module.exit_json(changed=False, summary_lines=lines, report_path=os.path.abspath(path))


if __name__ == "__main__":
    main()
