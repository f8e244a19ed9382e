"""The plan's time estimates (run/estimates.py) and a long build's ETA (build/progress.py), with fakes."""

import json

from ansible.module_utils.safeindex.build import progress
from ansible.module_utils.safeindex.engines import features_for
from ansible.module_utils.safeindex.run import estimates, preflight

MB = 1024 * 1024
PG, MY = features_for("postgresql"), features_for("mysql")


def builds(*sizes):
    return [{"name": "idx_%d" % n, "schema": "public", "table": "t%d" % n, "table_bytes": size, "estimated_index_bytes": size // 4}
            for n, size in enumerate(sizes)]


def report(run_id, finished, rate=None, status="success", engine="postgresql", backup_rate=None):
    return {"run_id": run_id, "finished": finished, "status": status, "engine": engine,
            "estimates": {"build_bytes_per_second": rate, "backup": {"bytes_per_second": backup_rate} if backup_rate else None}}


def write_run(host_dir, folder, content):
    (host_dir / folder).mkdir(parents=True)
    (host_dir / folder / "report.json").write_text(json.dumps(content))


def test_a_measured_duration_is_floored_so_a_tiny_table_gives_no_absurd_rate():
    assert estimates.measured_rate(8192, 0.004) == (8192.0, True)  # not 2 MB/s from a 4 ms build
    assert estimates.measured_rate(10 * MB, 4.0) == (2.5 * MB, False)
    assert estimates.measured_rate(0, 3.0) == (None, False) and estimates.measured_rate(MB, None) == (None, False)


def test_without_history_each_engine_has_its_own_uncalibrated_default():
    pg, my = estimates.calibrate(PG, None, []), estimates.calibrate(MY, None, [])
    assert (pg.source, pg.label(), pg.build_rate) == ("uncalibrated", "uncalibrated", PG.default_build_bytes_per_second)
    assert my.build_rate == MY.default_build_bytes_per_second != pg.build_rate
    plan = estimates.plan(pg, builds(160 * MB), 320 * MB)
    assert plan["indexes"][0]["estimated_seconds"] == 160 * MB / PG.default_build_bytes_per_second
    assert plan["calibrated_by"] == "uncalibrated" and plan["backup"]["calibrated_by"] == "uncalibrated"
    assert plan["backup"]["estimated_seconds"] == 320 * MB / PG.default_backup_bytes_per_second


def test_the_rehearsal_of_the_spec_comes_first_then_this_hosts_newest_run(tmp_path):
    rehearsal = {"run_id": "stage-1", "build_bytes_per_second": 4 * MB, "build_rates": {"idx_0": 2 * MB},
                 "backup_bytes_per_second": 8 * MB}
    history = [report("prod-2", "2025-06-03T00:00:00Z", rate=16 * MB, backup_rate=32 * MB)]
    first = estimates.calibrate(PG, rehearsal, history)
    assert (first.label(), first.backup_label()) == ("rehearsal stage-1", "rehearsal stage-1")
    plan = estimates.plan(first, builds(20 * MB, 20 * MB), 80 * MB)
    # idx_0 at its own rehearsed rate, idx_1 (not in the rehearsal's record) at the rehearsal's overall rate.
    assert [r["estimated_seconds"] for r in plan["indexes"]] == [10.0, 5.0] and plan["builds_seconds"] == 15.0
    assert plan["backup"]["estimated_seconds"] == 10.0
    second = estimates.calibrate(PG, None, history)
    assert (second.label(), second.build_rate, second.backup_label()) == ("earlier run prod-2", 16 * MB, "earlier run prod-2")
    # A rehearsal that built nothing measured nothing: the host's history answers.
    assert estimates.calibrate(PG, {"run_id": "stage-0", "build_bytes_per_second": None}, history).source == "history"


def test_this_hosts_runs_are_read_newest_first_and_only_successful_ones_of_the_engine(tmp_path):
    write_run(tmp_path, "a", report("a", "2025-06-01T00:00:00Z", rate=MB))
    write_run(tmp_path, "b", report("b", "2025-06-05T00:00:00Z", rate=2 * MB, status="failed"))
    write_run(tmp_path, "c", report("c", "2025-06-04T00:00:00Z", rate=3 * MB))
    write_run(tmp_path, "d", report("d", "2025-06-06T00:00:00Z", rate=4 * MB, engine="mysql"))
    write_run(tmp_path, "now", report("now", "2025-06-07T00:00:00Z", rate=5 * MB))
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "report.json").write_text("{not json")
    found = estimates.earlier_reports(str(tmp_path), "postgresql", skip_run="now")
    assert [r["run_id"] for r in found] == ["c", "a"]
    assert estimates.calibrate(PG, None, found).build_rate == 3 * MB
    assert estimates.earlier_reports(str(tmp_path / "none"), "postgresql") == []


