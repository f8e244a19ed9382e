"""The runbook's Expected Timeline against the phases a run recorded."""

# (runbook row, the run's phases that make it up, expected minutes low, high)
EXPECTED = (
    ("Backup", ("backup", "snapshot"), 5, 15),
    ("Preparation", ("preflight",), 5, 5),
    ("Migration", ("indexes",), 5, 10),
    ("Verification", ("verify",), 5, 5),
    ("Monitoring", ("monitor",), 30, 30),
)
TOTAL = ("Total", 50, 65)


def expected_text(low, high):
    return "%d min" % low if low == high else "%d-%d min" % (low, high)


def verdict(actual, low, high, started=True):
    if actual is None:
        return "unfinished" if started else "not run"
    if actual < low * 60:
        return "shorter"
    if actual > high * 60:
        return "longer"
    return "within"


def timeline(phases, total_seconds=None, replicas=None):
    """One row per runbook phase: {phase, runbook_phases, expected, expected_min_seconds, expected_max_seconds,
    actual_seconds, verdict (within, shorter, longer, not run, unfinished)}, then the total. With the report's
    `replicas` (report/replicas.py), the Migration row also says how much of it was paced: paused_seconds (between
    builds) and replica_wait_seconds."""
    by_name = {phase["name"]: phase for phase in phases or []}
    rows = []
    for row, names, low, high in EXPECTED:
        ran = [by_name[name] for name in names if name in by_name]
        durations = [phase["duration_seconds"] for phase in ran if phase.get("duration_seconds") is not None]
        # A phase that began but never ended (the run stopped in it) leaves the row unfinished.
        finished = ran and len(durations) == len(ran)
        actual = round(sum(durations), 3) if finished else None
        rows.append(_row(row, list(names), low, high, actual, bool(ran)))
        if replicas and "indexes" in names:
            rows[-1].update(paused_seconds=replicas.get("paused_seconds"), replica_wait_seconds=replicas.get("wait_seconds"))
    name, low, high = TOTAL
    rows.append(_row(name, [], low, high, None if total_seconds is None else round(total_seconds, 3), True))
    return rows


def _row(name, phases, low, high, actual, started):
    return {"phase": name, "runbook_phases": phases, "expected": expected_text(low, high),
            "expected_min_seconds": low * 60, "expected_max_seconds": high * 60,
            "actual_seconds": actual, "verdict": verdict(actual, low, high, started)}


def expected_minutes(will_build, monitor_seconds):
    """(low, high) minutes the runbook expects for a run: no backup or build when nothing is to be built,
    and the monitoring window as configured rather than the runbook's 30 minutes."""
    low = high = 0
    for row, _names, row_low, row_high in EXPECTED:
        if row in ("Backup", "Migration") and not will_build:
            continue
        if row == "Monitoring":
            row_low = row_high = monitor_seconds / 60.0
        low += row_low
        high += row_high
    return int(round(low)), int(round(high))
