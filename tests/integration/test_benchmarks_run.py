"""Each benchmark still runs at its --quick size (the numbers themselves live in bench/README.md)."""

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow


def quick_benchmark_results(script, output, *extra):
    completed = subprocess.run(
        [sys.executable, script, "--quick", "--output", str(output), *extra],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-2000:]
    return completed, json.loads(output.read_text())["results"]


def test_backup_overhead_benchmark_runs_with_postgresql_18_next_to_15(tmp_path):
    # production_impact's quick run below covers the default major (no --pg-major).
    completed, results = quick_benchmark_results("bench/backup_overhead.py", tmp_path / "backup_overhead.json",
                                                 "--pg-major", "15", "18")
    assert [r["engine"] for r in results] == ["postgresql", "postgresql", "mysql"]
    assert [(r["server"], r["pg_major"]) for r in results] == [("postgresql 15", 15), ("postgresql 18", 18), ("mysql", None)]
    for row in results:
        assert row["plain_seconds"] > 0 and row["restore_ratio"] > 0 and row["plain_bytes"] > 0
        assert all(row["%s_seconds" % level] > 0 and row["%s_bytes" % level] > 0 for level in ("checksum", "list", "restore"))
        # The default restore check ran on a scratch server of the controller, the other on the server; the target's verdict.
        assert row["restore_checked_on"].startswith("scratch ") and row["restore_server_checked_on"] == "server"
        assert row["restore_server_ratio"] > 0 and row["target_met"] in (True, False) and row["target_ratio"] == 1.5
    for row, major in zip(results, (15, 18), strict=False):
        # Each server dumped by a pg_dump of its own major (an older one refuses a newer server).
        assert row["server_version"].startswith("%d." % major) and "pg_dump (PostgreSQL) %d." % major in row["client"]
    assert "restore" in completed.stdout
    assert "postgresql 15" in completed.stdout and "postgresql 18" in completed.stdout
    target = next(line for line in completed.stdout.splitlines() if line.startswith("target:"))
    assert "postgresql 15 x" in target and "postgresql 18 x" in target and "mysql x" in target
    assert target.count(" met ") + target.count(" MISSED ") == 3


def test_production_impact_benchmark_runs(tmp_path):
    completed, results = quick_benchmark_results("bench/production_impact.py", tmp_path / "production_impact.json")
    assert [r["engine"] for r in results] == ["postgresql", "mysql"]
    for result in results:
        phases = {phase["name"]: phase for phase in result["phases"]}
        assert list(phases) == ["baseline", "runbook", "migrate"]
        for phase in phases.values():
            assert phase["writes"] > 0 and phase["reads"] > 0 and phase["writes_per_second"] > 0
            assert phase["longest_write_stall_ms"] > 0
        # Each approach built the whole spec (the runbook's indexes are dropped again before migrate.yml runs).
        assert phases["runbook"]["spec_indexes_present"] == 20
        assert phases["migrate"]["spec_indexes_present"] == 20
        # Every write the workload saw committed is in the table, the dump and the builds notwithstanding.
        assert result["workload_rows_in_table"] == result["writes_committed"]
        assert result["target"]["verdict"] in ("met", "missed")
    assert (tmp_path / "production_impact.png").stat().st_size > 0
    assert "longest stall ms" in completed.stdout


def test_overhead_benchmark_runs(tmp_path):
    completed, results = quick_benchmark_results("bench/overhead.py", tmp_path / "overhead.json")
    assert [r["engine"] for r in results] == ["postgresql", "mysql"]
    for row in results:
        assert row["floor_seconds"] > 0 and row["ansible_startup_seconds"] > 0
        migrate = row["migrate"]
        assert migrate["wall_seconds"] > row["floor_seconds"]
        assert {"preflight", "backup", "indexes", "verify", "monitor"} <= set(migrate["phases"])
        assert migrate["indexes"] == 20 and migrate["created"] == 20
        assert row["fixed_cost_per_index"]["index_phase_minus_floor_seconds"] is not None
        assert set(row["ratios"]) == {"migrate_wall", "migrate_wall_without_backup", "index_phase", "index_phase_with_startup"}
    assert "index phase / floor" in completed.stdout and "Ansible start-up" in completed.stdout


def test_build_speed_benchmark_runs(tmp_path):
    completed, results = quick_benchmark_results("bench/build_speed.py", tmp_path / "build_speed.json")
    assert results["server_settings"]["maintenance_work_mem"]
    for variant in ("server defaults", "tuned", "memory only"):
        assert results["variants"][variant]["total_seconds"] > 0
        assert len(results["variants"][variant]["indexes"]) == 20
    assert results["ratio_to_defaults"]["tuned"]["total"] > 0
    assert "tuned / defaults" in completed.stdout and "MariaDB: not measured" in completed.stdout


def test_fleet_benchmark_runs(tmp_path):
    completed, rows = quick_benchmark_results("bench/fleet.py", tmp_path / "fleet.json")
    assert [row["databases"] for row in rows] == [1, 2]
    for row in rows:
        assert row["wall_seconds"] > 0 and row["controller_cpu_seconds"] > 0 and row["ratio_to_n1"] > 0
        for run in row["runs"]:
            # Every database of the fleet has the spec's 20 indexes: by its report and by its catalog.
            assert run["catalog_indexes"] == [20] * row["databases"]
            assert [host["total_in_place"] for host in run["hosts"]] == [20] * row["databases"]
            assert len({host["run_id"] for host in run["hosts"]}) == 1
    assert rows[0]["ratio_to_n1"] == 1.0
    assert (tmp_path / "fleet.png").stat().st_size > 0
    assert "ratio to N=1" in completed.stdout


def test_rerun_benchmark_runs(tmp_path):
    completed, rows = quick_benchmark_results("bench/rerun.py", tmp_path / "rerun.json")
    assert [row["engine"] for row in rows] == ["postgresql", "mysql"]
    for row in rows:
        # The rerun found every index in place and changed nothing; the first run built them all.
        assert row["rerun_changed"] == [0]
        assert row["rerun_report"] == {"status": "success", "indexes_created": 0, "total_in_place": 20}
        assert row["first_run"]["changed"] > 0 and row["first_run"]["failed"] == 0
        assert row["rerun_wall_seconds"] > row["noop_play_wall_seconds"] > 0
        assert 0 < row["rerun_module_processes"] < row["rerun_tasks"]
        assert row["target"]["wall"] in ("met", "missed") and row["target"]["cpu"] in ("met", "missed")
    assert "rerun wall" in completed.stdout and "Slowest tasks" in completed.stdout


def test_index_check_benchmark_runs(tmp_path):
    completed, row = quick_benchmark_results("bench/index_check.py", tmp_path / "index_check.json")
    assert row["indexes"] == 20 and row["ours_seconds"] > 0 and row["ours_runs"]
    # Without a registry the baseline cannot be installed: then it says so, and never reads as met.
    if row["theirs_seconds"] is None:
        assert row["verdict"] == "missed: baseline not installable" and "missed: baseline not installable" in completed.stdout
    else:
        assert row["ratio"] == round(row["ours_seconds"] / row["theirs_seconds"], 3)
        assert row["verdict"] == ("met" if row["ratio"] <= row["target"] else "missed")
    assert "ours / theirs" in completed.stdout and "target <= 0.25" in completed.stdout
