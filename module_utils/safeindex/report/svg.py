"""report.html's pictures: small functions that turn the report's numbers into inline SVG (no script, nothing fetched).

Every label and every value goes through esc() (html.escape), also numbers: probe names, metric names and replica
names come from the spec, the database or AWS, and a picture is markup like the rest of the page. The charts scale to
the page's width (a viewBox and width 100%), so they never make the page wider than its window.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from html import escape
from typing import Any

from ansible.module_utils.safeindex.report.values import ms, seconds

WIDTH = 760  # viewBox units; the picture is drawn at the width of its box
LABEL_WIDTH = 210  # the left column of a bar chart, where each bar's name goes
ROW = 22
LABEL_CHARS = 30  # longer names are cut in the picture (the full name is in the bar's <title> and in the table)


def esc(value: Any) -> str:
    return escape("-" if value is None else str(value), quote=True)


def num(value: float) -> str:
    """A coordinate: short, and the same text for the same number."""
    return esc("%.1f" % value)


def linear_scale(low: float, high: float, out_low: float, out_high: float) -> Callable[[float], float]:
    """low..high onto out_low..out_high; a range of nothing (all values equal) maps everything to out_low."""
    span = high - low
    if span <= 0:
        return lambda value: out_low
    return lambda value: out_low + (value - low) / span * (out_high - out_low)


def log_bounds(values: Iterable[Any]) -> tuple[float, float]:
    """The whole powers of ten around the positive values (None, zero and negatives are not on a log scale);
    (1, 10) when there is none."""
    positive = [float(v) for v in values if v is not None and v > 0]
    if not positive:
        return 1.0, 10.0
    low = 10.0 ** math.floor(math.log10(min(positive)))
    high = 10.0 ** math.ceil(math.log10(max(positive)))
    return low, high if high > low else low * 10


def log_scale(values: Iterable[Any], out_low: float, out_high: float) -> tuple[Callable[[Any], float], list[float]]:
    """A log scale over the values and its ticks (each power of ten); a value of zero, None or below the lowest
    power of ten is drawn at the scale's start, so a zero-time probe has a bar of no length, not a crash."""
    low, high = log_bounds(values)
    to_out = linear_scale(math.log10(low), math.log10(high), out_low, out_high)

    def scale(value):
        return to_out(math.log10(low)) if value is None or value <= low else to_out(math.log10(value))

    decades = int(round(math.log10(high / low)))
    return scale, [low * 10 ** n for n in range(decades + 1)]


def short(label: Any, chars: int = LABEL_CHARS) -> str:
    text = "-" if label is None else str(label)
    return text if len(text) <= chars else text[:chars - 1] + "\u2026"


def rect(x: float, y: float, width: float, height: float, css: str, title: str | None = None, **data: Any) -> str:
    attrs = "".join(' data-%s="%s"' % (esc(k), esc(v)) for k, v in data.items())
    inner = "<title>%s</title>" % esc(title) if title else ""
    return '<rect class="%s" x="%s" y="%s" width="%s" height="%s"%s>%s</rect>' % (
        esc(css), num(x), num(y), num(max(width, 0.0)), num(height), attrs, inner)


def text(x: float, y: float, label: Any, css: str = "label", anchor: str = "start") -> str:
    return '<text class="%s" x="%s" y="%s" text-anchor="%s">%s</text>' % (esc(css), num(x), num(y), esc(anchor), esc(label))


def line(x1: float, y1: float, x2: float, y2: float, css: str = "axis") -> str:
    return '<line class="%s" x1="%s" y1="%s" x2="%s" y2="%s"/>' % (esc(css), num(x1), num(y1), num(x2), num(y2))


def svg(chart_id: str, height: float, parts: list[str], label: str) -> str:
    """The picture: its own id, what it shows for a screen reader, and a viewBox that scales to the box's width."""
    return '<svg class="chart" id="%s" viewBox="0 0 %d %s" role="img" aria-label="%s">%s</svg>' % (
        esc(chart_id), WIDTH, num(height), esc(label), "".join(parts))


