"""report.html's pictures (report/svg.py): the scales, the log scale's zeros and gaps, escaping, and the charts of a
recorded report with RDS CloudWatch metrics and replicas, read back as SVG."""

import copy
import re
import xml.etree.ElementTree as ElementTree

import pytest
from ansible.module_utils.safeindex.report import svg
from ansible.module_utils.safeindex.report.html import render_html

from tests.unit import report_samples
from tests.unit.page import Page

EVIL = '<script>alert("x")</script>&\'"'


def charts(html):
    """Each <svg> of the page, parsed as XML (so it must be well formed: every value escaped), by id."""
    found = {}
    for fragment in re.findall(r"<svg .*?</svg>", html, flags=re.S):
        element = ElementTree.fromstring(fragment)
        found[element.get("id")] = element
    return found


def bars(chart):
    return [(r.get("data-probe") or r.get("data-metric") or r.get("data-phase"), r.get("data-side"))
            for r in chart.iter("rect") if "bar" in r.get("class").split()]


def test_a_linear_scale_maps_the_ends_and_a_range_of_nothing_to_the_start():
    scale = svg.linear_scale(0, 10, 100, 200)
    assert (scale(0), scale(5), scale(10)) == (100, 150, 200)
    assert svg.linear_scale(3, 3, 100, 200)(3) == 100


def test_the_log_scale_spans_whole_powers_of_ten_and_draws_zero_and_none_at_its_start():
    scale, ticks = svg.log_scale([0.06, 35.0, None, 0], 0, 400)
    assert ticks == pytest.approx([0.01, 0.1, 1, 10, 100])
    assert scale(0.01) == pytest.approx(0) and scale(100) == pytest.approx(400) and scale(1) == pytest.approx(200)
    assert scale(0) == scale(None) == scale(-1) == pytest.approx(0)
    # No positive value at all: one decade, every value at the start.
    scale, ticks = svg.log_scale([None, 0], 0, 400)
    assert ticks == [1.0, 10.0] and scale(0) == 0
    # One value only, an exact power of ten: still a range to draw on.
    assert svg.log_bounds([10.0]) == (10.0, 100.0)


def test_every_label_and_value_is_escaped():
    probes = [report_samples.probe(EVIL, "idx", 4.8, 0.06)]
    samples = [{"seconds": 0.0, "connections": 3, "lock_waits": 0, "replicas": [{"name": EVIL, "lag_seconds": 1.5}]}]
    metrics = {EVIL: {"before": 1.0, "after": 2.0, "unit": EVIL}}
    rows = [{"phase": EVIL, "expected": EVIL, "expected_min_seconds": 60, "expected_max_seconds": 120, "actual_seconds": 5,
             "verdict": EVIL}]
    for picture in (svg.probe_chart(probes), svg.health_chart(samples), svg.cloudwatch_chart(metrics), svg.phase_chart(rows)):
        assert "<script" not in picture and '"x")' not in picture
        parsed = ElementTree.fromstring(picture)  # well formed: nothing broke out of an attribute or a text
        assert any(EVIL in (node.text or "") for node in parsed.iter())
    assert svg.esc(None) == "-" and svg.num(1 / 3) == "0.3"


def test_nothing_to_draw_draws_nothing():
    assert svg.probe_chart([]) == svg.phase_chart([]) == svg.cloudwatch_chart(None) == svg.cloudwatch_chart({}) == ""
    assert svg.health_chart([]) == svg.health_chart([{"seconds": 0.0, "error": "connection refused"}]) == ""


def test_a_probe_without_a_time_before_has_only_its_after_bar_and_says_so():
    zero = dict(report_samples.probe("zero", "idx", None, 0.0), before_ms=0.0)  # timed as 0.00 ms both sides
    picture = ElementTree.fromstring(svg.probe_chart([report_samples.probe("fresh", "idx", None, 0.5), zero]))
    assert bars(picture) == [("fresh", "after"), ("zero", "before"), ("zero", "after")]
    assert "no timing before" in [t.text for t in picture.iter("text")]
    assert all(float(r.get("width")) >= 1 for r in picture.iter("rect"))  # a zero-time bar is still seen


