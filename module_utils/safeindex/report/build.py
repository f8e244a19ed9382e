"""The runbook's summary and the run's report (report.json, report.md, report.html)."""

import json
import os

from ansible.module_utils.safeindex.core.files import write_private
from ansible.module_utils.safeindex.report.checklist import checklist
from ansible.module_utils.safeindex.report.html import render_html
from ansible.module_utils.safeindex.report.markdown import render_markdown
from ansible.module_utils.safeindex.report.timeline import timeline
from ansible.module_utils.safeindex.report.values import ms, speedup

IN_PLACE = ("created", "exists", "rebuilt_invalid", "skipped_equivalent")


def summarize(index_results, expected_names, check_mode=False):
    """Counts the runbook reports, from the per-index results of the run."""
    by_name = {}
    for result in index_results:
        name = result.get("name") or (result.get("item") or {}).get("name")
        action = "failed" if result.get("failed") else result.get("action")
        by_name[name] = action
    actions = [by_name.get(name) for name in expected_names]
    count = actions.count
    summary = {
        "indexes_created": count("created") + count("rebuilt_invalid"),
        "rebuilt_invalid": count("rebuilt_invalid"),
        "already_existed": count("exists"),
        "equivalent_existed": count("skipped_equivalent"),
        "errors": count("failed"),
        "not_built": count("not_built"),  # a replica wait timed out (build/pacing.py): the builds stopped there
        "not_attempted": count(None),
        "total_expected": len(expected_names),
    }
    if check_mode:
        # Nothing was built: what is in place is what already was.
        summary["total_in_place"] = count("exists") + count("skipped_equivalent")
        summary["to_build"] = summary.pop("indexes_created")
    else:
        summary["total_in_place"] = sum(count(a) for a in IN_PLACE)
    return summary


def summary_lines(summary, host, run_id, check_mode=False, verify=None):
    """The runbook's 'Migration Summary' block, and each probe's timing before and after when verify ran."""
    title = "Migration plan" if check_mode else "Migration summary"
    lines = ["%s for %s (run %s):" % (title, host, run_id)]
    if check_mode:
        lines.append("   Indexes to build: %d (check mode: nothing was changed)" % summary["to_build"])
    else:
        lines.append("   Indexes created: %d" % summary["indexes_created"])
        if summary["rebuilt_invalid"]:
            lines.append("     of which rebuilt from an INVALID leftover: %d" % summary["rebuilt_invalid"])
    lines.append("   Already existed: %d" % summary["already_existed"])
    if summary["equivalent_existed"]:
        lines.append("   Equivalent index under another name (skipped): %d" % summary["equivalent_existed"])
    lines.append("   Errors: %d" % summary["errors"])
    if summary.get("not_built"):
        lines.append("   Not built (the replicas did not catch up in time): %d" % summary["not_built"])
    if summary["not_attempted"]:
        lines.append("   Not attempted: %d" % summary["not_attempted"])
    lines.append("Total indexes in place: %d/%d" % (summary["total_in_place"], summary["total_expected"]))
    return lines + probe_lines(verify)


def probe_lines(verify):
    probes = (verify or {}).get("probes") or []
    if not probes:
        return []
    runs = max(p.get("runs") or 0 for p in probes)
    return ["Probe timings, median of %d runs (before -> after):" % runs] + ["   " + probe_line(p) for p in probes]


def probe_line(probe):
    if probe.get("verdict") == "error":
        return "%s: error: %s" % (probe["name"], probe.get("detail"))
    if probe.get("before_ms") is None:
        timing = "%s ms after (no timing before)" % ms(probe.get("median_ms"))
    else:
        timing = "%s ms -> %s ms, speed-up %s" % (ms(probe["before_ms"]), ms(probe.get("median_ms")), speedup(probe.get("speedup")))
    used = ", ".join(probe.get("indexes_used") or []) or "no index"
    return "%s: %s [%s, %s]" % (probe["name"], timing, probe.get("verdict"), used)


def backup_summary(result):
    """The report's `backup`: where the verified dump is and how it was proven; None when none was taken."""
    if not result or not result.get("sha256"):
        return None
    verified = result.get("verified") or {}
    return {
        "path": result["path"],
        "manifest_path": result.get("manifest_path"),
        "sha256": result["sha256"],
        "size_bytes": result.get("size_bytes"),
        "format": result.get("format"),
        "verified": verified.get("result") == "ok",
        "verification": verified,
        # Where the restore check ran: "server", or the scratch server on the controller (None below level restore).
        "checked_on": verified.get("target"),
        "duration_seconds": result.get("duration_seconds"),
        "s3": result.get("s3"),
    }


