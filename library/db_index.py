#!/usr/bin/python
"""Ansible module db_index: one index, built online and idempotently, compared by definition."""

DOCUMENTATION = r"""
module: db_index
short_description: Create or drop indexes online, idempotent by definition
description:
  - Brings one index of a live PostgreSQL, MySQL or MariaDB database to the wanted state without blocking writes; or, with
    O(indexes), a whole list of indexes in order, in one call (a run's index phase).
  - PostgreSQL builds with C(CREATE INDEX CONCURRENTLY) on an autocommit connection and drops with C(DROP INDEX CONCURRENTLY).
  - Idempotent by definition, not by name. The table, the columns (order and direction), uniqueness, method, predicate and
    include list are compared with the catalog. An equal index is left alone. An index of the same name with another
    definition is an error that shows both definitions. An INVALID index left by a failed concurrent build is dropped and
    rebuilt. An equal index under another name is reported and, by default, not built again.
  - Lock waits are short (O(lock_timeout)) and retried with a doubling backoff. Before each attempt, transactions older than
    the lock timeout that would stall the build count as a failed attempt. Each failed attempt is a progress line naming the
    sessions in the way (pid, state, age, the start of the query). An INVALID index a failed attempt left (a concurrent
    build that timed out waiting for a writer or an old snapshot) is dropped at once, under the same lock timeout, not
    kept through the backoff. On giving up, the error names the sessions in the way and no INVALID index is left behind
    where the server allows it to be dropped.
  - After a build the index is checked valid, commented with the run id (the ownership marker that rollback uses) and its
    table analyzed.
  - In check mode the module returns the exact SQL it would run and changes nothing. It plans also on read-only credentials
    or a hot standby; where the exact definition check needs a write, the result says so (RV(definition_check)).
  - With O(indexes) the list is built in order over one connection. The catalog of every table of the list is read once,
    up front; each build is decided again from the live catalog just before it runs. A table is analyzed once, after its
    last build. A line is shown as each build starts and as each index ends (with the C(safeindex_progress) callback). A
    failure in one index does not stop the others; the call fails at the end naming each failed index and its cause. A lost
    connection is opened again for the next index. Ctrl-C stops the list once the interrupted statement is cancelled.
    With O(run_dir) the call writes the C(indexes) phase's start and end into the run record itself.
version_added: "0.1.0"
author: safeindex developers (!UNKNOWN)
options:
  name:
    description: Name of the index. Required unless O(indexes) is given.
    type: str
  indexes:
    description:
      - A list of present indexes to build in order, in one call, each with the keys of the single index options.
      - With O(state=absent), a list of indexes to drop online in order over one connection (C(name), C(table),
        C(schema) of each; a rollback's drops). A failed drop does not stop the others; the call fails at the end
        naming each.
      - Mutually exclusive with O(name), O(table), O(schema), O(columns), O(where), O(include).
    type: list
    elements: dict
    suboptions:
      name:
        description: Name of the index.
        type: str
        required: true
      table:
        description: Table of the index.
        type: str
        required: true
      schema:
        description: Schema of the table and index (PostgreSQL only).
        type: str
      columns:
        description: Key columns in order, as for O(columns). Required when O(state=present).
        type: list
        elements: raw
      unique:
        description: Build a unique index.
        type: bool
        default: false
      where:
        description: Predicate of a partial index (PostgreSQL only).
        type: str
      method:
        description: Index access method.
        type: str
        default: btree
      include:
        description: Non-key columns stored in the index (PostgreSQL C(INCLUDE)).
        type: list
        elements: str
      nulls_distinct:
        description: As for O(nulls_distinct).
        type: bool
        default: true
  table:
    description: Table of the index. Required when O(state=present) and O(indexes) is not given.
    type: str
  schema:
    description: Schema of the table and index (PostgreSQL only). Defaults to the connection's current schema.
    type: str
  columns:
    description:
      - Key columns in order. Each is a plain name with optional prefix length, order and NULLS order, as text
        (V(created_at DESC), V(body(100))), or a mapping with keys C(name), C(order) (V(asc)/V(desc)),
        C(nulls) (V(first)/V(last), PostgreSQL) and C(length) (prefix length, MySQL).
      - >-
        The mapping form takes any name the engine allows (spaces, mixed case, reserved words, quotes), e.g.
        C({name: "Customer Id", order: desc}); the driver quotes it. PostgreSQL allows 63 bytes of UTF-8, MySQL and
        MariaDB 64 characters and no trailing space.
      - >-
        An expression key is a mapping C({expression: "lower(email)"}) with optional C(order) and C(nulls), no C(name)
        or C(length). It may not contain C(;), comments or a subquery. PostgreSQL and MySQL 8.0.13+ build it;
        MariaDB has none (index a generated column instead).
      - Required when O(state=present) and O(indexes) is not given.
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
  nulls_distinct:
    description:
      - V(false) builds a unique index C(NULLS NOT DISTINCT), where NULL keys count as equal (two rows with a NULL key
        are duplicates). PostgreSQL 15 and newer only; needs O(unique=true).
    type: bool
    default: true
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
      - With O(indexes), also the C(phase_start) and C(phase_end) of the run's C(indexes) phase, around the list.
    type: path
  # Pacing of the builds (build/pacing.py): the runbook's pause, and the wait for the replicas before each build.
  pause_between_indexes:
    description:
      - Seconds to sleep between two builds (the runbook's "one at a time, with a pause"), with a progress line. Not
        before the first build nor after the last, not before an index that needs no build, not in check mode.
      - The record's C(index_pause) events and each build's C(started_at) and C(finished_at) show the pauses.
    type: float
    default: 0
  wait_for_replicas:
    description:
      - >-
        Before each build, read every replica's lag and wait while one is over O(max_replication_lag_seconds) or
        O(max_replication_lag_bytes), or is paused, stopped, in error or unreachable, with a progress line per poll
        (C(waiting for replica X: 42 s behind, limit 10 s)), up to O(replica_wait_timeout).
      - Unset, it waits when replicas are known (O(replicas) lists them, or the primary shows any). V(false) reads no lag.
      - A lag that cannot be read is said in a line and the build goes on.
    type: bool
  replica_wait_timeout:
    description: Seconds one wait before a build may last; then O(replica_wait_action) decides.
    type: float
    default: 600
  replica_wait_action:
    description:
      - When a wait times out. V(stop) builds nothing more; the indexes not yet started are reported as
        C(action=not_built) with the reason, the ones built stay, and the call fails naming them.
      - V(continue) builds the index anyway, with a warning.
    type: str
    choices: [stop, continue]
    default: stop
  replica_wait_poll_seconds:
    description: Seconds between two reads of the replicas' lag while waiting.
    type: float
    default: 2
attributes:
  check_mode:
    support: full
    details: Changes nothing and returns the exact SQL it would run, in order.
  diff_mode:
    support: full
    details: The index definition in the catalog before and the one wanted after; with O(indexes), one per index that changes.
extends_documentation_fragment:
  - safeindex_platform
  - ansible.builtin.action_common_attributes
  - safeindex_connection
  - safeindex_progress
  - safeindex_run
  - replicas
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

- name: A case-insensitive login lookup (an expression key) on a table whose names need quoting
  db_index:
    database_url: "{{ database_url }}"
    name: Customers by login
    table: Customer Accounts
    columns:
      - expression: lower(email)
      - {name: "Signed Up", order: desc}
    unique: true
    nulls_distinct: false
    run_id: "{{ run_id }}"

- name: Build a list of indexes in order, in one call (the index phase of a run)
  db_index:
    database_url: "{{ database_url }}"
    indexes:
      - name: idx_conversation_user_created
        table: conversation
        columns: [user_id, created_at DESC]
      - name: idx_session_token
        table: session
        columns: [token]
        unique: true
    run_id: "{{ run_id }}"
    run_dir: "{{ run_dir }}"
  register: indexes_results

- name: Drop an index online
  db_index:
    database_url: "{{ database_url }}"
    name: idx_user_role
    state: absent

- name: Drop several indexes online, in one call
  db_index:
    database_url: "{{ database_url }}"
    state: absent
    indexes:
      - {name: idx_user_role, table: user}
      - {name: idx_session_token, table: session}
"""

