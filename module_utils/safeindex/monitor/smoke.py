"""The monitor's judgments: each smoke check's answer, each app error log's new lines, and what fails the run.

The monitor role calls the app (ansible.builtin.uri) and the logs (log_scan) and hands the raw answers here, through
run_record's `smoke` and `monitor` events, so the judging is Python that unit tests can reach, not Jinja.
"""

from __future__ import annotations

import shlex
from typing import Any

NO_ANSWER = -1


def expected_statuses(check: dict[str, Any]) -> list[int]:
    """The HTTP statuses a check accepts: its `status` (one or a list), 200 when it gives none."""
    wanted = check.get("status", 200)
    return [int(status) for status in (wanted if isinstance(wanted, list) else [wanted])]


def judge_smoke(check: dict[str, Any], answer: dict[str, Any], round_name: str) -> dict[str, Any]:
    """One smoke check's verdict from the uri module's answer: the status among the expected ones, and the body (when
    the check names one) in the content."""
    status = int(answer.get("status", NO_ANSWER))
    expected = expected_statuses(check)
    status_ok = status in expected
    body = check.get("body")
    body_ok = body is None or body in (answer.get("content") or "")
    if status == NO_ANSWER:
        why = "no answer: %s" % answer.get("msg", "?")
    elif not status_ok:
        why = "HTTP %s, expected %s" % (status, " or ".join(str(s) for s in expected))
    elif not body_ok:
        why = "HTTP %s, but the body lacks %r" % (status, body)
    else:
        why = "HTTP %s" % status + (", body has %r" % body if body is not None else "")
    return {
        "name": check.get("name") or check["url"],
        "url": check["url"],
        "method": check.get("method", "GET"),
        "status": status,
        "expected_status": check.get("status", 200),
        "ok": status_ok and body_ok,
        "round": round_name,
        "detail": "%s of the window: %s" % (round_name, why),
    }


def judge_round(answers: list[dict[str, Any]], round_name: str) -> list[dict[str, Any]]:
    """A round's verdicts, from a registered uri loop's `results` (each with its check under `item`)."""
    return [judge_smoke(answer.get("item") or {}, answer, round_name) for answer in answers]


def any_failed(smoke_checks: list[dict[str, Any]]) -> bool:
    return any(not check.get("ok") for check in smoke_checks)


def error_logs(scanned: list[dict[str, Any]], log_paths: dict[str, Any]) -> list[dict[str, Any]]:
    """Each app host's scanned logs with its host; a host that could not be scanned gets one entry that says why.

    `scanned` is a registered log_scan loop's `results` (its host under `item`), `log_paths` each host's app_error_log."""
    logs = []
    for result in scanned:
        host = result.get("item")
        found = result.get("logs")
        if found is None:
            paths = log_paths.get(host)
            found = [{"path": ", ".join(paths if isinstance(paths, list) else [paths]) if paths else "",
                      "new_error_lines": [], "count": 0,
                      "detail": "could not scan: %s" % result.get("msg", "unreachable")}]
        logs.extend(dict(log, host=host) for log in found)
    return logs


def log_problem(log: dict[str, Any]) -> str:
    """A log's new error lines as the failure message shows them: the lines kept, then how many more."""
    count = log["count"]
    lines = log.get("new_error_lines") or []
    text = "%d new error line%s in %s:%s:\n" % (count, "s" if count > 1 else "", log["host"], log["path"])
    text += "".join("    %s\n" % line for line in lines)
    if count - len(lines) > 0:
        text += "    ... and %d more\n" % (count - len(lines))
    return text


def problems(smoke_checks: list[dict[str, Any]], logs: list[dict[str, Any]]) -> list[str]:
    """What fails the run: every smoke check that failed, every log with new error lines."""
    failed = ["smoke check %s: %s" % (check["name"], check["detail"]) for check in smoke_checks if not check.get("ok")]
    return failed + [log_problem(log) for log in logs if log.get("count", 0) > 0]


def health_summary(health: dict[str, Any] | None) -> dict[str, Any] | None:
    """db_health's samples and maxima; None when it took no sample (it failed before sampling)."""
    if not health or "samples" not in health:
        return None
    kept = {key: health.get(key) for key in ("samples", "max_connections", "max_lock_waits", "detail")}
    if health.get("replica_lag"):  # the most lag of each replica (db_health reads them when there are any)
        kept["replica_lag"] = health["replica_lag"]
    return kept


def rollback_command(inventories: list[str], run_id: str, host: str) -> str:
    """The command that drops the indexes this run built, on this host only."""
    sources = " ".join("-i " + shlex.quote(source) for source in inventories)
    return "ansible-playbook rollback.yml %s -e run_id=%s --limit %s" % (sources, run_id, host)


def monitor_result(smoke_checks: list[dict[str, Any]], logs: list[dict[str, Any]], health: dict[str, Any] | None,
                   cloudwatch: dict[str, Any] | None, duration_seconds: float, command: str) -> dict[str, Any]:
    """What monitoring found, as the report keeps it."""
    return {
        "duration_seconds": round(duration_seconds, 1),
        "smoke_checks": smoke_checks,
        "error_logs": logs,
        "health": health_summary(health),
        "cloudwatch": (cloudwatch or {}).get("metrics"),
        "failed": problems(smoke_checks, logs),
        "rollback_command": command,
    }


def failure_message(result: dict[str, Any], host: str, run_id: str) -> str | None:
    """The run's failure on what monitoring found, with the rollback command; None when it found nothing."""
    if not result["failed"]:
        return None
    lines = ["Monitoring of %s after run %s found problems:" % (host, run_id)]
    lines += ["- %s" % problem.strip() for problem in result["failed"]]
    lines += ["Roll back the indexes this run built with:", "  %s" % result["rollback_command"]]
    return "\n".join(lines)
