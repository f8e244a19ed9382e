"""How the report's values read (milliseconds, speed-ups, sizes, durations), so the summary, report.md,
report.html and the notices say the same thing the same way."""


def dash(value):
    return "-" if value is None else value


def ms(value):
    return "-" if value is None else "%.2f" % value


def speedup(value):
    """A probe's speed-up (before / after); below 1 it got slower, and says so."""
    if value is None:
        return "-"
    return "%.1fx" % value if value >= 1 else "%.2fx (slower)" % value


def seconds(value):
    """A duration as people read it: 4.2 s, 12 min 5 s."""
    if value is None:
        return "-"
    if value < 60:
        return "%.1f s" % value
    minutes, rest = divmod(int(round(value)), 60)
    if minutes < 60:
        return "%d min %d s" % (minutes, rest)
    return "%d h %d min" % divmod(minutes, 60)


def size(value):
    if value is None:
        return "-"
    if value < 1024:
        return "%d bytes" % value
    amount = value / 1024.0
    for unit in ("KiB", "MiB"):
        if amount < 1024:
            return "%.1f %s" % (amount, unit)
        amount /= 1024
    return "%.1f GiB" % amount


def measured_probes(verify):
    """The probes of a verification that have a speed-up (a baseline before and a timing after)."""
    return [p for p in ((verify or {}).get("probes") or []) if p.get("speedup") is not None]


def speedup_range(verify):
    """(slowest, fastest) speed-up over the measured probes, or None when nothing was measured."""
    values = [p["speedup"] for p in measured_probes(verify)]
    return (min(values), max(values)) if values else None


def speedup_range_text(verify):
    found = speedup_range(verify)
    if found is None:
        return None
    low, high = found
    return speedup(low) if "%.1f" % low == "%.1f" % high else "%s to %s" % (speedup(low), speedup(high))


def sample_count(health):
    """How many times the monitor sampled the database's health (its samples, or their count)."""
    samples = (health or {}).get("samples")
    return len(samples) if isinstance(samples, list) else samples


def verified_by(verification):
    """How a backup was proven, with where a restore check ran: "restore on scratch PostgreSQL 18.6 on the controller
    (restored while dumped)", "restore on the server", "list"."""
    verification = verification or {}
    text = str(verification.get("level"))
    target = verification.get("target")
    if target == "server":
        text += " on the server (a scratch database beside the live one)"
    elif target:
        text += " on %s%s" % (target, " (restored while dumped)" if verification.get("streamed") else "")
    return text
