"""The runbook's Communication Template, filled in with the run's real values, and its post to a Slack-style webhook.

The webhook URL is a credential (whoever has it may post to the channel): it is never part of a message,
a result or a file. A webhook that fails is the report's warning, never the migration's failure.
"""

import json
from datetime import UTC, datetime
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ansible.module_utils.safeindex.engines import ENGINE_NAMES, features_for
from ansible.module_utils.safeindex.report import contacts as emergency
from ansible.module_utils.safeindex.report.timeline import expected_minutes
from ansible.module_utils.safeindex.report.values import speedup_range_text
from ansible.module_utils.safeindex.run import hooks
from ansible.module_utils.safeindex.run.estimates import duration_text
from ansible.module_utils.safeindex.run.estimates import expected_duration as expected_from_estimates

NOTICE_FILES = {"before": "notice_before.txt", "after": "notice_after.txt"}


class NoticeError(ValueError):
    """A notice setting is wrong (an unknown time zone)."""


def zone(name):
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise NoticeError("unknown time zone %r (an IANA name such as Europe/Berlin)" % name) from None


def local_time(tz_name=None, when=None):
    """'2024-05-06 22:00 CEST (UTC+02:00)': `when` (an aware datetime, or the report's UTC 'YYYY-mm-ddTHH:MM:SSZ'; now
    when None) in the team's time zone (the controller's when none is given)."""
    if isinstance(when, str):
        when = datetime.strptime(when, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    when = when or datetime.now(UTC)
    local = when.astimezone(zone(tz_name)) if tz_name else when.astimezone()
    offset = local.strftime("%z")
    return "%s (UTC%s:%s)" % (local.strftime("%Y-%m-%d %H:%M %Z"), offset[:3], offset[3:])


def _online_build(engine):
    """How the engine says it builds online (engines/<engine>/features.py); a generic phrase for an unknown engine."""
    return features_for(engine).online_build_phrase if engine in ENGINE_NAMES else "an online build"


def _on(host, run_id, database):
    if database:
        return "%s (host %s, run %s)" % (database, host, run_id)
    return "host %s (run %s)" % (host, run_id)


def expected_duration(pending, monitor_seconds, estimates=None):
    """The notice's "Expected duration": the plan's estimate (run/estimates.py: backup, builds, monitoring window) where it
    has one, else the runbook's generic timeline, and which of the two it is."""
    estimated = expected_from_estimates(estimates, monitor_seconds)
    if estimated is not None:
        seconds, parts = estimated
        return "about %s (estimated: %s)" % (duration_text(seconds), parts)
    low, high = expected_minutes(bool(pending), monitor_seconds)
    duration = "about %d min" % low if low == high else "about %d-%d min" % (low, high)
    return duration + " (no estimate could be made: the runbook's timeline for %s; monitoring %d min)" % (
        "backup, %d index build(s), verification" % len(pending) if pending else "verification only, nothing to build",
        round(monitor_seconds / 60.0))


def render_before(host, run_id, engine, pending, total, monitor_seconds, starts_at, database=None, blocking=False,
                  maintenance_mode=False, estimates=None):
    """The runbook's 'Before Migration' notice for this run's plan."""
    duration = expected_duration(pending, monitor_seconds, estimates)
    if not pending:
        impact = "None (nothing to build: all %d indexes are in place)" % total
        doing = "Checking the %d database indexes for faster queries; all are in place already, nothing to add" % total
    elif blocking:
        impact = "Writes to the tables of each index wait while it builds (a blocking build was allowed for this run)"
        doing = "Adding %d database indexes for faster queries: %s" % (len(pending), ", ".join(pending))
    else:
        impact = "None (non-destructive changes; each index is built online with %s, reads and writes go on)" % (
            _online_build(engine))
        doing = "Adding %d database indexes for faster queries: %s" % (len(pending), ", ".join(pending))
    availability = "In maintenance mode while the indexes build" if maintenance_mode and pending else "Fully available"
    return "\n".join([
        "📢 Scheduled Maintenance Notice",
        "",
        "We are performing database optimization now, starting at %s." % starts_at,
        "",
        "Database: %s" % _on(host, run_id, database),
        "Expected duration: %s" % duration,
        "Expected impact: %s" % impact,
        "Service availability: %s" % availability,
        "",
        "What we're doing: %s" % doing,
        "",
    ])


# The runbook's Emergency Contacts, a block of its own at the end of the before notice (report/contacts.py checks them).
def contacts_block(contacts):
    """'Emergency contacts:' and one line per contact, then a blank line; "" without contacts."""
    lines = emergency.contact_lines(contacts or [])
    return "\n".join(lines + [""]) if lines else ""


def changes(report):
    created, existed = report["indexes_created"], report["already_existed"] + report.get("equivalent_existed", 0)
    in_place = "%d/%d in place" % (report["total_in_place"], report["total_expected"])
    if not created:
        return "None added (%s%s)" % (in_place, ", all were already there" if report["total_in_place"] == report["total_expected"] else "")
    already = ", %d %s already there" % (existed, "was" if existed == 1 else "were") if existed else ""
    return "%d performance indexes added%s (%s)" % (created, already, in_place)


def impact(report):
    verify = report.get("verify")
    speed = speedup_range_text(verify)
    if speed is None:
        return "Not measured (%s)" % ("verification did not run" if not verify else "no probe was timed before and after")
    probes = [p for p in verify.get("probes") or [] if p.get("speedup") is not None]
    runs = max(p.get("runs") or 0 for p in probes)
    return "The %d probe queries now run %s faster (median of %d runs, before against after)" % (len(probes), speed, runs)


def issues(report):
    found = ["index %s: %s" % (i["name"], " ".join((i.get("error") or "").split())) for i in report["indexes"] if i.get("error")]
    found += ["verification: %s" % f for f in (report.get("verify") or {}).get("failed") or []]
    found += ["monitoring: %s" % f for f in (report.get("monitor") or {}).get("failed") or []]
    found += ["warning: %s" % w for w in report.get("warnings") or []]
    if report["status"] != "success" and report.get("error") and not found:
        found.append(" ".join(str(report["error"]).split()))
    return found


def state_left(report):
    """What a failed or refused run leaves behind, so the team knows where things stand."""
    parts = ["%d/%d indexes in place, %d of them added by this run (each marked with run id %s)" % (
        report["total_in_place"], report["total_expected"], report["indexes_created"], report["run_id"])]
    backup = report.get("backup")
    parts.append("backup %s%s" % (backup["path"], " (verified)" if backup.get("verified") else " (NOT verified)") if backup
                 else "no backup taken")
    if not report["indexes_created"] and not backup:
        return "Nothing was changed (%s)" % "; ".join(parts)
    return "; ".join(parts)


HEADLINES = {
    "success": ("✅ Maintenance Complete", "completed successfully"),
    "failed": ("❌ Maintenance Failed", "failed"),
    "interrupted": ("❌ Maintenance Interrupted", "was interrupted"),
    "refused": ("⛔ Maintenance Not Started", "was refused before any change"),
}


def render_after(report, tz_name=None, database=None):
    """The runbook's 'After Migration' notice, honest about a run that did not succeed."""
    title, outcome = HEADLINES.get(report["status"], HEADLINES["failed"])
    at = local_time(tz_name, report.get("finished"))
    lines = [title, "", "Database optimization on %s %s at %s." % (_on(report["host"], report["run_id"], database), outcome, at), ""]
    if report["status"] != "success":
        if report.get("error"):
            lines.append("Why: %s" % " ".join(str(report["error"]).split()))
        lines.append("State: %s" % state_left(report))
        rollback = (report.get("monitor") or {}).get("rollback_command")
        if rollback:
            lines.append("Rollback: %s" % rollback)
    lines.append("Changes: %s" % changes(report))
    lines.append("Impact: %s" % impact(report))
    found = issues(report)
    lines.append("Issues: %s" % ("None" if not found else "%d" % len(found)))
    lines += ["  - %s" % issue for issue in found]
    lines += ["", "Thank you for your patience!" if report["status"] == "success" else "We will follow up with the next steps.", ""]
    return "\n".join(lines)


def post(url, text, timeout=10):
    """Post {"text": ...} to a Slack-compatible webhook: {configured, posted, status, detail}; never raises, never
    returns the URL (nor anything that could quote it)."""
    if not url:
        return {"configured": False, "posted": None, "status": None, "detail": "no notify_webhook_url set"}
    if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
        return {"configured": True, "posted": False, "status": None, "detail": "notify_webhook_url is not an http(s) URL"}
    hook = {"url": url, "method": "POST", "body": json.dumps({"text": text}),
            "headers": {"Content-Type": "application/json; charset=utf-8"}}
    try:
        outcome = hooks.run(hook, timeout=timeout)
    except (hooks.HookError, ValueError, OSError) as exc:
        return {"configured": True, "posted": False, "status": None, "detail": scrub(type(exc).__name__ + ": " + str(exc), url)}
    detail = "the webhook answered %s" % outcome["status"] if outcome.get("status") else "the webhook could not be reached"
    if outcome.get("output") and not outcome["ok"]:
        detail += ": %s" % outcome["output"][:200]
    return {"configured": True, "posted": bool(outcome["ok"]), "status": outcome.get("status"), "detail": scrub(detail, url)}


def scrub(text, url):
    """Whatever a server or a library said, without the URL or its path (the secret part of a Slack webhook)."""
    path = urlsplit(url).path
    text = text.replace(url, "<notify_webhook_url>")
    return text.replace(path, "<path>") if len(path) > 1 else text
