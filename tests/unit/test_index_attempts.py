"""The judgements behind db_index's attempts (issue 21, point 4): what is counted, said, sent and called a change."""

import json
import time
from types import SimpleNamespace

import pytest
from ansible.module_utils.safeindex.build import indexer
from ansible.module_utils.safeindex.build.batch import totals
from ansible.module_utils.safeindex.build.indexer import (
    BuildOptions,
    Decision,
    IndexFailed,
    IndexResult,
    Plan,
    attempt_line,
    carry_out,
    resolve_for_plan,
    with_lock_retries,
)
from ansible.module_utils.safeindex.core.errors import GaveUp, LockTimeout, NeedsWrite, ServerRefused, SpecError
from ansible.module_utils.safeindex.engines.base import Statement
from ansible.module_utils.safeindex.engines.interface.statements import Statements

HOLDER = {"pid": 4242, "state": "idle in transaction", "age_seconds": 7.0, "locks": None,
          "query": "SELECT 'holding a snapshot', count(*) FROM conversation WHERE title LIKE '%long query text here%'"}


class FakeEngine(Statements):
    """A session that sends into a list: each CREATE times out waiting (leaving an INVALID index, as a concurrent build
    does) until `creates_fail` runs out; a DROP times out while `drops_fail` lasts."""

    def __init__(self, creates_fail=99, drops_fail=0, leftover=False, stalled=()):
        self.creates_fail, self.drops_fail = creates_fail, drops_fail
        self.index = "invalid" if leftover else None  # None | "invalid" | "valid"
        self.stalled = list(stalled)  # per attempt: the sessions in the way before it, [] when none
        self.timed_out = False

    def session_statements(self, options):
        return [Statement("SET lock_timeout", purpose="session")]

    def create_statement(self, name, definition, run_id, online=True, timeout=0.0):
        return Statement("CREATE INDEX", purpose="create")

    def drop_statement(self, name, definition, online=True):
        return Statement("DROP INDEX", purpose="drop")

    def post_build_statements(self, name, definition, run_id):
        return [Statement("COMMENT", purpose="comment"), Statement("ANALYZE", purpose="analyze")]

    def render(self, statement):
        return [statement.sql]

    def execute(self, statement):
        self.sent_statements().append(statement.sql)
        if statement.sql == "CREATE INDEX":
            self.index = "invalid"
            if self.creates_fail > 0:
                self.creates_fail -= 1
                self.timed_out = True
                raise LockTimeout("canceling statement due to lock timeout")
            self.index = "valid"
        elif statement.sql == "DROP INDEX":
            if self.drops_fail > 0:
                self.drops_fail -= 1
                self.timed_out = True
                raise LockTimeout("canceling statement due to lock timeout")
            self.index = None

    def find_index(self, spec, schema):
        if self.index is None:
            return None
        return SimpleNamespace(valid=self.index == "valid", size_bytes=8192, definition=None)

    def sessions_in_the_way(self, schema, table, min_age_seconds, for_drop=False):
        """After a lock timeout: the holder; before an attempt: the next of `stalled` (none once they run out)."""
        if self.timed_out:
            self.timed_out = False
            return [HOLDER]
        return self.stalled.pop(0) if self.stalled else []


def options(tmp_path, retries=2):
    return BuildOptions(run_id="r1", lock_timeout=0.01, lock_retries=retries, retry_delay=0.001,
                        progress_file=str(tmp_path / "progress.jsonl"))


def lines(tmp_path):
    path = tmp_path / "progress.jsonl"
    return [json.loads(line)["text"] for line in path.read_text().splitlines()] if path.exists() else []


def decision(action="create"):
    spec = SimpleNamespace(name="idx_a", table="message")
    result = IndexResult(name="idx_a", action="created" if action == "create" else "rebuilt_invalid", changed=True)
    return Decision(spec=spec, schema="public", wanted=None, plan=Plan(action), result=result, started=time.monotonic())


def test_giving_up_counts_every_attempt_also_those_not_started_with_a_line_each(tmp_path):
    engine = FakeEngine(stalled=[[], [HOLDER], [HOLDER]])
    result = IndexResult(name="idx_a")
    with pytest.raises(GaveUp):
        with_lock_retries(engine, "public", "message", options(tmp_path), lambda: engine.execute(Statement("CREATE INDEX")),
                          result)
    assert result.attempts == 3 and result.blockers == [HOLDER]
    shown = lines(tmp_path)
    assert [line.split(":")[0].split(" (")[0] for line in shown] == [
        "attempt 1 of 3 failed", "attempt 2 of 3 not started", "attempt 3 of 3 not started"]
    assert all("pid 4242 (idle in transaction, transaction open 7s)" in line for line in shown)
    assert "retrying in" in shown[0] and shown[-1].endswith("giving up")


