"""The runbook's before and after notices with the run's real values, and their post to a Slack-style webhook."""

import json
import socket
import stat
from datetime import UTC, datetime

import pytest
from ansible.module_utils.safeindex.report import notices
from ansible.module_utils.safeindex.report.build import write_report
from ansible.module_utils.safeindex.run import estimates

from tests.unit import report_samples
from tests.webhook import SECRET_PATH, running_webhook

PENDING = ["idx_user_username", "idx_conversation_user_created", "idx_message_conversation_timestamp"]


def before(**changes):
    args = dict(host="db1", run_id="run-42", engine="postgresql", pending=PENDING, total=20, monitor_seconds=1800,
                starts_at="2025-06-02 22:00 CEST (UTC+02:00)", database="postgresql://app@db1:5432/chatbot")
    args.update(changes)
    return notices.render_before(**args)


def test_times_are_in_the_teams_time_zone_with_the_zone_named():
    when = datetime(2025, 6, 2, 20, 0, tzinfo=UTC)
    assert notices.local_time("Europe/Berlin", when) == "2025-06-02 22:00 CEST (UTC+02:00)"
    assert notices.local_time("America/New_York", "2025-01-15T03:30:00Z") == "2025-01-14 22:30 EST (UTC-05:00)"
    assert notices.local_time(None, when).endswith(")")  # the controller's zone, named
    with pytest.raises(notices.NoticeError, match="unknown time zone 'Mars/Olympus'"):
        notices.local_time("Mars/Olympus")


def test_the_before_notice_says_when_where_what_and_how_long():
    text = before()
    assert text.splitlines()[0] == "📢 Scheduled Maintenance Notice"
    assert "We are performing database optimization now, starting at 2025-06-02 22:00 CEST (UTC+02:00)." in text
    assert "Database: postgresql://app@db1:5432/chatbot (host db1, run run-42)" in text
    assert ("Expected duration: about 50-65 min (no estimate could be made: the runbook's timeline for backup, 3 index"
            " build(s), verification; monitoring 30 min)") in text
    assert "Expected impact: None (non-destructive changes; each index is built online with CREATE INDEX CONCURRENTLY" in text
    assert "Service availability: Fully available" in text
    assert "What we're doing: Adding 3 database indexes for faster queries: " + ", ".join(PENDING) in text


def test_the_before_notice_follows_the_plan():
    assert "ALGORITHM=INPLACE, LOCK=NONE" in before(engine="mysql")
    short = before(monitor_seconds=0)
    assert "Expected duration: about 20-35 min" in short and "monitoring 0 min" in short
    nothing = before(pending=[])
    assert "Expected impact: None (nothing to build: all 20 indexes are in place)" in nothing
    assert "Expected duration: about 40 min (no estimate could be made: the runbook's timeline for verification only, nothing" in nothing
    blocking = before(blocking=True, maintenance_mode=True)
    assert "Expected impact: Writes to the tables of each index wait while it builds" in blocking
    assert "Service availability: In maintenance mode while the indexes build" in blocking


def test_the_before_notice_quotes_the_plans_estimate_instead_of_the_runbooks_timeline():
    # 2 builds of 60 MB tables at a rehearsal's 1 MB/s, a 360 MB database at 2 MB/s, a 30 min window: 2 + 3 + 30 min.
    mb = 1024 * 1024
    calibration = estimates.Calibration(build_rate=mb, backup_rate=2 * mb, source="rehearsal", run_id="stage-7",
                                        backup_source="rehearsal", backup_run_id="stage-7")
    plan = estimates.plan(calibration, [{"name": n, "table": "message", "table_bytes": 60 * mb, "estimated_index_bytes": mb}
                                        for n in PENDING[:2]], 360 * mb)
    text = before(pending=PENDING[:2], estimates=plan)
    assert ("Expected duration: about 35 min (estimated: backup 3 min (rehearsal stage-7), 2 index build(s) 2 min"
            " (rehearsal stage-7), monitoring 30 min)") in text
    assert "runbook" not in text
    # Nothing to build: no backup, the monitoring window alone (5 min), and the notice says so.
    idle = before(pending=[], estimates=estimates.plan(calibration, [], None), monitor_seconds=300)
    assert "Expected duration: about 5 min (estimated: nothing to build, monitoring 5 min)" in idle
    # A table whose size is unknown: no estimate, the runbook's figure, and the notice says which it is.
    unknown = estimates.plan(calibration, [{"name": PENDING[0], "table": "t", "table_bytes": None, "estimated_index_bytes": 0}], mb)
    assert "about 50-65 min (no estimate could be made: the runbook's timeline" in before(pending=PENDING[:1], estimates=unknown)


