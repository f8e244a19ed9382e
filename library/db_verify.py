#!/usr/bin/python
"""Ansible module db_verify: prove the spec's indexes are there and that the probe queries use them."""

DOCUMENTATION = r"""
module: db_verify
short_description: Verify a database's indexes against the index spec and prove the probe queries use them
description:
  - For each index of the spec (O(spec_path)), its state. V(ok) when present, valid and with the spec's definition;
    V(missing), V(invalid) (the leftover of a failed concurrent build), V(differs) (same name, another definition,
    both shown), or V(equivalent) when O(on_equivalent=skip) left an equal index under another name, which is named.
  - For each probe of the spec, its plan (EXPLAIN in JSON) and whether it reads the expected index (or its
    equivalent). V(ok); V(small_table) when the planner reads a small table whole (no more rows than
    O(small_table_rows)) and the index is proven usable with full scans discouraged (C(enable_seqscan=off) on
    PostgreSQL, C(max_seeks_for_key=1) on MySQL); V(not_used), with the plan in readable form; V(error), with the
    server's message.
  - Each probe's median time over O(probe_runs) runs, measured here (execute and fetch every row), and the speed-up
    against O(baseline).
  - Every probe statement runs in a READ ONLY transaction that is rolled back, with a statement timeout, so a probe
    can never change data. The module only reads, so it runs as usual in check mode, and it never reports a change.
  - O(phase=before) (before the build) checks the probes only and fails only when a probe's SQL fails.
    O(phase=after) also checks the indexes and reads their usage counters, and fails listing every problem.
  - With O(run_dir), the result goes to the run's record (V(after) as the C(verify) phase's, V(before) as the
    probes' baseline); O(phase=after) also records the start and the end of the run's C(verify) phase, the end
    also when verification fails. M(db_preflight) takes the same baseline in a migration run.
  - With O(amcheck) (O(phase=after)), proof that each B-tree index the run built is sound. On PostgreSQL it runs amcheck's
    C(bt_index_check(index => ..., heapallindexed => true)) on each (on each partition's index of a partitioned one),
    with the run's indexes read from its record in O(run_dir) (every spec index in the catalog without one). A corrupt
    index is a problem that names it. Without the amcheck extension in the database (or the right to run it), nothing
    is checked and RV(amcheck) says how to install it (or grant it). MySQL/MariaDB has no such check, so it is skipped
    with a note, not a failure.
version_added: "0.1.0"
author: safeindex developers (!UNKNOWN)
options:
  spec_path:
    description: The index spec file, with its C(probes).
    type: path
    required: true
  schema:
    description: Schema of the spec's tables (PostgreSQL); the connection's current schema when unset.
    type: str
  phase:
    description:
      - V(before) the index build (the baseline; a probe that does not use its index yet is expected) or V(after) it.
    type: str
    choices: [before, after]
    default: after
  probe_runs:
    description: How many times each probe runs; its median time counts.
    type: int
    default: 5
  probe_timeout:
    description: Seconds one probe statement may run before the server stops it; V(0) for no limit.
    type: float
    default: 30
  small_table_rows:
    description:
      - A table the catalog estimates at no more rows than this is small. A planner that reads it whole instead of
        using the index is right at that size; the probe passes as V(small_table) once the index is proven usable.
        Above it, such a plan fails.
    type: int
    default: 10000
  baseline:
    description: The RV(probes) of the O(phase=before) run, for the before times and the speed-up.
    type: list
    elements: dict
  on_equivalent:
    description: How M(db_index) treated an equal index under another name (V(skip) counts it as the spec's index).
    type: str
    choices: [skip, create]
    default: skip
  amcheck:
    description: Check the B-tree indexes the run built with amcheck (PostgreSQL only; see above).
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    details: Reads only (EXPLAIN and the probe queries), so check mode runs it as usual.
  diff_mode:
    support: none
extends_documentation_fragment:
  - safeindex_platform
  - ansible.builtin.action_common_attributes
  - safeindex_connection
  - safeindex_run.run_dir
"""

EXAMPLES = r"""
- name: Time the probes before the build
  db_verify:
    database_url: "{{ database_url }}"
    spec_path: migrations/indexes.yml
    phase: before
  register: probes_before

- name: Verify the indexes and the probes after the build
  db_verify:
    database_url: "{{ database_url }}"
    spec_path: migrations/indexes.yml
    phase: after
    baseline: "{{ probes_before.probes }}"
  register: verify_result
"""