def test_the_report_keeps_estimate_and_actual_and_the_rehearsal_record_the_rates(tmp_path):
    plan = estimates.plan(estimates.calibrate(PG, None, []), builds(40 * MB, 8192), 100 * MB)
    rows = [{"name": "idx_0", "action": "created", "duration_seconds": 10.0},
            {"name": "idx_1", "action": "created", "duration_seconds": 0.01}]
    kept = estimates.outcome(plan, rows, {"duration_seconds": 20.0})
    assert [(r["actual_seconds"], r["bytes_per_second"], r["duration_floored"]) for r in kept["indexes"]] == [
        (10.0, 4 * MB, False), (0.01, 8192.0, True)]
    assert kept["indexes"][0]["estimated_seconds"] == plan["indexes"][0]["estimated_seconds"]
    assert kept["build_bytes_per_second"] == (40 * MB + 8192) / 11.0 and kept["build_rate_floored"] is True
    assert kept["backup"]["bytes_per_second"] == 5 * MB and kept["backup"]["actual_seconds"] == 20.0
    assert estimates.outcome(None, rows, None) is None
    # A staging run's record keeps the rates; the rehearsal gate's reader hands them to the next plan.
    rehearsed = {"engine": "postgresql", "host": "db1", "run_id": "stage-9", "finished": "2025-06-02T20:35:00Z",
                 "status": "success", "total_in_place": 2, "total_expected": 2, "estimates": kept}
    preflight.write_rehearsal_record(str(tmp_path), rehearsed, "f" * 32)
    record = preflight.rehearsal_record(str(tmp_path), "f" * 32, "postgresql")
    assert record["build_rates"] == {"idx_0": 4 * MB, "idx_1": 8192.0} and record["backup_bytes_per_second"] == 5 * MB
    calibration = estimates.calibrate(PG, record, [])
    again = estimates.plan(calibration, builds(40 * MB, 8192), 100 * MB)
    assert [r["estimated_seconds"] for r in again["indexes"]] == [10.0, 1.0]
    assert again["calibrated_by"] == "rehearsal stage-9" and again["rate_is_lower_bound"] is True
    assert "lower bound" in again["note"]


def test_the_plans_table_names_each_index_its_sizes_time_and_calibration():
    calibration = estimates.Calibration(build_rate=MB, backup_rate=MB, source="rehearsal", run_id="stage-3")
    lines = estimates.table(estimates.plan(calibration, builds(30 * MB, 300 * MB), 600 * MB))
    assert lines[0].split() == ["index", "table", "size", "est.", "index", "size", "est.", "time", "calibrated", "by"]
    assert lines[1].split() == ["idx_0", "30.0", "MB", "7.5", "MB", "30", "s", "rehearsal", "stage-3"]
    assert lines[2].split() == ["idx_1", "300.0", "MB", "75.0", "MB", "5", "min", "rehearsal", "stage-3"]
    assert lines[3].split() == ["total", "(2", "builds)", "330.0", "MB", "82.5", "MB", "6", "min", "rehearsal", "stage-3"]
    assert lines[4] == "backup: 600.0 MB of database, 10 min (calibrated by uncalibrated)"
    assert estimates.table(estimates.plan(calibration, [], None))[1].split()[:3] == ["total", "(0", "builds)"]