RETURN = r"""
results:
  description:
    - With O(indexes), one entry per index in the order given, with the keys a call for that index alone returns
      (name, action, changed, sql, definition, existing_definition, equivalent_to, attempts, duration_seconds, size_bytes,
      blockers, skipped_steps, engine; partitions on a partitioned table), and C(failed) and C(msg) for an index that
      failed.
    - Each index built (or attempted) also has C(started_at) and C(finished_at) (epoch seconds), and, when the pacing
      held it back, C(paused_before_seconds) and C(replica_wait_seconds). An index not built because a replica wait
      timed out has C(action) V(not_built) and a C(reason).
    - A table's ANALYZE runs once, after its last build, and is listed in the C(sql) of that index.
  returned: when O(indexes) is given
  type: list
  elements: dict
  sample: [{"name": "idx_session_token", "action": "exists", "changed": false, "sql": [], "attempts": 0,
            "duration_seconds": 0.0, "size_bytes": 16384, "skipped_steps": [], "engine": "postgresql"}]
replica_waits:
  description:
    - Each look at the replicas before a build that waited (or could not read the lag), in order, with C(index), the
      C(outcome) (V(caught_up), V(timed_out), V(continued), V(interrupted) or V(unread)), C(waited_seconds), C(polls),
      C(problems) (why it waited), C(last_problems), C(peak) (the most lag seen per replica) and C(lags) (the last read).
    - The run record has one C(replica_wait) event per look, also those that needed no wait (C(outcome) V(clear)).
  returned: when O(indexes) is given
  type: list
  elements: dict
  sample: [{"index": "idx_session_token", "outcome": "caught_up", "waited_seconds": 6.1, "polls": 4,
            "problems": ["replica 127.0.0.1:5433 is paused"], "last_problems": ["replica 127.0.0.1:5433 is paused"],
            "peak": {"127.0.0.1:5433": {"lag_seconds": 5.2, "lag_bytes": 81920}}, "lags": [], "detail": ""}]
longest_replica_wait_seconds:
  description: The longest wait for the replicas before one build; 0 when none waited.
  returned: when O(indexes) is given
  type: float
  sample: 6.1
paused_seconds:
  description: Seconds slept between builds (O(pause_between_indexes)), in all.
  returned: when O(indexes) is given
  type: float
  sample: 95.0
not_built:
  description: The indexes not built because a wait for the replicas timed out (O(replica_wait_action=stop)), each
    with C(name) and C(reason); their entries in RV(results) have C(action) V(not_built) and the C(reason).
  returned: when O(indexes) is given
  type: list
  elements: dict
  sample: [{"name": "idx_session_token",
            "reason": "not built: the replicas did not catch up within replica_wait_timeout (600 s): replica r1 is paused"}]
failed_indexes:
  description: Names of the indexes of O(indexes) that failed (were not built, or with O(state=absent) not dropped).
  returned: when O(indexes) is given
  type: list
  elements: str
  sample: ["idx_session_token"]
engine:
  description: The database engine.
  returned: always
  type: str
  sample: postgresql
name:
  description: Name of the index.
  returned: when O(indexes) is not given
  type: str
  sample: "idx_conversation_user_created"
action:
  description:
    - What was done (or, in check mode, would be done). V(created), V(exists), V(rebuilt_invalid),
      V(skipped_equivalent), V(dropped), V(absent), V(not_built) (a replica wait timed out) or, on failure, V(failed).
  returned: when O(indexes) is not given
  type: str
  sample: created
sql:
  description:
    - The statements sent to the server for this index, in the order sent, exactly as the session's cursor sent them
      (recorded as they are sent, also one that failed; a retried build is listed once per attempt that ran, the drop
      of an INVALID leftover where it ran). The session settings come first.
    - In check mode, the statements that would be sent, in that order.
  returned: when O(indexes) is not given
  type: list
  elements: str
  sample: ['SET lock_timeout = ''5000ms''', 'DROP INDEX CONCURRENTLY IF EXISTS "public"."idx_user_role"',
           'CREATE INDEX CONCURRENTLY "idx_user_role" ON "public"."user" USING btree ("role")']
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
started_at:
  description: When the build began (epoch seconds), after any pause and wait for the replicas.
  returned: when a build was attempted
  type: float
  sample: 1767225600.123
finished_at:
  description: When the build ended (epoch seconds).
  returned: when a build was attempted
  type: float
  sample: 1767225641.82
reason:
  description: Why the index was not built (a wait for the replicas that timed out).
  returned: when action is not_built
  type: str
  sample: "not built: the replicas did not catch up within replica_wait_timeout (600 s): replica r1 is paused"
attempts:
  description:
    - Attempts made to get the locks, on every path, failed ones included (an attempt not started because a session
      stood in the way counts); 0 when nothing needed building. With O(indexes), the sum over the indexes (each entry of
      RV(results) has its own).
  returned: always
  type: int
  sample: 3
duration_seconds:
  description:
    - Wall time of the module's work on this index, on every path, also when it failed after its retries. With
      O(indexes), the wall time of the whole call (each entry of RV(results) has its own).
  returned: always
  type: float
  sample: 41.7
changed:
  description:
    - Whether the server changed. Outside check mode only when a CREATE (or a DROP) succeeded, an INVALID leftover that
      existed before was dropped, or a failed build left an INVALID index that was not there before; a build that gave
      up without reaching the server is V(false). In check mode, whether it would change.
  returned: always
  type: bool
  sample: false
definition_check:
  description:
    - V(approximate) when the plan (check mode) was made without the server's exact check of the definition, which builds
      the index on an empty temporary copy of the table that a read-only login, a read-only transaction or a hot standby
      may not make. The wanted definition is then the spec's own, compared as written, and the module warns. Absent when
      the server checked it.
    - Outside check mode the exact check is always made (a run that cannot make it fails).
  returned: in check mode, when the session may not write
  type: str
  sample: approximate
definition_check_reason:
  description: Why RV(definition_check) is V(approximate), in the server's own words.
  returned: when RV(definition_check) is returned
  type: str
  sample: "idx_user_role: cannot check the definition on an empty temporary copy of public.user: this session may not
    create one (permission denied to create temporary tables in database app)"
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
  returned: when O(indexes) is not given
  type: list
  elements: str
  sample: ["ANALYZE \"public\".\"conversation\" did not run: canceling statement due to lock timeout"]
partitions:
  description:
    - On a partitioned PostgreSQL table, which is built part by part, each partition's index and what it needed (or, in
      check mode, would need) as C(action) V(exists) (attached already), V(attached) (an equal index was there),
      V(created) or V(rebuilt_invalid); with O(state=absent), the indexes the DROP took with it that were not made by a
      run (no marker), built again as V(rebuilt_after_drop).
    - Also in each entry of RV(results).
  returned: when the index is on a partitioned table and had work to do
  type: list
  elements: dict
  sample: [{"partition": "public.events_2026_01", "index": "events_kind_idx_events_2026_01", "parent_index": "events_kind_idx",
            "action": "created", "size_bytes": 16384}]
"""

