"""db_index on a real PostgreSQL: what an operator would check in the catalog after each call."""

import threading
import time

import psycopg2
import pytest

from tests.integration.conftest import connection_args, index_args, pg_index, pg_invalid_indexes, query

pytestmark = pytest.mark.slow

RUN_ID = "test-run-1"
MESSAGE_INDEX = {"name": "idx_message_conversation_timestamp", "table": "message", "columns": ["conversation_id", "timestamp"]}


def table_index_names(db, table):
    return sorted(r[0] for r in query(db, "SELECT indexname FROM pg_indexes WHERE tablename = %s", (table,)))


def plan_of(db, statement):
    return "\n".join(r[0] for r in query(db, "EXPLAIN " + statement))


class OpenTransaction:
    """Another session in the middle of a transaction: the long transactions that stall online DDL."""

    def __init__(self, db, *statements):
        self.conn = db.connect(autocommit=False)
        with self.conn.cursor() as cur:
            cur.execute("SELECT pg_backend_pid()")
            self.pid = cur.fetchone()[0]
            for statement in statements:
                cur.execute(statement)

    def close(self):
        self.conn.rollback()
        self.conn.close()


INSERT_MESSAGE = (
    "INSERT INTO message (conversation_id, role, content, \"timestamp\", token_count)"
    " VALUES (1, 'user', 'still typing', '2025-07-01', 3)"
)


def test_creates_the_index_concurrently_valid_owned_analyzed_and_used(pg_db, run_module):
    result = run_module("db_index", index_args(pg_db, **MESSAGE_INDEX))
    assert result["changed"] and result["action"] == "created"
    assert any(s.startswith('CREATE INDEX CONCURRENTLY "idx_message_conversation_timestamp"') for s in result["sql"])
    found = pg_index(pg_db, "idx_message_conversation_timestamp")
    assert found["valid"] and found["ready"]
    assert found["comment"] == "safeindex run_id=%s" % RUN_ID
    assert found["definition"].endswith('ON public.message USING btree (conversation_id, "timestamp")')
    assert result["size_bytes"] > 0
    analyzed = query(pg_db, "SELECT last_analyze FROM pg_stat_user_tables WHERE relname = 'message'")[0][0]
    assert analyzed is not None
    plan = plan_of(pg_db, "SELECT * FROM message WHERE conversation_id = 7 ORDER BY \"timestamp\"")
    assert "Index Scan using idx_message_conversation_timestamp" in plan


def test_a_reserved_word_table_is_quoted(pg_db, run_module):
    result = run_module("db_index", index_args(pg_db, name="idx_user_username", table="user", columns=["username"]))
    assert result["action"] == "created"
    found = pg_index(pg_db, "idx_user_username")
    assert found["valid"] and found["definition"] == "CREATE INDEX idx_user_username ON public.\"user\" USING btree (username)"


def test_a_second_call_finds_it_and_changes_nothing(pg_db, run_module):
    args = index_args(pg_db, **MESSAGE_INDEX)
    assert run_module("db_index", args)["action"] == "created"
    again = run_module("db_index", args)
    assert again["action"] == "exists" and not again["changed"] and again["sql"] == []


def test_check_mode_returns_the_exact_sql_and_changes_nothing(pg_db, run_module):
    args = index_args(pg_db, **MESSAGE_INDEX, maintenance_work_mem="64MB", statement_timeout=600)
    result = run_module("db_index", args, check_mode=True, diff=True)
    assert result["changed"] and result["action"] == "created"
    assert result["sql"] == [
        "SET lock_timeout = '1000ms'",
        "SET maintenance_work_mem = '64MB'",
        "SET statement_timeout = '600000ms'",
        'CREATE INDEX CONCURRENTLY "idx_message_conversation_timestamp" ON "public"."message" USING btree ("conversation_id", "timestamp")',
        "SET statement_timeout = '0ms'",
        "COMMENT ON INDEX \"public\".\"idx_message_conversation_timestamp\" IS 'safeindex run_id=test-run-1'",
        'ANALYZE "public"."message"',
    ]
    assert result["diff"]["before"] == "" and "CREATE INDEX" in result["diff"]["after"]
    assert pg_index(pg_db, "idx_message_conversation_timestamp") is None


