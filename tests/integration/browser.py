"""report.html opened by a real browser: Debian's chromium, headless, driven by Playwright (never its own downloaded
browser: scripts/ensure-system-packages.sh installs chromium, and `playwright install` is never run).

open_report() loads the page at a 1280-pixel-wide window, screenshots it into the test's folder and reads back what a
reader checks: the status badge, the index rows, the bars of the probe chart, the page's width, and every console
message and page error the browser saw.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import sync_playwright

CHROMIUM = "/usr/bin/chromium"
# Headless, and nothing the browser would do on its own over the network (updates, sync, QUIC probes).
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-first-run", "--disable-quic"]
WINDOW = {"width": 1280, "height": 900}

READ_PAGE = """() => ({
  status: (document.querySelector('#status') || {}).textContent || null,
  indexRows: document.querySelectorAll('#index-table tbody tr').length,
  probeRows: document.querySelectorAll('#probe-table tbody tr').length,
  bars: Array.from(document.querySelectorAll('#probe-chart rect.bar')).map(r => [r.dataset.probe, r.dataset.side]),
  charts: Array.from(document.querySelectorAll('svg.chart')).map(s => [s.id, Math.round(s.getBoundingClientRect().width)]),
  scrollWidth: document.documentElement.scrollWidth,
  clientWidth: document.documentElement.clientWidth,
})"""


@dataclass
class Seen:
    """What the browser showed: the page's facts (READ_PAGE), the screenshot, and the console's errors."""

    status: str | None
    index_rows: int
    probe_rows: int
    bars: list[tuple[str, str]]
    charts: dict[str, int]
    scroll_width: int
    open_width: int
    client_width: int
    screenshot: Path
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)


def open_report(html_path: Path, screenshot: Path) -> Seen:
    errors: list[str] = []
    requests: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport=WINDOW)
            page.on("console", lambda message: errors.append("console %s: %s" % (message.type, message.text))
                    if message.type in ("error", "warning") else None)
            page.on("pageerror", lambda exc: errors.append("page error: %s" % exc))
            # The page is self-contained: any request past the file itself is a defect.
            page.on("request", lambda request: requests.append(request.url) if request.url != html_path.as_uri() else None)
            page.goto(html_path.as_uri(), wait_until="load")
            facts = page.evaluate(READ_PAGE)
            page.screenshot(path=str(screenshot), full_page=True)
            # Opened, the folded SQL and plans wrap too: the page is still no wider than its window.
            facts["openWidth"] = page.evaluate("() => { document.querySelectorAll('details').forEach(d => d.open = true);"
                                               " return document.documentElement.scrollWidth; }")
        finally:
            browser.close()
    return Seen(status=facts["status"], index_rows=facts["indexRows"], probe_rows=facts["probeRows"],
                bars=[tuple(bar) for bar in facts["bars"]], charts=dict(facts["charts"]), scroll_width=facts["scrollWidth"],
                open_width=facts["openWidth"], client_width=facts["clientWidth"], screenshot=screenshot, errors=errors,
                requests=requests)


def check_report_in_browser(run_dir: Path, report: dict, screenshot: Path) -> Seen:
    """The assertions a reader makes of report.html in a browser, for a real run's report.json `report`."""
    seen = open_report(run_dir / "report.html", screenshot)
    assert seen.status == report["status"], seen
    assert seen.index_rows == len(report["indexes"]) == report["total_expected"], seen
    probes = (report.get("verify") or {}).get("probes") or []
    # One bar per probe and side that has a time: the before bar from the timing before the build, the after one from
    # verify's median.
    expected = [(p["name"], side) for p in probes for side, key in (("before", "before_ms"), ("after", "median_ms"))
                if p.get(key) is not None]
    assert seen.bars == expected, (seen.bars, expected)
    assert seen.probe_rows == len(probes)
    # A picture for each thing the run measured: the phases always, the probes, the health samples, CloudWatch (RDS).
    monitor = report.get("monitor") or {}
    expected_charts = {"timeline-chart"} | ({"probe-chart"} if probes else set())
    expected_charts |= {"health-chart"} if (monitor.get("health") or {}).get("samples") else set()
    expected_charts |= {"cloudwatch-chart"} if monitor.get("cloudwatch") else set()
    assert set(seen.charts) == expected_charts, seen.charts
    assert seen.scroll_width <= WINDOW["width"], "the page is %d px wide in a %d px window" % (seen.scroll_width, WINDOW["width"])
    assert seen.open_width <= WINDOW["width"], "with its plans open the page is %d px wide" % seen.open_width
    assert all(0 < width <= seen.client_width for width in seen.charts.values()), seen.charts
    assert seen.errors == [] and seen.requests == [], (seen.errors, seen.requests)
    assert screenshot.stat().st_size > 10_000, "the screenshot is empty"
    return seen