import os
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.safeindex.build.batch import Batch, diff, failure, totals
from ansible.module_utils.safeindex.build.indexer import BuildOptions, IndexFailed, IndexResult, ensure_absent
from ansible.module_utils.safeindex.build.pacing import PACING_ARGUMENT_SPEC, Pacer, pacing_options
from ansible.module_utils.safeindex.build.progress import PROGRESS_ARGUMENT_SPEC, announce
from ansible.module_utils.safeindex.core.connection import connection_params
from ansible.module_utils.safeindex.core.errors import DatabaseUnavailable, SafeIndexError
from ansible.module_utils.safeindex.core.module import argument_spec, connect, connected, fail
from ansible.module_utils.safeindex.core.run_options import check_run_options, run_options
from ansible.module_utils.safeindex.run import lock as runlock
from ansible.module_utils.safeindex.run.interruption import DROPS_PLANNED
from ansible.module_utils.safeindex.run.record import RunRecord, record_phase_result, recorder
from ansible.module_utils.safeindex.run.replica_lag import REPLICA_ARGUMENT_SPEC, read_replica_lags
from ansible.module_utils.safeindex.spec.parse import index_reference, parse_index

INDEX_KEYS = ("name", "table", "schema", "columns", "unique", "where", "method", "include", "nulls_distinct")
PHASE = "indexes"  # the run record's name of the index phase (report timeline, interruption message)

