"""report.html: the run's report as one self-contained page (inline CSS, no script, nothing fetched).

Every value goes through esc(): index names, error messages and probe SQL come from the database and the spec,
and a page that runs what they hold would be a hole in the report.
"""

import json
from html import escape

from ansible.module_utils.safeindex.report import svg
from ansible.module_utils.safeindex.report.values import ms, sample_count, seconds, size, speedup, verified_by

STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 76rem; color: #1d232a;
       padding: 0 1rem; }
h1 { font-size: 1.5rem; margin-bottom: .25rem; } h2 { font-size: 1.15rem; margin-top: 2rem; border-bottom: 1px solid #d6dbe0; }
h3 { font-size: 1rem; }
table { border-collapse: collapse; width: 100%; margin: .5rem 0 1rem; }
th, td { text-align: left; padding: .3rem .5rem; border-bottom: 1px solid #e6e9ec; vertical-align: top; }
th { background: #f3f5f7; font-weight: 600; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
pre { background: #f3f5f7; padding: .75rem; overflow-x: auto; }
.status { display: inline-block; padding: .1rem .6rem; border-radius: 1rem; font-weight: 600; color: #fff; }
.success, .ok, .within, .yes { color: #176f2c; } .failed, .refused, .interrupted, .fail, .error, .not_used, .no, .longer { color: #b3261e; }
.warn, .small_table, .shorter, .unfinished, .unchecked { color: #8a5a00; }
.status.success { background: #176f2c; color: #fff; }
.status.failed, .status.refused, .status.interrupted { background: #b3261e; color: #fff; }
ul.checklist { list-style: none; padding-left: 0; } ul.checklist li { margin: .35rem 0; }
.tick { display: inline-block; width: 1.4rem; font-weight: 700; } .evidence { color: #4a545e; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; } dt { font-weight: 600; } dd { margin: 0; }
/* The page fits its window (1280 px and narrower): long SQL, plans, paths and sums wrap; a table wider than the page
   scrolls in its own box, never the page. */
pre { white-space: pre-wrap; overflow-wrap: anywhere; } td, dd { overflow-wrap: anywhere; }
.wide { overflow-x: auto; max-width: 100%; }
#probe-table td:last-child { width: 24%; } details.plan summary { cursor: pointer; } details.plan pre { margin: .25rem 0; }
""" + svg.STYLE


def esc(value):
    return escape("-" if value is None else str(value), quote=True)


def cell(value, css=None, num=False):
    classes = " ".join(c for c in (esc(css) if css else "", "num" if num else "") if c)
    return "<td%s>%s</td>" % (' class="%s"' % classes if classes else "", esc(value))


def table(header, rows, caption_id=None):
    """rows: lists of already rendered <td> cells."""
    out = ['<div class="wide"><table%s>' % (' id="%s"' % esc(caption_id) if caption_id else ""), "<thead><tr>"]
    out += ["<th>%s</th>" % esc(h) for h in header]
    out += ["</tr></thead>", "<tbody>"]
    out += ["<tr>%s</tr>" % "".join(row) for row in rows]
    out += ["</tbody></table></div>"]
    return "\n".join(out)


def section(title, section_id, *parts):
    return '<section id="%s">\n<h2>%s</h2>\n%s\n</section>' % (esc(section_id), esc(title), "\n".join(p for p in parts if p))


def para(text, css=None):
    return "<p%s>%s</p>" % (' class="%s"' % esc(css) if css else "", esc(text))


def definitions(pairs):
    return "<dl>%s</dl>" % "".join("<dt>%s</dt><dd>%s</dd>" % (esc(k), esc(v)) for k, v in pairs)


def render_html(report):
    title = "Index migration %s on %s: %s" % (report["run_id"], report["host"], report["status"])
    body = [
        header(report),
        summary(report),
        problems(report),
        emergency(report),
        indexes(report),
        probes(report.get("verify")),
        index_verification(report.get("verify")),
        index_check((report.get("verify") or {}).get("amcheck")),
        timeline(report),
        replicas(report.get("replicas")),
        preflight(report),
        backup_and_snapshot(report),
        monitor(report.get("monitor")),
        checklist(report),
    ]
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>%s</title>" % esc(title),
        "<style>%s</style>" % STYLE,
        "</head>",
        "<body>",
        "\n".join(part for part in body if part),
        "</body>",
        "</html>",
        "",
    ])


def header(report):
    status = report["status"]
    facts = [("Host", report["host"]), ("Run id", report["run_id"]), ("Engine", report.get("engine")),
             ("Server version", report.get("server_version")), ("Started", report.get("started")),
             ("Finished", report.get("finished")), ("Duration", seconds(report.get("duration_seconds"))),
             ("Index spec", (report.get("spec_fingerprint") or "")[:12] or None)]
    return '<header>\n<h1>Index migration <span class="status %s" id="status">%s</span></h1>\n%s\n</header>' % (
        esc(status), esc(status), definitions(facts))


def summary(report):
    lines = report.get("summary_lines") or []
    return section("Summary", "summary", "<pre>%s</pre>" % esc("\n".join(lines)) if lines else para("No summary."))


def problems(report):
    parts = []
    if report.get("error"):
        parts.append(para("Error: %s" % report["error"], "fail"))
    errors = [i for i in report["indexes"] if i.get("error")]
    if errors:
        parts.append("<ul>%s</ul>" % "".join('<li class="fail"><strong>%s</strong>: %s</li>' % (esc(i["name"]), esc(i["error"]))
                                             for i in errors))
    if report.get("warnings"):
        parts.append("<h3>Warnings</h3><ul>%s</ul>" % "".join('<li class="warn">%s</li>' % esc(w) for w in report["warnings"]))
    return section("Errors and warnings", "problems", *parts) if parts else ""


# The runbook's Emergency Contacts (report/contacts.py): the steps with this run's commands when it did not succeed,
# and who to call.
def emergency(report):
    parts = []
    for step in report.get("recovery") or []:
        parts.append("<p><strong>%s</strong>: %s</p>" % (esc(step["step"]), esc(step["text"])))
        if step.get("command"):
            parts.append('<pre class="command">%s</pre>' % esc(step["command"]))
    contacts = report.get("emergency_contacts") or []
    if contacts:
        parts.append(table(["name", "role", "phone", "chat", "email"], [
            [cell(c.get(key)) for key in ("name", "role", "phone", "chat", "email")] for c in contacts], "contacts-table"))
    return section("Emergency contacts", "emergency", *parts) if parts else ""


def indexes(report):
    rows = [[cell(i["name"]), cell(i["action"], i["action"]), cell(seconds(i["duration_seconds"]), num=True),
             cell(size(i["size_bytes"]), num=True), cell(i.get("attempts"), num=True),
             cell(i.get("error"), "fail" if i.get("error") else None)]
            for i in report["indexes"]]
    parts = [{"name": i["name"], **p} for i in report["indexes"] for p in i.get("partitions") or []]
    partition_rows = [[cell(p["name"]), cell(p["partition"]), cell(p["index"]), cell(p["action"], p["action"]),
                       cell(size(p.get("size_bytes")), num=True)] for p in parts]
    return section("Indexes", "indexes", table(["index", "action", "duration", "size", "attempts", "error"], rows, "index-table")
                   if rows else para("No index was attempted."),
                   table(["index", "partition", "partition index", "action", "size"], partition_rows, "partition-table")
                   if partition_rows else "")


def probes(verify):
    if not verify:
        return section("Probes", "probes", para("Verification did not run: no probe timings.", "unchecked"))
    rows = [[cell(p["name"]), cell(p.get("expect_index")), cell(p.get("verdict"), p.get("verdict")),
             cell(", ".join(p.get("indexes_used") or []) or None), cell(ms(p.get("before_ms")), num=True),
             cell(ms(p.get("median_ms")), num=True), cell(speedup(p.get("speedup")), num=True), cell(p.get("runs"), num=True),
             cell(p.get("detail"))]
            for p in verify.get("probes") or []]
    failed = "<ul>%s</ul>" % "".join('<li class="fail">%s</li>' % esc(f) for f in verify["failed"]) if verify.get("failed") else ""
    return section("Probes", "probes", svg.probe_chart(verify.get("probes") or []), table(
        ["probe", "expected index", "verdict", "indexes used", "before (ms)", "after (ms)", "speed-up", "runs", "detail"], rows,
        "probe-table") if rows else para("No probes in the spec."), probe_plans(verify.get("probes") or []), failed)


def probe_plans(probes):
    """Each probe's SQL and the plan verify read, folded (<details>): long, and wrapped when opened."""
    items = ['<details class="plan"><summary>%s</summary><pre>%s</pre><pre>%s</pre></details>' % (
        esc(p["name"]), esc(p.get("sql")), esc(json.dumps(p.get("plan"), indent=1, sort_keys=True, default=str)))
        for p in probes if p.get("sql") or p.get("plan")]
    return "<h3>SQL and plans</h3>\n%s" % "\n".join(items) if items else ""


def index_verification(verify):
    if not verify or not verify.get("indexes"):
        return ""
    usage = verify.get("index_usage") or {}
    rows = [[cell(i["name"]), cell(i.get("table")), cell(i.get("state"), "ok" if i.get("state") in ("ok", "equivalent") else "fail"),
             cell(usage.get(i["name"]), num=True), cell(i.get("detail"))] for i in verify["indexes"]]
    return section("Index verification", "index-verification", table(["index", "table", "state", "scans", "detail"], rows))


def index_check(amcheck):
    """verify_amcheck's outcome: each index checked and its result, or why none was (and how to install the check)."""
    if not amcheck:
        return ""
    rows = [[cell(i["name"]), cell(i.get("spec_index")), cell(i.get("function")),
             cell(i.get("result"), {"ok": "ok", "corrupt": "fail"}.get(i.get("result"))),
             cell(seconds(i.get("duration_seconds")), num=True), cell(i.get("error"))] for i in amcheck.get("indexes") or []]
    note = para(amcheck.get("note"), "fail" if amcheck.get("problems") else None if amcheck.get("ran") else "unchecked")
    return section("Index check (amcheck)", "index-check", note,
                   table(["index", "spec index", "check", "result", "duration", "error"], rows) if rows else "")


def timeline(report):
    rows = [[cell(r["phase"]), cell(", ".join(r["runbook_phases"]) or "whole run"), cell(r["expected"]),
             cell(seconds(r["actual_seconds"]), num=True), cell(r["verdict"], r["verdict"].replace(" ", "_"))]
            for r in report.get("timeline") or []]
    return section("Timeline against the runbook", "timeline", svg.phase_chart(report.get("timeline") or []),
                   table(["phase", "run phases", "runbook expects", "actual", "verdict"], rows, "timeline-table"))


def lag_text(peak):
    if not peak:
        return None
    parts = ["%s s" % peak["max_lag_seconds"]] if peak.get("max_lag_seconds") is not None else []
    parts += [size(peak["max_lag_bytes"])] if peak.get("max_lag_bytes") is not None else []
    return ", ".join(parts) or "unknown"


def replicas(section_data):
    """The replicas over the run (report/replicas.py): the most lag of each, the waits and the indexes not built."""
    if not section_data:
        return ""
    parts = [definitions([("Longest wait", seconds(section_data["longest_wait_seconds"])),
                          ("Waits", "%d, %s in all" % (len(section_data["waits"]), seconds(section_data["wait_seconds"]))),
                          ("Pauses between builds", "%d, %s in all" % (section_data["pauses"],
                                                                       seconds(section_data["paused_seconds"])))])]
    if section_data["lag"]:
        parts.append(table(["replica", "most lag, index phase", "most lag, monitoring window"], [
            [cell(name), cell(lag_text(lag["index_phase"]), num=True), cell(lag_text(lag["monitor"]), num=True)]
            for name, lag in section_data["lag"].items()], "replica-lag-table"))
    if section_data["waits"]:
        parts.append(table(["before index", "outcome", "waited", "polls", "why"], [
            [cell(w["index"]), cell(w["outcome"], "fail" if w["outcome"] == "timed_out" else None),
             cell(seconds(w["waited_seconds"]), num=True), cell(w["polls"], num=True),
             cell("; ".join(w.get("problems") or []) or w.get("detail"))] for w in section_data["waits"]], "replica-wait-table"))
    if section_data["not_built"]:
        parts.append("<h3>Not built</h3><ul>%s</ul>" % "".join(
            '<li class="fail"><strong>%s</strong>: %s</li>' % (esc(n["name"]), esc(n["reason"])) for n in section_data["not_built"]))
    return section("Replicas and pacing", "replicas", *parts)


def preflight(report):
    checks = report.get("preflight") or []
    if not checks:
        return section("Preflight", "preflight", para("Preflight did not run."))
    rows = [[cell(c["check"]), cell(c["result"], c["result"]), cell(c["detail"])] for c in checks]
    return section("Preflight", "preflight", table(["check", "result", "detail"], rows, "preflight-table"))


def backup_and_snapshot(report):
    backup, snapshot = report.get("backup"), report.get("snapshot")
    if backup:
        verification = backup.get("verification") or {}
        backup_part = definitions([
            ("Backup", backup["path"]), ("Size", size(backup.get("size_bytes"))), ("sha256", backup["sha256"]),
            ("Format", backup.get("format")), ("Verified", "%s by %s" % ("yes" if backup["verified"] else "NO", verified_by(verification))),
            ("Verification", verification.get("detail")), ("Took", seconds(backup.get("duration_seconds"))),
            ("Kept", "%s days" % report["backup_retention_days"] if report.get("backup_retention_days") is not None else None),
            ("S3 copies", ", ".join(backup.get("s3") or []) or None)])
    else:
        backup_part = para("No backup: no index to build." if report["status"] == "success" else "No backup was taken.")
    if snapshot:
        snapshot_part = definitions([("RDS snapshot", snapshot["id"]), ("ARN", snapshot.get("arn")), ("Status", snapshot.get("status")),
                                     ("Of", snapshot.get("source")), ("Took", seconds(snapshot.get("duration_seconds"))),
                                     ("Error", snapshot.get("error"))])
    else:
        snapshot_part = para("No RDS snapshot.")
    return section("Backup and snapshot", "backup", backup_part, snapshot_part)


def monitor(result):
    if not result:
        return section("Monitor", "monitor", para("The monitor phase did not run.", "unchecked"))
    parts = [para("Watched for %s." % seconds(result.get("duration_seconds")))]
    checks = result.get("smoke_checks") or []
    parts.append("<h3>Smoke checks</h3>")
    parts.append(table(["check", "request", "status", "expected", "ok", "detail"], [
        [cell(c.get("name")), cell("%s %s" % (c.get("method") or "GET", c.get("url"))), cell(c.get("status"), num=True),
         cell(c.get("expected_status"), num=True), cell("yes" if c.get("ok") else "NO", "yes" if c.get("ok") else "no"),
         cell(c.get("detail"))]
        for c in checks], "smoke-table") if checks else para("No smoke_checks configured.", "unchecked"))
    logs = result.get("error_logs") or []
    parts.append("<h3>New error lines</h3>")
    parts.append(table(["host", "log", "new lines", "lines"], [
        [cell(log.get("host")), cell(log.get("path")), cell(log.get("count"), "fail" if log.get("count") else "ok", num=True),
         "<td>%s</td>" % "<br>".join(esc(line) for line in (log.get("new_error_lines") or [])[:20])]
        for log in logs], "error-log-table") if logs else para("No app_error_log configured.", "unchecked"))
    health = result.get("health")
    parts.append("<h3>Database health</h3>")
    parts.append(definitions([("Samples", sample_count(health)), ("Max connections", health.get("max_connections")),
                              ("Max lock waits", health.get("max_lock_waits")), ("Detail", health.get("detail"))])
                 if health else para("Not sampled.", "unchecked"))
    if health:
        parts.append(svg.health_chart(health.get("samples") or []))
    cloudwatch = result.get("cloudwatch")
    if cloudwatch:
        parts.append("<h3>CloudWatch, before and after</h3>")
        parts.append(svg.cloudwatch_chart(cloudwatch))
        parts.append(table(["metric", "before", "after", "unit"], [
            [cell(name), cell(m.get("before"), num=True), cell(m.get("after"), num=True), cell(m.get("unit"))]
            for name, m in sorted(cloudwatch.items())], "cloudwatch-table"))
    if result.get("failed"):
        parts.append("<ul>%s</ul>" % "".join('<li class="fail">%s</li>' % esc(f) for f in result["failed"]))
        if result.get("rollback_command"):
            parts.append("<p>Rollback:</p><pre>%s</pre>" % esc(result["rollback_command"]))
    return section("Monitor", "monitor", *parts)


TICKS = {True: ("&#9745;", "ok", "done"), False: ("&#9746;", "fail", "not done"), None: ("&#9744;", "unchecked", "not checked")}


def checklist(report):
    items = []
    for entry in report.get("checklist") or []:
        mark, css, word = TICKS[entry["ticked"]]
        items.append('<li class="%s" data-ticked="%s"><span class="tick" title="%s">%s</span>%s <span class="evidence">(%s)</span></li>' % (
            css, esc(str(entry["ticked"]).lower()), word, mark, esc(entry["item"]), esc(entry["evidence"])))
    return section("Post-migration checklist", "checklist", '<ul class="checklist">%s</ul>' % "\n".join(items))
