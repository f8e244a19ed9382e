"""The build: decide what an index needs, then do it online, with lock retries, and prove it.

Written once for every engine; the engine object (engines/) supplies its own SQL and catalog reading.
"""

import time
from dataclasses import dataclass, field

from ansible.module_utils.safeindex.build import partitioned
from ansible.module_utils.safeindex.build.progress import announce, watch_build
from ansible.module_utils.safeindex.core.errors import (
    DatabaseUnavailable,
    GaveUp,
    LockTimeout,
    NeedsWrite,
    SafeIndexError,
    ServerRefused,
    SpecError,
)
from ansible.module_utils.safeindex.engines.base import describe_session
from ansible.module_utils.safeindex.spec.definition import differences
from ansible.module_utils.safeindex.spec.parse import check_server_can_build

QUERY_CHARS = 60  # of a blocking session's query in a progress line

ACTIONS = ("created", "exists", "rebuilt_invalid", "skipped_equivalent", "dropped", "absent", "failed")


@dataclass
class BuildOptions:
    run_id: str
    lock_timeout: float = 5.0       # seconds one lock wait may last
    lock_retries: int = 5           # attempts after the first
    retry_delay: float = 2.0        # first backoff, doubled each retry
    max_retry_delay: float = 60.0
    statement_timeout: float = 0.0  # 0: the build may take as long as it needs
    maintenance_work_mem: str = None
    parallel_workers: int = None
    on_equivalent: str = "skip"     # skip | create
    online: bool = True             # False only with an explicit opt-in: blocks writes for the build
    progress_file: str = None       # where a long build's progress goes while it runs (progress.py)
    # A plan (check mode) on a session that may not write: compare with the spec's own definition when the server's exact
    # check (a build on a temporary copy of the table) needs a write, and say so. Off for preflight, which must refuse.
    approximate_plan: bool = False

    def lock_budget_seconds(self) -> float:
        """The longest all attempts can wait on locks before giving up (not counting the build)."""
        delays = sum(min(self.retry_delay * 2 ** n, self.max_retry_delay) for n in range(self.lock_retries))
        return (self.lock_retries + 1) * self.lock_timeout + delays


@dataclass
class IndexResult:
    name: str
    action: str = None
    changed: bool = False
    sql: list = field(default_factory=list)
    definition: str = None           # the wanted definition as SQL
    existing_definition: str = None  # what the catalog held before, as SQL
    equivalent_to: str = None
    attempts: int = 0
    duration_seconds: float = 0.0
    size_bytes: int = None
    blockers: list = field(default_factory=list)
    skipped_steps: list = field(default_factory=list)
    partitions: list = None          # a partitioned table's: each partition's index and what it needed (build/partitioned.py)
    definition_check: str = None     # "approximate" when a read-only plan could not have the server check the definition
    definition_check_reason: str = None  # why: the server's refusal of the temporary copy

    def as_dict(self) -> dict:
        data = dict(self.__dict__)
        for key in ("partitions", "definition_check", "definition_check_reason"):
            if data[key] is None:
                del data[key]
        return data


@dataclass
class Plan:
    action: str                      # create | exists | rebuild_invalid | skipped_equivalent | conflict
    equivalent_to: str = None
    differences: list = field(default_factory=list)


def plan_present(wanted, existing, table_indexes, on_equivalent) -> Plan:
    """What a present index needs, from the catalog alone (no side effects)."""
    if existing is not None:
        if not existing.valid:
            return Plan("rebuild_invalid")
        found = differences(existing.definition, wanted)
        return Plan("conflict", differences=found) if found else Plan("exists")
    if on_equivalent == "skip":
        for other in table_indexes:
            if other.valid and not differences(other.definition, wanted):
                return Plan("skipped_equivalent", equivalent_to=other.name)
    return Plan("create")


class IndexFailed(SafeIndexError):
    """An index could not be brought to its state; carries the result so far."""

    def __init__(self, message, result, lost_connection=False):
        super().__init__(message)
        result.action = "failed"
        self.result = result
        self.lost_connection = lost_connection  # the session is gone: a batch opens a new one for the next index