def legend(x: float, y: float, entries: list[tuple[str, str]]) -> list[str]:
    parts = []
    for css, name in entries:
        parts += [rect(x, y - 9, 10, 10, "swatch %s" % css), text(x + 14, y, name)]
        x += 20 + 7 * len(name)
    return parts


# The time axis of the phase chart: a log scale from 1 s, so a 4-second build and a 30-minute window both show.
TIME_TICKS = ((1, "1 s"), (10, "10 s"), (60, "1 min"), (600, "10 min"), (3600, "1 h"), (36000, "10 h"))


def time_scale(longest_seconds: float, out_low: float, out_high: float) -> tuple[Callable[[Any], float], list[tuple[int, str]]]:
    """A log scale of seconds from 1 s to the longest time (1 h at least), and its ticks; a time under 1 s (or None)
    is drawn at the start."""
    high = max(3600.0, longest_seconds or 0)
    to_out = linear_scale(0, math.log10(high), out_low, out_high)

    def scale(value):
        return out_low if value is None or value <= 1 else to_out(math.log10(min(value, high)))

    return scale, [t for t in TIME_TICKS if t[0] <= high]


def phase_chart(rows: list[dict[str, Any]]) -> str:
    """Each runbook phase: the runbook's expected range as a pale band, the run's actual time as a bar over it, red
    when longer, on a log scale of time (the runbook's minutes and a run's seconds on one picture)."""
    if not rows:
        return ""
    top, right = 28, WIDTH - 190  # room on the right for the last bar's words
    longest = max([r.get("expected_max_seconds") or 0 for r in rows] + [r.get("actual_seconds") or 0 for r in rows])
    scale, ticks = time_scale(longest, LABEL_WIDTH, right)
    parts = legend(LABEL_WIDTH, 14, [("expected", "runbook expects"), ("actual", "this run")])
    for n, row in enumerate(rows):
        y = top + n * ROW
        low, high, actual = row.get("expected_min_seconds") or 0, row.get("expected_max_seconds") or 0, row.get("actual_seconds")
        parts.append(text(LABEL_WIDTH - 6, y + 13, short(row.get("phase")), anchor="end"))
        parts.append(rect(scale(low), y + 2, max(scale(high) - scale(low), 2), ROW - 4, "expected",
                          "%s: the runbook expects %s" % (row.get("phase"), row.get("expected")), phase=row.get("phase")))
        if actual is not None:
            parts.append(rect(LABEL_WIDTH, y + 6, max(scale(actual) - LABEL_WIDTH, 1), ROW - 12, "bar actual %s" %
                              str(row.get("verdict") or "").replace(" ", "_"),
                              "%s: %s (%s)" % (row.get("phase"), seconds(actual), row.get("verdict")), phase=row.get("phase")))
        words = "%s, %s" % (seconds(actual), row.get("verdict")) if actual is not None else row.get("verdict")
        parts.append(text(max(scale(high), scale(actual or 0)) + 4, y + 14, words, "value"))
    bottom = top + len(rows) * ROW
    parts.append(line(LABEL_WIDTH, bottom, right, bottom))
    for tick, name in ticks:
        x = scale(tick)
        parts[:0] = [line(x, top - 4, x, bottom, "grid")]  # first, so that the bars are drawn over it
        parts.append(text(x, bottom + 16, name, "tick", "middle"))
    return svg("timeline-chart", bottom + 24, parts, "Phases of this run against the runbook's expected timeline, log scale")