def test_a_recorded_rds_report_with_replicas_draws_all_four_charts():
    monitor = copy.deepcopy(report_samples.MONITOR)
    for n, sample in enumerate(monitor["health"]["samples"]):
        sample["replicas"] = [{"name": "replica-1", "lag_seconds": float(n % 7), "lag_bytes": 1024 * n},
                              {"name": "replica-2", "lag_seconds": None, "lag_bytes": None}]  # no lag read: not drawn
        if n == 10:
            sample.clear()
            sample.update(seconds=300.0, error="server closed the connection")  # a gap, not a zero
    report = report_samples.report(monitor=monitor)
    html = render_html(report)
    found = charts(html)
    assert set(found) == {"timeline-chart", "probe-chart", "health-chart", "cloudwatch-chart"}
    for chart in found.values():  # each scales to the page's width, and says what it shows
        assert chart.get("viewBox").startswith("0 0 760 ") and chart.get("role") == "img" and chart.get("aria-label")

    probes = report["verify"]["probes"]
    assert bars(found["probe-chart"]) == [(p["name"], side) for p in probes for side in ("before", "after")]
    before = {r.get("data-probe"): float(r.get("width")) for r in found["probe-chart"].iter("rect") if r.get("data-side") == "before"}
    after = {r.get("data-probe"): float(r.get("width")) for r in found["probe-chart"].iter("rect") if r.get("data-side") == "after"}
    assert all(after[name] < before[name] for name in before)  # every probe got faster: each after bar is shorter

    phases = [r.get("data-phase") for r in found["timeline-chart"].iter("rect") if {"bar", "actual"} <= set(r.get("class").split())]
    assert phases == [row["phase"] for row in report["timeline"]]

    health = found["health-chart"]
    series = [p.get("data-series") for p in health.iter("circle")]
    good = len(monitor["health"]["samples"]) - 1
    assert series == ["connections"] * good + ["lock waits"] * good + ["replica replica-1 lag"] * good
    assert len(list(health.iter("polyline"))) == 3

    assert bars(found["cloudwatch-chart"]) == [(name, side) for name in sorted(monitor["cloudwatch"]) for side in ("before", "after")]
    # The charts add pictures, never hide the tables: the numbers are still there to read.
    page = Page(html)
    assert [r["metric"] for r in page.rows("cloudwatch-table")] == sorted(monitor["cloudwatch"])
    assert [r["probe"] for r in page.rows("probe-table")] == [p["name"] for p in probes]


def test_a_run_without_verify_or_monitor_draws_only_its_timeline():
    found = charts(render_html(report_samples.report(verify=None, monitor=None)))
    assert set(found) == {"timeline-chart"}


def test_the_phase_chart_puts_seconds_and_the_runbooks_minutes_on_one_log_scale_of_time():
    scale, ticks = svg.time_scale(51.0, 0, 400)
    assert [name for _t, name in ticks] == ["1 s", "10 s", "1 min", "10 min", "1 h"]
    assert scale(1) == scale(0.2) == scale(None) == 0 and scale(3600) == pytest.approx(400) and scale(60) == pytest.approx(200)
    scale, ticks = svg.time_scale(65 * 60, 0, 400)  # the runbook's 65 minutes: the axis ends there, past the 1 h tick
    assert ticks[-1] == (3600, "1 h") and scale(3900) == pytest.approx(400) and scale(10 ** 6) == pytest.approx(400)
    assert svg.time_scale(11 * 3600, 0, 400)[1][-1] == (36000, "10 h")
    # A 4-second build is a bar one can see next to the runbook's 5-10 minutes.
    row = {"phase": "Migration", "expected": "5-10 min", "expected_min_seconds": 300, "expected_max_seconds": 600,
           "actual_seconds": 4.0, "verdict": "shorter"}
    picture = ElementTree.fromstring(svg.phase_chart([row]))
    bar = next(r for r in picture.iter("rect") if "bar" in r.get("class").split())
    assert float(bar.get("width")) > 50


def test_each_probes_sql_and_plan_are_folded_under_the_probe_table_escaped():
    verify = copy.deepcopy(report_samples.VERIFY)
    verify["probes"][0]["sql"] = "SELECT * FROM t WHERE note = '%s'" % EVIL
    html = render_html(report_samples.report(verify=verify))
    folded = re.findall(r'<details class="plan"><summary>(.*?)</summary><pre>(.*?)</pre><pre>(.*?)</pre></details>', html, re.S)
    assert [name for name, _sql, _plan in folded] == [p["name"] for p in verify["probes"]]
    assert "<script>" not in folded[0][1] and "&lt;script&gt;" in folded[0][1]
    assert "Index Scan" in folded[0][2]
