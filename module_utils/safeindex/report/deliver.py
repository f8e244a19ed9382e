"""A notice written beside the run's report and posted to the team's webhook: run_notice's work, and run_record's
`finish` (which writes the after notice right after the report, in the same process).

The webhook URL is a credential: it goes to notices.post() only, never into a result, a file or the record.
"""

from __future__ import annotations

import json
import os
from typing import Any

from ansible.module_utils.safeindex.core.files import write_private
from ansible.module_utils.safeindex.report import notices
from ansible.module_utils.safeindex.report.build import add_notice
from ansible.module_utils.safeindex.run.record import RunRecord

NOT_POSTED = {"configured": False, "posted": None, "status": None, "detail": "check mode: not posted"}


def render_after(run_dir: str, timezone: str | None = None, database: str | None = None) -> str:
    """The after notice, from the run's report.json (written first); raises NoticeError, OSError or ValueError."""
    with open(os.path.join(run_dir, "report.json")) as handle:
        report = json.load(handle)
    # The report knows where preflight connected (from the run record): the after notice names that database.
    return notices.render_after(report, timezone, database or report.get("database"))


def deliver(run_dir: str, run_id: str, kind: str, text: str, webhook_url: str | None = None,
            timeout: int = 10) -> dict[str, Any]:
    """Write the notice (0600), post it, record that it went out; the after notice is added to the report too, so its
    checklist ticks 'Update team' on evidence. {path, webhook} (webhook: configured, posted, status, detail)."""
    path = os.path.join(run_dir, notices.NOTICE_FILES[kind])
    write_private(path, text)
    webhook = notices.post(webhook_url, text, timeout)
    outcome = {"file": os.path.basename(path), "webhook": webhook}
    RunRecord(run_dir).append("notice", run_id=run_id, kind=kind, **outcome)
    if kind == "after":
        add_notice(run_dir, kind, outcome)
    return {"path": path, "webhook": webhook}


def missed_webhook(kind: str, delivered: dict[str, Any]) -> str | None:
    """The warning for a webhook that was set but did not take the notice; None otherwise."""
    webhook = delivered["webhook"]
    if webhook["configured"] and not webhook["posted"]:
        return "the %s notice did not reach the team's webhook (%s); it is in %s" % (kind, webhook["detail"], delivered["path"])
    return None


def before_notice(run_dir: str | None, run_id: str, host: str | None, engine: str, database: str | None,
                  plan: dict[str, Any], settings: dict[str, Any], check_mode: bool = False,
                  contacts: list[dict[str, str]] | None = None,
                  estimates: dict[str, Any] | None = None) -> tuple[dict[str, Any], str | None]:
    """The runbook's before notice from preflight's plan (`pending`, `names`) and run_notice's settings: written and
    posted, or in check mode (or without a run folder) only rendered. ({text, path, webhook}, warning or None); raises
    NoticeError or ValueError (a setting is wrong) and OSError (the file could not be written)."""
    text = notices.render_before(
        host=host, run_id=run_id, engine=engine, pending=plan["pending"], total=len(plan["names"]),
        monitor_seconds=settings["monitor_duration_seconds"], starts_at=notices.local_time(settings["timezone"]),
        database=database, blocking=settings["blocking"], maintenance_mode=settings["maintenance_mode"],
        estimates=estimates)
    text += notices.contacts_block(contacts)
    if check_mode or not run_dir:
        return {"text": text, "path": None, "webhook": NOT_POSTED}, None
    delivered = deliver(run_dir, run_id, "before", text, settings["webhook_url"], settings["webhook_timeout"])
    return dict(delivered, text=text), missed_webhook("before", delivered)
