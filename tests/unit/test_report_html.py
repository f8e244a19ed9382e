"""report.html, parsed as a page: the tables a reader looks for, values as text (never markup), nothing fetched or run."""

import json

from ansible.module_utils.safeindex.report.html import render_html

from tests.unit import report_samples
from tests.unit.page import Page
from tests.unit.report_samples import NAMES


def page(**changes):
    return Page(render_html(report_samples.report(**changes)))


def test_the_header_names_the_status_host_run_and_engine():
    found = page()
    assert found.headings[0] == "Index migration success"
    text = render_html(report_samples.report())
    for fact in ("<dt>Host</dt><dd>db1</dd>", "<dt>Run id</dt><dd>run-42</dd>", "<dt>Engine</dt><dd>postgresql</dd>"):
        assert fact in text
    assert "<title>Index migration run-42 on db1: success</title>" in text


def test_the_index_table_has_each_index_with_its_action_duration_and_size():
    rows = page().rows("index-table")
    assert [r["index"] for r in rows] == NAMES
    assert rows[2] == {"index": "idx_conversation_user_created", "action": "created", "duration": "1.7 s", "size": "2.1 MiB",
                       "attempts": "2", "error": "-"}
    assert rows[1]["action"] == "exists"


def test_the_probe_table_has_before_after_and_speed_up():
    rows = page().rows("probe-table")
    assert [(r["probe"], r["expected index"], r["verdict"], r["before (ms)"], r["after (ms)"], r["speed-up"]) for r in rows] == [
        ("login_by_username", "idx_user_username", "ok", "4.80", "0.06", "80.0x"),
        ("recent_conversations_of_user", "idx_conversation_user_created", "ok", "12.50", "0.25", "50.0x"),
        ("messages_of_conversation", "idx_message_conversation_timestamp", "ok", "35.00", "1.00", "35.0x"),
    ]


def test_timeline_preflight_monitor_and_backup_are_there():
    found = page()
    timeline = {r["phase"]: r for r in found.rows("timeline-table")}
    assert timeline["Backup"] == {"phase": "Backup", "run phases": "backup, snapshot", "runbook expects": "5-15 min",
                                  "actual": "5 min 0 s", "verdict": "within"}
    assert timeline["Total"]["runbook expects"] == "50-65 min"
    assert [r["check"] for r in found.rows("preflight-table")] == ["connection", "long transactions", "run lock"]
    assert [(r["check"], r["status"], r["ok"]) for r in found.rows("smoke-table")] == [("login", "200", "yes"), ("query", "200", "yes")]
    assert found.rows("cloudwatch-table")[0] == {"metric": "CPUUtilization", "before": "31.5", "after": "18.2", "unit": "Percent"}
    assert found.rows("error-log-table")[0]["new lines"] == "0"
    assert {"Indexes", "Probes", "Timeline against the runbook", "Preflight", "Backup and snapshot", "Monitor",
            "Post-migration checklist"} <= set(found.headings)
    assert "/srv/backups/db1/run-42/chatbot.dump" in render_html(report_samples.report())


def test_the_checklist_ticks_follow_the_evidence():
    monitor = json.loads(json.dumps(report_samples.MONITOR))
    monitor["error_logs"][0].update(count=1, new_error_lines=["ERROR: relation does not exist"])
    items = page(monitor=monitor).checklist
    # What a reader sees: the box (ticked, crossed, empty), the item, and the evidence in brackets.
    assert [(i["ticked"], i["text"][0], i["text"][1:].split(" (")[0]) for i in items] == [
        ("true", "☑", "Indexes created: 4/4"), ("true", "☑", "Application works normally"), ("false", "☒", "No errors in logs"),
        ("true", "☑", "Query performance improved"), ("true", "☑", "Users can login and query"),
        ("true", "☑", "Database backup kept safe for 7 days"), ("true", "☑", "Document completion time and any issues"),
        ("none", "☐", "Update team that migration is complete")]
    assert "1 new error line(s) in app1:/var/log/app/error.log, first: ERROR: relation does not exist" in items[2]["text"]


def test_values_are_escaped_never_markup():
    hostile = "<script>alert('x')</script> & \"quotes\""
    results = [dict(report_samples.INDEX_RESULTS[0], failed=True, action=None, msg=hostile)] + report_samples.INDEX_RESULTS[1:]
    verify = json.loads(json.dumps(report_samples.VERIFY))
    verify["probes"][0]["detail"] = "<img src=x onerror=alert(1)>"
    text = render_html(report_samples.report(status="failed", index_results=results, verify=verify, error=hostile))
    found = Page(text)
    assert "script" not in found.tags and "img" not in found.tags
    assert found.rows("index-table")[0]["error"] == hostile
    assert found.rows("probe-table")[0]["detail"] == "<img src=x onerror=alert(1)>"
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &quot;quotes&quot;" in text
    assert found.headings[0] == "Index migration failed"


def test_the_page_is_self_contained():
    found = page()
    assert not {"script", "link", "img", "iframe", "object", "embed"} & set(found.tags)
    assert "style" in found.tags
    # Nothing is fetched: no attribute points anywhere (the smoke checks' URLs are text, not links).
    assert not [value for name, value in found.attributes if name in ("src", "href", "action") or "://" in (value or "")]


def test_a_run_that_stopped_before_verify_and_monitor_renders_what_there_is():
    found = page(status="refused", verify=None, monitor=None, backup=None, index_results=[], phases=report_samples.PHASES[:1],
                 error="preflight refused the run: run lock: another run holds this database's run lock")
    text = render_html(report_samples.report(status="refused", verify=None, monitor=None, backup=None, index_results=[]))
    assert "Verification did not run: no probe timings." in text and "The monitor phase did not run." in text
    assert "No backup was taken." in text and "No index was attempted." in text
    assert "probe-table" not in found.tables and "index-table" not in found.tables
    assert {r["phase"]: r["verdict"] for r in found.rows("timeline-table")}["Migration"] == "not run"
    assert [i["ticked"] for i in found.checklist][:6] == ["false", "none", "none", "none", "none", "false"]