def test_the_after_notice_of_a_successful_run_carries_the_measured_speed_up():
    text = notices.render_after(report_samples.report(warnings=[]), "Europe/Berlin", "postgresql://app@db1:5432/chatbot")
    assert text.splitlines()[0] == "✅ Maintenance Complete"
    assert ("Database optimization on postgresql://app@db1:5432/chatbot (host db1, run run-42) completed successfully at"
            " 2025-06-02 22:35 CEST (UTC+02:00).") in text
    assert "Changes: 3 performance indexes added, 1 was already there (4/4 in place)" in text
    assert "Impact: The 3 probe queries now run 35.0x to 80.0x faster (median of 5 runs, before against after)" in text
    assert "10-100x" not in text
    assert "Issues: None" in text and text.rstrip().endswith("Thank you for your patience!")


def test_the_after_notice_of_a_failed_run_says_so_and_what_it_left():
    results = [dict(report_samples.INDEX_RESULTS[0], failed=True, action=None, msg="gave up after 6 lock attempts")]
    monitor = dict(report_samples.MONITOR, failed=["smoke check query: status 500, expected 200"])
    report = report_samples.report(status="failed", index_results=results + report_samples.INDEX_RESULTS[1:], monitor=monitor,
                                   verify=None, error="smoke check query: status 500, expected 200")
    text = notices.render_after(report, "UTC")
    assert text.splitlines()[0] == "❌ Maintenance Failed"
    assert "Database optimization on host db1 (run run-42) failed at 2025-06-02 20:35 UTC (UTC+00:00)." in text
    assert "Why: smoke check query: status 500, expected 200" in text
    assert ("State: 3/4 indexes in place, 2 of them added by this run (each marked with run id run-42);"
            " backup /srv/backups/db1/run-42/chatbot.dump (verified)") in text
    assert "Rollback: ansible-playbook rollback.yml -i inventories/prod -e rollback_mode=indexes -e run_id=run-42" in text
    assert "Impact: Not measured (verification did not run)" in text
    assert "Issues: 3" in text
    assert "  - index idx_user_username: gave up after 6 lock attempts" in text
    assert "  - monitoring: smoke check query: status 500, expected 200" in text
    assert "Thank you for your patience!" not in text


def test_the_after_notice_of_a_refused_run_says_nothing_changed():
    report = report_samples.report(status="refused", index_results=[], backup=None, verify=None, monitor=None, warnings=[],
                                   error="preflight refused the run: run lock: another run holds this database's run lock")
    text = notices.render_after(report, "UTC")
    assert text.splitlines()[0] == "⛔ Maintenance Not Started"
    assert "was refused before any change at" in text
    assert "State: Nothing was changed (0/4 indexes in place, 0 of them added by this run" in text
    assert "Issues: 1\n  - preflight refused the run: run lock: another run holds this database's run lock" in text


def test_the_webhook_gets_slack_json_with_the_text():
    with running_webhook() as webhook:
        outcome = notices.post(webhook.url, "📢 hello <team> & all")
    assert outcome == {"configured": True, "posted": True, "status": 200, "detail": "the webhook answered 200"}
    assert webhook.received == [(SECRET_PATH, "application/json; charset=utf-8", {"text": "📢 hello <team> & all"})]


