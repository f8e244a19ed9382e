"""Preflight's "unique indexes" check: duplicates a unique index to build would refuse, found before the backup.

A unique build over duplicate keys fails, but only after the backup and the build ran. So each unique index the plan
will build (create or rebuild_invalid) is scanned here, with the canonical definition the build will use
(build/indexer.decide), by the engine's read-only query (engines/<engine>/duplicates.py). Counts are always given; key
values are data, shown only with show_duplicate_samples.
"""

from __future__ import annotations

import time

from ansible.module_utils.safeindex.core.errors import SafeIndexError, StatementTimeout
from ansible.module_utils.safeindex.run.preflight import row

CHECK = "unique indexes"
SAMPLE_KEYS = 5            # keys shown per index, with show_duplicate_samples
MAX_VALUE_CHARS = 60       # a long value is cut in the message
BUILDS = ("create", "rebuild_invalid")


def unique_to_build(engine, specs, pending, on_equivalent="skip") -> list:
    """[(name, canonical wanted definition)] of the unique specs the plan builds; SafeIndexError if one cannot be decided."""
    from ansible.module_utils.safeindex.build.indexer import BuildOptions, decide

    options = BuildOptions(run_id="plan", on_equivalent=on_equivalent)
    found = []
    for spec in specs:
        if spec.unique and spec.name in pending:
            decision = decide(engine, spec, options)
            if decision.plan.action in BUILDS:
                found.append((spec.name, decision.wanted))
    return found


def key_label(definition) -> str:
    """The key as the server's own duplicate error names it: (email) or (lower(email), left(code, 4))."""
    parts = []
    for column in definition.columns:
        text = column.name if column.name is not None else column.expression
        parts.append("%s(%d)" % (text, column.length) if column.length else text)
    return "(%s)" % ", ".join(parts)


def show_value(value) -> str:
    if value is None:
        return "NULL"
    text = "0x" + bytes(value).hex() if isinstance(value, (bytes, bytearray, memoryview)) else str(value)
    return text if len(text) <= MAX_VALUE_CHARS else text[:MAX_VALUE_CHARS] + "..."


def describe_samples(samples) -> str:
    return ", ".join("(%s) x%d" % (", ".join(show_value(v) for v in key), rows) for key, rows in samples)


def judge(name, definition, outcome, seconds, timeout, action, show_samples) -> tuple:
    """(result, detail) for one index: outcome is DuplicateKeys, a StatementTimeout, or another SafeIndexError."""
    target = "%s.%s" % (definition.schema, definition.table) if definition.schema else definition.table
    if isinstance(outcome, StatementTimeout):
        return action, ("%s: could not finish the duplicate scan of %s within %g s (unique_precheck_timeout_seconds),"
                        " duplicates not ruled out%s" % (name, target, timeout, _action_note(action)))
    if isinstance(outcome, SafeIndexError):
        return action, "%s: could not look for duplicates in %s: %s%s" % (name, target, outcome, _action_note(action))
    if not outcome.groups:
        return "ok", "%s: no duplicate keys in %s (%.1f s)" % (name, target, seconds)
    detail = ("%s: %d duplicate key %s (%d rows) on %s %s: the unique build would fail; remove or merge them, then re-run"
              % (name, outcome.groups, "group" if outcome.groups == 1 else "groups", outcome.rows, target,
                 key_label(definition)))
    if show_samples:
        detail += "; keys: %s" % describe_samples(outcome.samples)
    else:
        detail += " (key values not shown: show_duplicate_samples=true shows up to %d)" % SAMPLE_KEYS
    return "fail", detail


def _action_note(action):
    if action == "warn":
        return " (unique_precheck_action=warn: going on; duplicates still fail that index cleanly at its build)"
    return " (unique_precheck_action=fail; a longer unique_precheck_timeout_seconds, or warn to go on)"


def unique_precheck(engine, specs, summary, mode="full", action="fail", timeout=60.0, show_samples=False,
                    on_equivalent="skip") -> dict:
    """The "unique indexes" row: ok, warn or fail (the worst of the indexes'), or skip."""
    if mode == "off":
        return row(CHECK, "skip", "unique_precheck=off: duplicates are not looked for (a unique build over them still"
                                  " fails that index cleanly, after the backup)")
    if summary is None:
        return row(CHECK, "skip", "the index spec did not load or fit the database")
    to_check = unique_to_build(engine, specs, summary["pending"], on_equivalent)
    if not to_check:
        return row(CHECK, "ok", "no unique index to build")
    results = []
    for name, definition in to_check:
        started = time.monotonic()
        try:
            outcome = engine.duplicate_keys(definition, timeout, SAMPLE_KEYS if show_samples else 0)
        except SafeIndexError as exc:
            outcome = exc
        results.append(judge(name, definition, outcome, time.monotonic() - started, timeout, action, show_samples))
    levels = [level for level, _detail in results]
    worst = "fail" if "fail" in levels else "warn" if "warn" in levels else "ok"
    # A refusal lists what refuses the run; a pass lists every index scanned.
    shown = [detail for level, detail in results if level != "ok" or worst == "ok"]
    return row(CHECK, worst, "; ".join(shown))
