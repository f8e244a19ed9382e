"""db_index with a list of indexes (the index phase in one call), on real servers: what an operator checks afterwards."""

import json
import threading
import time

import psycopg2
import pytest
from ansible.module_utils.safeindex.report.from_record import report_inputs
from ansible.module_utils.safeindex.run.record import RunRecord, phase_results
from ansible.module_utils.safeindex.spec.plan import as_module_args, load

from tests.conftest import REPO
from tests.integration.conftest import connection_args, index_in_catalog, pg_index, pg_invalid_indexes, query
from tests.integration.test_db_index_postgres import cancelled_concurrent_build

pytestmark = pytest.mark.slow

RUN_ID = "batch-run-1"
BAD_INDEX = {"name": "idx_message_role_unique", "table": "message", "columns": [{"name": "role"}], "unique": True,
             "method": "btree"}


def spec_entries(db):
    """The sandbox spec's 20 indexes for this engine, as the preflight hands them to the index phase."""
    _, indexes, _ = load(str(REPO / "migrations/indexes.yml"), db.engine)
    return [as_module_args(spec) for spec in indexes]


def batch_args(db, entries, **extra):
    return dict(connection_args(db), indexes=entries, run_id=RUN_ID, lock_timeout=1, lock_retries=2, lock_retry_delay=0.2) | extra


def all_in_catalog(db, entries):
    return {e["name"]: index_in_catalog(db, e["table"], e["name"]) for e in entries}


def pg_analyze_counts(db, tables):
    rows = query(db, "SELECT relname, analyze_count FROM pg_stat_user_tables WHERE relname = ANY(%s)", (list(tables),))
    return dict(rows)


def test_the_20_spec_indexes_in_one_call_then_a_rerun_changes_nothing(db, run_module, tmp_path):
    entries = spec_entries(db)
    assert len(entries) == 20
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    RunRecord(str(run_dir)).append("start", run_id=RUN_ID, host="db1", engine=db.engine, monotonic=0.0)

    result = run_module("db_index", batch_args(db, entries, run_dir=str(run_dir)))
    assert result["_rc"] == 0 and result["changed"] and result["failed_indexes"] == []
    assert [r["name"] for r in result["results"]] == [e["name"] for e in entries]
    assert {r["action"] for r in result["results"]} == {"created"}
    for name, found in all_in_catalog(db, entries).items():
        assert found and found["usable"] and found["comment"] == "safeindex run_id=%s" % RUN_ID, name
    if db.engine == "postgresql":
        assert pg_invalid_indexes(db) == []
    for entry in result["results"]:
        assert entry["attempts"] == 1 and entry["duration_seconds"] > 0, entry["name"]
        assert db.engine != "postgresql" or entry["size_bytes"] > 0, entry["name"]

    # The run record: the phase around the builds, and each index's result for the report, as a loop used to leave them.
    events = RunRecord(str(run_dir)).events()
    kinds = [(e["event"], e.get("phase")) for e in events]
    assert kinds.count(("phase_start", "indexes")) == 1 and kinds.count(("phase_end", "indexes")) == 1
    assert kinds.index(("phase_start", "indexes")) < kinds.index(("index_build_started", None)) < kinds.index(("phase_end", "indexes"))
    assert [r["name"] for r in phase_results(events, "index")] == [e["name"] for e in entries]
    inputs = report_inputs(events, "success")
    assert inputs["phases"][0]["name"] == "indexes" and inputs["phases"][0]["duration_seconds"] > 0
    assert [row["action"] for row in phase_results(events, "index")] == ["created"] * 20

    again = run_module("db_index", batch_args(db, entries))
    assert again["_rc"] == 0 and not again["changed"]
    assert [(r["name"], r["action"], r["sql"]) for r in again["results"]] == [(e["name"], "exists", []) for e in entries]


def test_one_bad_index_in_the_middle_fails_the_call_naming_it_and_the_others_are_built(db, run_module, tmp_path):
    entries = spec_entries(db)
    entries.insert(10, BAD_INDEX)  # role has a handful of values over thousands of messages: not unique
    result = run_module("db_index", batch_args(db, entries))
    assert result["_rc"] == 1 and result["failed"]
    assert result["failed_indexes"] == [BAD_INDEX["name"]]
    assert result["msg"].startswith("1 of 21 indexes failed: idx_message_role_unique: ")
    failed = [r for r in result["results"] if r.get("failed")]
    assert [r["name"] for r in failed] == [BAD_INDEX["name"]] and failed[0]["msg"] in result["msg"]
    cause = "could not create unique index" if db.engine == "postgresql" else "Duplicate entry"
    assert cause in failed[0]["msg"]
    found = all_in_catalog(db, entries)
    assert not found.pop(BAD_INDEX["name"])
    assert all(f and f["usable"] for f in found.values()), found
    if db.engine == "postgresql":
        assert pg_invalid_indexes(db) == []