def test_a_refusal_at_the_first_attempt_is_one_attempt_and_post_build_steps_count_none(tmp_path):
    engine = FakeEngine()
    result = IndexResult(name="idx_a")

    def refused():
        raise ServerRefused("could not create unique index")

    with pytest.raises(ServerRefused):
        with_lock_retries(engine, "public", "message", options(tmp_path), refused, result)
    assert result.attempts == 1
    with_lock_retries(engine, "public", "message", options(tmp_path), lambda: None, result, check_stalls=False, count=False)
    assert result.attempts == 1 and lines(tmp_path) == []  # a success is no attempt line


def test_the_attempt_line_names_pid_state_age_and_the_start_of_the_query():
    text = attempt_line(2, 6, "not started", [HOLDER], note="the INVALID index idx_a could not be dropped now", delay=4)
    assert text.startswith("attempt 2 of 6 not started: in the way pid 4242 (idle in transaction, transaction open 7s): ")
    assert HOLDER["query"][:indexer.QUERY_CHARS] in text and HOLDER["query"][:indexer.QUERY_CHARS + 1] not in text
    assert text.endswith("could not be dropped now; retrying in 4 s")
    assert attempt_line(1, 1, "failed (x)", [], delay=None) == (
        "attempt 1 of 1 failed (x): in the way no session visible any more; giving up")


def test_a_failed_attempt_drops_its_invalid_index_at_once_and_nothing_changed(tmp_path):
    engine = FakeEngine()
    planned = decision()
    with pytest.raises(IndexFailed) as failed:
        carry_out(engine, planned, options(tmp_path), deferred=("analyze",))
    result = failed.value.result
    # Each attempt's leftover is dropped right after it, before the backoff; the sql is what was sent, in order.
    assert result.sql == ["SET lock_timeout"] + ["CREATE INDEX", "DROP INDEX"] * 3
    assert result.attempts == 3 and result.changed is False and result.duration_seconds > 0
    assert engine.index is None and "remains" not in str(failed.value)


def test_a_leftover_that_cannot_be_dropped_now_is_said_left_for_the_next_attempt_and_is_a_change(tmp_path):
    engine = FakeEngine(drops_fail=99)
    with pytest.raises(IndexFailed) as failed:
        carry_out(engine, decision(), options(tmp_path), deferred=("analyze",))
    shown = lines(tmp_path)
    assert "the INVALID index idx_a it left could not be dropped now (canceling statement due to lock timeout): left" \
           " for the next attempt" in shown[0]
    assert "An INVALID index idx_a remains" in str(failed.value)
    assert failed.value.result.changed is True  # the server has an INVALID index it did not have before


def test_a_rebuilt_leftover_sends_the_settings_first_and_changes_the_server(tmp_path):
    engine = FakeEngine(creates_fail=0, leftover=True)
    result = carry_out(engine, decision("rebuild_invalid"), options(tmp_path), deferred=("analyze",))
    assert result.sql == ["SET lock_timeout", "DROP INDEX", "CREATE INDEX", "COMMENT"]
    assert result.changed and result.attempts == 1 and engine.index == "valid"
    planned = carry_out(FakeEngine(leftover=True), decision("rebuild_invalid"), options(tmp_path), check_mode=True,
                        deferred=("analyze",))
    assert planned.sql == ["SET lock_timeout", "DROP INDEX", "CREATE INDEX", "COMMENT"] and planned.changed


def test_a_leftover_dropped_before_a_failed_build_is_a_change(tmp_path):
    engine = FakeEngine(leftover=True)
    with pytest.raises(IndexFailed) as failed:
        carry_out(engine, decision("rebuild_invalid"), options(tmp_path), deferred=("analyze",))
    assert failed.value.result.changed is True and engine.index is None


class WriteRefusingEngine:
    features = None

    def default_schema(self):
        return "public"

    def table_columns(self, schema, table):
        return ["role"]

    def canonical_definition(self, spec, schema):
        raise NeedsWrite("idx_a: cannot check the definition on an empty temporary copy of public.message: no TEMPORARY")


def test_a_plan_that_may_not_write_compares_with_the_spec_only_when_allowed(monkeypatch):
    monkeypatch.setattr(indexer, "check_server_can_build", lambda spec, features: None)
    spec = SimpleNamespace(name="idx_a", table="message", schema=None, columns=[SimpleNamespace(name="role")], include=(),
                           definition=lambda features, schema: ("spec's own", schema))
    schema, wanted, note = resolve_for_plan(WriteRefusingEngine(), spec, approximate=True)
    assert (schema, wanted) == ("public", ("spec's own", "public")) and "no TEMPORARY" in note
    with pytest.raises(SpecError, match="no TEMPORARY"):  # preflight's plan: the refusal stands
        resolve_for_plan(WriteRefusingEngine(), spec)


def test_a_result_says_approximate_only_when_it_was_and_a_call_sums_its_attempts():
    assert "definition_check" not in IndexResult(name="a").as_dict()
    marked = IndexResult(name="a", definition_check="approximate", definition_check_reason="why").as_dict()
    assert marked["definition_check"] == "approximate" and marked["definition_check_reason"] == "why"
    summed = totals([{"attempts": 3}, {"attempts": 1}, {}], time.monotonic() - 2)
    assert summed["attempts"] == 4 and summed["duration_seconds"] >= 2
