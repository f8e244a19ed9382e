"""A batch of present indexes, built in order in one module call: the index phase of a run, or one index on its own.

Why one call: each module process costs about 0.4 s of start-up before any database work, so a loop of 20 calls spends
8 s to find 20 indexes in place. The batch opens one connection (autocommit, which PostgreSQL's CONCURRENTLY needs; a
progress watcher opens its own only once a build has run a while), reads the catalog of every spec table once, decides
every index from that read, and then builds in spec order. Each planned build is decided again from the live catalog just
before it runs (the read may be minutes old by then). A table is ANALYZEd once, after its last build, not once per index.

What a user sees stays per index: a line as a build starts and one as each index ends (progress.announce), its result
(action, sql, attempts, duration, size, error) in the return value and in the run record as it finishes. A failure of one
index does not stop the others; a lost connection is opened again for the next index. Ctrl-C stops the batch after the
statement it interrupted has been cancelled and cleaned up: nothing more is started.
"""

from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ansible.module_utils.safeindex.build.indexer import (
    IndexFailed,
    IndexResult,
    LiveCatalog,
    SnapshotCatalog,
    analyze_statements,
    carry_out,
    decide,
    redecide,
    run_after_build,
)
from ansible.module_utils.safeindex.build.progress import human_bytes
from ansible.module_utils.safeindex.core.errors import DatabaseUnavailable, SafeIndexError


@dataclass
class BatchOutcome:
    results: list = field(default_factory=list)   # one dict per index, in spec order, as a single db_index call returns it
    diffs: list = field(default_factory=list)     # before/after of each index that changes (or conflicts)
    interrupted: bool = False                      # Ctrl-C: the rest of the batch was not attempted

    @property
    def failed(self) -> list:
        return [r for r in self.results if r.get("failed")]

    @property
    def not_built(self) -> list:
        """The indexes left unbuilt because the builds stopped (a replica wait timed out), each with its reason."""
        return [r for r in self.results if r.get("action") == "not_built"]

    @property
    def changed(self) -> bool:
        return any(r.get("changed") for r in self.results)

    def message(self) -> str:
        """The call's own error: every failed index and its cause (a playbook's rescue shows it as the run's error)."""
        causes = [r["msg"] if r["msg"].startswith(r["name"]) else "%s: %s" % (r["name"], r["msg"]) for r in self.failed]
        text = "%d of %d indexes failed: %s" % (len(causes), len(self.results), "; ".join(causes)) if causes else ""
        if self.not_built:
            unbuilt = "%d of %d indexes %s: %s" % (len(self.not_built), len(self.results), self.not_built[0]["reason"],
                                                   ", ".join(r["name"] for r in self.not_built))
            text = "%s. %s" % (text, unbuilt) if text else unbuilt
        if self.interrupted:
            text = "interrupted (Ctrl-C) after %d indexes; the rest were not attempted%s" % (
                len(self.results), ". " + text if text else "")
        return text


def failure(result: IndexResult, error: Exception) -> dict:
    """A failed index as a single db_index call reports it: what was known so far, failed, the message and its details."""
    entry = result.as_dict()
    entry["action"] = "failed"
    details = dict(getattr(error, "details", {}) or {})
    details.pop("msg", None)
    entry.update(details, failed=True, msg=str(error))
    return entry


def not_built(decision, reason: str, paced: dict) -> dict:
    """An index the batch did not build because the builds stopped (a replica wait timed out): said, with the reason."""
    entry = decision.result.as_dict()
    entry.update(paced, action="not_built", changed=False, sql=[], reason=reason)
    return entry


