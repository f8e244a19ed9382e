"""The runbook's Emergency Contacts: the inventory's contacts checked, shown in the before notice and the report, and a
failed run's message with the runbook's steps and this run's exact rollback.yml commands."""

import json

import pytest
from ansible.module_utils.safeindex.report import contacts, deliver, notices
from ansible.module_utils.safeindex.report.from_record import report_from_record
from ansible.module_utils.safeindex.run.record import RunRecord, record_phase_result

from tests.unit.report_samples import BACKUP, INDEX_RESULTS, NAMES

ANA = {"name": "Ana Example", "role": "DBA on call", "phone": "+1 555 0100", "chat": "@ana"}
BO = {"name": "Bo Sample", "role": "Engineering lead", "email": "bo@example.com"}
INVENTORY = "inventories/prod"
DROP = "ansible-playbook rollback.yml -i inventories/prod -e run_id=run-42 --limit db1"


def env(value):
    return {contacts.CONTACTS_ENV: json.dumps(value)}


def test_well_formed_contacts_are_kept_stripped_and_none_is_no_contacts():
    assert contacts.check([dict(ANA, name="  Ana Example "), BO]) == [ANA, BO]
    assert contacts.check(None) == [] and contacts.check([]) == []
    assert contacts.from_environment({}) == [] and contacts.from_environment(env([BO])) == [BO]


@pytest.mark.parametrize(("value", "message"), [
    ("Ana, +1 555 0100", r"must be a list of \{name, role, phone, chat, email\}, not str"),
    ([ANA, "Bo"], r"emergency_contacts\[1\] must be a mapping"),
    ([{"name": "Cy", "phone": "1"}], r"emergency_contacts\[0\] \(Cy\): role missing"),
    ([{"role": "DBA", "phone": "1"}], r"emergency_contacts\[0\]: name missing"),
    ([ANA, {"name": "Di", "role": "SRE"}], r"emergency_contacts\[1\] \(Di\): no way to reach them"),
    ([dict(BO, email="bo.example.com")], r"email 'bo.example.com' is not an address"),
    ([dict(ANA, pager="123")], r"unknown key\(s\) pager"),
    ([dict(ANA, phone=["1", "2"])], r"phone must be text, not list"),
])
def test_a_malformed_entry_is_named_with_what_is_wrong(value, message):
    with pytest.raises(contacts.ContactsError, match=message):
        contacts.check(value)


def test_preflight_fails_on_malformed_contacts_before_recording_anything(tmp_path):
    row, found = contacts.preflight_check(str(tmp_path), False, env([{"name": "Di", "role": "SRE"}]))
    assert row["result"] == "fail" and "no way to reach them" in row["detail"] and found == []
    assert not (tmp_path / "record.jsonl").exists()
    assert contacts.preflight_check(str(tmp_path), False, {}) == (None, [])
    row, found = contacts.preflight_check(str(tmp_path), False, {contacts.CONTACTS_ENV: "{not json"})
    assert row["result"] == "fail" and "not JSON" in row["detail"]


def test_valid_contacts_are_recorded_for_the_report_but_not_in_check_mode(tmp_path):
    row, found = contacts.preflight_check(str(tmp_path / "check"), True, env([ANA]))
    assert row["result"] == "ok" and found == [ANA] and not (tmp_path / "check").exists()
    (tmp_path / "run").mkdir()
    contacts.preflight_check(str(tmp_path / "run"), False, env([ANA, BO]))
    assert contacts.recorded(RunRecord(str(tmp_path / "run")).events()) == [ANA, BO]


def test_the_before_notice_ends_with_the_contacts_block():
    text = notices.render_before(host="db1", run_id="run-42", engine="postgresql", pending=["idx_a"], total=1,
                                 monitor_seconds=60, starts_at="now") + notices.contacts_block([ANA, BO])
    assert text.endswith("Emergency contacts:\n  - Ana Example (DBA on call): phone +1 555 0100, chat @ana\n"
                         "  - Bo Sample (Engineering lead): email bo@example.com\n")
    assert notices.contacts_block([]) == ""


def test_deliver_writes_the_contacts_into_the_before_notice(tmp_path):
    settings = {"monitor_duration_seconds": 60, "timezone": None, "blocking": False, "maintenance_mode": False,
                "webhook_url": None, "webhook_timeout": 1}
    notice, warning = deliver.before_notice(str(tmp_path), "run-42", "db1", "postgresql", None,
                                            {"pending": ["idx_a"], "names": ["idx_a"]}, settings, False, [ANA])
    assert warning is None and "Ana Example (DBA on call)" in notice["text"]
    assert "Ana Example (DBA on call)" in (tmp_path / "notice_before.txt").read_text()