class LiveCatalog:
    """The catalog as it is right now: every question is a query (one index on its own, and just before a build)."""

    def __init__(self, engine):
        self.engine = engine

    def columns(self, schema, table):
        return self.engine.table_columns(schema, table)

    def index_named(self, spec, schema):
        return self.engine.find_index(spec, schema)

    def table_indexes(self, schema, table):
        return self.engine.table_indexes(schema, table)


class SnapshotCatalog:
    """The catalog as one read before a batch found it (engines' catalog_snapshot), one snapshot per schema."""

    def __init__(self, snapshots):
        self.snapshots = snapshots  # {schema: CatalogSnapshot}

    def columns(self, schema, table):
        return self.snapshots[schema].columns.get(table)

    def index_named(self, spec, schema):
        snapshot = self.snapshots[schema]
        if spec.name in snapshot.problems:
            raise SpecError(snapshot.problems[spec.name])
        return snapshot.named.get(spec.name)

    def table_indexes(self, schema, table):
        return self.snapshots[schema].indexes.get(table) or []


def resolve(engine, spec, catalog=None) -> tuple:
    """The schema and the canonical wanted definition; SpecError for unknown tables or columns."""
    schema = checked_schema(engine, spec, catalog)
    return schema, engine.canonical_definition(spec, schema)


def resolve_for_plan(engine, spec, catalog=None, approximate=False) -> tuple:
    """As resolve(), and the note of a plan made without the server's exact check: (schema, wanted, note or None).
    With `approximate`, a check that needs a write this session may not make (engines raise NeedsWrite: no TEMPORARY
    privilege, a read-only transaction, a hot standby) falls back to the spec's own definition instead of failing."""
    schema = checked_schema(engine, spec, catalog)
    try:
        return schema, engine.canonical_definition(spec, schema), None
    except NeedsWrite as exc:
        if not approximate:
            raise
        return schema, spec.definition(engine.features, schema), str(exc)


def checked_schema(engine, spec, catalog=None) -> str:
    """The spec's schema, once its table and named columns are found and the server can build such an index."""
    schema = spec.schema or engine.default_schema()
    columns = (catalog or LiveCatalog(engine)).columns(schema, spec.table)
    target = "%s.%s" % (schema, spec.table) if schema else spec.table
    if columns is None:
        raise SpecError("%s: table %s does not exist" % (spec.name, target))
    # Named columns must be the table's; an expression key is the server's to check (the canonical build below).
    wanted_columns = [c.name for c in spec.columns if c.name is not None] + list(spec.include)
    missing = [c for c in wanted_columns if c not in columns]
    if missing:
        raise SpecError("%s: table %s has no column %s" % (spec.name, target, ", ".join(missing)))
    check_server_can_build(spec, engine.features)  # this server's own answers: MariaDB has no expression keys
    return schema


@dataclass
class Decision:
    """What one present index needs, decided from the catalog before anything runs."""

    spec: object
    schema: str
    wanted: object                   # the canonical IndexDefinition
    plan: Plan
    result: IndexResult
    started: float
    parts: object = None             # a partitioned table built part by part: build/partitioned.TreePlan

    @property
    def builds(self) -> bool:
        return self.plan.action in ("create", "rebuild_invalid")


def decide(engine, spec, options, catalog=None, started=None) -> Decision:
    """Plan one present index from the catalog (live, or a batch's snapshot); IndexFailed for a conflict or a build in
    progress, SpecError for a spec the database cannot take."""
    catalog = catalog or LiveCatalog(engine)
    started = time.monotonic() if started is None else started
    result = IndexResult(name=spec.name)
    schema, wanted, note = resolve_for_plan(engine, spec, catalog, options.approximate_plan)
    if note:
        result.definition_check, result.definition_check_reason = "approximate", note
    result.definition = engine.render_definition(spec.name, wanted)
    return _decide_with(engine, spec, options, catalog, schema, wanted, result, started)


def redecide(engine, decision, options) -> Decision:
    """The same index decided again from the live catalog, just before its build: the snapshot may be minutes old, and an
    index built earlier in the batch may now be this one's equal."""
    fresh = IndexResult(name=decision.spec.name, definition=decision.result.definition,
                        definition_check=decision.result.definition_check, definition_check_reason=decision.result.definition_check_reason)
    return _decide_with(engine, decision.spec, options, LiveCatalog(engine), decision.schema, decision.wanted, fresh,
                        decision.started)


