"""The runbook's Post-Migration Checklist, each item ticked from the run's evidence.

An item is ticked True or False only on evidence; None means nobody checked it (the phase that would
have did not run, or nothing was configured to check), which the report says rather than guess.
"""

from ansible.module_utils.safeindex.report.values import measured_probes, sample_count, speedup, speedup_range_text

RUNBOOK_RETENTION_DAYS = 7
# Sub-millisecond probes vary by a fifth from run to run; slower than this is slower, not noise.
SLOWER = 0.8


def item(text, ticked, evidence):
    return {"item": text, "ticked": ticked, "evidence": evidence}


def checklist(report):
    return [
        indexes_created(report),
        application_works(report),
        no_errors_in_logs(report),
        query_performance(report),
        users_login_and_query(report),
        backup_kept(report),
        completion_documented(report),
        team_updated(report),
    ]


def indexes_created(report):
    text = "Indexes created: %d/%d" % (report["total_in_place"], report["total_expected"])
    evidence = "%d in place of %d: %d created by this run, %d already existed, %d errors" % (
        report["total_in_place"], report["total_expected"], report["indexes_created"], report["already_existed"], report["errors"])
    if report.get("equivalent_existed"):
        evidence += ", %d had an equivalent under another name" % report["equivalent_existed"]
    return item(text, report["total_expected"] > 0 and report["total_in_place"] == report["total_expected"], evidence)


def _smoke_checks(report):
    """(checks, why not checked): the monitor's smoke checks, or the reason there are none."""
    monitor = report.get("monitor")
    if not monitor:
        return None, "not checked: the monitor phase did not run"
    checks = monitor.get("smoke_checks") or []
    if not checks:
        return None, "not checked: no smoke_checks configured"
    return checks, None


def _smoke_evidence(checks):
    failed = [c for c in checks if not c.get("ok")]
    if not failed:
        return True, "%d/%d smoke checks passed: %s" % (len(checks), len(checks), ", ".join(c.get("name") or c.get("url") for c in checks))
    return False, "%d/%d smoke checks failed: %s" % (len(failed), len(checks), "; ".join(
        "%s (status %s, expected %s%s)" % (c.get("name") or c.get("url"), c.get("status"), c.get("expected_status"),
                                           ": %s" % c["detail"] if c.get("detail") else "") for c in failed))


def application_works(report):
    text = "Application works normally"
    checks, why = _smoke_checks(report)
    if checks is None:
        return item(text, None, why)
    ticked, evidence = _smoke_evidence(checks)
    health = report["monitor"].get("health")
    if health:
        evidence += "; database health over %s samples: max %s connections, max %s lock waits" % (
            sample_count(health), health.get("max_connections"), health.get("max_lock_waits"))
    return item(text, ticked, evidence)


def users_login_and_query(report):
    text = "Users can login and query"
    checks, why = _smoke_checks(report)
    if checks is None:
        return item(text, None, why)
    return item(text, *_smoke_evidence(checks))


def no_errors_in_logs(report):
    text = "No errors in logs"
    monitor = report.get("monitor")
    if not monitor:
        return item(text, None, "not checked: the monitor phase did not run")
    logs = monitor.get("error_logs") or []
    if not logs:
        return item(text, None, "not checked: no app_error_log configured")
    found = [log for log in logs if log.get("count")]
    if not found:
        return item(text, True, "no new error lines in %d log(s) since the run started" % len(logs))
    total = sum(log["count"] for log in found)
    first = next((line for log in found for line in log.get("new_error_lines") or []), "")
    return item(text, False, "%d new error line(s) in %s%s" % (
        total, ", ".join("%s:%s" % (log.get("host"), log.get("path")) for log in found), ", first: %s" % first if first else ""))


def query_performance(report):
    text = "Query performance improved"
    verify = report.get("verify")
    if not verify:
        return item(text, None, "not checked: verification did not run")
    measured = measured_probes(verify)
    problems = ["%s does not use %s (%s)" % (p["name"], p.get("expect_index"), p.get("verdict"))
                for p in verify.get("probes") or [] if p.get("verdict") in ("not_used", "error")]
    if not report.get("indexes_created"):
        # Nothing was built, so before and after differ by noise only: the plans are the evidence.
        if problems:
            return item(text, False, "; ".join(problems))
        return item(text, True, "no index built by this run; every probe uses its index")
    if not measured:
        return item(text, None, "not checked: no probe was timed both before and after")
    problems += ["%s got slower (%s)" % (p["name"], speedup(p["speedup"])) for p in measured if p["speedup"] < SLOWER]
    if problems:
        return item(text, False, "; ".join(problems))
    return item(text, True, "%d probe(s) timed before and after: %s faster" % (len(measured), speedup_range_text(verify)))


def backup_kept(report):
    text = "Database backup kept safe for %d days" % RUNBOOK_RETENTION_DAYS
    backup = report.get("backup")
    days = report.get("backup_retention_days")
    if not backup:
        if report["status"] == "success" and report["indexes_created"] == 0:
            return item(text, None, "no backup taken: this run built no index")
        return item(text, False, "no backup was taken")
    copies = [uri for uri in backup.get("s3") or [] if uri.endswith(backup["path"].rsplit("/", 1)[-1])]
    where = backup["path"] + "".join(" and %s" % uri for uri in copies)
    if not backup.get("verified"):
        return item(text, False, "%s was not verified" % where)
    proven = "%s, verified by %s" % (where, (backup.get("verification") or {}).get("level"))
    if days is None:
        return item(text, None, "%s; how long it is kept is not known" % proven)
    days = int(days)
    if days == 0:
        return item(text, True, "%s; kept until removed by hand (backup_retention_days 0)" % proven)
    if days >= RUNBOOK_RETENTION_DAYS:
        return item(text, True, "%s; kept %d days (backup_retention_days)" % (proven, days))
    return item(text, False, "%s; but kept only %d days (backup_retention_days)" % (proven, days))


def completion_documented(report):
    return item("Document completion time and any issues", True, "this report: %s at %s, %d index error(s), %d warning(s)" % (
        report["status"], report.get("finished"), report["errors"], len(report.get("warnings") or [])))


def team_updated(report):
    text = "Update team that migration is complete"
    after = (report.get("notices") or {}).get("after")
    if not after:
        return item(text, None, "not yet: the after notice is written once this report is")
    webhook = after.get("webhook") or {}
    if not webhook.get("configured"):
        return item(text, True, "%s written (no notify_webhook_url set: pass it on by hand)" % after["file"])
    if webhook.get("posted"):
        return item(text, True, "%s written and posted to the team's webhook (status %s)" % (after["file"], webhook.get("status")))
    return item(text, False, "%s written, but the webhook did not take it: %s" % (after["file"], webhook.get("detail")))