def index_line(entry: dict, check_mode: bool = False) -> str:
    """The line shown as an index ends: `created in 4.2 s, 28.0 MB`, `exists`, `failed: <cause>`."""
    action = entry.get("action")
    if entry.get("failed"):
        return "failed: %s" % (str(entry.get("msg") or "").strip().splitlines() or ["?"])[0]
    if check_mode and action in ("created", "rebuilt_invalid"):
        return "would be %s (check mode)" % ("created" if action == "created" else "rebuilt from its INVALID leftover")
    if action == "not_built":
        return entry.get("reason") or "not built"
    if action == "skipped_equivalent":
        return "skipped: an equal index exists as %s" % entry.get("equivalent_to")
    if action in ("created", "rebuilt_invalid"):
        size = human_bytes(entry["size_bytes"]) if entry.get("size_bytes") else None
        return "%s in %.1f s%s" % ("created" if action == "created" else "rebuilt from its INVALID leftover",
                                   entry.get("duration_seconds") or 0, ", " + size if size else "")
    return action or "?"


def start_line(decision) -> str:
    what = "building" if decision.plan.action == "create" else "dropping its INVALID leftover and building"
    return "%s on %s" % (what, decision.spec.table)


@contextlib.contextmanager
def noticing_interrupts() -> Iterator[dict]:
    """{'interrupted': bool}, set on SIGINT. The PostgreSQL engine turns Ctrl-C into a cancel of the running statement
    (which then fails as any failed build), so the batch must be told to stop rather than go on with the next index."""
    state = {"interrupted": False}
    try:
        previous = signal.getsignal(signal.SIGINT)
    except ValueError:  # not the main thread: no handler can be installed, Ctrl-C ends the work as before
        yield state
        return

    def handler(signum, frame):
        state["interrupted"] = True
        if callable(previous):
            previous(signum, frame)
        else:
            raise KeyboardInterrupt

    signal.signal(signal.SIGINT, handler)
    try:
        yield state
    finally:
        signal.signal(signal.SIGINT, previous)


