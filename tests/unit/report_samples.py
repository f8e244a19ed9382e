"""Realistic inputs of the report: what db_index, db_verify, the monitor role and the backup return on a run."""

import copy

from ansible.module_utils.safeindex.report.build import build_report, summarize, summary_lines

NAMES = ["idx_user_username", "idx_user_role", "idx_conversation_user_created", "idx_message_conversation_timestamp"]

INDEX_RESULTS = [
    {"name": "idx_user_username", "action": "created", "changed": True, "duration_seconds": 0.412, "size_bytes": 237568, "attempts": 1,
     "sql": ['CREATE INDEX CONCURRENTLY "idx_user_username" ON "public"."user" ("username")']},
    {"name": "idx_user_role", "action": "exists", "changed": False, "duration_seconds": 0.004, "size_bytes": 106496, "attempts": 0},
    {"name": "idx_conversation_user_created", "action": "created", "changed": True, "duration_seconds": 1.731, "size_bytes": 2252800,
     "attempts": 2},
    {"name": "idx_message_conversation_timestamp", "action": "created", "changed": True, "duration_seconds": 3.104,
     "size_bytes": 6602752, "attempts": 1},
]


def probe(name, expect_index, before_ms, after_ms, verdict="ok", used=None):
    return {"name": name, "sql": "SELECT 1", "expect_index": expect_index, "table": "t", "verdict": verdict,
            "indexes_used": [expect_index] if used is None else used, "detail": "Index Scan using %s" % expect_index,
            "plan": [{"Plan": {"Node Type": "Index Scan", "Index Name": expect_index}}], "median_ms": after_ms, "runs": 5,
            "before_ms": before_ms, "speedup": None if before_ms is None else round(before_ms / after_ms, 2)}


VERIFY = {
    "changed": False,
    "invocation": {"module_args": {"db_password": "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"}},
    "indexes": [{"name": n, "table": "t", "state": "ok", "detail": "valid, definition as in the spec"} for n in NAMES],
    "probes": [
        probe("login_by_username", "idx_user_username", 4.8, 0.06),
        probe("recent_conversations_of_user", "idx_conversation_user_created", 12.5, 0.25),
        probe("messages_of_conversation", "idx_message_conversation_timestamp", 35.0, 1.0),
    ],
    "index_usage": {"idx_user_username": 6, "idx_user_role": 0, "idx_conversation_user_created": 6,
                    "idx_message_conversation_timestamp": 6},
    "failed": [],
    "summary_lines": ["4/4 indexes verified", "3/3 probes use their index"],
}

MONITOR = {
    "duration_seconds": 1800,
    "smoke_checks": [
        {"name": "login", "url": "https://app.example/login", "method": "POST", "status": 200, "expected_status": 200, "ok": True,
         "detail": ""},
        {"name": "query", "url": "https://app.example/api/query", "method": "POST", "status": 200, "expected_status": 200, "ok": True,
         "detail": ""},
    ],
    "error_logs": [{"host": "app1", "path": "/var/log/app/error.log", "new_error_lines": [], "count": 0}],
    "health": {"samples": [{"seconds": 30.0 * n, "connections": 12 + n % 3, "active_connections": 2, "lock_waits": 0, "waiting": []}
                           for n in range(60)],
               "max_connections": 14, "max_lock_waits": 0, "detail": "60 samples: connections max 14 avg 13.0; lock waits max 0 avg 0.0"},
    "cloudwatch": {"CPUUtilization": {"before": 31.5, "after": 18.2, "unit": "Percent"},
                   "ReadLatency": {"before": 0.004, "after": 0.001, "unit": "Seconds"}},
    "failed": [],
    "rollback_command": "ansible-playbook rollback.yml -i inventories/prod -e rollback_mode=indexes -e run_id=run-42",
}

BACKUP = {
    "path": "/srv/backups/db1/run-42/chatbot.dump", "manifest_path": "/srv/backups/db1/run-42/manifest.json",
    "sha256": "9f" * 32, "size_bytes": 48234496, "format": "custom", "duration_seconds": 61.2,
    "verified": {"result": "ok", "level": "restore", "detail": "restored into a scratch database: 8 tables, rows equal"},
}

PHASES = [
    {"name": "preflight", "started": "2025-06-02T20:00:00Z", "finished": "2025-06-02T20:00:03Z", "duration_seconds": 3.2},
    {"name": "backup", "started": "2025-06-02T20:00:03Z", "finished": "2025-06-02T20:05:03Z", "duration_seconds": 300.0},
    {"name": "snapshot", "started": "2025-06-02T20:05:03Z", "finished": "2025-06-02T20:05:04Z", "duration_seconds": 0.5},
    {"name": "indexes", "started": "2025-06-02T20:05:04Z", "finished": "2025-06-02T20:05:10Z", "duration_seconds": 5.3},
    {"name": "verify", "started": "2025-06-02T20:05:10Z", "finished": "2025-06-02T20:05:12Z", "duration_seconds": 2.0},
    {"name": "monitor", "started": "2025-06-02T20:05:12Z", "finished": "2025-06-02T20:35:12Z", "duration_seconds": 1800.0},
]

PREFLIGHT = [
    {"check": "connection", "result": "ok", "detail": "connected to postgresql://app@db1:5432/chatbot"},
    {"check": "long transactions", "result": "warn", "detail": "1 transaction older than 60 s (pid 4242)"},
    {"check": "run lock", "result": "ok", "detail": "held by this run until it ends (holder pid 77)"},
]


def report(status="success", index_results=None, verify=VERIFY, monitor=MONITOR, backup=BACKUP, retention=7, phases=PHASES,
           notices=None, **extra):
    """A report as run_record event=finish builds it; every argument can be varied."""
    index_results = copy.deepcopy(INDEX_RESULTS if index_results is None else index_results)
    summary = summarize(index_results, NAMES)
    details = {"server_version": "15.6", "spec_fingerprint": "ab12cd34ef56" * 5, "preflight": PREFLIGHT,
               "warnings": ["long transactions: 1 transaction older than 60 s (pid 4242)"], "error": None}
    details.update(extra)
    return build_report(
        run_id="run-42", host="db1", engine="postgresql", status=status, summary=summary, index_results=index_results,
        phases=copy.deepcopy(phases), started="2025-06-02T20:00:00Z", finished="2025-06-02T20:35:14Z",
        backup=copy.deepcopy(backup), snapshot=None, extra=details, verify=copy.deepcopy(verify),
        probes_before={"probes": []}, monitor=copy.deepcopy(monitor), backup_retention_days=retention, notices=notices,
        total_seconds=2114.0, lines=summary_lines(summary, "db1", "run-42", verify=verify),
    )
