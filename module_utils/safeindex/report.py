"""The runbook's summary and the run's report (report.json + report.md)."""

import os

from ansible.module_utils.safeindex.files import write_private

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


def summary_lines(summary, host, run_id, check_mode=False):
    """The runbook's 'Migration Summary' block."""
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
    if summary["not_attempted"]:
        lines.append("   Not attempted: %d" % summary["not_attempted"])
    lines.append("Total indexes in place: %d/%d" % (summary["total_in_place"], summary["total_expected"]))
    return lines


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


def build_report(run_id, host, engine, status, summary, index_results, phases, started=None, finished=None,
                 backup=None, snapshot=None, extra=None):
    indexes = []
    for result in index_results:
        indexes.append({
            "name": result.get("name") or (result.get("item") or {}).get("name"),
            "action": "failed" if result.get("failed") else result.get("action"),
            "duration_seconds": result.get("duration_seconds"),
            "size_bytes": result.get("size_bytes"),
            "attempts": result.get("attempts"),
            "sql": result.get("sql") or [],
            "error": result.get("msg") if result.get("failed") else None,
            "skipped_steps": result.get("skipped_steps") or [],
        })
    report = {
        "run_id": run_id,
        "host": host,
        "engine": engine,
        "status": status,
        "started": started,
        "finished": finished,
        "indexes_created": summary["indexes_created"],
        "already_existed": summary["already_existed"],
        "equivalent_existed": summary["equivalent_existed"],
        "rebuilt_invalid": summary["rebuilt_invalid"],
        "errors": summary["errors"],
        "total_in_place": summary["total_in_place"],
        "total_expected": summary["total_expected"],
        "backup": backup_summary(backup),
        "snapshot": snapshot_summary(snapshot),
        "phases": phases,
        "indexes": indexes,
    }
    report.update(extra or {})
    return report


def render_markdown(report, lines):
    out = ["# Index migration %s on %s: %s" % (report["run_id"], report["host"], report["status"]), "", "```"]
    out += lines
    out += ["```", ""]
    if report.get("warnings"):
        out += ["## Warnings", ""] + ["- %s" % w for w in report["warnings"]] + [""]
    if report.get("preflight"):
        out += ["## Preflight", "", "| check | result | detail |", "|---|---|---|"]
        out += ["| %s | %s | %s |" % (c["check"], c["result"], c["detail"].replace("|", "\\|")) for c in report["preflight"]]
        out += [""]
    out += ["## Phases", "", "| phase | started | duration (s) |", "|---|---|---|"]
    for phase in report["phases"]:
        out.append("| %s | %s | %s |" % (phase["name"], phase["started"], _or_dash(phase["duration_seconds"])))
    out += ["", "## Indexes", "", "| index | action | duration (s) | size (bytes) | attempts |", "|---|---|---|---|---|"]
    for index in report["indexes"]:
        out.append("| %s | %s | %s | %s | %s |" % (
            index["name"], index["action"], _or_dash(index["duration_seconds"]),
            _or_dash(index["size_bytes"]), _or_dash(index["attempts"])))
    errors = [i for i in report["indexes"] if i["error"]]
    if errors:
        out += ["", "## Errors", ""]
        out += ["- **%s**: %s" % (i["name"], i["error"].replace("\n", " ")) for i in errors]
    backup = report["backup"]
    if backup:
        out += ["", "Backup: %s (%s bytes, sha256 %s), verified by %s: %s" % (
            backup["path"], backup["size_bytes"], backup["sha256"], backup["verification"].get("level"),
            "ok" if backup["verified"] else "NOT VERIFIED")]
    else:
        out += ["", "Backup: none (no index to build)" if report["status"] == "success" else "Backup: none"]
    snapshot = report["snapshot"]
    if snapshot:
        out += ["RDS snapshot: %s (%s), %s" % (snapshot["id"], snapshot.get("arn") or "no arn yet", snapshot["status"])]
    else:
        out += ["RDS snapshot: none"]
    out += [""]
    return "\n".join(out)


def write_report(run_dir, report, lines):
    json_path = os.path.join(run_dir, "report.json")
    write_private(json_path, report)
    write_private(os.path.join(run_dir, "report.md"), render_markdown(report, lines))
    return json_path


def _or_dash(value):
    return "-" if value is None else value
