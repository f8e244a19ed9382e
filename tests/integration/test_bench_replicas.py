"""The replica lag benchmark (issue 20, point 5) at its --quick size: both engines, each with a real replica,
migrate.yml without and with pacing; its JSON's shape and the table's two peaks and verdict. In a file of its own so
that the two workers share the benchmarks."""

import pytest

from tests.integration.bench_runs import quick_benchmark_results

pytestmark = pytest.mark.slow


def test_replica_lag_benchmark_runs(tmp_path):
    completed, results = quick_benchmark_results("bench/replica_lag.py", tmp_path / "replica_lag.json")
    assert [row["engine"] for row in results] == ["postgresql", "mysql"]
    for row in results:
        runs = row["runs"]
        assert list(runs) == ["baseline", "paced"]
        assert runs["baseline"]["wait_for_replicas"] is False and runs["paced"]["wait_for_replicas"] is True
        for run in runs.values():
            # A whole migrate.yml run that built the spec, the replica's lag sampled through it until it caught up.
            assert run["status"] == "success" and run["indexes_created"] == 20
            assert len(run["builds"]) == 20 and all(build["start"] is not None for build in run["builds"])
            assert run["longest_build_seconds"] == max(build["seconds"] for build in run["builds"]) > 0
            assert run["samples"] > 0 and run["peak_lag_seconds"] >= 0 and run["lag_timeline"]
            assert run["caught_up_after_seconds"] is not None and run["wall_seconds"] > 0
            assert run["workload_writes"] > 0 and run["workload_errors"] == 0
            assert isinstance(run["waits"], list) and run["longest_wait_seconds"] >= 0
            own = "bytes_behind" if row["engine"] == "postgresql" else "seconds_behind_master"
            assert run["engine_peaks"][own] is not None
        target = row["target"]
        assert target["limit_seconds"] == round(runs["paced"]["longest_build_seconds"] + 2, 3)
        assert target["verdict"] == ("met" if runs["paced"]["peak_lag_seconds"] <= target["limit_seconds"] else "missed")
        assert target["baseline_peak_lag_seconds"] == runs["baseline"]["peak_lag_seconds"]
        # The table's summary line: the verdict, the peak with pacing and the peak without, side by side.
        line = next(text for text in completed.stdout.splitlines() if text.startswith("%s, " % row["server"]))
        assert "target %s" % target["verdict"] in line
        assert "with pacing peak lag %.2f s" % runs["paced"]["peak_lag_seconds"] in line
        assert "without pacing peak lag %.2f s" % runs["baseline"]["peak_lag_seconds"] in line
    assert "peak lag s" in completed.stdout and "longest build + 2 s" in completed.stdout
