"""db_verify on real PostgreSQL and MariaDB servers: what a user checks after a migration, and that probes only read."""

import re

import pytest
import yaml

from tests.integration.conftest import connection_args, index_args, query, run_playbook, write_inventory

pytestmark = pytest.mark.slow

MESSAGE_INDEX = {"name": "idx_message_conversation_timestamp", "table": "message", "columns": ["conversation_id", "timestamp"]}
MESSAGES_OF_CONVERSATION = {"name": "messages_of_conversation", "sql": "SELECT * FROM message WHERE conversation_id = 1 ORDER BY timestamp",
                            "expect_index": "idx_message_conversation_timestamp"}


def spec_file(folder, indexes, probes=()):
    path = folder / "indexes.yml"
    path.write_text(yaml.safe_dump({"indexes": list(indexes), "probes": list(probes)}))
    return path


def build(run_module, db, **index):
    """The index, built the way a run builds it (db_index)."""
    result = run_module("db_index", index_args(db, **index))
    assert result["_rc"] == 0, result.get("msg")


def verify(run_module, db, spec, phase="after", **options):
    return run_module("db_verify", dict(connection_args(db), spec_path=str(spec), phase=phase, probe_runs=3, **options))


def probe_line(result, name):
    return next(line for line in result["summary_lines"] if line.startswith("probe %s:" % name))


def test_a_probe_whose_index_exists_is_verified_with_its_speedup(run_module, db, tmp_path):
    spec = spec_file(tmp_path, [MESSAGE_INDEX], [MESSAGES_OF_CONVERSATION])
    before = verify(run_module, db, spec, phase="before")
    # Before the build the probe cannot use its index, and that is no failure.
    assert before["_rc"] == 0, before.get("msg")
    assert before["changed"] is False
    assert before["probes"][0]["verdict"] == "not_used" and before["probes"][0]["median_ms"] > 0

    build(run_module, db, **MESSAGE_INDEX)
    after = verify(run_module, db, spec, baseline=before["probes"])
    assert after["_rc"] == 0, after.get("msg")
    assert after["changed"] is False and after["problems"] == []
    assert after["indexes"] == [{"name": MESSAGE_INDEX["name"], "table": "message", "state": "ok", "detail": after["indexes"][0]["detail"]}]
    probe = after["probes"][0]
    assert probe["verdict"] == "ok", probe["detail"]
    assert probe["indexes_used"] == [MESSAGE_INDEX["name"]] and probe["table"] == "message" and probe["runs"] == 3
    assert probe["before_ms"] == before["probes"][0]["median_ms"]
    assert probe["speedup"] == round(probe["before_ms"] / probe["median_ms"], 1)
    assert re.match(r"probe messages_of_conversation: [\d.]+ ms -> [\d.]+ ms \(x[\d.]+\), .*idx_message_conversation_timestamp$",
                    probe_line(after, "messages_of_conversation")), after["summary_lines"]


def test_a_probe_pointed_at_an_index_the_planner_does_not_use_fails_and_shows_the_plan(run_module, db, tmp_path):
    timestamp_index = {"name": "idx_message_timestamp", "table": "message", "columns": ["timestamp"]}
    build(run_module, db, **MESSAGE_INDEX)
    build(run_module, db, **timestamp_index)
    wrong = dict(MESSAGES_OF_CONVERSATION, name="wrong_expectation", expect_index="idx_message_timestamp")
    result = verify(run_module, db, spec_file(tmp_path, [MESSAGE_INDEX, timestamp_index], [wrong]))
    assert result["_rc"] != 0
    probe = result["probes"][0]
    assert probe["verdict"] == "not_used" and probe["indexes_used"] == [MESSAGE_INDEX["name"]]
    assert "verification failed" in result["msg"] and "probe wrong_expectation: not_used" in result["msg"]
    # The plan, as the engine prints it, is in the message.
    shown = "Index Scan using idx_message_conversation_timestamp on message" if db.engine == "postgresql" else (
        "table message: ref, key idx_message_conversation_timestamp")
    assert shown in result["msg"], result["msg"]
    assert [line for line in result["problems"] if line.startswith("probe wrong_expectation")]


