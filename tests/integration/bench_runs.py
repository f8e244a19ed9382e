"""Running a benchmark at its --quick size from a test (the numbers themselves live in bench/README.md)."""

import json
import subprocess
import sys

from tests.conftest import REPO


def quick_benchmark_results(script, output, *extra):
    completed = subprocess.run(
        [sys.executable, script, "--quick", "--output", str(output), *extra],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-2000:]
    return completed, json.loads(output.read_text())["results"]