def test_same_name_with_another_definition_fails_showing_both_and_changes_nothing(pg_db, run_module):
    query(pg_db, "CREATE INDEX idx_user_role ON \"user\" (role, created_at)")
    before = pg_index(pg_db, "idx_user_role")
    result = run_module("db_index", index_args(pg_db, name="idx_user_role", table="user", columns=["role"]), diff=True)
    assert result["failed"] and result["action"] == "failed"
    assert 'existing: CREATE INDEX "idx_user_role" ON "public"."user" USING btree ("role", "created_at")' in result["msg"]
    assert 'spec:     CREATE INDEX "idx_user_role" ON "public"."user" USING btree ("role")' in result["msg"]
    assert "columns: (role, created_at) != (role)" in result["msg"]
    assert result["diff"]["before"] != result["diff"]["after"]
    assert pg_index(pg_db, "idx_user_role") == before


def test_an_equal_partial_index_written_differently_is_the_same_index(pg_db, run_module):
    query(pg_db, "CREATE INDEX idx_query_log_errors ON query_log (created_at) WHERE (status)::text = 'error'::text")
    result = run_module(
        "db_index", index_args(pg_db, name="idx_query_log_errors", table="query_log", columns=["created_at"], where="status='error'")
    )
    assert result["action"] == "exists" and not result["changed"]
    other = run_module(
        "db_index", index_args(pg_db, name="idx_query_log_errors", table="query_log", columns=["created_at"], where="status = 'ok'")
    )
    assert other["failed"] and "where:" in other["msg"]


def cancelled_concurrent_build(db, statement, while_waiting=None):
    """Leave what a failed CREATE INDEX CONCURRENTLY leaves: the build waits for a writer and is cancelled.
    `while_waiting(builder_pid, writer_pid)` runs while the build waits, before the cancel."""
    writer = OpenTransaction(db, INSERT_MESSAGE)
    builder = db.connect()
    with builder.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        builder_pid = cur.fetchone()[0]
    failure = []

    def build():
        try:
            with builder.cursor() as cur:
                cur.execute(statement)
        except psycopg2.Error as exc:
            failure.append(exc)

    thread = threading.Thread(target=build)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            waiting = query(db, "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", (builder_pid,))
            if waiting and waiting[0][0] == "Lock":
                break
            time.sleep(0.05)
        if while_waiting:
            while_waiting(builder_pid, writer.pid)
        query(db, "SELECT pg_cancel_backend(%s)", (builder_pid,))
        thread.join(20)
    finally:
        writer.close()
        builder.close()
    assert failure and isinstance(failure[0], psycopg2.errors.QueryCanceled)


def test_an_invalid_leftover_of_a_cancelled_build_is_dropped_and_rebuilt(pg_db, run_module):
    cancelled_concurrent_build(
        pg_db, 'CREATE INDEX CONCURRENTLY idx_message_conversation_timestamp ON message (conversation_id, "timestamp")'
    )
    assert pg_invalid_indexes(pg_db) == ["idx_message_conversation_timestamp"]

    planned = run_module("db_index", index_args(pg_db, **MESSAGE_INDEX), check_mode=True)
    assert planned["action"] == "rebuilt_invalid"
    # In the order sent: the short lock timeout first, then the leftover's drop (issue 21: the drop was listed first).
    assert planned["sql"][:2] == ["SET lock_timeout = '1000ms'",
                                  'DROP INDEX CONCURRENTLY IF EXISTS "public"."idx_message_conversation_timestamp"']

    result = run_module("db_index", index_args(pg_db, **MESSAGE_INDEX))
    assert result["changed"] and result["action"] == "rebuilt_invalid"
    found = pg_index(pg_db, "idx_message_conversation_timestamp")
    assert found["valid"] and found["ready"] and found["comment"] == "safeindex run_id=%s" % RUN_ID
    assert pg_invalid_indexes(pg_db) == []