def _decide_with(engine, spec, options, catalog, schema, wanted, result, started) -> Decision:
    existing = catalog.index_named(spec, schema)
    if existing is not None:
        result.existing_definition = engine.render_definition(existing.name, existing.definition)
        if not existing.valid:
            builder = engine.build_in_progress(existing, schema)
            if builder:
                raise IndexFailed(
                    "%s is being built right now by session %s; wait for that build or cancel it, then re-run" % (spec.name, builder),
                    result,
                )
    plan = plan_present(wanted, existing, catalog.table_indexes(schema, spec.table), options.on_equivalent)
    # A partitioned table is built part by part (build/partitioned.py); an INVALID parent of the spec's definition is a run
    # stopped midway: finished, not rebuilt.
    builds = plan.action in ("create", "rebuild_invalid")
    problem = engine.partition_build_problem(schema, spec.table, wanted) if builds else None
    if problem:  # what the server would refuse on this partitioned table, found before anything runs
        raise SpecError("%s: %s" % (spec.name, problem))
    tree = engine.partition_tree(schema, spec.table) if builds else None
    parts = None
    if tree is not None:
        parts = partitioned.plan_tree(engine, spec, schema, wanted, existing, tree)
        if parts.root_exists:
            plan = Plan("create")
    if plan.action == "conflict":
        raise IndexFailed(
            "%s exists with another definition; refusing to touch it.\n  existing: %s\n  spec:     %s\n  differs in: %s%s"
            % (spec.name, result.existing_definition, result.definition, "; ".join(plan.differences),
               "\n  (compared with the spec's own text, not checked by the server: %s)" % result.definition_check_reason
               if result.definition_check_reason else ""),
            result,
        )
    if plan.action in ("exists", "skipped_equivalent"):
        result.action = plan.action
        result.equivalent_to = plan.equivalent_to
        result.size_bytes = existing.size_bytes if existing else None
        result.duration_seconds = round(time.monotonic() - started, 3)
    else:
        result.action = "created" if plan.action == "create" else "rebuilt_invalid"
        result.changed = True
    if parts is not None:
        result.partitions = parts.rows()
    return Decision(spec=spec, schema=schema, wanted=wanted, plan=plan, result=result, started=started, parts=parts)


def analyze_statements(engine, decision, options) -> list:
    """The post-build statements that a batch runs once per table, after its last build (ANALYZE), not per index."""
    return [s for s in engine.post_build_statements(decision.spec.name, decision.wanted, options.run_id) if s.purpose == "analyze"]


