"""The database's health over the monitoring window: connections, lock waits and the replicas' lag, sampled at an interval.

The window is spent sampling, so a run that monitors for 30 minutes measures for 30 minutes. A sample
that fails (the server went away) is kept with its error, and the next one connects again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ansible.module_utils.safeindex.core.errors import SafeIndexError
from ansible.module_utils.safeindex.run.replica_lag import STATES_THAT_FAIL

WAITERS_KEPT = 5  # waiting sessions kept per sample; the count covers them all


def sample(dialect: Any, seconds: float, read_lags: Callable[[Any], list] | None = None) -> dict:
    """One look: {seconds (since the window opened), connections, active_connections, lock_waits, waiting} and, with
    `read_lags` (run/replica_lag.read_replica_lags on this dialect), `replicas` (ReplicaLag.as_dict() each); a lag
    that cannot be read leaves `replica_error` and the rest of the sample stands."""
    connections, active = dialect.connection_count()
    waiting = dialect.lock_waits()
    found = {"seconds": round(seconds, 1), "connections": int(connections), "active_connections": int(active or 0),
             "lock_waits": len(waiting), "waiting": waiting[:WAITERS_KEPT]}
    if read_lags is not None:
        try:
            found["replicas"] = [lag.as_dict() for lag in read_lags(dialect)]
        except SafeIndexError as exc:
            found["replicas"], found["replica_error"] = [], (str(exc).strip().splitlines() or ["?"])[0]
    return found


def watch(connect: Callable[[], Any], duration: float, interval: float, clock: Callable[[], float] = time.monotonic,
          sleep: Callable[[float], None] = time.sleep, read_lags: Callable[[Any], list] | None = None) -> tuple[list[dict], float]:
    """Samples every `interval` seconds for `duration` seconds, the first at once and the last at the end;
    duration 0 takes one sample. `connect` returns a connected dialect; `read_lags`, when given, adds the replicas."""
    started = clock()
    deadline = started + max(0.0, duration)
    interval = max(0.1, interval)
    samples, dialect = [], None
    try:
        while True:
            try:
                if dialect is None:
                    dialect = connect()
                samples.append(sample(dialect, clock() - started, read_lags))
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


def summary(samples: list[dict], max_connections: int | None = None, max_lock_waits: int | None = None,
            max_lag_seconds: float | None = None, max_lag_bytes: int | None = None) -> dict:
    """Max and average of the samples, waiting sessions seen, the most lag of each replica, and the thresholds crossed
    (warnings, not failures)."""
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
    result["replica_lag"] = replica_peaks(good)
    for name, peak in result["replica_lag"].items():
        if max_lag_seconds is not None and (peak["max_lag_seconds"] or 0) > max_lag_seconds:
            result["threshold_warnings"].append("replica %s lag reached %s s at %s s (max_replication_lag_seconds %s)" % (
                name, peak["max_lag_seconds"], peak["at_seconds"], max_lag_seconds))
        if max_lag_bytes is not None and (peak["max_lag_bytes"] or 0) > max_lag_bytes:
            result["threshold_warnings"].append("replica %s lag reached %d bytes (max_replication_lag_bytes %d)" % (
                name, peak["max_lag_bytes"], max_lag_bytes))
        if peak["not_replicating"]:
            result["threshold_warnings"].append("replica %s was %s in %d samples" % (
                name, "/".join(peak["not_replicating"]), peak["samples_not_replicating"]))
    if errors:
        result["threshold_warnings"].append("%d of %d samples failed, the last: %s" % (len(errors), len(samples), errors[-1]))
    if good:
        result["detail"] = "%d samples: connections max %d avg %s; lock waits max %d avg %s" % (
            len(good), result["max_connections"], result["avg_connections"], result["max_lock_waits"], result["avg_lock_waits"])
    else:
        result["detail"] = "no sample succeeded: %s" % (errors[-1] if errors else "none taken")
    if good and result["replica_lag"]:
        result["detail"] += "; replica lag max " + ", ".join(
            "%s %s" % (name, lag_text(peak)) for name, peak in sorted(result["replica_lag"].items()))
    if result["threshold_warnings"]:
        result["detail"] += " (" + "; ".join(result["threshold_warnings"]) + ")"
    return result


def replica_peaks(samples: list[dict]) -> dict:
    """{replica: {max_lag_seconds, max_lag_bytes, at_seconds (the sample of the most seconds), samples,
    not_replicating (states that fail, seen), samples_not_replicating}} over the samples that read the replicas."""
    peaks: dict = {}
    for s in samples:
        for lag in s.get("replicas") or []:
            peak = peaks.setdefault(lag["name"], {"max_lag_seconds": None, "max_lag_bytes": None, "at_seconds": None,
                                                  "samples": 0, "not_replicating": [], "samples_not_replicating": 0})
            peak["samples"] += 1
            if lag.get("lag_seconds") is not None and (peak["max_lag_seconds"] is None or lag["lag_seconds"] > peak["max_lag_seconds"]):
                peak["max_lag_seconds"], peak["at_seconds"] = lag["lag_seconds"], s["seconds"]
            if lag.get("lag_bytes") is not None and (peak["max_lag_bytes"] is None or lag["lag_bytes"] > peak["max_lag_bytes"]):
                peak["max_lag_bytes"] = lag["lag_bytes"]
            if lag.get("state") in STATES_THAT_FAIL:
                peak["samples_not_replicating"] += 1
                if lag["state"] not in peak["not_replicating"]:
                    peak["not_replicating"].append(lag["state"])
    return peaks


def lag_text(peak: dict) -> str:
    parts = []
    if peak.get("max_lag_seconds") is not None:
        parts.append("%s s" % peak["max_lag_seconds"])
    if peak.get("max_lag_bytes") is not None:
        parts.append("%d bytes" % peak["max_lag_bytes"])
    return " / ".join(parts) or "unknown"


def _waiters(samples):
    """Each waiting session once (by pid and query), with the longest wait seen; the longest first."""
    seen = {}
    for s in samples:
        for w in s["waiting"]:
            key = (w["pid"], w["query"])
            if key not in seen or w["waiting_seconds"] > seen[key]["waiting_seconds"]:
                seen[key] = w
    return sorted(seen.values(), key=lambda w: -w["waiting_seconds"])[:20]