def probe_chart(probes: list[dict[str, Any]]) -> str:
    """Each probe's median time before and after the indexes, one bar per probe and side, on a log scale in ms."""
    if not probes:
        return ""
    top, right, pair = 28, WIDTH - 80, 2 * ROW - 8
    values = [p.get(key) for p in probes for key in ("before_ms", "median_ms")]
    scale, ticks = log_scale(values, LABEL_WIDTH, right)
    parts = legend(LABEL_WIDTH, 14, [("before", "before"), ("after", "after")])
    for n, probe in enumerate(probes):
        y = top + n * (pair + 6)
        parts.append(text(LABEL_WIDTH - 6, y + pair / 2 + 4, short(probe.get("name")), anchor="end"))
        for side, key, offset in (("before", "before_ms", 0), ("after", "median_ms", pair / 2)):
            value = probe.get(key)
            if value is None:
                parts.append(text(LABEL_WIDTH + 4, y + offset + 12, "no timing %s" % side, "value"))
                continue
            end = scale(value)
            parts.append(rect(LABEL_WIDTH, y + offset + 1, max(end - LABEL_WIDTH, 1), pair / 2 - 2, "bar %s" % side,
                              "%s %s: %s ms" % (probe.get("name"), side, ms(value)), probe=probe.get("name"), side=side))
            parts.append(text(max(end, LABEL_WIDTH + 1) + 4, y + offset + 12, "%s ms" % ms(value), "value"))
    bottom = top + len(probes) * (pair + 6)
    parts.append(line(LABEL_WIDTH, bottom, right, bottom))
    for tick in ticks:
        x = scale(tick)
        parts[:0] = [line(x, top - 4, x, bottom, "grid")]  # first, so that the bars are drawn over it
        parts.append(text(x, bottom + 16, "%g ms" % tick, "tick", "middle"))
    return svg("probe-chart", bottom + 24, parts, "Each probe's median time before and after, log scale")


def health_series(samples: list[dict[str, Any]]) -> list[tuple[str, str, list[tuple[float, float]]]]:
    """(name, unit, [(seconds, value)]) for connections, lock waits and each replica's lag; samples that failed
    (an `error` instead of values) are gaps, not zeros."""
    good = [s for s in samples or [] if "error" not in s and s.get("seconds") is not None]
    series = [("connections", "", [(s["seconds"], s["connections"]) for s in good if s.get("connections") is not None]),
              ("lock waits", "", [(s["seconds"], s["lock_waits"]) for s in good if s.get("lock_waits") is not None])]
    lags: dict[str, list] = {}
    for sample in good:
        for lag in sample.get("replicas") or []:
            if lag.get("lag_seconds") is not None:
                lags.setdefault(str(lag.get("name")), []).append((sample["seconds"], lag["lag_seconds"]))
    series += [("replica %s lag" % name, "s", points) for name, points in sorted(lags.items())]
    return [s for s in series if s[2]]


def health_chart(samples: list[dict[str, Any]]) -> str:
    """Connections, lock waits and (with replicas) each replica's lag over the monitoring window: one strip each,
    on a shared time axis, every sample a dot (a window of 0 s has one sample: one dot)."""
    series = health_series(samples)
    if not series:
        return ""
    top, right, strip = 10, WIDTH - 70, 56
    times = [t for _name, _unit, points in series for t, _v in points]
    x_of = linear_scale(min(times), max(times), LABEL_WIDTH, right) if max(times) > min(times) else (
        lambda t: (LABEL_WIDTH + right) / 2)  # one sample (a window of 0 s): a dot in the middle
    parts = []
    for n, (name, unit, points) in enumerate(series):
        y0 = top + n * (strip + 10)
        peak = max(v for _t, v in points)
        y_of = linear_scale(0, peak or 1, y0 + strip, y0 + 4)
        parts += [text(LABEL_WIDTH - 6, y0 + strip / 2, short(name), anchor="end"),
                  text(LABEL_WIDTH - 6, y0 + strip / 2 + 14, "max %s%s" % (format_value(peak), unit and " " + unit), "tick", "end"),
                  line(LABEL_WIDTH, y0 + strip, right, y0 + strip), line(LABEL_WIDTH, y0, LABEL_WIDTH, y0 + strip),
                  text(LABEL_WIDTH - 3, y0 + strip, "0", "tick", "end")]
        coords = " ".join("%s,%s" % (num(x_of(t)), num(y_of(v))) for t, v in points)
        parts.append('<polyline class="series" points="%s"/>' % esc(coords))
        parts += ['<circle class="point" cx="%s" cy="%s" r="2.5" data-series="%s"><title>%s</title></circle>' % (
            num(x_of(t)), num(y_of(v)), esc(name), esc("%s at %s: %s%s" % (name, seconds(t), format_value(v), unit and " " + unit)))
            for t, v in points]
    bottom = top + len(series) * (strip + 10) - 10
    if max(times) > min(times):
        parts += [text(LABEL_WIDTH, bottom + 16, seconds(min(times)), "tick"), text(right, bottom + 16, seconds(max(times)), "tick", "end")]
    else:
        parts.append(text((LABEL_WIDTH + right) / 2, bottom + 16, "one sample at %s" % seconds(min(times)), "tick", "middle"))
    return svg("health-chart", bottom + 24, parts, "Connections, lock waits and replica lag over the monitoring window")


