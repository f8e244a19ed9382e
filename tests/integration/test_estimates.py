"""The plan's time estimates on real servers: a host with no history is "uncalibrated"; a staging rehearsal measures each
build's rate, and a prod-like plan (`--check`, environment_name prod, same spec) quotes that rehearsal's run id, with
per-index times at the rate it measured, in its table, its before notice and db_preflight's result."""

import json

import pytest
import yaml
from ansible.module_utils.safeindex.engines import features_for
from ansible.module_utils.safeindex.run.estimates import duration_text as estimates_text

from tests.integration.conftest import (
    HOST,
    connection_args,
    query,
    run_playbook,
    said_of,
    write_inventory_of,
)

pytestmark = pytest.mark.slow

SPEC = {"indexes": [
    {"name": "idx_user_username", "table": "user", "columns": ["username"]},
    {"name": "idx_message_conversation_timestamp", "table": "message", "columns": ["conversation_id", "timestamp"]},
]}


def table_bytes(db, table):
    """What a user reads in the catalog as the table's size: the heap (PostgreSQL), DATA_LENGTH (MariaDB)."""
    if db.engine == "postgresql":
        statement = "SELECT pg_relation_size(c.oid) FROM pg_class c WHERE c.relname = %s AND c.relnamespace = 'public'::regnamespace"
    else:
        statement = "SELECT DATA_LENGTH FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s"
    return int(query(db, statement, (table,))[0][0])


def drop_spec_indexes(db):
    """The prod database does not have the indexes yet: drop what the rehearsal built."""
    conn = db.connect()
    try:
        with conn.cursor() as cur:
            for entry in SPEC["indexes"]:
                cur.execute('DROP INDEX "%s"' % entry["name"] if db.engine == "postgresql"
                            else "DROP INDEX `%s` ON `%s`" % (entry["name"], entry["table"]))
    finally:
        conn.close()


