"""The runbook's Emergency Contacts through migrate.yml: a run that fails in the index phase, after its backup, names
the contacts and this run's exact rollback commands in its failure message; the before notice and the report have the
contacts; at default verbosity they appear nowhere else in the output. A malformed entry stops the run in preflight."""

import json

import pytest
import yaml

from tests.conftest import REPO
from tests.integration.conftest import HOST, index_in_catalog, run_playbook, write_inventory

pytestmark = pytest.mark.slow

CONTACTS = [{"name": "Ana Example", "role": "DBA on call", "phone": "+1 555 0100", "chat": "@ana-dba"},
            {"name": "Bo Sample", "role": "Engineering lead", "email": "bo.sample@example.com"}]
PERSONAL = ["Ana Example", "+1 555 0100", "@ana-dba", "Bo Sample", "bo.sample@example.com"]


def failing_spec(folder):
    """Two of the spec's indexes, then a unique one over a column full of duplicates, whose build fails."""
    spec = yaml.safe_load((REPO / "migrations/indexes.yml").read_text())
    spec["indexes"] = spec["indexes"][:2] + [
        {"name": "idx_message_role_unique", "table": "message", "columns": ["role"], "unique": True}]
    spec["probes"] = []
    path = folder / "indexes.yml"
    path.write_text(yaml.safe_dump(spec))
    return path, [entry["name"] for entry in spec["indexes"][:2]]


def test_a_failed_run_names_the_contacts_and_this_runs_rollback_commands(pg_db, tmp_path):
    spec, built = failing_spec(tmp_path)
    inventory = write_inventory(tmp_path / "inventory", pg_db, emergency_contacts=CONTACTS)
    # The unique precheck would refuse this spec before the backup; off, the build itself meets the duplicates.
    run = run_playbook("migrate.yml", inventory, "-e", "run_id=contacts-run", "-e", "index_spec_file=%s" % spec,
                       "-e", "unique_precheck=off")
    output = run.stdout + run.stderr
    assert run.returncode != 0 and "idx_message_role_unique" in output, run.stdout[-4000:] + run.stderr[-2000:]
    assert all(index_in_catalog(pg_db, "user", name)["usable"] for name in built)

    drop = "ansible-playbook rollback.yml -i %s -e run_id=contacts-run --limit %s" % (inventory, HOST)
    failure = output[output.index("TASK [Fail this host when its run did not succeed]"):]
    assert "run contacts-run failed on %s" % HOST in failure
    assert "1. Don't panic" in failure and "2. Check the error logs" in failure
    assert "3. Drop the problematic index: drops the 2 index(es) this run built" in failure and drop in failure
    assert "4. Restore from backup (last resort)" in failure and drop + " -e rollback_mode=restore_backup" in failure
    assert "Ana Example (DBA on call): phone +1 555 0100, chat @ana-dba" in failure
    assert "Bo Sample (Engineering lead): email bo.sample@example.com" in failure

    run_dir = inventory / "artifacts" / HOST / "contacts-run"
    notice = (run_dir / "notice_before.txt").read_text()
    assert "Emergency contacts:\n  - Ana Example (DBA on call): phone +1 555 0100, chat @ana-dba\n" in notice
    before_shown = output[output.index("TASK [preflight : Show the before notice]"):]
    assert "Ana Example (DBA on call)" in before_shown[:before_shown.index("TASK [", 10)]

    # At default verbosity: in the before notice shown and in the failure message (its result, and Ansible's error
    # line on stderr), nowhere else.
    sections = run.stdout.split("\nTASK [")
    for value in PERSONAL:
        where = [section.split("]", 1)[0] for section in sections if value in section]
        assert where == ["preflight : Show the before notice", "Fail this host when its run did not succeed"], (value, where)
        assert all("run contacts-run failed on" in line for line in run.stderr.split("[ERROR]") if value in line)

    report = json.loads((run_dir / "report.json").read_text())
    assert report["status"] == "failed" and report["emergency_contacts"] == CONTACTS
    commands = [step.get("command") for step in report["recovery"]]
    assert drop in commands and drop + " -e rollback_mode=restore_backup" in commands and report["backup"]["verified"]
    assert "| Ana Example | DBA on call | +1 555 0100 | @ana-dba |" in (run_dir / "report.md").read_text()
    assert 'id="emergency"' in (run_dir / "report.html").read_text()

    # What the message promises: its drop command, as printed, removes exactly what the run built.
    rolled_back = run_playbook("rollback.yml", inventory, "-e", "run_id=contacts-run", "--limit", HOST)
    assert rolled_back.returncode == 0, rolled_back.stdout[-3000:]
    assert "dropped 2" in rolled_back.stdout
    assert not any(index_in_catalog(pg_db, "user", name) for name in built)


def test_a_malformed_contact_stops_the_run_in_preflight_before_any_change(pg_db, tmp_path):
    inventory = write_inventory(tmp_path / "inventory", pg_db,
                                emergency_contacts=[CONTACTS[0], {"name": "Cy", "role": "SRE"}])
    run = run_playbook("migrate.yml", inventory, "-e", "run_id=bad-contacts")
    output = run.stdout + run.stderr
    assert run.returncode != 0
    assert "emergency contacts: emergency_contacts[1] (Cy): no way to reach them" in output, run.stdout[-3000:]
    report = json.loads((inventory / "artifacts" / HOST / "bad-contacts" / "report.json").read_text())
    assert report["backup"] is None and report["indexes_created"] == 0