def format_value(value: Any) -> str:
    if value is None:
        return "-"
    return "%d" % value if float(value).is_integer() else "%.3g" % value


def cloudwatch_chart(metrics: dict[str, dict[str, Any]] | None) -> str:
    """Each CloudWatch metric before the run against the monitoring window: two bars on the metric's own scale
    (its units differ from the others'), the longer one the full width."""
    if not metrics:
        return ""
    top, right, pair = 28, WIDTH - 130, 2 * ROW - 8
    parts = legend(LABEL_WIDTH, 14, [("before", "before the run"), ("after", "monitoring window")])
    names = sorted(metrics)
    for n, name in enumerate(names):
        metric = metrics[name] or {}
        y = top + n * (pair + 6)
        peak = max([v for v in (metric.get("before"), metric.get("after")) if v is not None] + [0])
        scale = linear_scale(0, peak or 1, LABEL_WIDTH, right)
        parts.append(text(LABEL_WIDTH - 6, y + pair / 2 + 4, short(name), anchor="end"))
        for side, key, offset in (("before", "before", 0), ("after", "after", pair / 2)):
            value = metric.get(key)
            words = "%s %s" % (format_value(value), metric.get("unit") or "") if value is not None else "no data %s" % side
            if value is not None:
                parts.append(rect(LABEL_WIDTH, y + offset + 1, max(scale(value) - LABEL_WIDTH, 1), pair / 2 - 2, "bar %s" % side,
                                  "%s %s: %s" % (name, side, words), metric=name, side=side))
            parts.append(text((scale(value) if value is not None else LABEL_WIDTH) + 4, y + offset + 12, words.strip(), "value"))
    bottom = top + len(names) * (pair + 6)
    parts.append(line(LABEL_WIDTH, bottom, right, bottom))
    return svg("cloudwatch-chart", bottom + 8, parts, "CloudWatch metrics before the run against the monitoring window")


STYLE = """
svg.chart { display: block; width: 100%; height: auto; max-width: 60rem; margin: .5rem 0 1rem; font-size: 12px; }
svg.chart text { fill: #1d232a; } svg.chart text.tick, svg.chart text.value { fill: #4a545e; font-size: 11px; }
svg.chart .axis { stroke: #8c969f; } svg.chart .grid { stroke: #e6e9ec; }
svg.chart .expected { fill: #dfe6ee; } svg.chart .actual { fill: #3a6ea5; } svg.chart .actual.longer { fill: #b3261e; }
svg.chart .before { fill: #b8c2cc; } svg.chart .after { fill: #176f2c; }
svg.chart .series { fill: none; stroke: #3a6ea5; stroke-width: 1.5; } svg.chart .point { fill: #3a6ea5; }
"""