def plan(run_module, db, folder, **options):
    """db_preflight as the preflight role calls it in a --check run (the run lock only tested), with the before notice."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "indexes.yml").write_text(yaml.safe_dump(SPEC))
    args = dict(connection_args(db), spec_path=str(folder / "indexes.yml"), run_id="plan-1", holder_file=str(folder / "lock.json"),
                run_dir=str(folder / "artifacts" / HOST / "plan-1"), host=HOST,
                before_notice={"monitor_duration_seconds": 0}, **options)
    return run_module("db_preflight", args, check_mode=True)


def rows_by_name(estimates):
    return {row["name"]: row for row in estimates["indexes"]}


def test_a_rehearsal_calibrates_the_prod_plan_and_a_host_with_no_history_is_uncalibrated(dbs, run_module, tmp_path):
    for host, db in dbs.items():
        a_host_with_no_history_is_uncalibrated(db, run_module, tmp_path / ("fresh-" + host))

    # The staging rehearsal (both engines in one run): its report keeps estimate and actual per index, its record the
    # measured rates.
    rehearsals = tmp_path / "rehearsals"
    staging = write_inventory_of(tmp_path / "staging", dbs, host_vars=dict.fromkeys(dbs, {"environment_name": "staging"}))
    (tmp_path / "indexes.yml").write_text(yaml.safe_dump(SPEC))
    spec_option = "index_spec_file=%s" % (tmp_path / "indexes.yml")
    rehearsed = run_playbook("migrate.yml", staging, "-e", spec_option, "-e", "rehearsal_dir=%s" % rehearsals)
    assert rehearsed.returncode == 0, rehearsed.stdout[-3000:]
    reports, records = {}, {}
    for host, db in dbs.items():
        report = reports[host] = json.loads(next((staging / "artifacts" / host).glob("*/report.json")).read_text())
        assert report["status"] == "success" and report["indexes_created"] == 2
        built = {row["name"]: row for row in report["indexes"]}
        kept = rows_by_name(report["estimates"])
        for name, row in kept.items():
            assert row["calibrated_by"] == "uncalibrated" and row["estimated_seconds"] is not None
            assert row["actual_seconds"] == built[name]["duration_seconds"] > 0
            assert row["bytes_per_second"] == pytest.approx(row["table_bytes"] / max(row["actual_seconds"], 1.0))
            assert row["duration_floored"] == (row["actual_seconds"] < 1.0)
        assert report["estimates"]["backup"]["actual_seconds"] == report["backup"]["duration_seconds"]
        record = records[host] = json.loads(next(rehearsals.glob("*-%s.json" % db.engine)).read_text())
        assert record["run_id"] == report["run_id"]
        assert record["build_rates"] == {name: row["bytes_per_second"] for name, row in kept.items()}

    # The prod-like plan on the same spec: quotes the rehearsal, each index at the rate the rehearsal measured for it.
    for db in dbs.values():
        drop_spec_indexes(db)
    prod = write_inventory_of(tmp_path / "prod", dbs, host_vars=dict.fromkeys(dbs, {"environment_name": "prod"}))
    planned = run_playbook("migrate.yml", prod, "--check", "-e", spec_option, "-e", "rehearsal_dir=%s" % rehearsals)
    (tmp_path / "plan.txt").write_text(planned.stdout)  # what the operator saw, kept in the test's folder
    assert planned.returncode == 0, planned.stdout[-3000:]
    assert "TASK [preflight : Show the time estimates]" in planned.stdout
    for host, db in dbs.items():
        result = plan(run_module, db, tmp_path / ("prod-result-" + host), environment_name="prod", rehearsal_dir=str(rehearsals))
        the_prod_plan_quotes_the_rehearsal(db, said_of(planned, host), result, reports[host], records[host])


def a_host_with_no_history_is_uncalibrated(db, run_module, folder):
    features = features_for(db.engine)
    sizes = {entry["name"]: table_bytes(db, entry["table"]) for entry in SPEC["indexes"]}
    assert all(sizes.values()), sizes

    # A host with no history and no rehearsal: the engine's conservative default, labelled so.
    fresh = plan(run_module, db, folder)
    assert fresh["_rc"] == 0, fresh.get("msg")
    estimates = fresh["estimates"]
    assert estimates["source"] == "uncalibrated" and estimates["calibrated_by"] == "uncalibrated"
    for name, row in rows_by_name(estimates).items():
        assert row["table_bytes"] == sizes[name] and row["estimated_index_bytes"] > 0
        assert row["estimated_seconds"] == pytest.approx(sizes[name] / features.default_build_bytes_per_second)
    assert all(line.rstrip().endswith("uncalibrated") for line in estimates["table"][1:4]), estimates["table"]
    assert "(estimated: backup " in fresh["notice_before"]["text"] and "(uncalibrated)" in fresh["notice_before"]["text"]
    assert "runbook's timeline" not in fresh["notice_before"]["text"]


def the_prod_plan_quotes_the_rehearsal(db, printed, result, report, record):
    calibrated_by = "rehearsal %s" % report["run_id"]
    # The play prints the same table db_preflight returns (the output callback folds long lines: compared word by word).
    for line in result["estimates"]["table"][:4]:
        assert " ".join(line.split()) in printed, (line, printed[-3000:])
    assert [line.split()[-2:] for line in result["estimates"]["table"][1:4]] == [calibrated_by.split()] * 3
    assert "Expected duration: about" in printed and "2 index build(s) %s (%s)" % (
        estimates_text(result["estimates"]["builds_seconds"]), calibrated_by) in printed
    assert result["_rc"] == 0, result.get("msg")
    assert [c["result"] for c in result["checks"] if c["check"] == "rehearsal"] == ["ok"]
    estimates = result["estimates"]
    assert estimates["source"] == "rehearsal" and estimates["calibrated_by"] == calibrated_by
    tables = {entry["name"]: entry["table"] for entry in SPEC["indexes"]}
    for name, row in rows_by_name(estimates).items():
        assert row["calibrated_by"] == calibrated_by and row["bytes_per_second"] == record["build_rates"][name]
        assert row["table_bytes"] == table_bytes(db, tables[name])
        assert row["estimated_seconds"] == pytest.approx(row["table_bytes"] / record["build_rates"][name])
    assert estimates["builds_seconds"] == pytest.approx(sum(r["estimated_seconds"] for r in estimates["indexes"]))
    assert estimates["backup"]["calibrated_by"] == calibrated_by
    assert estimates["rate_is_lower_bound"] == record["build_rate_floored"]
    assert "(%s)" % calibrated_by in result["notice_before"]["text"]
