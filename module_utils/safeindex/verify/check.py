"""Prove an index migration worked: each spec index is there, valid and as specified; each probe query's plan
uses its index, and how long the probe takes before and after.

Written once; the engine runs the read-only statements (EXPLAIN, the timed probe, the usage counters).
"""

import statistics
from dataclasses import dataclass

from ansible.module_utils.safeindex.build.indexer import plan_present, resolve
from ansible.module_utils.safeindex.core.errors import ServerRefused, SpecError, StatementTimeout
from ansible.module_utils.safeindex.engines.interface.explain import describe
from ansible.module_utils.safeindex.run.record import record_phase_result
from ansible.module_utils.safeindex.spec.definition import differences

# A table the catalog estimates at no more rows than this is "small": a full scan of it is a few hundred
# 8 kB pages at most and takes about a millisecond, so a planner that prefers it over an index is right,
# not a sign that the index does not fit the query. Above it, a plan that skips the index fails.
DEFAULT_SMALL_TABLE_ROWS = 10000
INDEX_PROBLEMS = ("missing", "invalid", "differs")
PROBE_PROBLEMS = ("not_used", "error")


@dataclass
class VerifyOptions:
    runs: int = 5                     # timed runs of each probe; the median counts
    timeout: float = 30.0             # seconds one probe statement may run; 0 for no limit
    small_table_rows: int = DEFAULT_SMALL_TABLE_ROWS
    on_equivalent: str = "skip"       # as the build had it: an equal index under another name counts
    schema: str = None


def check_index(engine, spec, on_equivalent="skip") -> dict:
    """{name, table, state, detail, equivalent_to}: ok | missing | invalid | differs | equivalent."""
    entry = {"name": spec.name, "table": spec.table, "state": "missing", "detail": "", "equivalent_to": None}
    try:
        schema, wanted = resolve(engine, spec)
    except SpecError as exc:
        entry["detail"] = str(exc)
        return entry
    wanted_sql = engine.render_definition(spec.name, wanted)
    existing = engine.find_index(spec, schema)
    if existing is not None:
        existing_sql = engine.render_definition(existing.name, existing.definition)
        if not existing.valid:
            entry.update(state="invalid", detail="INVALID, the leftover of a failed build; queries do not use it, and the next"
                                                 " run drops and rebuilds it: %s" % existing_sql)
            return entry
        found = differences(existing.definition, wanted)
        if found:
            entry.update(state="differs", detail="exists with another definition. existing: %s; spec: %s; differs in: %s"
                                                 % (existing_sql, wanted_sql, "; ".join(found)))
            return entry
        entry.update(state="ok", detail="valid, as the spec: %s" % existing_sql)
        return entry
    plan = plan_present(wanted, None, engine.table_indexes(schema, spec.table), on_equivalent)
    if plan.action == "skipped_equivalent":
        entry.update(state="equivalent", equivalent_to=plan.equivalent_to,
                     detail="not built: %s is the same index under another name (on_equivalent=skip)" % plan.equivalent_to)
        return entry
    entry["detail"] = "not in the catalog; the spec wants %s" % wanted_sql
    return entry


def run_probe(engine, probe, table, schema, accepted, options, before_ms=None, phase="after") -> dict:
    """One probe: its plan, whether the plan uses one of the accepted index names, and its median time. A ProbeResult."""
    result = {"name": probe.name, "sql": probe.sql, "expect_index": probe.expect_index, "table": table, "verdict": "error",
              "indexes_used": [], "detail": "", "plan": None, "median_ms": None, "runs": 0, "before_ms": before_ms, "speedup": None}
    try:
        plan = engine.explain_json(probe.sql, options.timeout)
        result["plan"] = plan
        result["indexes_used"] = engine.indexes_used(plan)
        result["verdict"], result["detail"] = _verdict(engine, probe, table, schema, accepted, plan, options)
        times = []
        for _run in range(options.runs):
            times.append(engine.time_probe(probe.sql, options.timeout))
    except StatementTimeout:
        # Before the build a slow probe is the reason for the migration, not a broken probe; after it, a failure.
        result.update(timed_out=True, runs=len(times), detail="%s; slower than %gs, stopped at the probe timeout" % (
            result["detail"], options.timeout))
        if phase == "after":
            result["verdict"] = "error"
        return result
    except ServerRefused as exc:
        result.update(verdict="error", detail="the server refused the probe: %s" % exc)
        return result
    result["runs"] = len(times)
    result["median_ms"] = round(statistics.median(times) * 1000, 3) if times else None
    if before_ms and result["median_ms"]:
        result["speedup"] = round(before_ms / result["median_ms"], 1)
    return result


def _verdict(engine, probe, table, schema, accepted, plan, options):
    found = engine.accesses(plan)
    using = [a for a in found if a["index"] in accepted]
    if using:
        return "ok", describe(using)
    if table in engine.full_scans(plan):
        rows = engine.table_row_estimate(schema, table)
        if rows is not None and rows <= options.small_table_rows:
            return _small_table(engine, probe, table, rows, accepted, options)
    why = "the plan does not use %s; it reads: %s" % (" or ".join(sorted(accepted)), describe(found))
    return "not_used", "%s. Plan:\n%s" % (why, _plan_text(engine, probe.sql, options))