class Batch:
    """Builds a list of present indexes in order. `open_engine()` opens a session (again after a lost connection);
    `report(entry)` receives each index's result as it ends; `announce(name, text)` shows a line (progress.announce);
    `run_is_over()` says the run this batch serves has ended (its lock holder is gone): nothing more is started."""

    def __init__(self, open_engine: Callable[[], Any], options, check_mode: bool = False,
                 record: Callable[..., None] = lambda event, **data: None,
                 report: Callable[[dict], None] = lambda entry: None,
                 announce: Callable[[str, str], None] = lambda name, text: None,
                 run_is_over: Callable[[], bool] = lambda: False, pacer: Any = None):
        self.open_engine, self.options, self.check_mode = open_engine, options, check_mode
        self.record, self.report, self.announce = record, report, announce
        self.run_is_over = run_is_over
        self.pacer = pacer  # build/pacing.Pacer: the pause and the replica wait before each build; None: none
        self.engine = None
        self.session_set = False  # the session settings run once per connection, before its first build

    def run(self, entries: list) -> BatchOutcome:
        """`entries`: (name, IndexSpec) or (name, SpecError) for an entry that did not parse, in spec order."""
        outcome = BatchOutcome()
        with noticing_interrupts() as state:
            try:
                self._run(entries, outcome, state)
            except KeyboardInterrupt:
                outcome.interrupted = True
            finally:
                self._close()
        outcome.interrupted = outcome.interrupted or state["interrupted"]
        return outcome

    def _run(self, entries, outcome, state):
        started = time.monotonic()
        try:
            self.engine = self.open_engine()
        except SafeIndexError as exc:
            for name, _item in entries:
                self._emit(outcome, failure(_timed(IndexResult(name=name), started), exc))  # the time the connect took
            return
        decided = self._decide_all(entries)
        last_build = {}
        for position, (_name, item) in enumerate(decided):
            if not isinstance(item, Exception) and item.builds:
                last_build[(item.schema, item.spec.table)] = position
        built_tables = set()
        stopped = None  # why the builds stopped (a replica wait that timed out): the rest are not built
        for position, (name, item) in enumerate(decided):
            if not state["interrupted"] and self.run_is_over():
                state["interrupted"] = True  # the playbook ended and its run lock with it: no Ctrl-C reached us
            if state["interrupted"]:
                return
            if isinstance(item, Exception):
                self._emit(outcome, failure(getattr(item, "result", None) or IndexResult(name=name), item), diff_of=item)
                continue
            paced = {}
            if item.builds and not self.check_mode and self.pacer is not None:
                if stopped is None:
                    verdict = self._pace(item)
                    if verdict.interrupted:
                        state["interrupted"] = True
                        return
                    stopped = verdict.reason
                    paced = {k: round(v, 1) for k, v in (("paused_before_seconds", verdict.paused_seconds),
                                                         ("replica_wait_seconds", verdict.waited_seconds)) if v}
                if stopped is not None:
                    self._emit(outcome, not_built(item, stopped, paced))
                    self._analyze_pending(decided, position, last_build, built_tables, outcome)
                    continue
            started_at = time.time()
            entry = self._build(item, built_tables)
            if item.builds and not self.check_mode:
                # Wall-clock times of each build: the gaps between them show the pauses and waits of the run.
                entry.update(paced, started_at=round(started_at, 3), finished_at=round(time.time(), 3))
                if self.pacer is not None:
                    self.pacer.built()
            table = (item.schema, item.spec.table)
            if last_build.get(table) == position and (table in built_tables or self.check_mode) and not state["interrupted"]:
                self._analyze(item, entry)
            self._emit(outcome, entry, diff_of=item)

    def _pace(self, decision):
        """The pacer's verdict before a build, on the batch's connection (opened again after a lost one)."""
        if self.engine is None:
            try:
                self.engine, self.session_set = self.open_engine(), False
            except SafeIndexError:
                pass  # the lag is then unread (the pacer says so) and the build meets the error as its own
        return self.pacer.before_build(decision.spec.name, self.engine)

    def _analyze_pending(self, decided, position, last_build, built_tables, outcome):
        """The builds stopped at `position`: a table built earlier whose last build was still to come gets its ANALYZE
        now, listed with the last index built on it (its entry in the result; the record has that entry already)."""
        for table, last in list(last_build.items()):
            if last < position or table not in built_tables:
                continue
            del last_build[table]
            built = [(decision, entry) for (_name, decision), entry in zip(decided, outcome.results, strict=False)
                     if not isinstance(decision, Exception) and (decision.schema, decision.spec.table) == table
                     and entry.get("action") in ("created", "rebuilt_invalid")]
            if built:
                decision, entry = built[-1]
                took = entry.get("duration_seconds")
                self._analyze(decision, entry)
                entry["duration_seconds"] = took  # its build's time, not the time since (the wait came after it)

    def _decide_all(self, entries) -> list:
        """Every index decided from one read of the catalog: [(name, Decision or the error that stops it)]."""
        specs = [item for _name, item in entries if not isinstance(item, Exception)]
        catalog = LiveCatalog(self.engine)
        try:
            schemas = {}
            for spec in specs:
                schemas.setdefault(spec.schema or self.engine.default_schema(), []).append(spec)
            catalog = SnapshotCatalog({schema: self.engine.catalog_snapshot(schema, group) for schema, group in schemas.items()})
        except SafeIndexError:
            pass  # each index then asks the live catalog, and meets the error as its own
        decided = []
        for name, item in entries:
            if isinstance(item, Exception):
                decided.append((name, item))
                continue
            try:
                decided.append((name, decide(self.engine, item, self.options, catalog)))
            except SafeIndexError as exc:
                decided.append((name, exc))
        return decided

    def _build(self, decision, built_tables) -> dict:
        """One index: a result that needs no work as it is; a build decided again live, then carried out."""
        if not decision.builds:
            return decision.result.as_dict()
        decision.started = time.monotonic()  # its own time, not the builds before it since the plan was made
        try:
            if self.engine is None:
                self.engine = self.open_engine()
                self.session_set = False
            if not self.check_mode:
                decision = redecide(self.engine, decision, self.options)
                if not decision.builds:
                    return decision.result.as_dict()
                self.announce(decision.spec.name, start_line(decision))
            result = carry_out(self.engine, decision, self.options, self.check_mode, self.record, session=not self.session_set)
            self.session_set = True
            if not self.check_mode:
                built_tables.add((decision.schema, decision.spec.table))
            return result.as_dict()
        except IndexFailed as exc:
            if exc.lost_connection:
                self._close()
            return failure(_timed(exc.result, decision.started), exc)
        except DatabaseUnavailable as exc:
            self._close()
            return failure(_timed(decision.result, decision.started), exc)
        except SafeIndexError as exc:
            return failure(_timed(decision.result, decision.started), exc)

    def _analyze(self, decision, entry) -> None:
        """The table's statistics, once, after its last build of the batch; listed with the index it followed."""
        if self.engine is None:  # the connection went with this index's build: the table's earlier builds still count
            try:
                self.engine, self.session_set = self.open_engine(), False
            except SafeIndexError as exc:
                entry["skipped_steps"] = list(entry.get("skipped_steps") or []) + [
                    "analyze of %s after its last build did not run: %s" % (decision.spec.table, exc)]
                return
        for statement in analyze_statements(self.engine, decision, self.options):
            entry["sql"] = list(entry.get("sql") or []) + self.engine.render(statement)
            if self.check_mode:
                continue
            if not self.session_set:  # a new connection since the builds: the short lock timeout first
                try:
                    for setting in self.engine.session_statements(self.options):
                        entry["sql"].insert(len(entry["sql"]) - 1, self.engine.render(setting)[0])
                        self.engine.execute(setting)
                    self.session_set = True
                except SafeIndexError as exc:
                    entry["skipped_steps"] = list(entry.get("skipped_steps") or []) + [
                        "analyze of %s after its last build did not run: %s" % (decision.spec.table, exc)]
                    continue
            result = IndexResult(name=decision.spec.name)
            run_after_build(self.engine, decision.schema, decision.spec.table, self.options, statement, result)
            entry["skipped_steps"] = list(entry.get("skipped_steps") or []) + result.skipped_steps
        if not self.check_mode and not entry.get("failed"):
            entry["duration_seconds"] = round(time.monotonic() - decision.started, 3)

    def _emit(self, outcome, entry, diff_of=None) -> None:
        outcome.results.append(entry)
        if entry.get("changed") or isinstance(diff_of, IndexFailed):
            outcome.diffs.append(diff(entry))
        self.report(entry)
        self.announce(entry["name"], index_line(entry, self.check_mode))

    def _close(self):
        if self.engine is not None:
            with contextlib.suppress(Exception):
                self.engine.close()
            self.engine = None


def _timed(result: IndexResult, started: float) -> IndexResult:
    """A failed index's time: from its own start to the failure, on every path (a build sets it itself)."""
    if not result.duration_seconds:
        result.duration_seconds = round(time.monotonic() - started, 3)
    return result


def totals(results: list, started: float) -> dict:
    """The attempts of all indexes of a call and its wall time, for the call's own result."""
    return dict(attempts=sum(r.get("attempts") or 0 for r in results), duration_seconds=round(time.monotonic() - started, 3))


def diff(entry: dict) -> dict:
    """Ansible's before/after of one index: the catalog's definition and the spec's."""
    before = entry.get("existing_definition") or ""
    if entry.get("action") == "rebuilt_invalid":
        before += "  -- INVALID (left by a failed concurrent build)"
    after = "" if entry.get("action") == "dropped" else (entry.get("definition") or "")
    return dict(
        before=before + "\n" if before else "",
        after=after + "\n" if after else "",
        before_header="%s (catalog)" % entry["name"],
        after_header="%s (spec)" % entry["name"],
    )
