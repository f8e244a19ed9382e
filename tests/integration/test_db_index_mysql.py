"""db_index on a real MariaDB: online ALTER TABLE, checked in information_schema as an operator would."""

import time

import pytest

from tests.integration.conftest import connection_args, index_args, query

pytestmark = pytest.mark.slow

RUN_ID = "test-run-1"
MESSAGE_INDEX = {"name": "idx_message_conversation_timestamp", "table": "message", "columns": ["conversation_id", "timestamp"]}


def my_index(db, table, name):
    """The index as information_schema.STATISTICS shows it: columns (with prefix and order), unique, comment."""
    rows = query(
        db,
        "SELECT COLUMN_NAME, SUB_PART, COLLATION, NON_UNIQUE, INDEX_TYPE, INDEX_COMMENT FROM information_schema.STATISTICS"
        " WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s AND INDEX_NAME = %s ORDER BY SEQ_IN_INDEX",
        (table, name),
    )
    if not rows:
        return None
    return {
        "columns": [(column, prefix, order) for column, prefix, order, *_ in rows],
        "unique": rows[0][3] == 0,
        "type": rows[0][4],
        "comment": rows[0][5],
    }


def index_names(db, table):
    return sorted({r[2] for r in query(db, "SHOW INDEX FROM `%s`" % table)} - {"PRIMARY"})  # Key_name


def explain_key(db, statement):
    return [row[5] for row in query(db, "EXPLAIN " + statement)]


class OpenTransaction:
    """Another session in a transaction that has read a table: it holds that table's metadata lock."""

    def __init__(self, db, *statements):
        self.conn = db.connect(autocommit=False)
        with self.conn.cursor() as cur:
            cur.execute("SELECT CONNECTION_ID()")
            self.pid = cur.fetchone()[0]
            cur.execute("START TRANSACTION")
            for statement in statements:
                cur.execute(statement)
                cur.fetchall()

    def close(self):
        self.conn.rollback()
        self.conn.close()


def test_creates_the_index_online_with_its_marker_and_the_planner_uses_it(my_db, run_module):
    result = run_module("db_index", index_args(my_db, **MESSAGE_INDEX))
    assert result["changed"] and result["action"] == "created"
    assert result["sql"][-1] == (
        "ALTER TABLE `message` ADD INDEX `idx_message_conversation_timestamp` (`conversation_id`, `timestamp`)"
        " COMMENT 'safeindex run_id=test-run-1', ALGORITHM=INPLACE, LOCK=NONE"
    )
    found = my_index(my_db, "message", "idx_message_conversation_timestamp")
    assert found["columns"] == [("conversation_id", None, "A"), ("timestamp", None, "A")]
    assert found["comment"] == "safeindex run_id=%s" % RUN_ID and not found["unique"] and found["type"] == "BTREE"
    key = explain_key(my_db, "SELECT * FROM message WHERE conversation_id = 7 ORDER BY `timestamp`")
    assert key == ["idx_message_conversation_timestamp"]


def test_a_reserved_word_table_and_column_are_quoted(my_db, run_module):
    result = run_module("db_index", index_args(my_db, name="idx_user_username", table="user", columns=["username"]))
    assert result["action"] == "created" and my_index(my_db, "user", "idx_user_username")["columns"] == [("username", None, "A")]
    result = run_module("db_index", index_args(my_db, name="idx_message_timestamp", table="message", columns=["timestamp DESC"]))
    assert result["action"] == "created" and my_index(my_db, "message", "idx_message_timestamp")["columns"] == [("timestamp", None, "D")]


def test_a_second_call_finds_it_and_changes_nothing(my_db, run_module):
    assert run_module("db_index", index_args(my_db, **MESSAGE_INDEX))["action"] == "created"
    again = run_module("db_index", index_args(my_db, **MESSAGE_INDEX))
    assert again["action"] == "exists" and not again["changed"] and again["sql"] == []


