"""Quick runs of the benchmarks of build speed and of a fleet of databases. Each benchmark still runs at its --quick size; in files
of their own so that the two workers share them."""

import pytest

from tests.integration.bench_runs import quick_benchmark_results

pytestmark = pytest.mark.slow


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