def test_a_failing_webhook_is_reported_without_its_url():
    with running_webhook(status=500) as webhook:
        outcome = notices.post(webhook.url, "text")
    assert outcome["posted"] is False and outcome["status"] == 500
    assert outcome["detail"] == "the webhook answered 500: invalid_payload"
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    unreachable = notices.post("http://127.0.0.1:%d%s" % (port, SECRET_PATH), "text", timeout=2)
    assert unreachable["posted"] is False and unreachable["detail"].startswith("the webhook could not be reached")
    assert "secret" not in json.dumps(unreachable) and str(port) not in unreachable["detail"]
    assert notices.post("hooks.slack.com" + SECRET_PATH, "text")["detail"] == "notify_webhook_url is not an http(s) URL"
    assert notices.post(None, "text") == {"configured": False, "posted": None, "status": None, "detail": "no notify_webhook_url set"}


def notice_args(run_dir, kind, **more):
    return dict(run_dir=str(run_dir), run_id="run-42", kind=kind, host="db1", engine="postgresql", pending=PENDING, total_indexes=20,
                timezone="Europe/Berlin", database="postgresql://app@db1:5432/chatbot", **more)


def test_run_notice_writes_posts_and_keeps_the_url_out_of_its_result(run_module, tmp_path):
    with running_webhook() as webhook:
        result = run_module("run_notice", notice_args(tmp_path, "before", webhook_url=webhook.url))
        assert result["_rc"] == 0 and result["changed"] is False
        path = tmp_path / "notice_before.txt"
        assert result["path"] == str(path) and stat.S_IMODE(path.stat().st_mode) == 0o600
        assert path.read_text() == result["text"] and "Adding 3 database indexes" in result["text"]
        assert webhook.texts() == [result["text"]] and result["webhook"]["posted"] is True
        assert SECRET_PATH not in json.dumps(result)
        record = [json.loads(line) for line in (tmp_path / "record.jsonl").read_text().splitlines()]
        assert record[-1]["event"] == "notice" and record[-1]["kind"] == "before" and record[-1]["webhook"]["posted"] is True

        write_report(str(tmp_path), report_samples.report())
        after = run_module("run_notice", notice_args(tmp_path, "after", webhook_url=webhook.url))
        assert after["_rc"] == 0 and (tmp_path / "notice_after.txt").read_text() == after["text"]
        assert webhook.texts()[1].startswith("✅ Maintenance Complete")
    report = json.loads((tmp_path / "report.json").read_text())
    team = report["checklist"][-1]
    assert team["ticked"] is True and team["evidence"].startswith("notice_after.txt written and posted to the team's webhook")
    for name in ("report.json", "report.md", "report.html", "notice_after.txt", "record.jsonl"):
        assert SECRET_PATH not in (tmp_path / name).read_text(), name


def test_run_notice_warns_when_the_webhook_fails_and_does_not_fail(run_module, tmp_path):
    write_report(str(tmp_path), report_samples.report())
    with running_webhook(status=500) as webhook:
        result = run_module("run_notice", notice_args(tmp_path, "after", webhook_url=webhook.url))
    assert result["_rc"] == 0 and result.get("failed") is not True
    assert result["webhook"]["posted"] is False and result["webhook"]["detail"] == "the webhook answered 500: invalid_payload"
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["checklist"][-1]["ticked"] is False
    assert "the after notice did not reach the team's webhook: the webhook answered 500: invalid_payload" in report["warnings"]


def test_check_mode_writes_and_posts_nothing(run_module, tmp_path):
    with running_webhook() as webhook:
        result = run_module("run_notice", notice_args(tmp_path, "before", webhook_url=webhook.url), check_mode=True)
        after = run_module("run_notice", notice_args(tmp_path, "after", webhook_url=webhook.url), check_mode=True)
    assert result["_rc"] == 0 and "Adding 3 database indexes" in result["text"] and result["path"] is None
    assert after["_rc"] == 0 and after["text"] is None
    assert webhook.received == [] and list(tmp_path.iterdir()) == []