def test_each_table_is_analyzed_once_after_its_last_build(pg_db, run_module):
    entries = spec_entries(pg_db)
    tables = {e["table"] for e in entries}
    before = pg_analyze_counts(pg_db, tables)
    result = run_module("db_index", batch_args(pg_db, entries))
    assert result["_rc"] == 0
    after = pg_analyze_counts(pg_db, tables)
    assert {t: after[t] - before[t] for t in tables} == {t: 1 for t in tables}
    analyzes = [(r["name"], s) for r in result["results"] for s in r["sql"] if s.startswith("ANALYZE")]
    last_of_table = {e["table"]: e["name"] for e in entries}
    assert sorted(analyzes) == sorted((name, 'ANALYZE "public"."%s"' % table) for table, name in last_of_table.items())


def test_check_mode_gives_the_exact_sql_in_order_and_changes_nothing(db, run_module):
    entries = spec_entries(db)
    result = run_module("db_index", batch_args(db, entries), check_mode=True, diff=True)
    assert result["_rc"] == 0 and result["changed"]
    assert [r["action"] for r in result["results"]] == ["created"] * 20
    assert len(result["diff"]) == 20 and all(d["after"].startswith("CREATE ") and d["before"] == "" for d in result["diff"])
    first = result["results"][0]
    if db.engine == "postgresql":
        # The session is set once, before the first build; each table is analyzed once, after its last build.
        assert first["sql"][:2] == ["SET lock_timeout = '1000ms'",
                                    'CREATE INDEX CONCURRENTLY "idx_user_username" ON "public"."user" USING btree ("username")']
        assert not any(s.startswith("SET lock_timeout") for r in result["results"][1:] for s in r["sql"])
        statements = [s for r in result["results"] for s in r["sql"]]
        assert sum(s.startswith("ANALYZE") for s in statements) == len({e["table"] for e in entries})
        assert sum(s.startswith(("CREATE INDEX CONCURRENTLY", "CREATE UNIQUE INDEX CONCURRENTLY")) for s in statements) == 20
    else:
        assert first["sql"] == ["SET SESSION lock_wait_timeout = 1", "ALTER TABLE `user` ADD INDEX `idx_user_username` (`username`)"
                                " COMMENT 'safeindex run_id=batch-run-1', ALGORITHM=INPLACE, LOCK=NONE"]
    assert not any(all_in_catalog(db, entries).values())


def test_an_invalid_leftover_is_healed_within_the_batch(pg_db, run_module):
    cancelled_concurrent_build(
        pg_db, 'CREATE INDEX CONCURRENTLY idx_message_conversation_timestamp ON message (conversation_id, "timestamp")'
    )
    assert pg_invalid_indexes(pg_db) == ["idx_message_conversation_timestamp"]
    entries = spec_entries(pg_db)
    planned = run_module("db_index", batch_args(pg_db, entries), check_mode=True)
    healed = next(r for r in planned["results"] if r["name"] == "idx_message_conversation_timestamp")
    assert healed["action"] == "rebuilt_invalid"
    assert 'DROP INDEX CONCURRENTLY IF EXISTS "public"."idx_message_conversation_timestamp"' in healed["sql"]

    result = run_module("db_index", batch_args(pg_db, entries))
    assert result["_rc"] == 0
    actions = {r["name"]: r["action"] for r in result["results"]}
    assert actions.pop("idx_message_conversation_timestamp") == "rebuilt_invalid"
    assert set(actions.values()) == {"created"}
    found = pg_index(pg_db, "idx_message_conversation_timestamp")
    assert found["valid"] and found["ready"] and found["comment"] == "safeindex run_id=%s" % RUN_ID
    assert pg_invalid_indexes(pg_db) == []


def test_existing_indexes_are_found_from_one_read_and_an_equal_one_under_another_name_is_skipped(db, run_module):
    entries = spec_entries(db)
    query(db, 'CREATE INDEX legacy_username ON "user" (username)' if db.engine == "postgresql"
          else "CREATE INDEX legacy_username ON `user` (username)")
    # Two spec entries of one definition: the second finds the first, built moments before in the same call.
    twin = dict(entries[1], name="idx_user_role_twin")
    first = run_module("db_index", batch_args(db, entries[:3] + [twin]))
    assert [r["action"] for r in first["results"]] == ["skipped_equivalent", "created", "created", "skipped_equivalent"]
    assert first["results"][0]["equivalent_to"] == "legacy_username"
    assert first["results"][3]["equivalent_to"] == "idx_user_role"
    second = run_module("db_index", batch_args(db, entries[:3] + [twin]))
    assert [r["action"] for r in second["results"]] == ["skipped_equivalent", "exists", "exists", "skipped_equivalent"]
    assert not second["changed"] and second["results"][3]["equivalent_to"] == "idx_user_role"


