"""What a run leaves for people: report.json, report.md, report.html and the two notices, and the team's webhook told."""

import json
import stat

import pytest
import yaml

from tests.conftest import REPO
from tests.integration.browser import check_report_in_browser
from tests.integration.conftest import HOST, run_playbook, write_inventory
from tests.unit.page import Page
from tests.webhook import SECRET_PATH, running_webhook

pytestmark = pytest.mark.slow

SPEC = yaml.safe_load((REPO / "migrations/indexes.yml").read_text())
NAMES = [entry["name"] for entry in SPEC["indexes"]]
OUTPUTS = ("report.json", "report.md", "report.html", "notice_before.txt", "notice_after.txt")


def test_a_run_leaves_its_reports_and_notices_and_the_webhook_gets_both(db, tmp_path):
    with running_webhook() as webhook:
        inventory = write_inventory(tmp_path / "inventory", db, monitor_duration_seconds=0, notify_webhook_url=webhook.url)
        # -v prints every module's result: the webhook URL must not be in any of them either.
        run = run_playbook("migrate.yml", inventory, "-v", "-e", "run_id=report-run")
    output = run.stdout + run.stderr
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]

    run_dir = inventory / "artifacts" / HOST / "report-run"
    for name in OUTPUTS:
        assert stat.S_IMODE((run_dir / name).stat().st_mode) == 0o600, name

    # The team heard twice, as Slack-compatible JSON, exactly what the notice files say.
    assert [(path, kind) for path, kind, _body in webhook.received] == [(SECRET_PATH, "application/json; charset=utf-8")] * 2
    before, after = webhook.texts()
    assert before == (run_dir / "notice_before.txt").read_text() and after == (run_dir / "notice_after.txt").read_text()
    assert before.startswith("📢 Scheduled Maintenance Notice") and "Adding 20 database indexes for faster queries" in before
    assert "Database: %s://%s@%s:%s/%s (host %s, run report-run)" % (db.engine, db.user, db.host, db.port, db.name, HOST) in before
    assert after.startswith("✅ Maintenance Complete") and "completed successfully at" in after
    assert "Changes: 20 performance indexes added (20/20 in place)" in after

    # The webhook URL is a credential: in no output and no file the run left (reports, record, backup manifest).
    assert SECRET_PATH not in output and webhook.url not in output
    for path in list((inventory / "artifacts").rglob("*")) + list((inventory / "backups").rglob("*")):
        if path.is_file():
            assert SECRET_PATH.encode() not in path.read_bytes(), path

    report = json.loads((run_dir / "report.json").read_text())
    assert report["status"] == "success" and {"verify", "probes_before", "monitor", "timeline", "checklist"} <= set(report)
    checklist = {item["item"]: item for item in report["checklist"]}
    assert checklist["Indexes created: 20/20"]["ticked"] is True
    assert checklist["Update team that migration is complete"]["ticked"] is True
    assert checklist["Database backup kept safe for 7 days"]["ticked"] is True
    assert [row["phase"] for row in report["timeline"]] == ["Backup", "Preparation", "Migration", "Verification", "Monitoring", "Total"]

    page = Page((run_dir / "report.html").read_text())
    rows = page.rows("index-table")
    assert sorted(r["index"] for r in rows) == sorted(NAMES) and {r["action"] for r in rows} == {"created"}
    assert [i["ticked"] for i in page.checklist][0] == "true" and [i["ticked"] for i in page.checklist][-1] == "true"
    assert "Summary" in page.headings and "Timeline against the runbook" in page.headings
    markdown = (run_dir / "report.md").read_text()
    assert "## Post-migration checklist" in markdown and "- [x] Update team that migration is complete" in markdown

    if report["verify"] is not None:  # role verify (built alongside) times each probe before and after
        probes = report["verify"]["probes"]
        assert [r["probe"] for r in page.rows("probe-table")] == [p["name"] for p in probes]
        for probe in probes:
            if probe.get("speedup") is not None:
                assert "   %s: " % probe["name"] in run.stdout and "speed-up" in run.stdout
        assert "probe queries now run" in after

    # What a reader sees in a real browser (headless chromium at 1280 px): the badge, 20 index rows, one bar per probe
    # and side, no horizontal scrolling, no console error; the screenshot stays in the test's folder.
    seen = check_report_in_browser(run_dir, report, tmp_path / ("report-%s.png" % db.engine))
    assert seen.index_rows == 20 and len(seen.bars) == 2 * len((report["verify"] or {}).get("probes") or [])
    assert {"timeline-chart", "health-chart"} <= set(seen.charts)  # the monitor sampled the database's health


def test_a_webhook_that_fails_is_a_warning_never_a_failed_migration(pg_db, tmp_path):
    with running_webhook(status=500) as webhook:
        # The backup's checksum proof is enough here (the webhook is what this case tries): a restore check would start
        # a scratch server.
        inventory = write_inventory(tmp_path / "inventory", pg_db, monitor_duration_seconds=0, notify_webhook_url=webhook.url,
                                    backup_verify="checksum")
        run = run_playbook("migrate.yml", inventory, "-e", "run_id=webhook-down")
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert len(webhook.received) == 2  # it was tried, twice
    assert "the before notice did not reach the team's webhook (the webhook answered 500: invalid_payload)" in run.stderr + run.stdout
    assert SECRET_PATH not in run.stdout + run.stderr

    run_dir = inventory / "artifacts" / HOST / "webhook-down"
    report = json.loads((run_dir / "report.json").read_text())
    assert report["status"] == "success" and report["total_in_place"] == 20
    assert report["warnings"] == [
        "the before notice did not reach the team's webhook: the webhook answered 500: invalid_payload",
        "the after notice did not reach the team's webhook: the webhook answered 500: invalid_payload",
    ]
    team = report["checklist"][-1]
    assert team["item"] == "Update team that migration is complete" and team["ticked"] is False
    assert (run_dir / "notice_after.txt").read_text().startswith("✅ Maintenance Complete")
