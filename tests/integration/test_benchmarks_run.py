"""Each benchmark still runs at its --quick size (the numbers themselves live in bench/README.md)."""

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow


def test_backup_overhead_benchmark_runs(tmp_path):
    output = tmp_path / "backup_overhead.json"
    completed = subprocess.run(
        [sys.executable, "bench/backup_overhead.py", "--quick", "--output", str(output)],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    results = json.loads(output.read_text())["results"]
    assert [r["engine"] for r in results] == ["postgresql", "mysql"]
    for row in results:
        assert row["plain_seconds"] > 0 and row["restore_ratio"] > 0 and row["plain_bytes"] > 0
    assert "restore" in completed.stdout