ARGUMENT_SPEC = argument_spec(
    name=dict(type="str"),
    indexes=dict(type="list", elements="dict", options=dict(
        name=dict(type="str", required=True),
        table=dict(type="str", required=True),
        schema=dict(type="str"),
        columns=dict(type="list", elements="raw"),
        unique=dict(type="bool", default=False),
        where=dict(type="str"),
        method=dict(type="str", default="btree"),
        include=dict(type="list", elements="str"),
        nulls_distinct=dict(type="bool", default=True),
    )),
    table=dict(type="str"),
    schema=dict(type="str"),
    columns=dict(type="list", elements="raw"),
    unique=dict(type="bool", default=False),
    where=dict(type="str"),
    method=dict(type="str", default="btree"),
    include=dict(type="list", elements="str"),
    nulls_distinct=dict(type="bool", default=True),
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
    **REPLICA_ARGUMENT_SPEC,
    **PACING_ARGUMENT_SPEC,
)


def build_options(params, check_mode=False):
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
        approximate_plan=check_mode,  # a plan on read-only credentials or a hot standby: said, not failed
    )


def parsed_entries(entries, engine):
    """[(name, IndexSpec or the SpecError of an entry that does not parse)], in order."""
    parsed = []
    for entry in entries:
        try:
            parsed.append((entry.get("name"), parse_index({k: v for k, v in entry.items() if v is not None}, engine)))
        except SafeIndexError as exc:
            parsed.append((entry.get("name"), exc))
    return parsed


