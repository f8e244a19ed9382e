"""report.md: the run's report as Markdown, for a ticket or a wiki page."""

from ansible.module_utils.safeindex.report.values import dash, ms, sample_count, seconds, size, speedup, verified_by

TICKS = {True: "[x]", False: "[ ]", None: "[ ]"}


def cell(value):
    """A table cell: one line, pipes escaped."""
    return str(dash(None if value == "" else value)).replace("\n", " ").replace("|", "\\|")


def table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(cell(value) for value in row) + " |" for row in rows]
    return out + [""]


def render_markdown(report):
    out = ["# Index migration %s on %s: %s" % (report["run_id"], report["host"], report["status"]), "", "```"]
    out += report.get("summary_lines") or []
    out += ["```", ""]
    if report.get("error"):
        out += ["**Error:** %s" % cell(report["error"]), ""]
    if report.get("warnings"):
        out += ["## Warnings", ""] + ["- %s" % cell(w) for w in report["warnings"]] + [""]
    out += emergency(report)
    if report.get("preflight"):
        out += ["## Preflight", ""] + table(["check", "result", "detail"],
                                            [(c["check"], c["result"], c["detail"]) for c in report["preflight"]])
    out += ["## Phases", ""] + table(["phase", "started", "duration (s)"],
                                     [(p["name"], p["started"], p["duration_seconds"]) for p in report["phases"]])
    out += ["## Timeline against the runbook", ""] + table(["phase", "runbook phases", "expected", "actual", "verdict"], [
        (row["phase"], ", ".join(row["runbook_phases"]) or "whole run", row["expected"], seconds(row["actual_seconds"]), row["verdict"])
        for row in report.get("timeline") or []])
    out += pacing_line(report.get("timeline") or [])
    out += ["## Indexes", ""] + table(["index", "action", "duration (s)", "size (bytes)", "attempts"], [
        (i["name"], i["action"], i["duration_seconds"], i["size_bytes"], i["attempts"]) for i in report["indexes"]])
    out += partitions(report["indexes"])
    errors = [i for i in report["indexes"] if i["error"]]
    if errors:
        out += ["## Errors", ""] + ["- **%s**: %s" % (cell(i["name"]), cell(i["error"])) for i in errors] + [""]
    out += replicas(report.get("replicas"))
    out += verification(report.get("verify"))
    out += index_check((report.get("verify") or {}).get("amcheck"))
    out += monitoring(report.get("monitor"))
    out += backup_and_snapshot(report)
    out += ["## Post-migration checklist", ""]
    out += ["- %s %s (%s)" % (TICKS[c["ticked"]], c["item"], cell(c["evidence"])) for c in report.get("checklist") or []]
    out += [""]
    return "\n".join(out)


# The runbook's Emergency Contacts (report/contacts.py): the steps with this run's commands, and who to call.
def emergency(report):
    steps, contacts = report.get("recovery") or [], report.get("emergency_contacts") or []
    if not steps and not contacts:
        return []
    out = ["## Emergency contacts", ""]
    for step in steps:
        out.append("- **%s**: %s" % (cell(step["step"]), cell(step["text"])) + (" `%s`" % step["command"] if step.get("command") else ""))
    if steps:
        out.append("")
    if contacts:
        out += table(["name", "role", "phone", "chat", "email"],
                     [[c.get(key) for key in ("name", "role", "phone", "chat", "email")] for c in contacts])
    return out


def pacing_line(rows):
    """Under the timeline: how much of the index phase was paced (pauses between builds, waits for the replicas)."""
    row = next((r for r in rows if "paused_seconds" in r), None)
    if not row:
        return []
    return ["Of the migration, %s paused between builds and %s waiting for the replicas." % (
        seconds(row["paused_seconds"]), seconds(row["replica_wait_seconds"])), ""]


def lag_cell(peak):
    if not peak:
        return None
    parts = ["%s s" % peak["max_lag_seconds"]] if peak.get("max_lag_seconds") is not None else []
    parts += [size(peak["max_lag_bytes"])] if peak.get("max_lag_bytes") is not None else []
    return ", ".join(parts) or "unknown"


def replicas(section):
    """The replicas over the run: the most lag of each (index phase, monitoring window), the waits, the unbuilt."""
    if not section:
        return []
    out = ["## Replicas and pacing", "",
           "Longest wait for the replicas: %s (%d waits, %s in all); %d pauses between builds, %s in all." % (
               seconds(section["longest_wait_seconds"]), len(section["waits"]), seconds(section["wait_seconds"]),
               section["pauses"], seconds(section["paused_seconds"])), ""]
    if section["lag"]:
        out += ["### Most lag seen", ""] + table(["replica", "index phase (before each build)", "monitoring window"], [
            (name, lag_cell(lag["index_phase"]), lag_cell(lag["monitor"])) for name, lag in section["lag"].items()])
    if section["waits"]:
        out += ["### Waits", ""] + table(["before index", "outcome", "waited (s)", "polls", "why"], [
            (w["index"], w["outcome"], w["waited_seconds"], w["polls"], "; ".join(w.get("problems") or []) or w.get("detail"))
            for w in section["waits"]])
    if section["not_built"]:
        out += ["### Not built", ""] + ["- **%s**: %s" % (cell(n["name"]), cell(n["reason"])) for n in section["not_built"]]
        out += [""]
    return out