def carry_out(engine, decision, options, check_mode=False, record=lambda event, **data: None, session=True,
              deferred=("analyze",)) -> IndexResult:
    """Build a decided index: the exact SQL in check mode, else drop an INVALID leftover, build with lock retries, prove
    it valid, mark it. `session`: run the session settings first (once per connection). Post-build statements whose
    purpose is in `deferred` are left to the caller (a batch analyzes each table once). Raises IndexFailed."""
    spec, schema, wanted, result = decision.spec, decision.schema, decision.wanted, decision.result
    if not decision.builds:
        return result
    if decision.parts is not None:
        return partitioned.carry_out(engine, decision, options, check_mode, record, session, deferred)
    create = engine.create_statement(spec.name, wanted, options.run_id, online=options.online, timeout=options.statement_timeout)
    drop = engine.drop_statement(spec.name, wanted, online=options.online)
    settings = engine.session_statements(options) if session else []
    post_build = [s for s in engine.post_build_statements(spec.name, wanted, options.run_id) if s.purpose not in deferred]
    # In the order they are sent: the session settings (the short lock timeout) come before the leftover's drop.
    planned = settings + ([drop] if decision.plan.action == "rebuild_invalid" else []) + [create] + post_build
    result.sql = [text for s in planned for text in engine.render(s)]
    if check_mode:
        return result

    # From here on, `sql` is what the session sent, as the cursor sent it (retries included), and `changed` says only
    # what reached the server: a leftover that existed before was dropped, or the index was built.
    sent = engine.sent_statements()
    first_sent = len(sent)
    result.changed = False
    state = {"leftover_before": decision.plan.action == "rebuild_invalid"}
    try:
        for statement in settings:
            engine.execute(statement)
        record("index_build_started", name=spec.name, table=spec.table, action=result.action)

        def drop_leftover():
            """A failed concurrent build leaves an INVALID index behind: remove it before trying again."""
            leftover = engine.find_index(spec, schema)
            if leftover is not None and not leftover.valid:
                engine.execute(drop)
                if state.pop("leftover_before", False):
                    result.changed = True

        def drop_at_once():
            """Right after a failed attempt: the INVALID index it left is maintained by every write during the backoff."""
            try:
                drop_leftover()
            except (LockTimeout, ServerRefused) as exc:
                return "the INVALID index %s it left could not be dropped now (%s): left for the next attempt" % (spec.name, exc)
            return None

        def build():
            drop_leftover()
            with watch_build(engine, spec.name, options.progress_file):
                engine.execute(create)

        try:
            with_lock_retries(engine, schema, spec.table, options, build, result, after_failure=drop_at_once)
        except (GaveUp, ServerRefused, LockTimeout) as exc:
            leftover = _clean_up_after_failure(engine, spec, schema, drop_leftover)
            if leftover and decision.plan.action != "rebuild_invalid":
                result.changed = True  # this run's failed build left an INVALID index that was not there before
            message = str(exc) + (("\n" + leftover) if leftover else "")
            raise IndexFailed("%s: %s" % (spec.name, message), result) from None
        except DatabaseUnavailable as exc:
            # Nothing can be cleaned up over a lost connection: say what may be left and what heals it.
            raise IndexFailed("%s: %s. A build cut off midway may leave an INVALID index %s behind: the next run drops and"
                              " rebuilds it" % (spec.name, exc, spec.name), result, lost_connection=True) from None

        built = engine.find_index(spec, schema)
        if built is None or not built.valid:
            leftover = _clean_up_after_failure(engine, spec, schema, drop_leftover)
            raise IndexFailed("%s: the build finished but the index is not valid. %s" % (spec.name, leftover or ""), result)
        result.changed = True
        for statement in post_build:
            run_after_build(engine, schema, spec.table, options, statement, result)
    finally:
        result.sql = list(sent[first_sent:])
        result.duration_seconds = round(time.monotonic() - decision.started, 3)
    result.size_bytes = built.size_bytes
    record("index", **result.as_dict())
    return result


def run_after_build(engine, schema, table, options, statement, result) -> None:
    """A step after a build (comment, analyze), with lock retries; a failure is noted, never undoes the built index."""
    try:
        with_lock_retries(engine, schema, table, options, lambda: engine.execute(statement), result, check_stalls=False,
                          count=False)
    except SafeIndexError as exc:
        result.skipped_steps.append("%s after the build did not run: %s" % (statement.purpose, exc))


def ensure_present(engine, spec, options, check_mode=False, record=lambda event, **data: None) -> IndexResult:
    """Bring one index to the spec's definition. Returns IndexResult; raises IndexFailed or SpecError."""
    decision = decide(engine, spec, options)
    result = carry_out(engine, decision, options, check_mode, record, deferred=())
    if decision.builds and not check_mode:
        result.duration_seconds = round(time.monotonic() - decision.started, 3)
    return result


