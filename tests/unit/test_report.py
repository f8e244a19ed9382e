"""The runbook's summary, counted from what each index's module call returned."""

from ansible.module_utils.safeindex.report import build_report, render_markdown, summarize, summary_lines

NAMES = ["idx_a", "idx_b", "idx_c", "idx_d", "idx_e"]
RESULTS = [
    {"name": "idx_a", "action": "created", "changed": True},
    {"name": "idx_b", "action": "exists", "changed": False},
    {"name": "idx_c", "action": "rebuilt_invalid", "changed": True},
    {"name": "idx_d", "action": "failed", "failed": True, "msg": "gave up: locked"},
    {"item": {"name": "idx_e"}, "action": "skipped_equivalent", "changed": False},
]


def test_counts_follow_the_runbook():
    summary = summarize(RESULTS, NAMES)
    assert summary["indexes_created"] == 2 and summary["rebuilt_invalid"] == 1
    assert summary["already_existed"] == 1 and summary["equivalent_existed"] == 1
    assert summary["errors"] == 1 and summary["total_in_place"] == 4 and summary["total_expected"] == 5
    lines = summary_lines(summary, "db1", "run1")
    assert "   Indexes created: 2" in lines and "   Errors: 1" in lines
    assert lines[-1] == "Total indexes in place: 4/5"


def test_an_index_never_attempted_is_counted_as_such():
    summary = summarize(RESULTS[:2], NAMES[:3])
    assert summary["not_attempted"] == 1 and summary["total_in_place"] == 2
    assert "   Not attempted: 1" in summary_lines(summary, "db1", "run1")


def test_check_mode_counts_what_is_in_place_now_and_what_would_be_built():
    planned = [{"name": "idx_a", "action": "created", "changed": True}, {"name": "idx_b", "action": "exists"}]
    summary = summarize(planned, ["idx_a", "idx_b"], check_mode=True)
    assert summary["to_build"] == 1 and summary["total_in_place"] == 1
    assert "nothing was changed" in summary_lines(summary, "db1", "run1", check_mode=True)[1]


def test_report_carries_the_stable_keys():
    summary = summarize(RESULTS, NAMES)
    report = build_report("run1", "db1", "postgresql", "failed", summary, RESULTS, phases=[])
    for key in ("run_id", "status", "indexes_created", "already_existed", "errors", "total_in_place",
                "total_expected", "backup", "snapshot", "phases"):
        assert key in report
    assert report["indexes"][3]["error"] == "gave up: locked"
    markdown = render_markdown(report, summary_lines(summary, "db1", "run1"))
    assert "| idx_d | failed |" in markdown and "gave up: locked" in markdown