def test_a_conflicting_lock_makes_it_give_up_within_the_budget_name_the_blocker_and_leave_nothing(pg_db, run_module):
    blocker = OpenTransaction(pg_db, "LOCK TABLE message IN SHARE MODE")
    try:
        started = time.monotonic()
        result = run_module("db_index", index_args(pg_db, **MESSAGE_INDEX))
        elapsed = time.monotonic() - started
    finally:
        blocker.close()
    # lock_timeout 1 s x 3 attempts + backoffs 0.2 + 0.4 s; a few seconds for connecting and reading the catalog.
    assert result["failed"] and elapsed < 3.6 + 3
    assert "gave up after 3 attempts" in result["msg"]
    assert "pid %d" % blocker.pid in result["msg"] and "ShareLock" in result["msg"]
    assert [b["pid"] for b in result["blockers"]] == [blocker.pid]
    assert pg_index(pg_db, "idx_message_conversation_timestamp") is None
    assert pg_invalid_indexes(pg_db) == []


def test_a_long_writer_transaction_is_waited_out_not_raced_into_an_invalid_index(pg_db, run_module):
    writer = OpenTransaction(pg_db, INSERT_MESSAGE)
    try:
        time.sleep(1.2)  # older than the lock timeout: a build started now would stall on it
        result = run_module("db_index", index_args(pg_db, **MESSAGE_INDEX))
    finally:
        writer.close()
    assert result["failed"] and "pid %d" % writer.pid in result["msg"] and "RowExclusiveLock" in result["msg"]
    assert pg_index(pg_db, "idx_message_conversation_timestamp") is None
    assert pg_invalid_indexes(pg_db) == []
    assert run_module("db_index", index_args(pg_db, **MESSAGE_INDEX))["action"] == "created"


def test_a_writer_that_starts_with_the_build_leaves_an_invalid_index_that_is_named_and_healed(pg_db, run_module):
    # The writer is younger than the lock timeout, so the build starts, registers its index and then
    # waits for the writer; no drop can remove that index while the writer holds the table.
    writer = OpenTransaction(pg_db, INSERT_MESSAGE)
    try:
        # 3 s: room for the build to start before the writer is older than the lock timeout, on a busy machine too.
        result = run_module("db_index", index_args(pg_db, **MESSAGE_INDEX, lock_retries=1, lock_timeout=3))
    finally:
        writer.close()
    assert result["failed"] and "pid %d" % writer.pid in result["msg"]
    assert "An INVALID index idx_message_conversation_timestamp remains" in result["msg"]
    assert "The next run drops and rebuilds it" in result["msg"]
    assert pg_invalid_indexes(pg_db) == ["idx_message_conversation_timestamp"]
    healed = run_module("db_index", index_args(pg_db, **MESSAGE_INDEX))
    assert healed["action"] == "rebuilt_invalid" and pg_index(pg_db, "idx_message_conversation_timestamp")["valid"]
    assert pg_invalid_indexes(pg_db) == []


def test_a_failed_unique_build_leaves_nothing_behind(pg_db, run_module):
    result = run_module("db_index", index_args(pg_db, name="idx_message_role_unique", table="message", columns=["role"], unique=True))
    assert result["failed"] and "could not create unique index" in result["msg"]
    assert pg_index(pg_db, "idx_message_role_unique") is None and pg_invalid_indexes(pg_db) == []


def test_a_build_over_its_statement_timeout_is_cancelled_and_cleaned_up(pg_db, run_module):
    result = run_module("db_index", index_args(pg_db, **MESSAGE_INDEX, statement_timeout=0.001))
    assert result["failed"] and "statement timeout" in result["msg"]
    assert pg_index(pg_db, "idx_message_conversation_timestamp") is None and pg_invalid_indexes(pg_db) == []
    # The timeout was the build's alone: the session's later work ran without it.
    assert run_module("db_index", index_args(pg_db, **MESSAGE_INDEX))["action"] == "created"