def ensure_absent(engine, spec, options, check_mode=False, record=lambda event, **data: None) -> IndexResult:
    """Drop the index named by the spec, online. Absent already: nothing to do."""
    started = time.monotonic()
    result = IndexResult(name=spec.name)
    schema = spec.schema or engine.default_schema()
    existing = engine.find_index(spec, schema)
    if existing is None:
        result.action = "absent"
        return result
    result.existing_definition = engine.render_definition(existing.name, existing.definition)
    if existing.constraint:
        raise IndexFailed("%s backs the constraint %s; drop the constraint instead" % (spec.name, existing.constraint), result)
    # A partitioned index cannot be dropped concurrently: a plain DROP, under the short lock timeout with retries.
    partitioned_table = engine.partition_tree(schema, existing.definition.table) is not None
    drop = engine.drop_statement(existing.name, existing.definition, online=options.online and not partitioned_table)
    kept = partitioned.kept_partition_indexes(engine, schema, existing.name) if partitioned_table else []
    rebuilds = partitioned.rebuild_statements(engine, kept, options)
    session = engine.session_statements(options)
    result.sql = [text for s in session + [drop] + rebuilds for text in engine.render(s)]
    result.action = "dropped"
    result.changed = True
    if check_mode:
        return result
    sent = engine.sent_statements()
    first_sent = len(sent)
    result.changed = False  # until the DROP has run
    try:
        for statement in session:
            engine.execute(statement)

        def drop_it():
            engine.execute(drop)
            result.changed = True

        try:
            with_lock_retries(engine, schema, existing.definition.table, options, drop_it, result, check_stalls=False,
                              for_drop=True)
        except (GaveUp, ServerRefused, LockTimeout) as exc:
            raise IndexFailed("%s: %s" % (spec.name, exc), result) from None
        if kept:
            partitioned.rebuild_kept(engine, kept, rebuilds, options, result)
    finally:
        result.sql = list(sent[first_sent:])
        result.duration_seconds = round(time.monotonic() - started, 3)
    record("index", **result.as_dict())
    return result


def with_lock_retries(engine, schema, table, options, step, result, check_stalls=True, for_drop=False, count=True,
                      after_failure=None) -> int:
    """Run `step` under the short lock timeout; on a timeout back off and retry; give up naming the blockers. Returns the
    attempts made; with `count`, each attempt is also added to `result.attempts` as it starts (so a failure reports them).

    Before each attempt of a build, sessions that would certainly stall it (transactions older
    than the lock timeout that hold a conflicting lock or an old snapshot) count as a failed
    attempt: starting a concurrent build against them would only leave an INVALID index.
    `after_failure()` runs after each failed attempt (a build's leftover dropped at once) and returns a note or None;
    each failed attempt is a line in the progress file, naming the sessions in the way.
    """
    attempts = options.lock_retries + 1
    blockers = []
    for attempt in range(1, attempts + 1):
        if count:
            result.attempts += 1
        stalling = engine.sessions_in_the_way(schema, table, options.lock_timeout) if check_stalls else []
        if stalling:
            blockers, how = stalling, "not started"
        else:
            try:
                step()
                return attempt
            except LockTimeout as exc:
                blockers = (
                    engine.sessions_in_the_way(schema, table, options.lock_timeout, for_drop)
                    or engine.sessions_in_the_way(schema, table, 0, for_drop)
                )
                how = "failed (%s)" % exc
        note = after_failure() if after_failure else None
        delay = min(options.retry_delay * 2 ** (attempt - 1), options.max_retry_delay) if attempt < attempts else None
        announce(options.progress_file, result.name, "index", attempt_line(attempt, attempts, how, blockers, note, delay))
        if delay is not None:
            time.sleep(delay)
    result.blockers = blockers
    names = "\n".join("    " + describe_session(b) for b in blockers) or "    (none visible any more)"
    raise GaveUp(
        "gave up after %d attempts with lock_timeout %ss: the table %s is held by\n%s"
        % (attempts, options.lock_timeout, table, names),
        blockers=blockers,
    )


def attempt_line(attempt, attempts, how, blockers, note=None, delay=None) -> str:
    """One failed attempt for the progress line: `attempt 1 of 3 failed (...): in the way pid 42 (...); retrying in 2 s`."""
    sessions = "; ".join(describe_session(dict(b, query=(b.get("query") or "").replace("\n", " ")[:QUERY_CHARS]))
                         for b in blockers) or "no session visible any more"
    text = "attempt %d of %d %s: in the way %s" % (attempt, attempts, how, sessions)
    if note:
        text += "; " + note
    return text + ("; retrying in %s s" % ("%g" % round(delay, 1)) if delay is not None else "; giving up")


def _clean_up_after_failure(engine, spec, schema, drop_leftover):
    """Try once more to remove an INVALID leftover; say plainly if one remains."""
    try:
        drop_leftover()
        return None
    except SafeIndexError:
        pass
    leftover = engine.find_index(spec, schema)
    if leftover is not None and not leftover.valid:
        return (
            "An INVALID index %s remains: a session still holds the table. The next run drops and rebuilds it;"
            " or, once the sessions above end: DROP INDEX CONCURRENTLY %s" % (spec.name, spec.name)
        )
    return None
