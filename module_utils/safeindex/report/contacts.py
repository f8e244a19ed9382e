"""The runbook's Emergency Contacts: who to call, and its four steps with the exact commands for this run.

`emergency_contacts` (inventory) is a list of {name, role, phone?, chat?, email?}. Contacts are personal data: they
reach the modules through the task's environment (CONTACTS_ENV, JSON), never as module arguments, so Ansible's
invocation log and the target's syslog never hold them; they go to the notices, the report and a failure's message.
"""

from __future__ import annotations

import json
import os
import shlex
from typing import Any

CONTACTS_ENV = "SAFEINDEX_EMERGENCY_CONTACTS"
REQUIRED = ("name", "role")
REACH = ("phone", "chat", "email")
# The record's event that keeps the contacts for the report (the run folder is 0600, as the notices are).
CONTACTS_EVENT = "emergency_contacts"


class ContactsError(ValueError):
    """emergency_contacts is malformed: the message names the entry and what is wrong with it."""


def check(contacts: Any) -> list[dict[str, str]]:
    """The contacts, each {name, role, phone?, chat?, email?} with its values stripped; raises ContactsError naming the
    first malformed entry (by position and, when it has one, name)."""
    if contacts in (None, ""):
        return []
    if not isinstance(contacts, list):
        raise ContactsError("emergency_contacts must be a list of {name, role, phone, chat, email}, not %s"
                            % type(contacts).__name__)
    checked = []
    for position, entry in enumerate(contacts):
        where = "emergency_contacts[%d]" % position
        if not isinstance(entry, dict):
            raise ContactsError("%s must be a mapping {name, role, phone, chat, email}, not %s" % (where, type(entry).__name__))
        if isinstance(entry.get("name"), str) and entry["name"].strip():
            where += " (%s)" % entry["name"].strip()
        unknown = sorted(str(key) for key in entry if key not in REQUIRED + REACH)
        if unknown:
            raise ContactsError("%s: unknown key(s) %s (allowed: %s)" % (where, ", ".join(unknown), ", ".join(REQUIRED + REACH)))
        for key in REQUIRED + REACH:
            value = entry.get(key)
            if value is not None and not isinstance(value, (str, int)):
                raise ContactsError("%s: %s must be text, not %s" % (where, key, type(value).__name__))
        contact = {key: str(entry[key]).strip() for key in REQUIRED + REACH if entry.get(key) not in (None, "")}
        missing = [key for key in REQUIRED if not contact.get(key)]
        if missing:
            raise ContactsError("%s: %s missing" % (where, " and ".join(missing)))
        if not any(contact.get(key) for key in REACH):
            raise ContactsError("%s: no way to reach them (give at least one of phone, chat, email)" % where)
        if contact.get("email") and "@" not in contact["email"]:
            raise ContactsError("%s: email %r is not an address" % (where, contact["email"]))
        checked.append(contact)
    return checked


def from_environment(environ: dict[str, str] | None = None) -> list[dict[str, str]]:
    """The contacts the task's environment carries (JSON in CONTACTS_ENV), checked; [] when unset."""
    text = (os.environ if environ is None else environ).get(CONTACTS_ENV, "")
    if not text.strip():
        return []
    try:
        contacts = json.loads(text)
    except ValueError as exc:
        raise ContactsError("emergency_contacts could not be read (%s is not JSON: %s)" % (CONTACTS_ENV, exc)) from None
    return check(contacts)


def contact_line(contact: dict[str, str]) -> str:
    """'Ana Example (DBA on call): phone +1 555 0100, chat @ana, email ana@example.com'."""
    reach = ", ".join("%s %s" % (key, contact[key]) for key in REACH if contact.get(key))
    return "%s (%s): %s" % (contact["name"], contact["role"], reach)


def contact_lines(contacts: list[dict[str, str]]) -> list[str]:
    """The 'Emergency contacts' block of the notices and the failure message; [] without contacts."""
    if not contacts:
        return []
    return ["Emergency contacts:"] + ["  - %s" % contact_line(c) for c in contacts]


def rollback_command(inventories: list[str], run_id: str, host: str, mode: str | None = None) -> str:
    """rollback.yml for this run on this host only; mode None is the default (drop the indexes it built)."""
    parts = ["ansible-playbook", "rollback.yml"]
    for source in inventories:
        parts += ["-i", source]
    parts += ["-e", "run_id=%s" % run_id, "--limit", host]
    if mode:
        parts += ["-e", "rollback_mode=%s" % mode]
    return " ".join(shlex.quote(part) for part in parts)