def partitions(indexes):
    """Each partition's index of an index on a partitioned table: which it is and what the run did with it."""
    rows = [(i["name"], p["partition"], p["index"], p["action"], p.get("size_bytes"))
            for i in indexes for p in i.get("partitions") or []]
    if not rows:
        return []
    return ["## Partitions", ""] + table(["index", "partition", "partition index", "action", "size (bytes)"], rows)


def verification(verify):
    if not verify:
        return ["## Probes", "", "Verification did not run.", ""]
    out = ["## Probes", ""] + table(["probe", "expected index", "verdict", "before (ms)", "after (ms)", "speed-up"], [
        (p["name"], p.get("expect_index"), p.get("verdict"), ms(p.get("before_ms")), ms(p.get("median_ms")), speedup(p.get("speedup")))
        for p in verify.get("probes") or []])
    if verify.get("indexes"):
        out += ["## Index verification", ""] + table(["index", "table", "state", "usage (scans)", "detail"], [
            (i["name"], i.get("table"), i.get("state"), (verify.get("index_usage") or {}).get(i["name"]), i.get("detail"))
            for i in verify["indexes"]])
    if verify.get("failed"):
        out += ["Verification failed:", ""] + ["- %s" % cell(f) for f in verify["failed"]] + [""]
    return out


def index_check(amcheck):
    """verify_amcheck's outcome: each index checked and its result, or why none was (and how to install the check)."""
    if not amcheck:
        return []
    out = ["## Index check (amcheck)", "", cell(amcheck.get("note")), ""]
    if amcheck.get("indexes"):
        out += table(["index", "spec index", "check", "result", "duration (s)", "error"], [
            (i["name"], i.get("spec_index"), i.get("function"), i.get("result"), i.get("duration_seconds"), i.get("error"))
            for i in amcheck["indexes"]])
    return out


def monitoring(monitor):
    if not monitor:
        return ["## Monitor", "", "The monitor phase did not run.", ""]
    out = ["## Monitor", "", "Watched for %s." % seconds(monitor.get("duration_seconds")), ""]
    checks = monitor.get("smoke_checks") or []
    out += ["### Smoke checks", ""] + (table(["check", "request", "status", "expected", "ok", "detail"], [
        (c.get("name"), "%s %s" % (c.get("method") or "GET", c.get("url")), c.get("status"), c.get("expected_status"),
         "yes" if c.get("ok") else "NO", c.get("detail")) for c in checks]) if checks else ["None configured.", ""])
    logs = monitor.get("error_logs") or []
    out += ["### New error lines", ""] + (table(["host", "log", "new lines", "first lines"], [
        (log.get("host"), log.get("path"), log.get("count"), " / ".join((log.get("new_error_lines") or [])[:3])) for log in logs])
        if logs else ["No app_error_log configured.", ""])
    health = monitor.get("health")
    out += ["### Database health", ""]
    out += ["%s samples: max %s connections, max %s lock waits. %s" % (
        sample_count(health), health.get("max_connections"), health.get("max_lock_waits"), cell(health.get("detail") or "")), ""
    ] if health else ["Not sampled.", ""]
    cloudwatch = monitor.get("cloudwatch")
    if cloudwatch:
        out += ["### CloudWatch", ""] + table(["metric", "before", "after", "unit"], [
            (name, m.get("before"), m.get("after"), m.get("unit")) for name, m in sorted(cloudwatch.items())])
    if monitor.get("failed"):
        out += ["Monitoring failed:", ""] + ["- %s" % cell(f) for f in monitor["failed"]] + [""]
        if monitor.get("rollback_command"):
            out += ["Rollback: `%s`" % monitor["rollback_command"], ""]
    return out


def backup_and_snapshot(report):
    out = ["## Backup and snapshot", ""]
    backup = report["backup"]
    if backup:
        out += ["Backup: %s (%s, sha256 %s), verified by %s: %s" % (
            backup["path"], size(backup["size_bytes"]), backup["sha256"], verified_by(backup.get("verification")),
            "ok" if backup["verified"] else "NOT VERIFIED")]
    else:
        out += ["Backup: none (no index to build)" if report["status"] == "success" else "Backup: none"]
    snapshot = report["snapshot"]
    if snapshot:
        out += ["", "RDS snapshot: %s (%s), %s" % (snapshot["id"], snapshot.get("arn") or "no arn yet", snapshot["status"])]
    else:
        out += ["", "RDS snapshot: none"]
    return out + [""]
