"""The report's replicas and pacing: the lag over the run, the waits, the pauses, the indexes not built; from the record.

The index phase records each look at the replicas before a build (`replica_wait`, build/pacing.py) and each pause
between builds (`index_pause`); the monitor phase keeps its samples, each with the replicas' lag (monitor/health.py).
"""

from __future__ import annotations

from typing import Any

from ansible.module_utils.safeindex.build.pacing import PAUSE_EVENT, WAIT_EVENT


def _most(seen: dict, name: str, seconds: Any, lag_bytes: Any) -> None:
    peak = seen.setdefault(name, {"max_lag_seconds": None, "max_lag_bytes": None})
    if seconds is not None and (peak["max_lag_seconds"] is None or seconds > peak["max_lag_seconds"]):
        peak["max_lag_seconds"] = seconds
    if lag_bytes is not None and (peak["max_lag_bytes"] is None or lag_bytes > peak["max_lag_bytes"]):
        peak["max_lag_bytes"] = lag_bytes


def replica_section(events: list[dict[str, Any]], index_results: list[dict[str, Any]],
                    monitor: dict[str, Any] | None) -> dict[str, Any] | None:
    """report.json's `replicas`: {lag: {replica: {index_phase, monitor}} (the most lag seen, each {max_lag_seconds,
    max_lag_bytes} or None), waits (each look that waited), longest_wait_seconds, pauses, paused_seconds, not_built};
    None when the run knew of no replica, paused nothing and left nothing unbuilt."""
    looks = [e for e in events if e.get("event") == WAIT_EVENT]
    pauses = [e for e in events if e.get("event") == PAUSE_EVENT]
    not_built = [{"name": r.get("name"), "reason": r.get("reason")} for r in index_results if r.get("action") == "not_built"]
    index_phase: dict = {}
    for look in looks:
        for name, peak in (look.get("peak") or {}).items():
            _most(index_phase, name, peak.get("lag_seconds"), peak.get("lag_bytes"))
    window: dict = {}
    for sample in ((monitor or {}).get("health") or {}).get("samples") or []:
        for lag in sample.get("replicas") or []:
            _most(window, lag.get("name"), lag.get("lag_seconds"), lag.get("lag_bytes"))
    if not (looks or pauses or not_built or window):
        return None
    waits = [{key: look.get(key) for key in ("index", "outcome", "waited_seconds", "polls", "problems", "last_problems",
                                             "detail")}
             for look in looks if look.get("outcome") != "clear"]
    lag = {name: {"index_phase": index_phase.get(name), "monitor": window.get(name)}
           for name in sorted(set(index_phase) | set(window))}
    return {
        "lag": lag,
        "waits": waits,
        "longest_wait_seconds": max((w["waited_seconds"] or 0 for w in waits), default=0.0),
        "wait_seconds": round(sum(w["waited_seconds"] or 0 for w in waits), 1),
        "pauses": len(pauses),
        "paused_seconds": round(sum(p.get("seconds") or 0 for p in pauses), 1),
        "not_built": not_built,
    }
