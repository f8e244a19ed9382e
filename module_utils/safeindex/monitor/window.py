"""The end of the monitoring window: what it found, judged (smoke.py), recorded for the report, and the phase closed.

Called by run_record's `monitor` event after the smoke checks, log scans and CloudWatch of the window, and by db_health
itself when the window has nothing after its sampling (no smoke check, no error log, no RDS): one process less.
"""

from __future__ import annotations

import time
from typing import Any

from ansible.module_utils.safeindex.monitor import smoke
from ansible.module_utils.safeindex.run.record import record_phase, record_phase_result


def judge_window(run_dir: str | None, run_id: str, host: str, details: dict[str, Any],
                 check_mode: bool = False) -> tuple[dict[str, Any], str | None]:
    """(what monitoring found, the run's failure message or None), recorded with the end of the monitor phase.

    `details`: started (epoch seconds), smoke_checks (verdicts judged before), start_answers, end_answers (the uri
    answers of each round), scanned (log_scan results), log_paths, health (db_health's result), cloudwatch, inventories.
    """
    verdicts = (list(details.get("smoke_checks") or []) + smoke.judge_round(details.get("start_answers") or [], "start")
                + smoke.judge_round(details.get("end_answers") or [], "end"))
    logs = smoke.error_logs(details.get("scanned") or [], details.get("log_paths") or {})
    started = details.get("started")
    duration = time.time() - float(started) if started is not None else 0.0
    command = smoke.rollback_command(details.get("inventories") or [], run_id, host)
    result = smoke.monitor_result(verdicts, logs, details.get("health"), details.get("cloudwatch"), duration, command)
    record_phase_result(run_dir, "monitor", result, check_mode)
    record_phase(run_dir, "phase_end", "monitor", check_mode, run_id)
    return result, smoke.failure_message(result, host, run_id)
