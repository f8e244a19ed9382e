"""The database's health over the monitoring window: connections and lock waits, sampled at an interval.

The window is spent sampling, so a run that monitors for 30 minutes measures for 30 minutes. A sample
that fails (the server went away) is kept with its error, and the next one connects again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ansible.module_utils.safeindex.core.errors import SafeIndexError

WAITERS_KEPT = 5  # waiting sessions kept per sample; the count covers them all


def sample(dialect: Any, seconds: float) -> dict:
    """One look: {seconds (since the window opened), connections, active_connections, lock_waits, waiting}."""
    connections, active = dialect.connection_count()
    waiting = dialect.lock_waits()
    return {"seconds": round(seconds, 1), "connections": int(connections), "active_connections": int(active or 0),
            "lock_waits": len(waiting), "waiting": waiting[:WAITERS_KEPT]}


def watch(connect: Callable[[], Any], duration: float, interval: float, clock: Callable[[], float] = time.monotonic,
          sleep: Callable[[float], None] = time.sleep) -> tuple[list[dict], float]:
    """Samples every `interval` seconds for `duration` seconds, the first at once and the last at the end;
    duration 0 takes one sample. `connect` returns a connected dialect."""
    started = clock()
    deadline = started + max(0.0, duration)
    interval = max(0.1, interval)
    samples, dialect = [], None
    try:
        while True:
            try:
                if dialect is None:
                    dialect = connect()
                samples.append(sample(dialect, clock() - started))
            except SafeIndexError as exc:
                samples.append({"seconds": round(clock() - started, 1), "error": str(exc)})
                if dialect is not None:
                    dialect.close()
                dialect = None
            left = deadline - clock()
            if left <= 0:
                break
            sleep(min(interval, left))
    finally:
        if dialect is not None:
            dialect.close()
    return samples, round(clock() - started, 1)


def summary(samples: list[dict], max_connections: int | None = None, max_lock_waits: int | None = None) -> dict:
    """Max and average of the samples, waiting sessions seen, and the thresholds crossed (warnings, not failures)."""
    good = [s for s in samples if "error" not in s]
    errors = [s["error"] for s in samples if "error" in s]
    result = {
        "max_connections": max((s["connections"] for s in good), default=None),
        "avg_connections": round(sum(s["connections"] for s in good) / len(good), 1) if good else None,
        "max_lock_waits": max((s["lock_waits"] for s in good), default=None),
        "avg_lock_waits": round(sum(s["lock_waits"] for s in good) / len(good), 2) if good else None,
        "lock_waiters": _waiters(good),
        "threshold_warnings": [],
    }
    if max_connections is not None and (result["max_connections"] or 0) > max_connections:
        result["threshold_warnings"].append("connections reached %d (threshold %d)" % (result["max_connections"], max_connections))
    if max_lock_waits is not None and (result["max_lock_waits"] or 0) > max_lock_waits:
        result["threshold_warnings"].append("lock waits reached %d (threshold %d)" % (result["max_lock_waits"], max_lock_waits))
    if errors:
        result["threshold_warnings"].append("%d of %d samples failed, the last: %s" % (len(errors), len(samples), errors[-1]))
    if good:
        result["detail"] = "%d samples: connections max %d avg %s; lock waits max %d avg %s" % (
            len(good), result["max_connections"], result["avg_connections"], result["max_lock_waits"], result["avg_lock_waits"])
    else:
        result["detail"] = "no sample succeeded: %s" % (errors[-1] if errors else "none taken")
    if result["threshold_warnings"]:
        result["detail"] += " (" + "; ".join(result["threshold_warnings"]) + ")"
    return result


def _waiters(samples):
    """Each waiting session once (by pid and query), with the longest wait seen; the longest first."""
    seen = {}
    for s in samples:
        for w in s["waiting"]:
            key = (w["pid"], w["query"])
            if key not in seen or w["waiting_seconds"] > seen[key]["waiting_seconds"]:
                seen[key] = w
    return sorted(seen.values(), key=lambda w: -w["waiting_seconds"])[:20]
