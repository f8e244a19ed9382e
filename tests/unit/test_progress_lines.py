"""Progress lines: what the module's watcher writes, and what the callback plugin prints of them, and when."""

import importlib.util
import json
import threading

from ansible.module_utils.safeindex.build.progress import Watcher, describe, watching

from tests.conftest import REPO


def load_callback():
    spec = importlib.util.spec_from_file_location("safeindex_progress_callback", REPO / "callback_plugins" / "safeindex_progress.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ProgressTail = load_callback().ProgressTail


def append(path, **record):
    with open(path, "a") as handle:
        handle.write(json.dumps(record) + "\n")


def test_a_build_phase_reads_as_one_line():
    assert describe({"phase": "building index: scanning table", "percent": 42, "unit": "blocks"}) == \
        "building index: scanning table, 42% of blocks"
    assert describe({"phase": "waiting for old snapshots", "waiting": "0 of 1 sessions done, now pid 7"}) == \
        "waiting for old snapshots, 0 of 1 sessions done, now pid 7"
    assert describe({"phase": "dumping", "bytes": 5 * 1024 * 1024, "table": "public.message"}) == \
        "dumping, 5.0 MB written, table public.message"
    assert describe({"phase": None, "bytes": 0}) == "running"


def test_work_that_ends_within_a_few_seconds_prints_nothing(tmp_path):
    tail = ProgressTail("db1", str(tmp_path / "p.jsonl"))
    assert tail.poll(now=0) == []  # nothing written yet
    append(tail.path, subject="idx_a", text="building index", elapsed=2.0)
    assert tail.poll(now=1) == []


def test_the_first_line_after_three_seconds_then_one_every_five(tmp_path):
    tail = ProgressTail("db1", str(tmp_path / "p.jsonl"))
    append(tail.path, subject="idx_a", text="building index: scanning table, 10% of blocks", elapsed=3.1)
    assert tail.poll(now=100) == [(0, "  [db1] idx_a: building index: scanning table, 10% of blocks (3s)")]
    append(tail.path, subject="idx_a", text="building index: scanning table, 30% of blocks", elapsed=5.1)
    assert tail.poll(now=102) == []
    append(tail.path, subject="idx_a", text="building index: scanning table, 50% of blocks", elapsed=7.1)
    append(tail.path, subject="idx_a", text="building index: sorting live tuples", elapsed=9.1)
    assert tail.poll(now=105) == [(0, "  [db1] idx_a: building index: sorting live tuples (9s)")]


def test_the_next_index_shows_at_once(tmp_path):
    tail = ProgressTail("db1", str(tmp_path / "p.jsonl"))
    append(tail.path, subject="idx_a", text="building index", elapsed=4)
    assert len(tail.poll(now=10)) == 1
    append(tail.path, subject="idx_b", text="waiting for writers before build", elapsed=3.5)
    assert tail.poll(now=11) == [(0, "  [db1] idx_b: waiting for writers before build (3s)")]


def test_a_line_still_being_written_waits_for_its_end(tmp_path):
    tail = ProgressTail("db1", str(tmp_path / "p.jsonl"))
    line = json.dumps({"subject": "idx_a", "text": "building index", "elapsed": 6})
    with open(tail.path, "a") as handle:
        handle.write(line[:10])
    assert tail.poll(now=0) == []
    with open(tail.path, "a") as handle:
        handle.write(line[10:] + "\n")
    assert tail.poll(now=1) == [(0, "  [db1] idx_a: building index (6s)")]


def test_a_watcher_error_shows_only_when_verbose(tmp_path):
    tail = ProgressTail("db1", str(tmp_path / "p.jsonl"))
    append(tail.path, subject="idx_a", error="progress unavailable: connection refused", elapsed=2)
    assert tail.poll(now=0) == [(1, "  [db1] idx_a: progress unavailable: connection refused (2s)")]


class Source:
    """Stands in for the watcher's second connection."""

    def __init__(self):
        self.closed = False

    def close(self):
        self.closed = True


def test_the_watcher_writes_samples_and_closes_its_connection(tmp_path):
    path, source, sampled = str(tmp_path / "p.jsonl"), Source(), threading.Event()

    def sample(connection):
        assert connection is source
        sampled.set()
        return {"phase": "building index: scanning table", "percent": 42, "unit": "blocks"}

    watcher = Watcher(path, "idx_a", "index", sample, connect=lambda: source, first=0, every=3600)
    watcher.start()
    assert sampled.wait(30)
    watcher.stop()
    watcher.join(30)
    assert source.closed and not watcher.is_alive()
    line = json.loads(open(path).read().splitlines()[0])
    assert line["subject"] == "idx_a" and line["text"] == "building index: scanning table, 42% of blocks"


def test_an_error_in_the_watcher_is_written_once_and_ends_it(tmp_path):
    path, source = str(tmp_path / "p.jsonl"), Source()

    def sample(_connection):
        raise RuntimeError("permission denied for view pg_stat_progress_create_index\nDETAIL: more")

    watcher = Watcher(path, "idx_a", "index", sample, connect=lambda: source, first=0, every=0)
    watcher.start()
    watcher.join(30)
    assert not watcher.is_alive() and source.closed
    lines = [json.loads(line) for line in open(path).read().splitlines()]
    assert [line["error"] for line in lines] == ["progress unavailable: permission denied for view pg_stat_progress_create_index"]


def test_without_a_progress_file_nothing_is_watched(tmp_path):
    with watching(None, "idx_a", "index", sample=lambda _: {}) as watcher:
        assert watcher is None
    assert list(tmp_path.iterdir()) == []


def test_each_announcement_of_a_batch_shows_at_once_and_older_samples_are_dropped(tmp_path):
    from ansible.module_utils.safeindex.build.progress import announce

    tail = ProgressTail("db1", str(tmp_path / "p.jsonl"))
    append(tail.path, subject="idx_a", text="building index: sorting live tuples", elapsed=9.0)
    announce(tail.path, "idx_a", "index", "created in 9.3 s, 2.0 MB")
    announce(tail.path, "idx_b", "index", "exists")
    assert tail.poll(now=10) == [(0, "  [db1] idx_a: created in 9.3 s, 2.0 MB"), (0, "  [db1] idx_b: exists")]
    # The samples of the next build show as before.
    append(tail.path, subject="idx_c", text="building index: scanning table, 5% of blocks", elapsed=3.2)
    assert tail.poll(now=11) == [(0, "  [db1] idx_c: building index: scanning table, 5% of blocks (3s)")]


def test_what_a_task_wrote_in_its_last_moments_is_shown_when_it_ends(tmp_path):
    from ansible.module_utils.safeindex.build.progress import announce

    tail = ProgressTail("db1", str(tmp_path / "p.jsonl"))
    announce(tail.path, "idx_a", "index", "exists")
    append(tail.path, subject="idx_b", text="building index", elapsed=3.5)
    announce(tail.path, "idx_b", "index", "created in 3.6 s")
    assert tail.flush() == [(0, "  [db1] idx_a: exists"), (0, "  [db1] idx_b: created in 3.6 s")]
    assert tail.flush() == []


def test_no_progress_file_no_announcement(tmp_path):
    from ansible.module_utils.safeindex.build.progress import announce

    announce(None, "idx_a", "index", "exists")
    announce(str(tmp_path / "missing" / "p.jsonl"), "idx_a", "index", "exists")  # unwritable: no error
