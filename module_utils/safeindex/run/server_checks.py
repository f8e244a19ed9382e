"""Known server bugs and traps, as preflight rows ({check, result, detail}, run/preflight.py's shape), each with its reason.

The engine's features say which apply to a server (engines/*/features.py: concurrent_build_bug, prepared_transactions,
sort_directory_setting, online_alter_log_setting); the engine reads the numbers; the judgements are here, written once.
Also the judgement of amcheck's result for verify (index_check_rows, index_check_problems).
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass

from ansible.module_utils.safeindex.run.preflight import LOOPBACK, _size, guarded, row

# The online log of an ADD INDEX holds the new index's entries of every row written meanwhile; an update that moves a
# key writes two (the old one out, the new one in), so each change is counted as two entries: the conservative end.
ENTRIES_PER_CHANGE = 2
# "May overflow": the estimate is rough (the build time is assumed, the write rate sampled briefly), so it must stay
# under half the limit to pass.
ONLINE_LOG_MARGIN = 2.0
# The assumed build speed: bytes of table data an online ALTER ... ADD INDEX reads, sorts and writes per second. 20 MB/s
# is on the slow side of an InnoDB build on one core of an ordinary server disk (it reads the clustered index, sorts in
# innodb_sort_buffer_size runs through tmpdir and bulk-loads the new index); a user who knows their server's speed sets it.
DEFAULT_BUILD_BYTES_PER_SECOND = 20 * 1024 * 1024
# No sample is needed where filling the log would take more row changes a second than one InnoDB server writes at all (a
# few hundred thousand a second at the most, on many cores): then the check passes without waiting for a sample.
MOST_CHANGES_PER_SECOND = 500000


@dataclass
class TrapOptions:
    max_transaction_age_seconds: float = 300
    long_transaction_action: str = "fail"
    headroom: float = 2.0
    tmpdir_free_bytes: int = None
    write_rate_sample_seconds: float = 2.0
    build_bytes_per_second: float = DEFAULT_BUILD_BYTES_PER_SECOND
    blocking_builds: bool = False     # the run builds with the blocking statement (indexes_allow_blocking), not online


def server_checks(engine, to_build, options: TrapOptions) -> list:
    """The rows of the traps this server has (by its features), each guarded so one failure does not hide the others.
    `to_build`: [(schema, definition)] of the indexes this run will build."""
    features = engine.features
    rows = [guarded("known server bugs", known_bugs, engine, to_build, options.blocking_builds)]
    if features.prepared_transactions:
        rows.append(guarded("prepared transactions", prepared_transactions, engine, options.max_transaction_age_seconds,
                            options.long_transaction_action))
    if features.sort_directory_setting:
        rows.append(guarded("sort directory space", sort_space, engine, to_build, options.headroom, options.tmpdir_free_bytes))
    if features.online_alter_log_setting:
        rows.append(guarded("online log size", online_log, engine, to_build, options.write_rate_sample_seconds,
                            options.build_bytes_per_second))
    return rows


def known_bugs(engine, to_build, blocking_builds=False) -> dict:
    bug = engine.features.concurrent_build_bug
    version = engine.server_version()
    if not bug:
        return row("known server bugs", "ok", "no known bug of %s on %s" % (engine.features.online_build_phrase, version))
    if not to_build:
        return row("known server bugs", "warn", "nothing to build, but: " + bug)
    if blocking_builds:
        # The blocking build (plain CREATE INDEX) is not touched by the bug; the indexes built concurrently before may be.
        return row("known server bugs", "warn", "this run builds with the blocking statement (allowed blocking builds), which"
                   " the bug does not touch; but: " + bug)
    return row("known server bugs", "fail", "%s builds refused: %s" % (engine.features.online_build_phrase, bug))


def prepared_transactions(engine, max_age, action) -> dict:
    found = engine.prepared_transactions(max_age)
    if not found:
        return row("prepared transactions", "ok", "none older than %gs" % max_age)
    here = [p for p in found if p["this_database"]]
    listed = "; ".join(describe_prepared(p) for p in (here + [p for p in found if not p["this_database"]])[:10])
    fix = " (end each with COMMIT PREPARED 'gid' or ROLLBACK PREPARED 'gid', as its owner or a superuser, in its database)"
    if here:
        return row("prepared transactions", "fail" if action == "fail" else "warn",
                   "%d prepared transactions older than %gs in this database: a concurrent build waits for them forever"
                   " (they never end by themselves): %s%s" % (len(here), max_age, listed, fix))
    return row("prepared transactions", "warn", "%d prepared transactions older than %gs in other databases (they do not"
               " stop this build, but hold back vacuum on the whole server): %s%s" % (len(found), max_age, listed, fix))


def describe_prepared(prepared) -> str:
    return "gid %r (owner %s, database %s, prepared %.0fs ago)" % (
        prepared["gid"], prepared["owner"], prepared["database"], prepared["age_seconds"] or 0)


def sort_space(engine, to_build, headroom, free_bytes=None) -> dict:
    """The biggest index's estimate times the headroom against the free space of the sort directory: the builds run one
    at a time, and each one's sort files are gone when it ends."""
    if not to_build:
        return row("sort directory space", "ok", "nothing to build")
    directory = engine.sort_directory()
    biggest = max(engine.estimated_index_bytes(schema, definition) for schema, definition in to_build)
    wanted = int(biggest * headroom)
    detail = "an online build sorts in %s %s: the biggest index is about %s (x%s headroom: %s)" % (
        engine.features.sort_directory_setting, directory, _size(biggest), headroom, _size(wanted))
    if free_bytes is not None:
        where = "given tmpdir_free_bytes"
    elif engine.params.host in LOOPBACK and directory and os.path.isdir(directory):
        free_bytes, where = shutil.disk_usage(directory).free, "df %s" % directory
    else:
        return row("sort directory space", "warn", detail + "; could not read its free space (set tmpdir_free_bytes, or run"
                                                            " where the directory is visible)")
    if free_bytes < wanted:
        return row("sort directory space", "fail", "%s, but only %s free (%s): the build would fail when the sort files"
                                                   " fill it" % (detail, _size(free_bytes), where))
    return row("sort directory space", "ok", "%s; %s free (%s)" % (detail, _size(free_bytes), where))