def test_the_expected_duration_adds_backup_builds_and_the_monitoring_window():
    calibration = estimates.Calibration(build_rate=MB, backup_rate=MB)
    seconds, parts = estimates.expected_duration(estimates.plan(calibration, builds(60 * MB), 120 * MB), 600)
    assert seconds == 60 + 120 + 600
    assert parts == "backup 2 min (uncalibrated), 1 index build(s) 60 s (uncalibrated), monitoring 10 min"
    assert estimates.expected_duration(estimates.plan(calibration, [], None), 0) == (0.0, "nothing to build, no monitoring window")
    unknown = builds(MB)
    unknown[0]["table_bytes"] = None
    assert estimates.expected_duration(estimates.plan(calibration, unknown, MB), 600) is None
    assert estimates.expected_duration(None, 600) is None
    assert [estimates.duration_text(s) for s in (0.2, 42, 200, 3900, None)] == ["under 1 s", "42 s", "3 min", "1 h 05 min", "unknown"]


def test_a_long_builds_progress_line_has_an_eta_from_its_rate_in_the_current_phase():
    rate = progress.PhaseRate()
    scan = {"phase": "building index: scanning table", "blocks_done": 1000, "blocks_total": 20000, "unit": "blocks"}
    assert rate.eta(scan, 100.0) is None  # one sample: no rate yet
    # 8000 blocks in 40 s: 200 blocks/s, 11000 left: 55 s.
    assert rate.eta(dict(scan, blocks_done=9000), 140.0) == 55.0
    line = progress.describe(dict(scan, blocks_done=9000, percent=45, eta_seconds=55.0))
    assert line == "building index: scanning table, 45% of blocks, ETA 55 s"
    # 9000 of 20000 after 10 s at 100 blocks/s: 110 s left, "ETA 2 min".
    slow = progress.PhaseRate()
    slow.eta(dict(scan, blocks_done=8000), 0.0)
    assert progress.describe(dict(scan, blocks_done=9000, percent=45, eta_seconds=slow.eta(dict(scan, blocks_done=9000), 10.0))) == (
        "building index: scanning table, 45% of blocks, ETA 2 min")
    # A new phase counts from 0 in its own unit: the rate starts again.
    sort = {"phase": "building index: loading tuples in tree", "tuples_done": 10, "tuples_total": 510, "unit": "tuples"}
    assert rate.eta(sort, 150.0) is None and rate.eta(dict(sort, tuples_done=260), 160.0) == 10.0
    # Waiting for other sessions has no unit: no ETA, and no line says one.
    assert rate.eta({"phase": "waiting for old snapshots"}, 170.0) is None
    assert "ETA" not in progress.describe({"phase": "waiting for old snapshots", "waiting": "1 of 2 sessions done"})
    assert [progress.eta_text(s) for s in (0.3, 40, 3900)] == ["ETA 1 s", "ETA 40 s", "ETA 1 h 05 min"]


def test_the_watcher_writes_the_eta_into_its_lines(tmp_path):
    path = tmp_path / "progress.jsonl"
    watcher = progress.Watcher(str(path), "idx_0", "index", sample=lambda _source: {})
    clock = iter([0.0, 0.0, 10.0])
    original = progress.time.monotonic
    progress.time.monotonic = lambda: next(clock, 10.0)
    try:
        for done in (1000, 3000):
            watcher.write({"phase": "building index: scanning table", "blocks_done": done, "blocks_total": 21000, "unit": "blocks",
                           "percent": 100 * done // 21000})
    finally:
        progress.time.monotonic = original
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert "ETA" not in lines[0]["text"]
    assert lines[1]["eta_seconds"] == 90.0 and lines[1]["text"] == "building index: scanning table, 14% of blocks, ETA 2 min"