def test_an_equal_index_under_another_name_is_reported_and_skipped_or_built_on_request(pg_db, run_module):
    query(pg_db, "CREATE INDEX legacy_username ON \"user\" (username)")
    skipped = run_module("db_index", index_args(pg_db, name="idx_user_username", table="user", columns=["username"]))
    assert skipped["action"] == "skipped_equivalent" and skipped["equivalent_to"] == "legacy_username" and not skipped["changed"]
    assert pg_index(pg_db, "idx_user_username") is None
    built = run_module(
        "db_index", index_args(pg_db, name="idx_user_username", table="user", columns=["username"], on_equivalent="create")
    )
    assert built["action"] == "created" and pg_index(pg_db, "idx_user_username")["valid"]


def test_state_absent_drops_concurrently_and_is_idempotent(pg_db, run_module):
    run_module("db_index", index_args(pg_db, **MESSAGE_INDEX))
    name_only = dict(connection_args(pg_db), name=MESSAGE_INDEX["name"], state="absent")
    planned = run_module("db_index", name_only, check_mode=True)
    assert planned["sql"][-1] == 'DROP INDEX CONCURRENTLY IF EXISTS "public"."idx_message_conversation_timestamp"'
    assert pg_index(pg_db, MESSAGE_INDEX["name"]) is not None
    dropped = run_module("db_index", name_only)
    assert dropped["changed"] and dropped["action"] == "dropped" and pg_index(pg_db, MESSAGE_INDEX["name"]) is None
    again = run_module("db_index", name_only)
    assert again["action"] == "absent" and not again["changed"]


@pytest.mark.parametrize(
    "index, message",
    [
        ({"name": "idx_x", "table": "no_such_table", "columns": ["a"]}, "table public.no_such_table does not exist"),
        ({"name": "idx_x", "table": "message", "columns": ["conversation_id", "no_such_column"]}, "has no column no_such_column"),
        ({"name": "idx_x", "table": "message", "columns": []}, "'columns' must be a non-empty list"),
        # Any legal name is taken (test_spec_names.py builds names with quotes); one PostgreSQL would cut is refused.
        ({"name": "idx_" + "é" * 30, "table": "message", "columns": ["role"]}, "is 64 bytes long; PostgreSQL allows at most 63"),
        ({"name": "idx_x", "table": "message", "columns": ["role"], "where": "true; DROP TABLE message"}, "may not contain a ';'"),
        ({"name": "idx_x", "table": "message", "columns": ["role"], "where": "no_such_column > 1"}, "the server rejects this index"),
    ],
)
def test_a_bad_spec_is_a_clear_error_before_anything_changes(pg_db, run_module, index, message):
    before = table_index_names(pg_db, "message")
    result = run_module("db_index", index_args(pg_db, **index))
    assert result["failed"] and message in result["msg"]
    assert table_index_names(pg_db, "message") == before
    assert query(pg_db, "SELECT count(*) FROM message")[0][0] > 0


def test_session_settings_for_the_build_reach_the_server(pg_db, run_module):
    result = run_module("db_index", index_args(pg_db, **MESSAGE_INDEX, maintenance_work_mem="lots"))
    assert result["failed"] and 'invalid value for parameter "maintenance_work_mem"' in result["msg"]
    assert pg_index(pg_db, MESSAGE_INDEX["name"]) is None
    built = run_module("db_index", index_args(pg_db, **MESSAGE_INDEX, maintenance_work_mem="96MB", max_parallel_maintenance_workers=2))
    assert built["action"] == "created"
    assert "SET maintenance_work_mem = '96MB'" in built["sql"] and "SET max_parallel_maintenance_workers = '2'" in built["sql"]