def run_batch(module, entries, options, lines=True):
    """The indexes built in order in one call; returns (engine name, BatchOutcome). Each index's result goes to the run
    record as it ends and, with `lines`, a line as each build starts and each index ends to the progress callback (one
    index alone has its task's own result line for that)."""
    params = module.params
    try:
        engine = connection_params(params).engine
        parsed = parsed_entries(entries, engine)
    except SafeIndexError as exc:  # connection settings that cannot work: every index fails with their message
        engine, parsed = None, [(entry.get("name"), exc) for entry in entries]
    record = recorder(params["run_dir"], module.check_mode)

    def report(entry):
        entry["engine"] = engine
        for step in entry.get("skipped_steps") or []:
            module.warn(step)
        if entry.get("definition_check") == "approximate":
            module.warn("%s: planned without the server's exact definition check, which needs a write this session may not"
                        " make: %s. An index of that name or an equal one is compared with the spec's own definition"
                        % (entry["name"], entry.get("definition_check_reason") or "?"))
        record_phase_result(params["run_dir"], "index", entry, module.check_mode)

    holder_file = os.path.join(params["run_dir"], runlock.RUN_LOCK_FILE) if params["run_dir"] else None
    pacer = replica_pacer(module, record, runlock.run_is_over(holder_file))
    batch = Batch(lambda: connect(module, "db_index"), options, module.check_mode, record, report,
                  announce=lambda name, text: announce(options.progress_file if lines else None, name, "index", text),
                  run_is_over=runlock.run_is_over(holder_file), pacer=pacer)
    return engine, batch.run(parsed), pacer