def report_of(**changes):
    report = {"run_id": "run-42", "host": "db1", "status": "failed", "indexes_created": 2,
              "indexes": [{"name": "idx_a", "action": "created"}, {"name": "idx_b", "action": "failed"}],
              "backup": {"path": "/srv/backups/db1.dump"}, "snapshot": None}
    report.update(changes)
    return report


def test_the_steps_name_this_runs_drop_and_restore_commands():
    steps = contacts.recovery_steps(report_of(), [INVENTORY])
    assert [s["step"] for s in steps] == ["Don't panic", "Check the error logs", "Drop the problematic index",
                                          "Restore from backup (last resort)"]
    assert steps[2]["command"] == DROP and "2 index(es)" in steps[2]["text"] and "idx_b" in steps[2]["text"]
    assert steps[3]["command"] == DROP + " -e rollback_mode=restore_backup"
    assert "/srv/backups/db1.dump" in steps[3]["text"]


def test_a_snapshot_adds_its_restore_and_nothing_built_means_nothing_to_drop():
    steps = contacts.recovery_steps(report_of(indexes_created=0, indexes=[], backup=None,
                                              snapshot={"id": "safeindex-run-42"}), [INVENTORY, "extra inv"])
    assert "command" not in steps[2] and "built no index" in steps[2]["text"]
    assert steps[3]["command"] == ("ansible-playbook rollback.yml -i inventories/prod -i 'extra inv' -e run_id=run-42 "
                                   "--limit db1 -e rollback_mode=restore_snapshot")
    both = contacts.recovery_steps(report_of(snapshot={"id": "snap"}), [INVENTORY])
    assert [s["command"].split()[-1] for s in both[3:]] == ["rollback_mode=restore_backup", "rollback_mode=restore_snapshot"]
    none = contacts.recovery_steps(report_of(indexes_created=0, indexes=[], backup=None), [])
    assert "no backup or snapshot" in none[3]["text"]


def test_the_failure_lines_have_the_numbered_steps_then_the_contacts_and_none_on_success():
    report = report_of(snapshot={"id": "snap"}, emergency_contacts=[ANA])
    report["recovery"] = contacts.recovery_steps(report, [INVENTORY])
    lines = contacts.failure_lines(report)
    assert lines[0] == "If something goes wrong (the runbook's Emergency Contacts):"
    assert lines[1].startswith("  1. Don't panic") and lines[2].startswith("  2. Check the error logs")
    assert "       " + DROP in lines and sum(line.startswith("  4. Restore from backup") for line in lines) == 2
    assert lines[-2:] == ["Emergency contacts:", "  - Ana Example (DBA on call): phone +1 555 0100, chat @ana"]
    assert contacts.failure_lines(dict(report, status="success")) == []


def failed_run(run_dir, with_contacts):
    record = RunRecord(str(run_dir))
    record.append("start", run_id="run-42", host="db1", engine="postgresql", monotonic=100.0, inventories=[INVENTORY])
    if with_contacts:
        contacts.preflight_check(str(run_dir), False, env([ANA, BO]))
    record_phase_result(str(run_dir), "preflight", {"spec": {"names": NAMES, "pending": NAMES}, "checks": []})
    record_phase_result(str(run_dir), "backup", dict(BACKUP, changed=True))
    record_phase_result(str(run_dir), "index", INDEX_RESULTS[0])


def test_the_report_from_the_record_has_the_contacts_and_the_steps_in_json_md_and_html(tmp_path):
    failed_run(tmp_path, True)
    report, _ = report_from_record(str(tmp_path), "failed", "idx_b: column does not exist")
    saved = json.loads((tmp_path / "report.json").read_text())
    assert saved["emergency_contacts"] == [ANA, BO] and saved["recovery"] == report["recovery"]
    assert any(s.get("command") == DROP + " -e rollback_mode=restore_backup" for s in saved["recovery"])
    markdown, html = (tmp_path / "report.md").read_text(), (tmp_path / "report.html").read_text()
    assert "## Emergency contacts" in markdown and "| Ana Example | DBA on call | +1 555 0100 | @ana |" in markdown
    assert "`%s -e rollback_mode=restore_backup`" % DROP in markdown
    assert 'id="emergency"' in html and "bo@example.com" in html and DROP in html


def test_a_run_that_succeeded_has_the_contacts_but_no_steps_and_no_contacts_no_section(tmp_path):
    (tmp_path / "a").mkdir()
    failed_run(tmp_path / "a", True)
    report, _ = report_from_record(str(tmp_path / "a"), "success")
    assert report["emergency_contacts"] == [ANA, BO] and "recovery" not in report
    (tmp_path / "b").mkdir()
    failed_run(tmp_path / "b", False)
    report, _ = report_from_record(str(tmp_path / "b"), "success")
    assert report["emergency_contacts"] == [] and "Emergency contacts" not in (tmp_path / "b/report.md").read_text()