def snapshot_summary(result):
    """The report's `snapshot`: id, arn, status and how long it took; None when none was taken."""
    if not result:
        return None
    snapshot = result.get("snapshot")
    if snapshot and snapshot.get("arn"):
        return {"id": snapshot["id"], "arn": snapshot["arn"], "status": snapshot["status"], "kind": snapshot.get("kind"),
                "source": snapshot.get("source"), "created": snapshot.get("created"),
                "duration_seconds": result.get("duration_seconds")}
    if result.get("snapshot_id"):  # it failed or timed out: the operator needs the id to watch it
        return {"id": result["snapshot_id"], "arn": result.get("arn"), "status": result.get("status"),
                "duration_seconds": result.get("duration_seconds"), "error": result.get("msg")}
    return None


# Ansible's own keys of a registered result: not the phase's findings.
ANSIBLE_KEYS = {"invocation", "changed", "skipped", "skip_reason", "warnings", "deprecations"}


def phase_result(result):
    """A phase's result as the report keeps it (verify, probes_before, monitor); None when the phase did not run."""
    if not isinstance(result, dict) or not result or result.get("skipped"):
        return None
    return {k: v for k, v in result.items() if k not in ANSIBLE_KEYS and not k.startswith("_ansible")}


def index_rows(index_results):
    rows = []
    for result in index_results:
        rows.append({
            "name": result.get("name") or (result.get("item") or {}).get("name"),
            "action": "failed" if result.get("failed") else result.get("action"),
            "duration_seconds": result.get("duration_seconds"),
            "size_bytes": result.get("size_bytes"),
            "attempts": result.get("attempts"),
            "sql": result.get("sql") or [],
            "error": result.get("msg") if result.get("failed") else None,
            "reason": result.get("reason"),  # why it was not built (action not_built)
            "skipped_steps": result.get("skipped_steps") or [],
        })
        if result.get("partitions"):  # a partitioned table's index: each partition's (build/partitioned.py)
            rows[-1]["partitions"] = result["partitions"]
    return rows


def build_report(run_id, host, engine, status, summary, index_results, phases, started=None, finished=None,
                 backup=None, snapshot=None, extra=None, verify=None, probes_before=None, monitor=None,
                 backup_retention_days=None, notices=None, total_seconds=None, lines=None):
    report = {
        "run_id": run_id,
        "host": host,
        "engine": engine,
        "status": status,
        "started": started,
        "finished": finished,
        "duration_seconds": total_seconds,
        "indexes_created": summary["indexes_created"],
        "already_existed": summary["already_existed"],
        "equivalent_existed": summary["equivalent_existed"],
        "rebuilt_invalid": summary["rebuilt_invalid"],
        "errors": summary["errors"],
        "not_built": summary.get("not_built", 0),
        "total_in_place": summary["total_in_place"],
        "total_expected": summary["total_expected"],
        "backup": backup_summary(backup),
        "backup_retention_days": backup_retention_days,
        "snapshot": snapshot_summary(snapshot),
        "phases": phases,
        "indexes": index_rows(index_results),
    }
    report.update(extra or {})
    report.update(verify=phase_result(verify), probes_before=phase_result(probes_before), monitor=phase_result(monitor),
                  summary_lines=lines or [], notices=dict(notices or {}))
    report["warnings"] = list(report.get("warnings") or []) + notice_warnings(report["notices"])
    report["timeline"] = timeline(phases, total_seconds, report.get("replicas"))
    report["checklist"] = checklist(report)
    return report


def notices_from_events(events):
    """The notices a run wrote so far, from its record: {kind: {file, webhook}}."""
    return {e["kind"]: {"file": e.get("file"), "webhook": e.get("webhook") or {}}
            for e in events if e.get("event") == "notice" and e.get("kind")}


def notice_warnings(notices):
    warnings = []
    for kind in ("before", "after"):
        webhook = (notices.get(kind) or {}).get("webhook") or {}
        if webhook.get("configured") and not webhook.get("posted"):
            warnings.append("the %s notice did not reach the team's webhook: %s" % (kind, webhook.get("detail")))
    return warnings


def write_report(run_dir, report):
    """report.json, report.md and report.html, 0600 in the run's folder; returns the path of report.json."""
    json_path = os.path.join(run_dir, "report.json")
    write_private(json_path, report)
    write_private(os.path.join(run_dir, "report.md"), render_markdown(report))
    write_private(os.path.join(run_dir, "report.html"), render_html(report))
    return json_path


def add_notice(run_dir, kind, outcome):
    """A notice written after the report (the after notice): the report learns of it, and of its webhook's fate,
    so the checklist's 'Update team' item is ticked on evidence."""
    with open(os.path.join(run_dir, "report.json")) as handle:
        report = json.load(handle)
    before = notice_warnings(report["notices"])
    report["notices"][kind] = outcome
    report["warnings"] = [w for w in report["warnings"] if w not in before] + notice_warnings(report["notices"])
    report["checklist"] = checklist(report)
    write_report(run_dir, report)
    return report