def test_a_tiny_table_is_a_small_table_and_its_index_proven_usable(run_module, db, tmp_path):
    # Six rows, five of them 'a': every planner reads this table whole rather than go through an index.
    query(db, "CREATE TABLE tiny_lookup (id integer PRIMARY KEY, code varchar(20), note varchar(50))")
    query(db, "INSERT INTO tiny_lookup VALUES (1, 'a', 'x'), (2, 'a', 'y'), (3, 'a', 'z'), (4, 'b', 'w'), (5, 'a', 'v'), (6, 'a', 'u')")
    query(db, "ANALYZE tiny_lookup" if db.engine == "postgresql" else "ANALYZE TABLE tiny_lookup")
    index = {"name": "idx_tiny_lookup_code", "table": "tiny_lookup", "columns": ["code"]}
    build(run_module, db, **index)
    probe = {"name": "tiny_by_code", "sql": "SELECT * FROM tiny_lookup WHERE code = 'a'", "expect_index": index["name"]}
    result = verify(run_module, db, spec_file(tmp_path, [index], [probe]))
    assert result["_rc"] == 0, result.get("msg")
    found = result["probes"][0]
    assert found["verdict"] == "small_table", found
    assert found["indexes_used"] == []  # the planner's own plan reads the table whole...
    assert "small table tiny_lookup (about 6 rows" in found["detail"]
    assert "so the index is usable" in found["detail"]  # ...and the index is proven usable
    assert "small table tiny_lookup" in probe_line(result, "tiny_by_code")

    # Above the threshold the same plan is a failure.
    strict = verify(run_module, db, spec_file(tmp_path, [index], [probe]), small_table_rows=5)
    assert strict["_rc"] != 0 and strict["probes"][0]["verdict"] == "not_used"


def test_each_index_state_is_told_apart(run_module, db, tmp_path):
    spec_indexes = [
        {"name": "idx_user_username", "table": "user", "columns": ["username"]},
        {"name": "idx_user_role", "table": "user", "columns": ["role"]},
        {"name": "idx_user_email", "table": "user", "columns": ["email"]},
        {"name": "idx_plot_message", "table": "plot", "columns": ["message_id"]},
    ]
    build(run_module, db, **spec_indexes[0])
    build(run_module, db, name="idx_user_email", table="user", columns=["email", "username"])  # another definition
    build(run_module, db, name="plot_message_lookup", table="plot", columns=["message_id"])  # the same, another name
    if db.engine == "postgresql":
        # A unique concurrent build over duplicate roles fails and leaves an INVALID index behind.
        with pytest.raises(Exception, match="could not create unique index"):
            query(db, 'CREATE UNIQUE INDEX CONCURRENTLY idx_user_role_unique ON "user" (role)')
        spec_indexes.append({"name": "idx_user_role_unique", "table": "user", "columns": ["role"], "unique": True})
    probe = {"name": "plots_of_message", "sql": "SELECT * FROM plot WHERE message_id = 12345", "expect_index": "idx_plot_message"}

    result = verify(run_module, db, spec_file(tmp_path, spec_indexes, [probe]))
    states = {entry["name"]: entry["state"] for entry in result["indexes"]}
    expected = {"idx_user_username": "ok", "idx_user_role": "missing", "idx_user_email": "differs", "idx_plot_message": "equivalent"}
    if db.engine == "postgresql":
        expected["idx_user_role_unique"] = "invalid"
    assert states == expected
    details = {entry["name"]: entry["detail"] for entry in result["indexes"]}
    assert "plot_message_lookup" in details["idx_plot_message"]
    assert "email, username" in details["idx_user_email"].replace("`", "").replace('"', "")
    # The equal index under another name serves the probe.
    assert result["probes"][0]["verdict"] == "ok" and result["probes"][0]["indexes_used"] == ["plot_message_lookup"]
    assert result["_rc"] != 0
    failing = sorted(line.split(":")[0] for line in result["problems"])
    assert failing == sorted("index %s" % name for name, state in expected.items() if state not in ("ok", "equivalent"))
    if db.engine == "mysql":
        # MariaDB runs without performance_schema by default: the counters are null, and the reason is given.
        assert set(result["index_usage"].values()) == {None} and "performance_schema" in result["index_usage_note"]