def online_log_estimate(changes_per_second, table_bytes, entry_bytes, build_bytes_per_second) -> dict:
    """The online log one build fills: the build time assumed from the table's size, times the write rate, times the
    bytes each change logs. {build_seconds, log_bytes}."""
    build_seconds = (table_bytes or 0) / float(build_bytes_per_second)
    return {"build_seconds": build_seconds,
            "log_bytes": int(changes_per_second * build_seconds * entry_bytes * ENTRIES_PER_CHANGE)}


def filling_rate(limit_bytes, table_bytes, entry_bytes, build_bytes_per_second) -> float:
    """The row changes a second that would bring the estimate to the warning (half the limit) during one build."""
    per_change = online_log_estimate(1, table_bytes, entry_bytes, build_bytes_per_second)["log_bytes"]
    return float("inf") if per_change <= 0 else limit_bytes / (ONLINE_LOG_MARGIN * per_change)


def online_log_verdict(estimate_bytes, limit_bytes) -> str:
    return "warn" if estimate_bytes * ONLINE_LOG_MARGIN > limit_bytes else "ok"


def online_log(engine, to_build, sample_seconds, build_bytes_per_second) -> dict:
    setting = engine.features.online_alter_log_setting
    if not to_build:
        return row("online log size", "ok", "nothing to build")
    limit = engine.online_alter_log_limit()
    sizes = []
    for schema, definition in to_build:
        rows = engine.table_row_estimate(schema, definition.table) or 0
        entry = engine.estimated_index_bytes(schema, definition) / max(rows, 1)
        sizes.append((schema, definition, entry, engine.table_bytes(schema, definition.table)))
    needed = min(filling_rate(limit, table_bytes, entry, build_bytes_per_second) for _s, _d, entry, table_bytes in sizes)
    if needed > MOST_CHANGES_PER_SECOND:
        return row("online log size", "ok", "%s = %s: filling it during a build (about %.1fs at the assumed %s/s) would take"
                   " more than %d row changes/s, more than a server writes; not sampled" % (
                       setting, _size(limit), max(online_log_estimate(0, t, e, build_bytes_per_second)["build_seconds"]
                                                  for _s, _d, e, t in sizes), _size(build_bytes_per_second),
                       MOST_CHANGES_PER_SECOND))
    tables = sorted({(schema, definition.table) for schema, definition in to_build})
    rates, covers = write_rates(engine, tables, sample_seconds)
    if rates is None:
        return row("online log size", "warn", "could not measure the write rate (%s), so the online log's need is unknown"
                   % covers)
    worst = None
    for schema, definition, entry, table_bytes in sizes:
        rate = rates[(schema, definition.table)]
        estimate = online_log_estimate(rate, table_bytes, entry, build_bytes_per_second)
        if worst is None or estimate["log_bytes"] > worst[1]["log_bytes"]:
            worst = (definition, estimate, entry, rate)
    definition, estimate, entry, rate = worst
    # The index whose log fills most: on its table's write rate, its build time and its entries' size.
    detail = ("%s = %s; table %s written at %.1f row changes/s over %gs (%s); its biggest index to build: about %.0fs to"
              " build (assumed %s/s of table data), %.0f bytes logged per change (x%d: an update logs the old and the new"
              " entry): about %s logged") % (
        setting, _size(limit), definition.table, rate, sample_seconds, covers, estimate["build_seconds"],
        _size(build_bytes_per_second), entry, ENTRIES_PER_CHANGE, _size(estimate["log_bytes"]))
    if online_log_verdict(estimate["log_bytes"], limit) == "warn":
        return row("online log size", "warn", "%s, more than half the limit: the online log may overflow, which fails the build"
                   " at its end, after all the work (raise %s, or build at a quieter time)" % (detail, setting))
    return row("online log size", "ok", detail + ", under half the limit")


