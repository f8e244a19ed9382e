"""The runbook's summary, counted from what each index's module call returned; the report's timeline and checklist."""

import copy
import json
import stat

from ansible.module_utils.safeindex.report.build import add_notice, build_report, summarize, summary_lines, write_report
from ansible.module_utils.safeindex.report.markdown import render_markdown

from tests.unit import report_samples
from tests.unit.report_samples import MONITOR, VERIFY, probe

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
    report = build_report("run1", "db1", "postgresql", "failed", summary, RESULTS, phases=[], lines=summary_lines(summary, "db1", "run1"))
    for key in ("run_id", "status", "indexes_created", "already_existed", "errors", "total_in_place",
                "total_expected", "backup", "snapshot", "phases", "verify", "probes_before", "monitor", "timeline", "checklist"):
        assert key in report
    assert report["indexes"][3]["error"] == "gave up: locked"
    markdown = render_markdown(report)
    assert "| idx_d | failed |" in markdown and "gave up: locked" in markdown


def checklist(report):
    return {entry["item"]: entry for entry in report["checklist"]}


def test_the_summary_shows_each_probes_time_before_and_after_and_its_speed_up():
    report = report_samples.report()
    lines = report["summary_lines"]
    assert lines[4] == "Total indexes in place: 4/4"
    assert "   login_by_username: 4.80 ms -> 0.06 ms, speed-up 80.0x [ok, idx_user_username]" in lines
    assert "   messages_of_conversation: 35.00 ms -> 1.00 ms, speed-up 35.0x [ok, idx_message_conversation_timestamp]" in lines
    slower = dict(probe("admin_users", "idx_user_role", 0.05, 0.08, verdict="small_table", used=[]))
    assert "0.62x (slower)" in summary_lines(summarize([], []), "db1", "r", verify={"probes": [slower]})[-1]
    no_baseline = probe("admin_users", "idx_user_role", None, 0.08)
    assert "0.08 ms after (no timing before)" in summary_lines(summarize([], []), "db1", "r", verify={"probes": [no_baseline]})[-1]


def test_the_report_keeps_each_phases_findings_without_ansibles_own_keys():
    report = report_samples.report()
    assert report["verify"]["probes"][0]["speedup"] == 80.0 and "invocation" not in report["verify"]
    assert report["monitor"]["cloudwatch"]["CPUUtilization"] == {"before": 31.5, "after": 18.2, "unit": "Percent"}
    assert report["probes_before"] == {"probes": []} and report["backup_retention_days"] == 7
    json.dumps(report)  # report.json holds it as it is


def test_phases_that_did_not_run_are_null_and_their_checklist_items_not_checked():
    skipped = {"skipped": True, "skip_reason": "Conditional result was False", "changed": False}
    report = report_samples.report(status="failed", verify=skipped, monitor=None, phases=report_samples.PHASES[:4], error="boom")
    assert report["verify"] is None and report["monitor"] is None
    items = checklist(report)
    assert items["Query performance improved"] == {"item": "Query performance improved", "ticked": None,
                                                   "evidence": "not checked: verification did not run"}
    for name in ("Application works normally", "No errors in logs", "Users can login and query"):
        assert items[name]["ticked"] is None and "monitor phase did not run" in items[name]["evidence"]
    markdown = render_markdown(report)
    assert "Verification did not run." in markdown and "The monitor phase did not run." in markdown


def test_the_timeline_sets_each_phase_against_the_runbooks_expected_time():
    phases = report_samples.PHASES[:4] + [{"name": "verify", "started": "2025-06-02T20:05:10Z", "finished": None, "duration_seconds": None}]
    rows = {row["phase"]: row for row in report_samples.report(phases=phases)["timeline"]}
    assert list(rows) == ["Backup", "Preparation", "Migration", "Verification", "Monitoring", "Total"]
    # The runbook's Backup row is this tool's backup and RDS snapshot together.
    assert rows["Backup"]["actual_seconds"] == 300.5 and rows["Backup"]["verdict"] == "within"
    assert rows["Backup"]["expected"] == "5-15 min" and rows["Backup"]["runbook_phases"] == ["backup", "snapshot"]
    assert (rows["Preparation"]["actual_seconds"], rows["Preparation"]["verdict"]) == (3.2, "shorter")
    assert rows["Verification"]["verdict"] == "unfinished" and rows["Monitoring"]["verdict"] == "not run"
    assert (rows["Total"]["expected"], rows["Total"]["actual_seconds"]) == ("50-65 min", 2114.0)
    long_backup = [dict(report_samples.PHASES[1], duration_seconds=1200.0)]
    assert {r["phase"]: r for r in report_samples.report(phases=long_backup)["timeline"]}["Backup"]["verdict"] == "longer"


def test_the_checklist_is_ticked_on_the_runs_evidence():
    items = checklist(report_samples.report())
    assert [entry["item"] for entry in items.values()] == [
        "Indexes created: 4/4", "Application works normally", "No errors in logs", "Query performance improved",
        "Users can login and query", "Database backup kept safe for 7 days", "Document completion time and any issues",
        "Update team that migration is complete"]
    assert all(entry["ticked"] is True for entry in list(items.values())[:7])
    assert items["Query performance improved"]["evidence"] == "3 probe(s) timed before and after: 35.0x to 80.0x faster"
    assert "2/2 smoke checks passed: login, query" in items["Users can login and query"]["evidence"]
    assert items["Application works normally"]["evidence"].endswith(
        "database health over 60 samples: max 14 connections, max 0 lock waits")
    assert "verified by restore; kept 7 days" in items["Database backup kept safe for 7 days"]["evidence"]
    # The after notice comes after the report: until it is written, nobody was told.
    assert items["Update team that migration is complete"]["ticked"] is None