def test_check_mode_returns_the_exact_sql_and_changes_nothing(my_db, run_module):
    result = run_module("db_index", index_args(my_db, **MESSAGE_INDEX, statement_timeout=600), check_mode=True, diff=True)
    assert result["changed"] and result["action"] == "created"
    assert result["sql"] == [
        "SET SESSION lock_wait_timeout = 1",
        "SET STATEMENT max_statement_time = 600 FOR ALTER TABLE `message` ADD INDEX `idx_message_conversation_timestamp`"
        " (`conversation_id`, `timestamp`) COMMENT 'safeindex run_id=test-run-1', ALGORITHM=INPLACE, LOCK=NONE",
    ]
    assert result["diff"]["before"] == "" and "CREATE INDEX `idx_message_conversation_timestamp`" in result["diff"]["after"]
    assert my_index(my_db, "message", "idx_message_conversation_timestamp") is None


def test_same_name_with_another_definition_fails_showing_both_and_changes_nothing(my_db, run_module):
    query(my_db, "ALTER TABLE `user` ADD INDEX idx_user_role (role, created_at)")
    before = my_index(my_db, "user", "idx_user_role")
    result = run_module("db_index", index_args(my_db, name="idx_user_role", table="user", columns=["role"]))
    assert result["failed"] and result["action"] == "failed"
    assert "existing: CREATE INDEX `idx_user_role` ON `%s`.`user` (`role`, `created_at`)" % my_db.name in result["msg"]
    assert "spec:     CREATE INDEX `idx_user_role` ON `%s`.`user` (`role`)" % my_db.name in result["msg"]
    assert my_index(my_db, "user", "idx_user_role") == before


def test_a_prefix_index_is_built_compared_by_its_length_and_required_for_text(my_db, run_module):
    result = run_module("db_index", index_args(my_db, name="idx_message_content", table="message", columns=["content(50)"]))
    assert result["action"] == "created"
    assert my_index(my_db, "message", "idx_message_content")["columns"] == [("content", 50, "A")]
    assert run_module("db_index", index_args(my_db, name="idx_message_content", table="message", columns=["content(50)"]))[
        "action"] == "exists"
    longer = run_module("db_index", index_args(my_db, name="idx_message_content", table="message", columns=["content(60)"]))
    assert longer["failed"] and "columns: (content(50)) != (content(60))" in longer["msg"]
    whole = run_module("db_index", index_args(my_db, name="idx_message_body", table="message", columns=["content"]))
    assert whole["failed"] and "column content is text: give a prefix length" in whole["msg"]
    assert my_index(my_db, "message", "idx_message_body") is None


def test_a_unique_index_is_built_and_a_failed_one_leaves_nothing(my_db, run_module):
    result = run_module("db_index", index_args(my_db, name="idx_session_token", table="session", columns=["token"], unique=True))
    assert result["action"] == "created" and my_index(my_db, "session", "idx_session_token")["unique"]
    duplicates = run_module("db_index", index_args(my_db, name="idx_message_role", table="message", columns=["role"], unique=True))
    assert duplicates["failed"] and "Duplicate entry" in duplicates["msg"]
    assert my_index(my_db, "message", "idx_message_role") is None


def test_a_transaction_holding_the_metadata_lock_makes_it_give_up_within_the_budget_naming_it(my_db, run_module):
    blocker = OpenTransaction(my_db, "SELECT * FROM message LIMIT 1")
    try:
        started = time.monotonic()
        result = run_module("db_index", index_args(my_db, **MESSAGE_INDEX))
        elapsed = time.monotonic() - started
        # The statements of the app went on while the build waited and after it gave up.
        assert query(my_db, "SELECT COUNT(*) FROM message")[0][0] > 0
    finally:
        blocker.close()
    # 3 attempts x lock_wait_timeout 1 s + backoffs 0.2 + 0.4 s, and a little for connecting.
    assert result["failed"] and elapsed < 3.6 + 3
    assert "gave up after 3 attempts" in result["msg"]
    assert "pid %d (idle in transaction" % blocker.pid in result["msg"]
    assert [b["pid"] for b in result["blockers"]] == [blocker.pid]
    assert my_index(my_db, "message", "idx_message_conversation_timestamp") is None
    assert run_module("db_index", index_args(my_db, **MESSAGE_INDEX))["action"] == "created"