def replica_pacer(module, record, run_is_over):
    """The pause between builds and the wait for the replicas (build/pacing.py); its lines shown also for one index."""
    params = module.params

    def read_lags(dialect):
        if dialect is None:
            raise DatabaseUnavailable("no connection to the primary")
        return read_replica_lags(dialect, params, params["replicas"])

    return Pacer(pacing_options(params), read_lags, record=record, run_is_over=run_is_over,
                 line=lambda name, text: announce(params["progress_file"], name, "index", text))


def pacing_result(outcome, pacer) -> dict:
    """The run's pacing in db_index's result: the waits, the longest, the pauses, and the indexes not built."""
    return dict(pacer.summary(), not_built=[{"name": r["name"], "reason": r["reason"]} for r in outcome.not_built])


def phase_event(module, event):
    """The index phase's start or end in the run record, as run_record writes it (the report's timeline reads it)."""
    if module.check_mode or not module.params["run_dir"]:
        return
    RunRecord(module.params["run_dir"]).append(event, run_id=module.params["run_id"], phase=PHASE, monotonic=time.monotonic())


def main_batch(module, options):
    started = time.monotonic()
    phase_event(module, "phase_start")
    engine, outcome, pacer = run_batch(module, module.params["indexes"], options)
    result = dict(changed=outcome.changed, results=outcome.results, failed_indexes=[r["name"] for r in outcome.failed],
                  engine=engine, **pacing_result(outcome, pacer), **totals(outcome.results, started))
    for wait in result["replica_waits"]:
        if wait["outcome"] == "continued":
            module.warn("%s was built although the replicas were still behind after %s s (replica_wait_action=continue): %s"
                        % (wait["index"], wait["waited_seconds"], "; ".join(wait["last_problems"])))
    if module._diff and outcome.diffs:
        result["diff"] = outcome.diffs
    if outcome.interrupted:
        # No phase end: the run lock's holder records the interruption and names the phase it cut short.
        module.fail_json(msg=outcome.message(), **result)
    phase_event(module, "phase_end")
    if outcome.failed or outcome.not_built:
        module.fail_json(msg=outcome.message(), **result)
    module.exit_json(**result)


def main_single(module, options):
    """One present index: a batch of one, returned as its entry alone (the return of db_index before batches)."""
    entry = {key: module.params[key] for key in INDEX_KEYS}
    engine, outcome, _pacer = run_batch(module, [entry], options, lines=False)
    if outcome.results:
        result = dict(outcome.results[0])
        if result.get("action") == "not_built":
            module.fail_json(**dict(result, engine=engine, msg="%s: %s" % (entry["name"], result["reason"])))
    else:  # interrupted before the index was reached
        result = failure(IndexResult(name=entry["name"]), SafeIndexError(outcome.message()))
    result["engine"] = engine
    if module._diff and outcome.diffs:
        result["diff"] = outcome.diffs[0]
    if result.get("failed") or outcome.interrupted:
        result.pop("failed", None)
        module.fail_json(**dict(result, msg=result.get("msg") or outcome.message()))
    module.exit_json(**result)


def main_absent(module, options):
    params = module.params
    result = dict(name=params["name"], action=None, sql=[], attempts=0, duration_seconds=0.0, skipped_steps=[])
    failed = dict(result, action="failed")

    def record_failure(exc, known=None):
        record_phase_result(params["run_dir"], "index", dict(known or failed, failed=True, msg=str(exc)), module.check_mode)

    with connected(module, "db_index", failed, on_failure=record_failure) as dialect:
        engine = dialect.engine
        record = recorder(params["run_dir"], module.check_mode)
        try:
            spec = index_reference(params["name"], dialect.engine, params["table"], params["schema"])
            outcome = ensure_absent(dialect, spec, options, module.check_mode, record)
        except IndexFailed as exc:
            result.update(exc.result.as_dict())
            if module._diff:
                result["diff"] = diff(result)
            record_failure(exc, result)
            fail(module, exc, **result)
    result.update(outcome.as_dict())
    result["engine"] = engine
    if module._diff and outcome.changed:
        result["diff"] = diff(result)
    record_phase_result(params["run_dir"], "index", result, module.check_mode)
    module.exit_json(**result)


