"""Which indexes a rollback of one run drops: those the run built (its record) that still carry its marker.

Two sources, as safety rule 5 says: the run's record.jsonl names what the run built; the ownership
marker in each index comment proves that the index in the catalog is still the one that run built.
Only an index with this run's marker is dropped; without the record the markers alone decide.
"""

import json
import os

from ansible.module_utils.safeindex.run.record import RunRecord
from ansible.module_utils.safeindex.spec.parse import index_reference

BUILT_ACTIONS = ("created", "rebuilt_invalid")
PRE_EXISTING_ACTIONS = ("exists", "skipped_equivalent")


def run_artifacts(run_dir) -> tuple:
    """(record events, the report's index results) of a migrate run; empty where its folder is gone."""
    events = RunRecord(run_dir).events() if run_dir else []
    try:
        with open(os.path.join(run_dir, "report.json")) as handle:
            report_indexes = json.load(handle).get("indexes") or []
    except (OSError, ValueError, TypeError, AttributeError):
        report_indexes = []
    return events, report_indexes


def is_migrate_run(events) -> bool:
    return any(e.get("event") == "start" for e in events)


def marked_runs(engine) -> dict:
    """{run_id: [CatalogIndex]} of every run whose marker is in this database."""
    runs = {}
    for index in engine.marked_indexes():
        runs.setdefault(index.owner_run_id, []).append(index)
    return runs


def plan_rollback(engine, run_id, events, report_indexes, owned) -> dict:
    """{to_drop, kept, already_gone, source} for dropping what run `run_id` built; reads only."""
    built = _ordered(e["name"] for e in events if e.get("event") == "index" and e.get("action") in BUILT_ACTIONS)
    started = _ordered(e["name"] for e in events if e.get("event") == "index_build_started")
    tables = {e["name"]: e.get("table") for e in events if e.get("event") == "index_build_started" and e.get("table")}
    # A partition's index attached to a partitioned index goes with it (and cannot be dropped on its own).
    to_drop = [_target(engine, index, "carries this run's marker") for index in owned
               if not engine.index_parent(index.definition.schema, index.name)]
    owned_names = {index.name for index in owned}
    kept, already_gone = [], []
    for name in built:
        if name in owned_names:
            continue
        existing = _find(engine, name, tables.get(name))
        if existing is None:
            already_gone.append(name)
        elif existing.owner_run_id:
            kept.append({"name": name, "why": "rebuilt since by run %s (its marker is on the index)" % existing.owner_run_id})
        else:
            kept.append({"name": name, "why": "the index of this name carries no marker of this run (made by hand since?)"})
    for name in started:
        if name in owned_names or name in built:
            continue
        # A build of this run that failed half way may leave an INVALID index that serves nothing.
        existing = _find(engine, name, tables.get(name))
        if existing is not None and not existing.valid and existing.owner_run_id in (None, run_id):
            to_drop.append(_target(engine, existing, "INVALID leftover of this run's failed build"))
    for entry in report_indexes:
        if entry.get("action") in PRE_EXISTING_ACTIONS and entry.get("name") not in owned_names:
            why = "existed before the run"
            if entry.get("equivalent_to"):
                why += " (as %s)" % entry["equivalent_to"]
            kept.append({"name": entry["name"], "why": why})
    return {
        "to_drop": to_drop,
        "kept": kept,
        "already_gone": already_gone,
        "source": "record" if is_migrate_run(events) else "markers",
    }


def summary_line(mode, run_id, host, plan, dropped, check_mode=False) -> str:
    verb = "would drop" if check_mode else "dropped"
    pre = sum(1 for k in plan["kept"] if k["why"].startswith("existed before"))
    other = len(plan["kept"]) - pre
    kept = "kept %d (existed before the run)" % pre + (", kept %d (not this run's any more)" % other if other else "")
    return "Rollback (%s) of run %s on %s: %s %d, %s, already gone %d" % (
        mode, run_id, host, verb, dropped, kept, len(plan["already_gone"]))


def _find(engine, name, table):
    if engine.features.index_names_per_table and not table:
        return None  # MySQL names an index within its table; without the table there is nothing to look up
    return engine.find_index(index_reference(name, engine.features, table), engine.default_schema())


def _target(engine, index, why):
    # MySQL's schema is the connection's database: db_index takes no schema there.
    schema = index.definition.schema if engine.features.has_schemas else None
    return {"name": index.name, "table": index.definition.table, "schema": schema, "why": why}


def _ordered(names):
    return list(dict.fromkeys(names))
