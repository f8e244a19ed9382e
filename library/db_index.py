#!/usr/bin/python
"""Ansible module db_index: one index, built online and idempotently, compared by definition."""

DOCUMENTATION = r"""
module: db_index
short_description: Create or drop one index online, idempotent by definition
description:
  - Brings one index of a live PostgreSQL, MySQL or MariaDB database to the wanted state without blocking writes.
  - PostgreSQL builds with C(CREATE INDEX CONCURRENTLY) on an autocommit connection and drops with C(DROP INDEX CONCURRENTLY).
  - Idempotent by definition, not by name. The table, the columns (order and direction), uniqueness, method, predicate and
    include list are compared with the catalog. An equal index is left alone. An index of the same name with another
    definition is an error that shows both definitions. An INVALID index left by a failed concurrent build is dropped and
    rebuilt. An equal index under another name is reported and, by default, not built again.
  - Lock waits are short (O(lock_timeout)) and retried with a doubling backoff. Before each attempt, transactions older than
    the lock timeout that would stall the build count as a failed attempt. On giving up, the error names the sessions in the
    way and no INVALID index is left behind where the server allows it to be dropped.
  - After a build the index is checked valid, commented with the run id (the ownership marker that rollback uses) and its
    table analyzed.
  - In check mode the module returns the exact SQL it would run and changes nothing.
version_added: "0.1.0"
author: safeindex developers (!UNKNOWN)
options:
  name:
    description: Name of the index.
    type: str
    required: true
  table:
    description: Table of the index. Required when O(state=present).
    type: str
  schema:
    description: Schema of the table and index (PostgreSQL only). Defaults to the connection's current schema.
    type: str
  columns:
    description:
      - Key columns in order. Each is a name with optional prefix length, order and NULLS order, as text
        (V(created_at DESC), V(body(100))) or as a mapping with keys C(name), C(order) (V(asc)/V(desc)),
        C(nulls) (V(first)/V(last), PostgreSQL) and C(length) (prefix length, MySQL).
      - Required when O(state=present).
    type: list
    elements: raw
  unique:
    description: Build a unique index.
    type: bool
    default: false
  where:
    description:
      - Predicate of a partial index (PostgreSQL only), as SQL text. It may not contain C(;), comments or a subquery.
    type: str
  method:
    description: Index access method.
    type: str
    default: btree
  include:
    description: Non-key columns stored in the index (PostgreSQL C(INCLUDE)).
    type: list
    elements: str
  state:
    description: Whether the index should exist.
    type: str
    choices: [present, absent]
    default: present
  run_id:
    description:
      - Id of the run; written into the index comment as C(safeindex run_id=<run_id>). Required when O(state=present).
    type: str
  lock_timeout:
    description: Seconds one lock wait may last before the attempt is abandoned.
    type: float
    default: 5
  lock_retries:
    description: Attempts after the first one when a lock cannot be had.
    type: int
    default: 5
  lock_retry_delay:
    description: Seconds to wait before the first retry; the wait doubles with each retry, up to 60 seconds.
    type: float
    default: 2
  statement_timeout:
    description: Seconds the build itself may take; V(0) for no limit.
    type: float
    default: 0
  maintenance_work_mem:
    description: Session C(maintenance_work_mem) for the build (PostgreSQL), for example V(512MB). Server default when unset.
    type: str
  max_parallel_maintenance_workers:
    description: Session C(max_parallel_maintenance_workers) for the build (PostgreSQL). Server default when unset.
    type: int
  on_equivalent:
    description: What to do when an equal index exists under another name.
    type: str
    choices: [skip, create]
    default: skip
  allow_blocking:
    description:
      - Build and drop without the online options (plain C(CREATE INDEX)), which blocks writes to the table for the whole
        build. Only for an explicit, informed opt-in.
    type: bool
    default: false
  run_dir:
    description:
      - The run directory (C(artifacts/<host>/<run_id>)) whose C(record.jsonl) gets an entry for each change, written as it
        happens so that a killed run still tells what it built. Nothing is written in check mode.
    type: path
attributes:
  check_mode:
    support: full
    details: Changes nothing and returns the exact SQL it would run, in order.
  diff_mode:
    support: full
    details: The index definition in the catalog before and the one wanted after.
extends_documentation_fragment:
  - safeindex_platform
  - ansible.builtin.action_common_attributes
  - safeindex_connection
  - safeindex_progress
  - safeindex_run
notes:
  - Supports check mode and diff mode.
seealso:
  - module: db_preflight
    description: Checks the whole index spec against the live schema and plans each index before a run.
"""