def _small_table(engine, probe, table, rows, accepted, options):
    """The planner reads a small table whole; prove the index usable with full scans discouraged."""
    note = "small table %s (about %d rows, at most small_table_rows %d): the planner reads it whole, cheaper at this size" % (
        table, rows, options.small_table_rows)
    preferred = engine.explain_json(probe.sql, options.timeout, prefer_indexes=True)
    using = [a for a in engine.accesses(preferred) if a["index"] in accepted]
    setting = engine.features.prefer_indexes_setting
    if using:
        return "small_table", "%s; with %s it uses %s, so the index is usable" % (note, setting, describe(using))
    listed = [name for name in engine.possible_indexes(preferred) if name in accepted]
    if listed:
        # MariaDB 10.x caps no full scan by max_seeks_for_key on a tiny table; possible_keys is its own word that it can.
        return "small_table", "%s; even with %s it scans, but it lists %s among the possible keys, so the index is usable" % (
            note, setting, ", ".join(listed))
    return "not_used", "%s; even with %s the plan does not use %s. Plan:\n%s" % (
        note, setting, " or ".join(sorted(accepted)), _plan_text(engine, probe.sql, options, prefer_indexes=True))


def _plan_text(engine, sql, options, prefer_indexes=False):
    try:
        text = engine.explain_text(sql, options.timeout, prefer_indexes=prefer_indexes)
    except ServerRefused as exc:
        return "(could not EXPLAIN it again: %s)" % exc
    return "\n".join("    " + line for line in text.splitlines())


def verify(engine, indexes, probes, phase, options, baseline=None) -> dict:
    """The whole check. Phase before: the probes only (the indexes are not built yet). Phase after: indexes, probes
    (with the speed-up against `baseline`, the before phase's probes) and the indexes' usage counters."""
    schema = options.schema or engine.default_schema()
    specs = {spec.name: spec for spec in indexes}
    checked = [check_index(engine, spec, options.on_equivalent) for spec in indexes] if phase == "after" else []
    equivalents = {c["name"]: c["equivalent_to"] for c in checked if c["equivalent_to"]}
    before = {p.get("name"): p.get("median_ms") for p in baseline or []}
    slow_before = {p.get("name") for p in baseline or [] if p.get("timed_out")}
    results = []
    for probe in probes:
        spec = specs[probe.expect_index]
        accepted = {probe.expect_index} | ({equivalents[spec.name]} if spec.name in equivalents else set())
        results.append(run_probe(engine, probe, spec.table, spec.schema or schema, accepted, options, before.get(probe.name), phase))
        results[-1]["before_timed_out"] = probe.name in slow_before
    usage, usage_note = {}, None
    if phase == "after":
        read = [(spec.table, spec.name) for spec in indexes] + [(specs[n].table, other) for n, other in equivalents.items()]
        usage = engine.index_usage(schema, read)
        if usage is None:
            usage = {name: None for _schema, name in read}
            usage_note = engine.features.usage_counters_off_note()
    failed = ["index %s: %s: %s" % (c["name"], c["state"], c["detail"]) for c in checked if c["state"] in INDEX_PROBLEMS]
    failed += ["probe %s: %s: %s" % (r["name"], r["verdict"], r["detail"]) for r in results
               if r["verdict"] == "error" or (phase == "after" and r["verdict"] in PROBE_PROBLEMS)]
    return {
        "indexes": [{k: c[k] for k in ("name", "table", "state", "detail")} for c in checked],
        "probes": results,
        "index_usage": usage,
        "index_usage_note": usage_note,
        "problems": failed,
        "summary_lines": summary_lines(checked, results, usage_note),
    }


def summary_lines(checked, results, usage_note=None) -> list:
    """One line a probe: `probe p: 12.40 ms -> 0.21 ms (x59.0), Index Scan on idx`; and the indexes' states in one line."""
    lines = []
    if checked:
        states = {}
        for entry in checked:
            states.setdefault(entry["state"], []).append(entry["name"])
        lines.append("indexes: " + "; ".join(
            "%d %s%s" % (len(names), state, "" if state in ("ok", "equivalent") else " (%s)" % ", ".join(names))
            for state, names in sorted(states.items())))
    for r in results:
        if r["verdict"] == "error":
            lines.append("probe %s: ERROR %s" % (r["name"], r["detail"]))
            continue
        timing = "%.2f ms" % r["median_ms"] if r["median_ms"] is not None else "over the probe timeout"
        if r.get("before_timed_out"):
            timing = "over the probe timeout -> %s" % timing
        elif r["before_ms"] is not None:
            timing = "%.2f ms -> %s" % (r["before_ms"], timing)
            if r["speedup"] is not None:
                timing += " (x%.1f)" % r["speedup"]
        if r["verdict"] == "not_used":
            outcome = "NOT USING %s: %s" % (r["expect_index"], r["detail"].split(". Plan:")[0])
        elif r["verdict"] == "small_table":
            outcome = "small table %s, read whole (cheaper at its size); %s proven usable" % (r["table"], r["expect_index"])
        else:
            outcome = r["detail"]
        lines.append("probe %s: %s, %s" % (r["name"], timing, outcome))
    if usage_note:
        lines.append("index usage counters %s" % usage_note)
    return lines


def failure_message(phase, problems):
    """Why the module fails on these problems; None when there is none. Before the build a problem is a probe whose
    SQL fails: the spec's probe is broken, and verify could not prove anything with it."""
    if not problems:
        return None
    if phase == "before":
        return "a probe of the spec is broken (its SQL fails on the server):\n" + "\n".join("- " + f for f in problems)
    return "verification failed:\n" + "\n".join("- " + f for f in problems)


def record_result(run_dir, phase, result, msg=None, check_mode=False):
    """The run's report reads verify from the record (phase after as `verify`, before as `probes_before`): `failed`
    lists the problems after the build (the error when it could not verify), and says whether the probes failed
    before it."""
    after = phase == "after"
    problems = result.get("problems") or ([msg] if msg else [])
    recorded = dict(result, failed=problems if after else msg is not None, **({"msg": msg} if msg else {}))
    record_phase_result(run_dir, "verify" if after else "probes_before", recorded, check_mode)
