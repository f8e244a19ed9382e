"""Quick runs of the benchmarks of a run's fixed cost: the index phase, the rerun, the index check. Each benchmark
still runs at its --quick size; in files of their own so that the two workers share them."""

import pytest

from tests.integration.bench_runs import quick_benchmark_results

pytestmark = pytest.mark.slow


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