def drop_one(module, dialect, entry, options, record) -> dict:
    """One index of the list dropped online: its result as a single state=absent call returns it, failed or not."""
    try:
        spec = index_reference(entry["name"], dialect.engine, entry["table"], entry["schema"])
        item = ensure_absent(dialect, spec, options, module.check_mode, record).as_dict()
    except IndexFailed as exc:
        item = failure(exc.result, exc)
    except SafeIndexError as exc:
        item = failure(IndexResult(name=entry["name"]), exc)
    item["engine"] = dialect.engine
    if module._diff and item.get("changed"):
        item["diff"] = diff(item)
    record_phase_result(module.params["run_dir"], "index", item, module.check_mode)
    return item


def main_absent_batch(module, options):
    """The listed indexes dropped in order over one connection (a rollback's drops), each recorded as it ends."""
    params = module.params
    started = time.monotonic()
    result = dict(changed=False, results=[], failed_indexes=[], attempts=0, duration_seconds=0.0)
    missing = [entry.get("name") or "?" for entry in params["indexes"] if not entry.get("table")]
    if missing:
        module.fail_json(msg="state=absent needs each index's table: %s" % ", ".join(missing), **result)
    with connected(module, "db_index", result) as dialect:
        record = recorder(params["run_dir"], module.check_mode)
        # What the list will drop, before the first drop: a rollback cut short says what it had dropped and what not.
        record(DROPS_PLANNED, names=[entry["name"] for entry in params["indexes"]])
        for entry in params["indexes"]:
            result["results"].append(drop_one(module, dialect, entry, options, record))
        result["engine"] = dialect.engine
    failed = [item for item in result["results"] if item.get("failed")]
    result["changed"] = any(item.get("changed") for item in result["results"])
    result.update(totals(result["results"], started))
    result["failed_indexes"] = [item["name"] for item in failed]
    if module._diff:
        result["diff"] = [item.pop("diff") for item in result["results"] if "diff" in item]
    if failed:
        causes = [item["msg"] if item["msg"].startswith(item["name"]) else "%s: %s" % (item["name"], item["msg"]) for item in failed]
        module.fail_json(msg="%d of %d drops failed: %s" % (len(failed), len(result["results"]), "; ".join(causes)), **result)
    module.exit_json(**result)


def main():
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        supports_check_mode=True,
        required_one_of=[("name", "indexes")],
        mutually_exclusive=[("indexes", key) for key in ("name", "table", "schema", "columns", "where", "include")],
        required_if=[("state", "present", ("run_id",))],
    )
    params = module.params
    check_run_options(module)
    missing = [key for key in ("table", "columns") if params[key] is None]
    if params["indexes"] is None and params["state"] == "present" and missing:
        module.fail_json(msg="state is present but all of the following are missing: %s" % ", ".join(missing))
    try:
        options = build_options(params, module.check_mode)
        pacing_options(params)
    except ValueError as exc:
        module.fail_json(msg=str(exc), name=params["name"], action=None, sql=[], attempts=0, duration_seconds=0.0,
                         skipped_steps=[])
    if params["indexes"] is not None and params["state"] == "absent":
        main_absent_batch(module, options)
    elif params["indexes"] is not None:
        main_batch(module, options)
    elif params["state"] == "absent":
        main_absent(module, options)
    else:
        main_single(module, options)


if __name__ == "__main__":
    main()