def recovery_steps(report: dict[str, Any], inventories: list[str]) -> list[dict[str, Any]]:
    """The runbook's four steps for this run: [{step, text, command?}]. The drop command where the run built (or
    tried to build) an index, restore_backup where a backup exists, restore_snapshot where a snapshot exists."""
    run_id, host = report.get("run_id"), report.get("host")
    steps = [{"step": "Don't panic", "text": "indexes are non-destructive: no row was changed by this run"},
             {"step": "Check the error logs",
              "text": "the error above, then this run's record.jsonl and report in artifacts/%s/%s/" % (host, run_id)}]
    built = report.get("indexes_created") or 0
    tried = [i["name"] for i in report.get("indexes") or [] if i.get("action") == "failed"]
    if built or tried:
        what = "%d index(es) this run built" % built
        if tried:
            what += " (and any leftover of %s)" % ", ".join(tried)
        steps.append({"step": "Drop the problematic index", "text": "drops the %s, nothing else" % what,
                      "command": rollback_command(inventories, run_id, host)})
    else:
        steps.append({"step": "Drop the problematic index", "text": "nothing to drop: this run built no index"})
    backup, snapshot = report.get("backup"), report.get("snapshot")
    restores = []
    if backup:
        restores.append({"step": "Restore from backup (last resort)",
                         "text": "restores %s into a NEW database; the live one is not touched" % backup.get("path"),
                         "command": rollback_command(inventories, run_id, host, "restore_backup")})
    if snapshot and snapshot.get("id"):
        restores.append({"step": "Restore from backup (last resort)",
                         "text": "restores RDS snapshot %s to a NEW instance" % snapshot["id"],
                         "command": rollback_command(inventories, run_id, host, "restore_snapshot")})
    steps += restores or [{"step": "Restore from backup (last resort)", "text": "no backup or snapshot was taken by this run"}]
    return steps


def step_lines(steps: list[dict[str, Any]]) -> list[str]:
    """The steps as the failure message prints them, numbered as the runbook does (two restores share number 4)."""
    lines, number, last = ["If something goes wrong (the runbook's Emergency Contacts):"], 0, None
    for step in steps:
        if step["step"] != last:
            number += 1
            last = step["step"]
        lines.append("  %d. %s: %s" % (number, step["step"], step["text"]))
        if step.get("command"):
            lines.append("       %s" % step["command"])
    return lines


def failure_lines(report: dict[str, Any]) -> list[str]:
    """What a failed, refused or interrupted run's message adds: the steps with this run's commands, then who to call.
    [] for a run that succeeded."""
    if report.get("status") == "success" or not report.get("recovery"):
        return []
    return step_lines(report["recovery"]) + contact_lines(report.get("emergency_contacts") or [])


def preflight_check(run_dir: str | None, check_mode: bool, environ: dict[str, str] | None = None
                    ) -> tuple[dict[str, str] | None, list[dict[str, str]]]:
    """Preflight's row for the contacts the task's environment carries (None when the inventory sets none), and the
    contacts; valid ones are recorded for the report (not in check mode, which records nothing)."""
    from ansible.module_utils.safeindex.run.record import RunRecord

    text = (os.environ if environ is None else environ).get(CONTACTS_ENV, "")
    try:
        contacts = from_environment(environ)
    except ContactsError as exc:
        return {"check": "emergency contacts", "result": "fail", "detail": str(exc)}, []
    if not contacts:
        return ({"check": "emergency contacts", "result": "warn", "detail": "emergency_contacts is empty"}
                if text.strip() not in ("", "[]", "null") else None), []
    if run_dir and not check_mode:
        RunRecord(run_dir).append(CONTACTS_EVENT, contacts=contacts)
    return {"check": "emergency contacts", "result": "ok", "detail": "%d contact(s) for the notices and the report"
            % len(contacts)}, contacts


def recorded(events: list[dict[str, Any]]) -> list[dict[str, str]]:
    """The contacts this run recorded at preflight ([] when none)."""
    found = [e for e in events if e.get("event") == CONTACTS_EVENT]
    return list(found[-1].get("contacts") or []) if found else []
