"""An index on a partitioned table, built part by part where the engine cannot build it online in one statement
(PostgreSQL: CREATE INDEX CONCURRENTLY refuses a partitioned table, a plain CREATE INDEX blocks writes on every partition
for the whole build).

The steps: the parent's own index `ON ONLY` (catalog only, under the short lock timeout; INVALID until complete), then per
partition, parents before children, the partition's index (CONCURRENTLY on a leaf, ON ONLY again on a partition that is
partitioned itself), each attached to its parent's with ALTER INDEX ... ATTACH PARTITION. The server marks a partitioned
index valid once every partition has a valid index attached.

Idempotent by definition at every level: an index already attached is left alone, an equal index of any name already on a
partition is attached instead of built, an INVALID leftover under the derived name is dropped and built again. A run that
stopped midway leaves the parent INVALID: the next run finds what is attached and builds only the rest. A partition made
later with CREATE TABLE ... PARTITION OF or ATTACH PARTITION gets its index from the server itself (with a lock on that
partition), as soon as the parent's index exists, valid or not.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field, replace

from ansible.module_utils.safeindex.build.progress import announce, human_bytes, watch_build
from ansible.module_utils.safeindex.core.errors import (
    DatabaseUnavailable,
    GaveUp,
    LockTimeout,
    SafeIndexError,
    ServerRefused,
    SpecError,
)
from ansible.module_utils.safeindex.spec.definition import differences

HASH_CHARS = 8


def partition_index_name(index: str, partition: str, limit: int = 63) -> str:
    """The name of `index`'s own index on `partition`: `<index>_<partition>`, or, when that exceeds `limit` bytes (UTF-8),
    its longest prefix that fits with `_` and a short stable hash of the full name (so two long names stay apart)."""
    full = "%s_%s" % (index, partition)
    if len(full.encode("utf-8")) <= limit:
        return full
    digest = hashlib.sha256(full.encode("utf-8")).hexdigest()[:HASH_CHARS]
    prefix = full.encode("utf-8")[: limit - HASH_CHARS - 1].decode("utf-8", "ignore")  # never half a character
    return "%s_%s" % (prefix, digest)


@dataclass
class PartStep:
    partition: object      # engines.interface.partitions.Partition
    index: str             # the index on the partition: found, or the derived name of the one to build
    parent_index: str      # the partitioned index it is (or will be) attached to
    action: str            # exists (attached already) | attach (an equal index there) | create | rebuild_invalid
    size_bytes: int = None

    @property
    def label(self) -> str:
        return "%s.%s" % (self.partition.schema, self.partition.name)


@dataclass
class TreePlan:
    root_exists: bool                 # the parent's own index is there (INVALID: a run stopped midway)
    drop_root: bool = False           # an INVALID parent index of another definition: dropped, then built again
    steps: list = field(default_factory=list)

    def rows(self) -> list:
        """Per partition, what a user sees: partition, index, action (as the result and the report show it)."""
        words = {"exists": "exists", "attach": "attached", "create": "created", "rebuild_invalid": "rebuilt_invalid"}
        return [dict(partition=s.label, index=s.index, parent_index=s.parent_index, action=words[s.action],
                     size_bytes=s.size_bytes) for s in self.steps]


def plan_tree(engine, spec, schema, wanted, existing, tree) -> TreePlan:
    """What each partition needs, from the catalog (no side effects). `existing`: the parent's index of the spec's name,
    if any (its definition equals the spec's, or it is INVALID); `tree`: engine.partition_tree()."""
    equal_root = existing is not None and not differences(existing.definition, wanted)
    plan = TreePlan(root_exists=equal_root, drop_root=existing is not None and not equal_root)
    names = {(schema, spec.table): spec.name}
    in_place = {(schema, spec.table): equal_root}  # whether that table's index exists now, so children may be attached
    limit = engine.features.max_identifier_length
    for part in tree:
        parent_key = (part.parent_schema, part.parent)
        parent_index = names[parent_key]
        found = engine.partition_indexes(part.schema, part.name)
        own = replace(wanted, schema=part.schema, table=part.name)
        attached = [i for i, parent in found if in_place[parent_key] and parent == parent_index]
        derived = partition_index_name(spec.name, part.name, limit)
        named = next((i for i, _parent in found if i.name == derived), None)
        equal = [i for i, parent in found if parent is None and not i.constraint and (i.valid or not part.leaf)
                 and not differences(i.definition, own)]
        if attached:
            step = PartStep(part, attached[0].name, parent_index, "exists", attached[0].size_bytes)
        elif named is not None and part.leaf and not named.valid:
            step = PartStep(part, derived, parent_index, "rebuild_invalid")
        elif equal:
            step = PartStep(part, equal[0].name, parent_index, "attach", equal[0].size_bytes)
        elif named is not None:
            raise SpecError("%s: partition %s already has an index named %s of another definition (or attached to another"
                            " index); rename or drop it" % (spec.name, step_label(part), derived))
        else:
            step = PartStep(part, derived, parent_index, "create")
        names[(part.schema, part.name)] = step.index
        in_place[(part.schema, part.name)] = step.action in ("exists", "attach")
        plan.steps.append(step)
    return plan


def step_label(part) -> str:
    return "%s.%s" % (part.schema, part.name)


def planned_statements(engine, decision, options, session, deferred) -> list:
    """[(step or None, what, Statement)] in the order they run; `what`: settings | drop_root | root | drop | build | comment
    | attach | post_build."""
    spec, wanted, tree = decision.spec, decision.wanted, decision.parts
    out = [(None, "settings", s) for s in (engine.session_statements(options) if session else [])]
    if tree.drop_root:
        out.append((None, "drop_root", engine.drop_statement(spec.name, wanted, online=False)))
    if not tree.root_exists:
        out.append((None, "root", engine.parent_only_statement(spec.name, wanted)))
    for step in tree.steps:
        own = replace(wanted, schema=step.partition.schema, table=step.partition.name)
        if step.action == "rebuild_invalid":
            out.append((step, "drop", engine.drop_statement(step.index, own, online=options.online)))
        if step.action in ("create", "rebuild_invalid"):
            build = (engine.create_statement(step.index, own, options.run_id, online=options.online, timeout=options.statement_timeout)
                     if step.partition.leaf else engine.parent_only_statement(step.index, own))
            out.append((step, "build", build))
            out.extend((step, "comment", s) for s in engine.post_build_statements(step.index, own, options.run_id)
                       if s.purpose == "comment")
        if step.action != "exists":
            out.append((step, "attach", engine.attach_statement(step.partition.parent_schema, step.parent_index,
                                                                step.partition.schema, step.index)))
    out.extend((None, "post_build", s) for s in engine.post_build_statements(spec.name, wanted, options.run_id)
               if s.purpose not in deferred)
    return out


def carry_out(engine, decision, options, check_mode, record, session, deferred):
    """Build a decided index on a partitioned table step by step; raises IndexFailed (the parent then stays INVALID and
    the next run builds only what is missing)."""
    from ansible.module_utils.safeindex.build.indexer import IndexFailed, run_after_build, with_lock_retries

    spec, schema, result, tree = decision.spec, decision.schema, decision.result, decision.parts
    planned = planned_statements(engine, decision, options, session, deferred)
    result.sql = [text for _step, _what, s in planned for text in engine.render(s)]
    result.partitions = tree.rows()
    if check_mode:
        return result
    record("index_build_started", name=spec.name, table=spec.table, action=result.action, partitions=len(tree.steps))
    step_started, attempts = {}, 0
    current = None
    try:
        for step, what, statement in planned:
            current = step
            if step is not None and id(step) not in step_started:
                step_started[id(step)] = time.monotonic()
                if step.action != "exists":
                    _announce(options, spec, step, "%s on partition %s" % (
                        "attaching the equal index %s" % step.index if step.action == "attach" else "building", step.label))
            if what == "settings":
                engine.execute(statement)
            elif what in ("comment", "post_build"):
                run_after_build(engine, schema, spec.table, options, statement, result)
            elif what == "build" and step.partition.leaf:
                part = step.partition

                def build(statement=statement, part=part, index=step.index):
                    _drop_invalid(engine, part, index, options)
                    with watch_build(engine, "%s on %s" % (spec.name, part.name), options.progress_file):
                        engine.execute(statement)

                attempts += with_lock_retries(engine, part.schema, part.name, options, build, result)
                built = _index_on(engine, part, step.index)
                if built is None or not built.valid:
                    raise ServerRefused("the build of %s finished but the index is not valid" % step.index)
                step.size_bytes = built.size_bytes
            else:
                # DROP INDEX of the parent, ON ONLY, ATTACH, DROP ... CONCURRENTLY: short catalog locks, retried.
                table = (step.partition.schema, step.partition.name) if step is not None else (schema, spec.table)
                attempts += with_lock_retries(engine, table[0], table[1], options, lambda s=statement: engine.execute(s),
                                              result, check_stalls=False, for_drop=what.startswith("drop"))
            if step is not None and what == "attach":
                _finish_step(options, spec, step, step_started, record)
    except (GaveUp, ServerRefused, LockTimeout) as exc:
        result.partitions = tree.rows()
        where = " (partition %s)" % current.label if current is not None else " (the parent's own index, ON ONLY)"
        if current is not None and current.partition.leaf:
            try:
                _drop_invalid(engine, current.partition, current.index, options)
            except SafeIndexError:
                pass
        raise IndexFailed("%s%s: %s. The parent index %s stays INVALID until every partition's index is attached; the next"
                          " run builds only what is missing" % (spec.name, where, exc, spec.name), result) from None
    except DatabaseUnavailable as exc:
        result.partitions = tree.rows()
        raise IndexFailed("%s: %s. The parent index stays INVALID; the next run builds only what is missing (an INVALID"
                          " partition index left behind is dropped and built again)" % (spec.name, exc), result,
                          lost_connection=True) from None
    result.attempts = attempts
    root = engine.find_index(spec, schema)
    if root is None or not root.valid:
        raise IndexFailed("%s: every partition's index is attached but the parent index is not valid" % spec.name, result)
    result.partitions = tree.rows()
    result.size_bytes = sum(s.size_bytes or 0 for s in tree.steps if s.partition.leaf)
    result.duration_seconds = round(time.monotonic() - decision.started, 3)
    record("index", **result.as_dict())
    return result


def _finish_step(options, spec, step, step_started, record) -> None:
    duration = round(time.monotonic() - step_started[id(step)], 3)
    words = {"attach": "attached (an equal index was there)", "create": "created", "rebuild_invalid": "rebuilt from its INVALID leftover"}
    size = human_bytes(step.size_bytes) if step.size_bytes else None
    _announce(options, spec, step, "partition %s: %s %s in %.1f s%s" % (
        step.label, step.index, words[step.action], duration, ", " + size if size else ""))
    record("partition_index", name=spec.name, partition=step.label, index=step.index, parent_index=step.parent_index,
           action=TreePlan(True, steps=[step]).rows()[0]["action"], duration_seconds=duration, size_bytes=step.size_bytes)


def _announce(options, spec, step, text) -> None:
    announce(options.progress_file, spec.name, "index", text)


def _index_on(engine, part, name):
    return next((i for i, _parent in engine.partition_indexes(part.schema, part.name) if i.name == name), None)


def _drop_invalid(engine, part, name, options) -> None:
    """A failed concurrent build leaves an INVALID index on the partition: remove it before building again."""
    leftover = _index_on(engine, part, name)
    if leftover is not None and not leftover.valid:
        engine.execute(engine.drop_statement(name, leftover.definition, online=options.online))


def kept_partition_indexes(engine, schema, name) -> list:
    """The partitions' indexes attached under a partitioned index that no run of this tool made (no marker): an equal
    index a run attached instead of building its own, or one the server made for a partition added later. A DROP of the
    partitioned index takes them with it (PostgreSQL cannot detach an index), so a rollback builds them again after it."""
    kept = []
    for part_schema, table, index, leaf in engine.attached_indexes(schema, name):
        found = _index_on(engine, _Table(part_schema, table), index) if leaf else None
        if found is not None and found.owner_run_id is None:
            kept.append(found)
    return kept


def rebuild_statements(engine, kept, options) -> list:
    return [engine.create_statement(i.name, i.definition, options.run_id, online=options.online) for i in kept]


def rebuild_kept(engine, kept, statements, options, result) -> None:
    """Build again, online, the indexes the drop took with it that were not the run's (kept_partition_indexes)."""
    from ansible.module_utils.safeindex.build.indexer import IndexFailed, with_lock_retries

    result.partitions = []
    for index, statement in zip(kept, statements, strict=True):
        table = index.definition
        try:
            with_lock_retries(engine, table.schema, table.table, options, lambda s=statement: engine.execute(s), result)
        except (GaveUp, ServerRefused, LockTimeout) as exc:
            raise IndexFailed("%s: dropped, but the index %s on partition %s.%s, which existed before the run, could not be"
                              " built again: %s" % (result.name, index.name, table.schema, table.table, exc), result) from None
        result.partitions.append(dict(partition="%s.%s" % (table.schema, table.table), index=index.name,
                                      action="rebuilt_after_drop", size_bytes=index.size_bytes))


@dataclass(frozen=True)
class _Table:
    schema: str
    name: str