RETURN = r"""
indexes:
  description: One entry per spec index with C(name), C(table), C(state) (V(ok), V(missing), V(invalid), V(differs),
    V(equivalent)) and C(detail). Empty in O(phase=before).
  returned: always
  type: list
  elements: dict
  sample: [{"name": "idx_user_username", "table": "user", "state": "ok", "detail": "valid, as specified"}]
probes:
  description:
    - One entry per probe with C(name), C(sql), C(expect_index), C(table), C(verdict) (V(ok), V(small_table),
      V(not_used), V(error)), C(indexes_used), C(detail), C(plan) (EXPLAIN's JSON), C(median_ms), C(runs),
      C(before_ms) and C(speedup) (from O(baseline); null without one).
  returned: always
  type: list
  elements: dict
  sample:
    [
      {
        "name": "login_by_username",
        "verdict": "ok",
        "indexes_used": [
          "idx_user_username"
        ],
        "median_ms": 0.21,
        "before_ms": 12.4,
        "speedup": 59.0
      }
    ]
index_usage:
  description:
    - Index name to its usage counter after the probes. PostgreSQL gives C(pg_stat_user_indexes.idx_scan), MySQL
      gives rows read through the index from performance_schema. Null where the server does not count. Empty in
      O(phase=before).
  returned: always
  type: dict
  sample: {"idx_user_username": 6, "idx_user_role": 5}
index_usage_note:
  description: Why the usage counters are null, when they are.
  returned: always
  type: str
  sample: "the server keeps no per-index counter (performance_schema is off)"
problems:
  description:
    - Every problem found, one entry each (with the plan of a probe that does not use its index). Not called
      C(failed), which Ansible keeps for its own true or false.
  returned: always
  type: list
  elements: str
  sample: ["probe recent_messages does not use idx_message_timestamp: Seq Scan on message"]
summary_lines:
  description: Lines to print, one per probe with its times, speed-up and how it reads its table.
  returned: always
  type: list
  elements: str
  sample: ["probe login_by_username: 12.40 ms -> 0.21 ms (x59.0), Index Scan on idx_user_username"]
amcheck:
  description:
    - The index check of O(amcheck), C(function) (V(bt_index_check); null on MySQL/MariaDB), C(ran), C(note) (what was
      checked, or why nothing was and how to fix that), C(indexes) (C(name), C(spec_index), C(result) V(ok), V(corrupt)
      or V(skipped), C(error), C(duration_seconds)) and C(problems). Null without O(amcheck).
  returned: always
  type: dict
  sample: {"function": "bt_index_check", "ran": true, "problems": [],
           "note": "bt_index_check(heapallindexed => true) on 1 B-tree indexes the run built: 1 sound, 0 corrupt",
           "indexes": [{"name": "public.idx_message_timestamp", "spec_index": "idx_message_timestamp", "result": "ok",
                        "error": null, "duration_seconds": 0.012, "function": "bt_index_check"}]}
engine:
  description: The database engine.
  returned: always
  type: str
  sample: "postgresql"
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.safeindex.core.connection import connection_params
from ansible.module_utils.safeindex.core.errors import SafeIndexError
from ansible.module_utils.safeindex.core.module import argument_spec, connected, fail
from ansible.module_utils.safeindex.core.run_options import run_options
from ansible.module_utils.safeindex.run.record import record_phase
from ansible.module_utils.safeindex.spec import plan as planning
from ansible.module_utils.safeindex.verify import check as verification

ARGUMENT_SPEC = argument_spec(
    spec_path=dict(type="path", required=True),
    schema=dict(type="str"),
    phase=dict(type="str", choices=["before", "after"], default="after"),
    probe_runs=dict(type="int", default=5),
    probe_timeout=dict(type="float", default=30),
    small_table_rows=dict(type="int", default=verification.DEFAULT_SMALL_TABLE_ROWS),
    baseline=dict(type="list", elements="dict"),
    on_equivalent=dict(type="str", choices=["skip", "create"], default="skip"),
    amcheck=dict(type="bool", default=False),
    **run_options("run_dir"),
)


def index_check(dialect, indexes, run_dir):
    """amcheck on the indexes the run built (its record's index results), or on every spec index without a record."""
    from ansible.module_utils.safeindex.build.indexer import resolve
    from ansible.module_utils.safeindex.run.record import RunRecord, last_run, phase_results
    from ansible.module_utils.safeindex.run.server_checks import built_index_names, index_checks

    results = phase_results(last_run(RunRecord(run_dir).events()), "index") if run_dir else []
    built = built_index_names(results) if results else [spec.name for spec in indexes]
    targets = []
    for spec in indexes:
        if spec.name in built:
            try:
                targets.append((resolve(dialect, spec)[0], spec.name))
            except SafeIndexError:  # the index check above already reports a spec index it cannot resolve
                continue
    return index_checks(dialect, targets)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    params = module.params
    if params["probe_runs"] < 1 or params["probe_timeout"] < 0 or params["small_table_rows"] < 0:
        module.fail_json(msg="probe_runs must be at least 1, probe_timeout and small_table_rows not negative", changed=False)
    options = verification.VerifyOptions(runs=params["probe_runs"], timeout=params["probe_timeout"],
                                         small_table_rows=params["small_table_rows"], on_equivalent=params["on_equivalent"],
                                         schema=params["schema"])
    phase, run_dir = params["phase"], params["run_dir"]
    # After the build, verification is the run's verify phase: its start and end are in the record, also when it fails.
    phase_name = "verify" if phase == "after" else None
    if phase_name:
        record_phase(run_dir, "phase_start", phase_name, module.check_mode)
    engine = None
    try:
        try:
            engine = connection_params(params).engine
            _fingerprint, indexes, probes = planning.load(params["spec_path"], engine)
        except SafeIndexError as exc:
            verification.record_result(run_dir, phase, dict(engine=engine), str(exc), module.check_mode)
            fail(module, exc, changed=False, engine=engine)
        with connected(module, "db_verify", dict(changed=False, engine=engine)) as dialect:
            result = verification.verify(dialect, indexes, probes, phase, options, params["baseline"])
            result["amcheck"] = index_check(dialect, indexes, run_dir) if params["amcheck"] and phase == "after" else None
            result["problems"] = result["problems"] + ((result["amcheck"] or {}).get("problems") or [])
        msg = verification.failure_message(phase, result["problems"])
        verification.record_result(run_dir, phase, dict(result, engine=engine), msg, module.check_mode)
    finally:
        if phase_name:
            record_phase(run_dir, "phase_end", phase_name, module.check_mode)
    if msg:
        module.fail_json(msg=msg, changed=False, engine=engine, **result)
    module.exit_json(changed=False, engine=engine, **result)


if __name__ == "__main__":
    main()