def test_a_server_that_refuses_the_online_build_is_an_error_with_its_reason_never_a_locking_build(my_db, run_module):
    query(my_db, "CREATE TABLE legacy_log (id INT PRIMARY KEY, level VARCHAR(8)) ENGINE=MyISAM")
    query(my_db, "INSERT INTO legacy_log VALUES (1, 'info'), (2, 'error')")
    result = run_module("db_index", index_args(my_db, name="idx_legacy_level", table="legacy_log", columns=["level"]))
    assert result["failed"] and "is not supported" in result["msg"]
    assert index_names(my_db, "legacy_log") == []


def test_a_build_over_its_statement_timeout_is_stopped_and_leaves_nothing(my_db, run_module):
    result = run_module("db_index", index_args(my_db, **MESSAGE_INDEX, statement_timeout=0.001))
    assert result["failed"] and "statement_timeout" in result["msg"]
    assert my_index(my_db, "message", "idx_message_conversation_timestamp") is None
    assert run_module("db_index", index_args(my_db, **MESSAGE_INDEX))["action"] == "created"


def test_an_equal_index_under_another_name_is_reported_and_skipped_or_built_on_request(my_db, run_module):
    query(my_db, "ALTER TABLE `user` ADD INDEX legacy_username (username)")
    skipped = run_module("db_index", index_args(my_db, name="idx_user_username", table="user", columns=["username"]))
    assert skipped["action"] == "skipped_equivalent" and skipped["equivalent_to"] == "legacy_username" and not skipped["changed"]
    built = run_module(
        "db_index", index_args(my_db, name="idx_user_username", table="user", columns=["username"], on_equivalent="create")
    )
    assert built["action"] == "created" and my_index(my_db, "user", "idx_user_username")


def test_state_absent_drops_online_and_is_idempotent(my_db, run_module):
    run_module("db_index", index_args(my_db, **MESSAGE_INDEX))
    name_only = dict(connection_args(my_db), name=MESSAGE_INDEX["name"], table="message", state="absent")
    planned = run_module("db_index", name_only, check_mode=True)
    assert planned["sql"][-1] == "ALTER TABLE `message` DROP INDEX `idx_message_conversation_timestamp`, ALGORITHM=INPLACE, LOCK=NONE"
    assert my_index(my_db, "message", MESSAGE_INDEX["name"]) is not None
    dropped = run_module("db_index", name_only)
    assert dropped["action"] == "dropped" and my_index(my_db, "message", MESSAGE_INDEX["name"]) is None
    assert run_module("db_index", name_only)["action"] == "absent"
    no_table = run_module("db_index", dict(connection_args(my_db), name=MESSAGE_INDEX["name"], state="absent"))
    assert no_table["failed"] and "give its table" in no_table["msg"]


@pytest.mark.parametrize(
    "index, message",
    [
        ({"name": "idx_x", "table": "no_such_table", "columns": ["a"]}, "no_such_table does not exist"),
        ({"name": "idx_x", "table": "message", "columns": ["conversation_id", "nope"]}, "has no column nope"),
        ({"name": "idx_x", "table": "message", "columns": ["role"], "where": "role = 'user'"}, "is PostgreSQL-only"),
        ({"name": "idx_x", "table": "message", "columns": ["role"], "include": ["model"]}, "'include' is PostgreSQL-only"),
        # Any legal name is taken (test_spec_names.py builds names with backticks); one MySQL cannot hold is refused.
        ({"name": "idx_x ", "table": "message", "columns": ["role"]}, "ends with a space, which MySQL/MariaDB does not allow"),
        ({"name": "idx_x", "table": "message", "columns": ["role"], "maintenance_work_mem": "1GB"}, "PostgreSQL settings"),
    ],
)
def test_a_bad_spec_is_a_clear_error_before_anything_changes(my_db, run_module, index, message):
    before = index_names(my_db, "message")
    result = run_module("db_index", index_args(my_db, **index))
    assert result["failed"] and message in result["msg"]
    assert index_names(my_db, "message") == before