def test_a_connection_that_cannot_be_made_fails_every_index_and_records_each(db, run_module, tmp_path):
    entries = spec_entries(db)[:3]
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    result = run_module("db_index", batch_args(db, entries, db_password="not-the-password-123", run_dir=str(run_dir)))
    assert result["_rc"] == 1 and result["failed_indexes"] == [e["name"] for e in entries]
    assert "not-the-password-123" not in json.dumps(result)
    recorded = phase_results(RunRecord(str(run_dir)).events(), "index")
    assert [(r["name"], r["action"], r["failed"]) for r in recorded] == [(e["name"], "failed", True) for e in entries]


def test_a_build_whose_connection_is_killed_fails_alone_and_the_next_index_is_built_on_a_new_one(pg_db, run_module):
    from tests.integration.test_db_index_postgres import INSERT_MESSAGE, OpenTransaction

    entries = [dict(name="idx_message_conversation_timestamp", table="message",
                    columns=[{"name": "conversation_id"}, {"name": "timestamp"}], unique=False, method="btree"),
               dict(name="idx_user_username", table="user", columns=[{"name": "username"}], unique=False, method="btree")]
    killed = []

    def kill_the_waiting_build():
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not killed:
            try:
                rows = query(pg_db, "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                                    " AND wait_event_type = 'Lock'"
                                    " AND query LIKE 'CREATE INDEX CONCURRENTLY%%idx_message_conversation_timestamp%%'")
                for (pid,) in rows:
                    query(pg_db, "SELECT pg_terminate_backend(%s)", (pid,))
                    killed.append(pid)
            except psycopg2.OperationalError as exc:
                # The module runs in this process: its Ctrl-C wait callback (process-wide in psycopg2) is set around
                # each build and unset after, which can catch this thread's query midway. Look again.
                if "wait callback not available" not in str(exc):
                    raise
            time.sleep(0.05)

    # The app's write, younger than the lock timeout: the build starts, then waits for it until it is killed.
    writer = OpenTransaction(pg_db, INSERT_MESSAGE)
    killer = threading.Thread(target=kill_the_waiting_build)
    killer.start()
    try:
        result = run_module("db_index", batch_args(pg_db, entries, lock_timeout=10, lock_retries=0))
    finally:
        killer.join()
        writer.close()
    assert killed, "the build never waited"
    assert result["_rc"] == 1 and result["failed_indexes"] == ["idx_message_conversation_timestamp"]
    first, second = result["results"]
    assert "lost the connection to" in first["msg"] and "the next run drops and rebuilds it" in first["msg"]
    assert second["action"] == "created" and pg_index(pg_db, "idx_user_username")["valid"]
    assert second["sql"][0] == "SET lock_timeout = '10000ms'"  # a new session, set up again


def test_a_list_dropped_in_one_call_drops_each_online_and_a_bad_entry_fails_alone(db, run_module, tmp_path):
    entries = spec_entries(db)[:3]
    built = run_module("db_index", batch_args(db, entries))
    assert built["_rc"] == 0 and all(all_in_catalog(db, entries).values())
    drops = [{"name": e["name"], "table": e["table"]} for e in entries]
    # Not a name db_index accepts (over both engines' length limit; a name with a space is legal since issue 19): refused,
    # alone.
    too_long = "idx_nowhere_" + "n" * 60
    drops.insert(1, {"name": too_long, "table": "message"})
    drops.append({"name": entries[0]["name"], "table": entries[0]["table"]})  # already gone by then: nothing to do

    planned = run_module("db_index", dict(connection_args(db), indexes=drops, state="absent"), check_mode=True)
    assert planned["_rc"] == 1 and all(all_in_catalog(db, entries).values())  # check mode dropped nothing
    assert [r["action"] for r in planned["results"]] == ["dropped", "failed", "dropped", "dropped", "dropped"]
    online = "DROP INDEX CONCURRENTLY" if db.engine == "postgresql" else "ALGORITHM=INPLACE, LOCK=NONE"
    assert all(any(online in s for s in r["sql"]) for r in planned["results"] if r["action"] == "dropped")

    run_dir = tmp_path / "rollback"
    run_dir.mkdir()
    result = run_module("db_index", dict(connection_args(db), indexes=drops, state="absent", run_dir=str(run_dir)))
    assert result["_rc"] == 1 and result["changed"] and result["failed_indexes"] == [too_long]
    assert result["msg"].startswith("1 of 5 drops failed: %s" % too_long)
    assert [r["action"] for r in result["results"]] == ["dropped", "failed", "dropped", "dropped", "absent"]
    assert not any(all_in_catalog(db, entries).values())
    # Each drop is in the record as it ended, as a loop of single calls left them (rollback's report reads them).
    assert [r["name"] for r in phase_results(RunRecord(str(run_dir)).events(), "index")] == [d["name"] for d in drops]