def write_rates(engine, tables, seconds) -> tuple:
    """({(schema, table): row changes per second}, what the counter covers); the counters read twice, `seconds` apart
    (one interval for every table). (None, why) where a counter cannot be read."""
    first = {table: engine.write_counter(*table) for table in tables}
    started = time.monotonic()
    time.sleep(seconds)
    second = {table: engine.write_counter(*table) for table in tables}
    elapsed = max(time.monotonic() - started, 1e-6)
    missing = [counted[1] for counted in list(first.values()) + list(second.values()) if counted[0] is None]
    if missing:
        return None, missing[0]
    rates = {table: max(second[table][0] - first[table][0], 0) / elapsed for table in tables}
    return rates, second[tables[0]][1]


# Index results of a run that built an index (db_index's actions): the indexes verify_amcheck checks.
BUILT_ACTIONS = ("created", "rebuilt_invalid")


def built_index_names(index_results) -> list:
    """The names of the indexes a run built, from its record's index results (a partitioned index's partitions come
    with it: checkable_indexes finds them in the catalog)."""
    names = []
    for result in index_results:
        name = result.get("name") or (result.get("item") or {}).get("name")
        if not result.get("failed") and result.get("action") in BUILT_ACTIONS and name not in names:
            names.append(name)
    return names


def index_checks(engine, targets) -> dict:
    """Run the engine's index check on every B-tree of `targets` ([(schema, spec index name)]): {function, ran, note,
    indexes: [{name, spec_index, result (ok, corrupt, skipped), error, duration_seconds}], problems}."""
    features = engine.features
    function = features.index_check_function
    outcome = {"function": function, "ran": False, "note": None, "indexes": [], "problems": []}
    if not function:
        outcome["note"] = ("verify_amcheck is PostgreSQL-only: %s has no index check like amcheck's bt_index_check, so no"
                           " index was checked (a note, not a failure)" % features.label)
        return outcome
    if not targets:
        outcome["note"] = "the run built no index, so %s had nothing to check" % function
        return outcome
    ready, why = engine.index_check_ready()
    if not ready:
        outcome["note"] = "%s did not run: %s" % (function, why)
        return outcome
    for schema, name in targets:
        found = engine.checkable_indexes(schema, name)
        if not found:
            outcome["indexes"].append({"name": name, "spec_index": name, "function": function, "result": "skipped",
                                       "error": "not in the catalog of schema %s" % schema, "duration_seconds": None})
        for index in found:
            entry = {"name": index["name"], "spec_index": name, "function": function, "result": "skipped", "error": None,
                     "duration_seconds": None}
            if index["method"] != "btree":
                entry["error"] = "a %s index: %s reads B-trees only" % (index["method"], function)
            else:
                started = time.monotonic()
                entry["error"] = engine.check_index(index["oid"])
                entry.update(result="corrupt" if entry["error"] else "ok", duration_seconds=round(time.monotonic() - started, 3))
            outcome["indexes"].append(entry)
    checked = [i for i in outcome["indexes"] if i["result"] != "skipped"]
    outcome.update(ran=True, problems=index_check_problems(outcome["indexes"]),
                   note="%s(heapallindexed => true) on %d B-tree indexes the run built: %d sound, %d corrupt" % (
                       function, len(checked), len([i for i in checked if i["result"] == "ok"]),
                       len([i for i in checked if i["result"] == "corrupt"])))
    return outcome


def index_check_problems(checked) -> list:
    """The verify problems of an index check's results: one per index it found corrupt, naming it."""
    return ["%s failed %s: %s (the index does not match its table: REINDEX INDEX CONCURRENTLY it)" % (
        c["name"], c["function"], c["error"]) for c in checked if c["result"] == "corrupt"]
