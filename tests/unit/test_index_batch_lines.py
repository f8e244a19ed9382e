"""What a batch of db_index says per index and as a whole: the lines an operator reads, the call's error."""

from ansible.module_utils.safeindex.build.batch import BatchOutcome, index_line


def test_the_line_of_each_outcome():
    assert index_line({"action": "created", "duration_seconds": 4.24, "size_bytes": 3 * 1024 * 1024}) == "created in 4.2 s, 3.0 MB"
    assert index_line({"action": "rebuilt_invalid", "duration_seconds": 1.0}) == "rebuilt from its INVALID leftover in 1.0 s"
    assert index_line({"action": "exists"}) == "exists"
    assert index_line({"action": "skipped_equivalent", "equivalent_to": "legacy"}) == "skipped: an equal index exists as legacy"
    assert index_line({"action": "failed", "failed": True, "msg": "idx_a: gave up\n  pid 7"}) == "failed: idx_a: gave up"
    assert index_line({"action": "created"}, check_mode=True) == "would be created (check mode)"


def test_the_calls_error_names_each_failed_index_and_its_cause():
    outcome = BatchOutcome(results=[
        {"name": "idx_a", "action": "exists"},
        {"name": "idx_b", "action": "failed", "failed": True, "msg": "idx_b: could not create unique index"},
        {"name": "idx_c", "action": "failed", "failed": True, "msg": "cannot connect to db:5432"},
    ])
    assert [r["name"] for r in outcome.failed] == ["idx_b", "idx_c"]
    assert outcome.message() == "2 of 3 indexes failed: idx_b: could not create unique index; idx_c: cannot connect to db:5432"
    assert not outcome.changed
    outcome.interrupted = True
    assert outcome.message().startswith("interrupted (Ctrl-C) after 3 indexes; the rest were not attempted. 2 of 3")
