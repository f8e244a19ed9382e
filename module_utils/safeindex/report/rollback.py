"""A rollback's own report: report.json and report.md in its folder inside the run's folder (0600)."""

import os

from ansible.module_utils.safeindex.core.files import write_private
from ansible.module_utils.safeindex.run.record import RunRecord, now_iso


def build_rollback_report(outcome, run_id, host, engine):
    return dict(outcome, run_id=run_id, host=host, engine=engine, finished=now_iso())


def render_rollback_markdown(report):
    lines = ["# Rollback (%s) of run %s on %s" % (report.get("mode"), report.get("run_id"), report.get("host")), "",
             "Status: **%s**, finished %s" % (report.get("status"), report.get("finished")), ""]
    lines += ["- %s" % line for line in report.get("summary_lines") or []]
    for key, value in sorted((report.get("details") or {}).items()):
        lines += ["", "## %s" % key.replace("_", " ").capitalize(), ""]
        items = value if isinstance(value, list) else [value]
        lines += ["- %s" % _item(item) for item in items] or ["- (none)"]
    return "\n".join(lines) + "\n"


def write_rollback_report(rollback_dir, report):
    """Record the finish in the rollback's record.jsonl, then write report.json and report.md; the path of report.json."""
    RunRecord(rollback_dir).append("finish", status=report.get("status"), mode=report.get("mode"))
    path = os.path.join(rollback_dir, "report.json")
    write_private(path, report)
    write_private(os.path.join(rollback_dir, "report.md"), render_rollback_markdown(report))
    return path


def _item(item):
    if isinstance(item, dict):
        name = item.get("name")
        rest = ", ".join("%s %s" % (k, v) for k, v in sorted(item.items()) if k != "name" and v not in (None, "", []))
        return "%s: %s" % (name, rest) if name else rest
    return str(item)
