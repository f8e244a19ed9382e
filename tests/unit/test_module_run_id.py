"""Every module that takes a run_id refuses one that breaks the rule of core/run_id.py, before it connects or writes."""

import pytest
from ansible.module_utils.safeindex.core.run_id import RULE

from tests.conftest import REPO, load_module

# A port nothing listens on: had the module not refused the run_id first, it would fail connecting instead.
NOWHERE = "postgresql://safeindex@127.0.0.1:9/app"
BAD_RUN_IDS = ["../../etc", "run id with spaces", "-starts-with-a-dash", "x" * 65, "run;DROP"]
MODULE_ARGS = {
    "db_backup": dict(database_url=NOWHERE, host_name="db", backup_dir="/nonexistent"),
    "db_health": dict(database_url=NOWHERE),
    "db_index": dict(database_url=NOWHERE, name="idx_a", table="a", columns=["b"]),
    "db_lock": dict(database_url=NOWHERE, holder_file="/nonexistent/lock.json"),
    "db_preflight": dict(database_url=NOWHERE, spec_path="/nonexistent/indexes.yml", holder_file="/nonexistent/lock.json"),
    "db_restore": dict(database_url=NOWHERE, manifest_path="/nonexistent/manifest.json"),
    "db_rollback_plan": dict(database_url=NOWHERE),
    "rds_snapshot": dict(instance_id="app-db", aws_endpoint_url="http://127.0.0.1:9", aws_region="eu-west-1"),
    "rollback_record": dict(rollback_dir="/nonexistent/rollback", outcome={}),
    "run_notice": dict(run_dir="/nonexistent/run", kind="before"),
    "run_record": dict(run_dir="/nonexistent/run", event="start"),
}


def test_every_module_with_a_run_id_option_is_covered_here():
    modules = [p.stem for p in (REPO / "library").glob("*.py")]
    assert sorted(m for m in modules if "run_id" in load_module(m).ARGUMENT_SPEC) == sorted(MODULE_ARGS)


@pytest.mark.parametrize("name", sorted(MODULE_ARGS))
@pytest.mark.parametrize("run_id", BAD_RUN_IDS)
def test_a_bad_run_id_fails_the_module_before_anything_changes(run_module, name, run_id):
    result = run_module(name, dict(MODULE_ARGS[name], run_id=run_id))
    assert result["_rc"] == 1 and result["failed"] is True
    assert result["msg"] == "run_id %r is not a valid run id: %s" % (run_id, RULE)
    assert result.get("changed") is False


@pytest.mark.parametrize("name", ["run_record", "db_index"])
def test_a_good_run_id_passes_the_check(run_module, name, tmp_path):
    args = dict(MODULE_ARGS[name], run_id="2026-12-01T10.15_first-run")
    if name == "run_record":
        args["run_dir"] = str(tmp_path)
    result = run_module(name, args, check_mode=True)
    assert "not a valid run id" not in result.get("msg", "")
