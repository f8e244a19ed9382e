"""Quick runs of the benchmarks of a run's backup and its production impact. Each benchmark still runs at its --quick size; in files
of their own so that the two workers share them."""

import pytest

from tests.integration.bench_runs import quick_benchmark_results

pytestmark = pytest.mark.slow


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