EXAMPLES = r"""
- name: Index the conversations of a user by date
  db_index:
    database_url: "{{ lookup('ansible.builtin.env', 'DATABASE_URL') }}"
    name: idx_conversation_user_created
    table: conversation
    columns: [user_id, created_at DESC]
    run_id: "{{ run_id }}"

- name: A partial index, built with more memory
  db_index:
    db_engine: postgresql
    db_host: db.internal
    db_name: app
    db_user: app_owner
    db_password: "{{ vault_db_password }}"
    name: idx_query_log_errors
    table: query_log
    columns: [created_at]
    where: "status = 'error'"
    maintenance_work_mem: 512MB
    run_id: "{{ run_id }}"

- name: Drop an index online
  db_index:
    database_url: "{{ database_url }}"
    name: idx_user_role
    state: absent
"""

RETURN = r"""
name:
  description: Name of the index.
  returned: always
  type: str
  sample: "idx_conversation_user_created"
action:
  description:
    - What was done (or, in check mode, would be done). V(created), V(exists), V(rebuilt_invalid),
      V(skipped_equivalent), V(dropped), V(absent) or, on failure, V(failed).
  returned: always
  type: str
  sample: created
sql:
  description: The statements run (or, in check mode, that would run), in order, exactly as sent.
  returned: always
  type: list
  elements: str
  sample: ['SET lock_timeout = ''5000ms''', 'CREATE INDEX CONCURRENTLY "idx_user_role" ON "public"."user" USING btree ("role")']
definition:
  description: The wanted definition as a CREATE INDEX statement.
  returned: when state is present and the spec resolved
  type: str
  sample: "CREATE INDEX \"idx_conversation_user_created\" ON \"public\".\"conversation\" USING btree (\"user_id\", \"created_at\" DESC)"
existing_definition:
  description: The definition the catalog held before, as a CREATE INDEX statement.
  returned: when an index of that name existed
  type: str
  sample: "CREATE INDEX \"idx_conversation_user_created\" ON \"public\".\"conversation\" USING btree (\"user_id\")"
equivalent_to:
  description: Name of the existing index with the same definition.
  returned: when action is skipped_equivalent
  type: str
  sample: "conversation_user_id_created_at_idx"
attempts:
  description: Attempts it took to get the locks.
  returned: always
  type: int
  sample: 1
duration_seconds:
  description: Wall time of the module's work on this index.
  returned: always
  type: float
  sample: 41.7
size_bytes:
  description: Size of the index on disk.
  returned: when the index exists
  type: int
  sample: 28753920
blockers:
  description: Sessions that held the table when the module gave up (pid, state, age_seconds, query, locks).
  returned: on lock failures
  type: list
  elements: dict
  sample: [{"pid": 4100, "state": "idle in transaction", "age_seconds": 620.5, "query": "SELECT ... FOR UPDATE", "locks": ["RowShareLock"]}]
skipped_steps:
  description: Steps after the build that did not run (comment, analyze); the index itself is in place.
  returned: always
  type: list
  elements: str
  sample: ["ANALYZE \"public\".\"conversation\" did not run: canceling statement due to lock timeout"]
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.safeindex.build.indexer import BuildOptions, IndexFailed, ensure_absent, ensure_present
from ansible.module_utils.safeindex.build.progress import PROGRESS_ARGUMENT_SPEC
from ansible.module_utils.safeindex.core.module import argument_spec, connected, fail
from ansible.module_utils.safeindex.core.run_options import check_run_options, run_options
from ansible.module_utils.safeindex.run.record import record_phase_result, recorder
from ansible.module_utils.safeindex.spec.parse import index_reference, parse_index

ARGUMENT_SPEC = argument_spec(
    name=dict(type="str", required=True),
    table=dict(type="str"),
    schema=dict(type="str"),
    columns=dict(type="list", elements="raw"),
    unique=dict(type="bool", default=False),
    where=dict(type="str"),
    method=dict(type="str", default="btree"),
    include=dict(type="list", elements="str"),
    state=dict(type="str", choices=["present", "absent"], default="present"),
    lock_timeout=dict(type="float", default=5),
    lock_retries=dict(type="int", default=5),
    lock_retry_delay=dict(type="float", default=2),
    statement_timeout=dict(type="float", default=0),
    maintenance_work_mem=dict(type="str"),
    max_parallel_maintenance_workers=dict(type="int"),
    on_equivalent=dict(type="str", choices=["skip", "create"], default="skip"),
    allow_blocking=dict(type="bool", default=False),
    **run_options(),
    **PROGRESS_ARGUMENT_SPEC,
)


def build_options(params):
    if params["lock_timeout"] <= 0 or params["lock_retries"] < 0 or params["lock_retry_delay"] < 0 or params["statement_timeout"] < 0:
        raise ValueError("lock_timeout must be positive; lock_retries, lock_retry_delay and statement_timeout not negative")
    return BuildOptions(
        run_id=params["run_id"],
        lock_timeout=params["lock_timeout"],
        lock_retries=params["lock_retries"],
        retry_delay=params["lock_retry_delay"],
        statement_timeout=params["statement_timeout"],
        maintenance_work_mem=params["maintenance_work_mem"],
        parallel_workers=params["max_parallel_maintenance_workers"],
        on_equivalent=params["on_equivalent"],
        online=not params["allow_blocking"],
        progress_file=params["progress_file"],
    )


def main():
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        supports_check_mode=True,
        required_if=[("state", "present", ("table", "columns", "run_id"))],
    )
    params = module.params
    check_run_options(module)
    result = dict(name=params["name"], action=None, sql=[], attempts=0, duration_seconds=0.0, skipped_steps=[])
    try:
        options = build_options(params)
    except ValueError as exc:
        module.fail_json(msg=str(exc), **result)
    # A failure before the build's own outcome (connecting, a spec the catalog cannot take) reports action=failed.
    failed = dict(result, action="failed")

    def record_failure(exc, known=None):
        """The report counts a failed index from the run record: every failure is recorded, connecting included."""
        record_phase_result(params["run_dir"], "index", dict(known or failed, failed=True, msg=str(exc)), module.check_mode)

    with connected(module, "db_index", failed, on_failure=record_failure) as dialect:
        engine = dialect.engine
        record = recorder(params["run_dir"], module.check_mode)
        try:
            if params["state"] == "absent":
                spec = index_reference(params["name"], dialect.engine, params["table"], params["schema"])
                outcome = ensure_absent(dialect, spec, options, module.check_mode, record)
            else:
                entry = {key: params[key] for key in ("name", "table", "schema", "columns", "unique", "where", "method", "include")}
                spec = parse_index({k: v for k, v in entry.items() if v is not None}, dialect.engine)
                outcome = ensure_present(dialect, spec, options, module.check_mode, record)
        except IndexFailed as exc:
            result.update(exc.result.as_dict())
            if module._diff:
                result["diff"] = _diff(exc.result)
            record_failure(exc, result)
            fail(module, exc, **result)
    result.update(outcome.as_dict())
    result["engine"] = engine
    for step in outcome.skipped_steps:
        module.warn(step)
    if module._diff and outcome.changed:
        result["diff"] = _diff(outcome)
    record_phase_result(params["run_dir"], "index", result, module.check_mode)
    module.exit_json(**result)


def _diff(outcome):
    before = outcome.existing_definition or ""
    if outcome.action == "rebuilt_invalid":
        before += "  -- INVALID (left by a failed concurrent build)"
    after = "" if outcome.action in ("dropped",) else (outcome.definition or "")
    return dict(
        before=before + "\n" if before else "",
        after=after + "\n" if after else "",
        before_header="%s (catalog)" % outcome.name,
        after_header="%s (spec)" % outcome.name,
    )


if __name__ == "__main__":
    main()
