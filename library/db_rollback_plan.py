#!/usr/bin/python
"""Ansible module db_rollback_plan: which indexes a rollback of one run drops, and which it keeps, and why."""

DOCUMENTATION = r"""
module: db_rollback_plan
short_description: Plan the rollback of a run's indexes from its record and the ownership markers
description:
  - Reads the run's C(record.jsonl) and C(report.json) (when its folder still exists) and the index comments in the catalog,
    and returns the indexes to drop, the indexes kept and why, and the indexes already gone.
  - Only an index whose comment carries the marker C(safeindex run_id=<run_id>) of this run is to be dropped. An index of the
    same name rebuilt later by another run, or made by hand, is kept. Indexes that existed before the run are kept.
  - Without the run's folder the markers alone find the run's indexes.
  - Reads only, so it never reports C(changed) and runs the same in check mode.
version_added: "0.1.0"
author: safeindex developers (!UNKNOWN)
options:
  run_id:
    description:
      - Id of the run to roll back. When omitted, the one run whose marker is in the database; with markers of several
        runs the module returns O(run_id) unset and lists them in RV(marked_runs).
    type: str
  run_dir:
    description: The run's folder, C(artifacts/<host>/<run_id>). It may be gone.
    type: path
  host:
    description: The inventory host, for the summary line.
    type: str
attributes:
  check_mode:
    support: full
    details: Reads only; the summary line says V(would drop).
  diff_mode:
    support: none
extends_documentation_fragment:
  - safeindex_platform
  - ansible.builtin.action_common_attributes
  - safeindex_connection
  - safeindex_run
notes:
  - Supports check mode.
seealso:
  - module: db_index
"""

EXAMPLES = r"""
- name: Plan the rollback of a run
  db_rollback_plan:
    database_url: "{{ database_url }}"
    run_id: 20260101T120000Z-1a2b
    run_dir: artifacts/prod_db/20260101T120000Z-1a2b
  register: plan
"""

RETURN = r"""
run_id:
  description: The run planned for (the one given, or the only run marked in the database).
  returned: always
  type: str
  sample: "first-run"
found:
  description: Whether the run exists, as a migrate record in its folder or as markers in the database.
  returned: always
  type: bool
  sample: true
message:
  description: Why the run was not found.
  returned: when found is false
  type: str
  sample: "run first-run not found: no record of it in the artifacts and no index in the database carries 'safeindex run_id=first-run'"
to_drop:
  description: Indexes to drop (name, table, schema, why).
  returned: always
  type: list
  elements: dict
  sample: [{"name": "idx_message_timestamp", "table": "message", "schema": "public", "why": "built by the run (record and marker)"}]
drop_indexes:
  description: RV(to_drop) in the form M(db_index) takes as its C(indexes) option with C(state=absent) (name, table, schema).
  returned: always
  type: list
  elements: dict
  sample: [{"name": "idx_message_timestamp", "table": "message", "schema": "public"}]
kept:
  description: Indexes the run touched or found but that stay (name, why).
  returned: always
  type: list
  elements: dict
  sample: [{"name": "idx_user_email", "why": "existed before the run"}]
already_gone:
  description: Names of indexes the run built that are no longer in the catalog.
  returned: always
  type: list
  elements: str
  sample: ["idx_user_role"]
source:
  description: Where the run's indexes came from, V(record) (the run's folder, checked against the markers) or V(markers).
  returned: always
  type: str
  sample: "record"
summary_line:
  description: The rollback's summary, as it reads once the planned drops are done (V(would drop) in check mode).
  returned: when found is true
  type: str
  sample: "Rollback (indexes) of run first-run on prod_db: dropped 18, kept 2 (existed before the run), already gone 0"
marked_runs:
  description: Ids of every run whose marker is in the database.
  returned: always
  type: list
  elements: str
  sample: ["first-run"]
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.safeindex.core.module import argument_spec, connected
from ansible.module_utils.safeindex.core.run_options import check_run_options, run_options
from ansible.module_utils.safeindex.engines.base import ownership_marker
from ansible.module_utils.safeindex.rollback.plan import is_migrate_run, marked_runs, plan_rollback, run_artifacts, summary_line

ARGUMENT_SPEC = argument_spec(
    **run_options(),
    host=dict(type="str"),
)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    check_run_options(module)
    run_id = module.params["run_id"]
    result = dict(changed=False, run_id=run_id, found=False, to_drop=[], drop_indexes=[], kept=[], already_gone=[], source=None,
                  marked_runs=[])
    with connected(module, "db_rollback_plan", result) as dialect:
        runs = marked_runs(dialect)
        result["marked_runs"] = sorted(runs)
        if run_id is None:
            if len(runs) != 1:
                result["message"] = (
                    "no run id given and no artifacts; the database holds markers of %s: give -e run_id=..."
                    % (", ".join(sorted(runs)) if runs else "no run")
                )
                module.exit_json(**result)
            run_id = result["run_id"] = next(iter(runs))
        events, report_indexes = run_artifacts(module.params["run_dir"])
        owned = runs.get(run_id, [])
        if not is_migrate_run(events) and not owned:
            result["message"] = "run %s not found: no record of it in %s and no index in the database carries '%s'" % (
                run_id, module.params["run_dir"] or "the artifacts", ownership_marker(run_id))
            module.exit_json(**result)
        result.update(plan_rollback(dialect, run_id, events, report_indexes, owned), found=True)
        result["summary_line"] = summary_line(
            "indexes", run_id, module.params["host"] or dialect.params.describe(), result, len(result["to_drop"]), module.check_mode)
    result["drop_indexes"] = [{key: index[key] for key in ("name", "table", "schema")} for index in result["to_drop"]]
    module.exit_json(**result)


if __name__ == "__main__":
    main()