def test_a_run_that_built_nothing_judges_query_performance_by_the_plans_not_by_timing_noise():
    # Everything already existed: before and after time the same plans; a 0.9x is noise, a plan without its index is not.
    existing = [{"name": r["name"], "action": "exists", "changed": False} for r in report_samples.INDEX_RESULTS]
    verify = copy.deepcopy(report_samples.VERIFY)
    verify["probes"][0] = report_samples.probe("login_by_username", "idx_user_username", 0.09, 0.1)
    performance = checklist(report_samples.report(index_results=existing, verify=verify))["Query performance improved"]
    assert performance == {"item": "Query performance improved", "ticked": True,
                           "evidence": "no index built by this run; every probe uses its index"}
    verify["probes"][1]["verdict"] = "not_used"
    performance = checklist(report_samples.report(index_results=existing, verify=verify))["Query performance improved"]
    assert performance["ticked"] is False and "recent_conversations_of_user does not use" in performance["evidence"]


def test_checklist_items_fail_on_evidence_against_them():
    failed_index = [dict(report_samples.INDEX_RESULTS[0], failed=True, action=None, msg="gave up: locked")]
    failed_index += report_samples.INDEX_RESULTS[1:]
    monitor = json.loads(json.dumps(MONITOR))
    monitor["smoke_checks"][1].update(ok=False, status=500, detail="Internal Server Error")
    monitor["error_logs"][0].update(count=2, new_error_lines=["ERROR deadlock detected", "ERROR timeout"])
    verify = json.loads(json.dumps(VERIFY))
    verify["probes"][1] = probe("recent_conversations_of_user", "idx_conversation_user_created", 0.2, 0.4, verdict="not_used", used=[])
    items = checklist(report_samples.report(status="failed", index_results=failed_index, monitor=monitor, verify=verify, retention=3))
    assert items["Indexes created: 3/4"]["ticked"] is False
    assert items["Application works normally"]["ticked"] is False and items["Users can login and query"]["ticked"] is False
    assert "query (status 500, expected 200: Internal Server Error)" in items["Users can login and query"]["evidence"]
    assert items["No errors in logs"]["ticked"] is False
    assert "2 new error line(s) in app1:/var/log/app/error.log, first: ERROR deadlock detected" == items["No errors in logs"]["evidence"]
    performance = items["Query performance improved"]
    assert performance["ticked"] is False and "recent_conversations_of_user got slower (0.50x (slower))" in performance["evidence"]
    assert "does not use idx_conversation_user_created (not_used)" in performance["evidence"]
    assert items["Database backup kept safe for 7 days"]["ticked"] is False
    assert "kept only 3 days" in items["Database backup kept safe for 7 days"]["evidence"]


def test_backup_item_without_a_backup():
    nothing_built = [dict(r, action="exists", changed=False) for r in report_samples.INDEX_RESULTS]
    item = checklist(report_samples.report(index_results=nothing_built, backup=None))["Database backup kept safe for 7 days"]
    assert item == {"item": "Database backup kept safe for 7 days", "ticked": None, "evidence": "no backup taken: this run built no index"}
    assert checklist(report_samples.report(status="failed", backup=None))["Database backup kept safe for 7 days"]["ticked"] is False
    kept_forever = checklist(report_samples.report(retention=0))["Database backup kept safe for 7 days"]
    assert kept_forever["ticked"] is True and "backup_retention_days 0" in kept_forever["evidence"]


def test_the_markdown_report_holds_probes_timeline_monitor_and_checklist():
    markdown = render_markdown(report_samples.report())
    assert "| login_by_username | idx_user_username | ok | 4.80 | 0.06 | 80.0x |" in markdown
    assert "| Backup | backup, snapshot | 5-15 min | 5 min 0 s | within |" in markdown
    assert "| Total | whole run | 50-65 min | 35 min 14 s | shorter |" in markdown
    assert "| login | POST https://app.example/login | 200 | 200 | yes | - |" in markdown
    assert "| CPUUtilization | 31.5 | 18.2 | Percent |" in markdown
    assert "- [x] Indexes created: 4/4 (4 in place of 4: 3 created by this run, 1 already existed, 0 errors)" in markdown
    assert "- [ ] Update team that migration is complete (not yet" in markdown
    assert "| long transactions | warn | 1 transaction older than 60 s (pid 4242) |" in markdown  # preflight kept


def test_a_notice_written_after_the_report_ticks_the_team_item_and_rewrites_the_report(tmp_path):
    report = report_samples.report()
    write_report(str(tmp_path), report)
    for name in ("report.json", "report.md", "report.html"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600, name
    posted = {"file": "notice_after.txt",
              "webhook": {"configured": True, "posted": True, "status": 200, "detail": "the webhook answered 200"}}
    updated = add_notice(str(tmp_path), "after", posted)
    item = checklist(updated)["Update team that migration is complete"]
    assert item["ticked"] is True and "posted to the team's webhook (status 200)" in item["evidence"]
    assert json.loads((tmp_path / "report.json").read_text())["notices"]["after"] == posted
    assert "- [x] Update team that migration is complete" in (tmp_path / "report.md").read_text()

    refused = {"file": "notice_after.txt",
               "webhook": {"configured": True, "posted": False, "status": 500, "detail": "the webhook answered 500"}}
    updated = add_notice(str(tmp_path), "after", refused)
    assert checklist(updated)["Update team that migration is complete"]["ticked"] is False
    assert updated["warnings"][-1] == "the after notice did not reach the team's webhook: the webhook answered 500"
    assert updated["warnings"].count(updated["warnings"][-1]) == 1
    assert add_notice(str(tmp_path), "after", posted)["warnings"] == report["warnings"]
