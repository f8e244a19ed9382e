"""Write tests/file_weights.json from a pytest log run with --durations=0: each test file's seconds (setup, call and
teardown summed), which tests/conftest.py uses to hand the slowest files to the workers first.

    .venv/bin/python -m pytest -n 2 --dist loadfile --durations=0 tests/integration tests/reliability > durations.log
    .venv/bin/python scripts/test_weights.py durations.log

Only the order matters, so the figures of a loaded machine do as well as a quiet one's.
"""

import collections
import json
import re
import sys
from pathlib import Path

LINE = re.compile(r"^([\d.]+)s (?:call|setup|teardown)\s+(tests/\S+?\.py)::")
OUTPUT = Path(__file__).resolve().parent.parent / "tests" / "file_weights.json"


def file_seconds(log_lines) -> dict:
    seconds = collections.Counter()
    for line in log_lines:
        match = LINE.match(line)
        if match:
            seconds[match.group(2)] += float(match.group(1))
    return {path: round(total, 1) for path, total in sorted(seconds.items(), key=lambda item: -item[1])}


def main() -> None:
    weights = file_seconds(Path(sys.argv[1]).read_text().splitlines())
    OUTPUT.write_text(json.dumps(weights, indent=1) + "\n")
    print("%d files, %.0f s in all: %s" % (len(weights), sum(weights.values()), OUTPUT))


if __name__ == "__main__":
    main()