def test_idx_scan_counters_are_recorded_and_grow_with_the_probes(run_module, pg_db, tmp_path):
    index = {"name": "idx_plot_message", "table": "plot", "columns": ["message_id"]}
    build(run_module, pg_db, **index)
    probe = {"name": "plots_of_message", "sql": "SELECT * FROM plot WHERE message_id = 12345", "expect_index": index["name"]}
    counted = query(pg_db, "SELECT idx_scan FROM pg_stat_user_indexes WHERE indexrelname = %s", (index["name"],))[0][0]
    result = verify(run_module, pg_db, spec_file(tmp_path, [index], [probe]))
    assert result["_rc"] == 0, result.get("msg")
    assert result["probes"][0]["verdict"] == "ok"
    assert result["index_usage"][index["name"]] >= counted + 3  # three timed runs, each one scan
    assert result["index_usage_note"] is None


def feedback_rows(db):
    return query(db, "SELECT count(*) FROM feedback")[0][0]


def test_a_probe_that_tries_to_write_changes_no_row(run_module, db, tmp_path):
    """The spec admits one SELECT or WITH query; the READ ONLY transaction stops what still tries to write."""
    from ansible.module_utils.safeindex.core.connection import connection_params
    from ansible.module_utils.safeindex.engines import open_engine
    from ansible.module_utils.safeindex.spec.parse import Probe
    from ansible.module_utils.safeindex.verify.check import VerifyOptions, run_probe

    rows = feedback_rows(db)
    assert rows > 0
    dialect = open_engine(connection_params(connection_args(db)))
    try:
        # Past the spec's parser, straight to the engine.
        result = run_probe(dialect, Probe("delete_all", "DELETE FROM feedback", "idx_feedback_message"), "feedback",
                           dialect.default_schema(), {"idx_feedback_message"}, VerifyOptions(runs=1))
    finally:
        dialect.close()
    assert result["verdict"] == "error"
    assert re.search(r"read-only transaction|READ ONLY transaction", result["detail"]), result["detail"]
    assert feedback_rows(db) == rows

    if db.engine == "postgresql":
        # A writable WITH passes the spec's parser: preflight's baseline run fails on it, naming the probe as broken.
        index = {"name": "idx_feedback_message", "table": "feedback", "columns": ["message_id"]}
        probe = {"name": "sneaky", "sql": "WITH gone AS (DELETE FROM feedback RETURNING id) SELECT count(*) FROM gone",
                 "expect_index": index["name"]}
        before = verify(run_module, db, spec_file(tmp_path, [index], [probe]), phase="before")
        assert before["_rc"] != 0
        assert "probe of the spec is broken" in before["msg"] and "sneaky" in before["msg"]
        assert "in a read-only transaction" in before["msg"]
        assert feedback_rows(db) == rows


def test_migrate_prints_each_probe_with_its_speedup(db, tmp_path):
    spec = yaml.safe_load(open("migrations/indexes.yml"))
    inventory = write_inventory(tmp_path / "inventory", db, monitor_duration_seconds=0)
    completed = run_playbook("migrate.yml", inventory, "-e", "run_id=verify-run")
    assert completed.returncode == 0, completed.stdout[-4000:] + completed.stderr[-2000:]
    for probe in spec["probes"]:
        line = re.search(r"probe %s: [\d.]+ ms -> [\d.]+ ms \(x[\d.]+\), ([^\"]+)" % probe["name"], completed.stdout)
        assert line, (probe["name"], completed.stdout[-4000:])
        assert probe["expect_index"] in line.group(1) or "small table" in line.group(1)


def test_a_probe_slower_than_the_timeout_is_the_baseline_before_and_a_failure_after(run_module, pg_db, tmp_path):
    # Before the build a slow probe is why the index is wanted: noted, not a broken spec. After it, a failure.
    slow = dict(MESSAGES_OF_CONVERSATION, name="slow_probe",
                sql="SELECT m.id, pg_sleep(0.5) FROM message m WHERE conversation_id = 1 LIMIT 1")
    spec = spec_file(tmp_path, [MESSAGE_INDEX], [slow])
    before = verify(run_module, pg_db, spec, phase="before", probe_timeout=0.2)
    assert before["_rc"] == 0, before.get("msg")
    probe = before["probes"][0]
    assert probe["timed_out"] is True and probe["median_ms"] is None and "stopped at the probe timeout" in probe["detail"]

    build(run_module, pg_db, **MESSAGE_INDEX)
    after = verify(run_module, pg_db, spec, baseline=before["probes"], probe_timeout=0.2)
    assert after["_rc"] != 0
    assert after["probes"][0]["verdict"] == "error" and after["probes"][0]["before_timed_out"] is True
    assert "probe slow_probe: error" in after["msg"]
    assert probe_line(after, "slow_probe").startswith("probe slow_probe: ERROR")
