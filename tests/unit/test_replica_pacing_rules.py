"""The pacing of the index phase (build/pacing.py): the pause between builds and the wait for the replicas, on a fake
clock and a scripted lag source; and the report's replica section from a recorded run."""

import pytest
from ansible.module_utils.safeindex.build.pacing import Pacer, PacingOptions, replica_line
from ansible.module_utils.safeindex.core.errors import DatabaseUnavailable
from ansible.module_utils.safeindex.run.replica_lag import ReplicaLag


class Clock:
    def __init__(self):
        self.now = 1000.0
        self.slept = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds


def scripted(*readings):
    """A lag source that returns each reading in turn, then the last one for ever; counts its calls."""
    state = {"calls": 0}

    def read(engine):
        index = min(state["calls"], len(readings) - 1)
        state["calls"] += 1
        reading = readings[index]
        if isinstance(reading, Exception):
            raise reading
        return reading

    read.state = state
    return read


def behind(seconds, name="r1"):
    return [ReplicaLag(name=name, source="replica", lag_seconds=seconds, lag_bytes=int(seconds * 1000))]


def pacer(options, read, clock=None, run_is_over=lambda: False):
    clock = clock or Clock()
    lines, events = [], []
    made = Pacer(options, read, line=lambda name, text: lines.append((name, text)),
                 record=lambda event, **data: events.append(dict(data, event=event)), run_is_over=run_is_over,
                 clock=clock, sleep=clock.sleep)
    return made, clock, lines, events


def test_the_pause_comes_between_two_builds_only():
    made, clock, lines, events = pacer(PacingOptions(pause_seconds=5, wait_for_replicas=False), scripted([]))
    first = made.before_build("a", None)
    assert first.build and first.paused_seconds == 0 and clock.slept == []
    made.built()
    second = made.before_build("b", None)
    assert second.build and second.paused_seconds == pytest.approx(5)
    assert sum(clock.slept) == pytest.approx(5)
    assert lines == [("b", "pausing 5 s before this build (pause_between_indexes)")]
    assert [e["event"] for e in events] == ["index_pause"] and events[0]["index"] == "b" and events[0]["seconds"] == 5
    assert made.summary()["paused_seconds"] == 5


def test_no_lag_is_read_when_wait_for_replicas_is_false():
    read = scripted(behind(100))
    made, _clock, _lines, events = pacer(PacingOptions(wait_for_replicas=False, max_seconds=10), read)
    assert made.before_build("a", None).build
    assert read.state["calls"] == 0 and events == []


def test_replicas_under_their_limits_are_recorded_and_the_build_goes_on_at_once():
    made, clock, lines, events = pacer(PacingOptions(max_seconds=10), scripted(behind(3)))
    verdict = made.before_build("a", None)
    assert verdict.build and verdict.waited_seconds == 0 and clock.slept == [] and lines == []
    assert events[0]["event"] == "replica_wait" and events[0]["outcome"] == "clear"
    assert events[0]["peak"] == {"r1": {"lag_seconds": 3, "lag_bytes": 3000}}
    assert made.summary()["replica_waits"] == []


def test_no_replica_known_records_nothing():
    made, _clock, _lines, events = pacer(PacingOptions(max_seconds=10), scripted([]))
    assert made.before_build("a", None).build and events == []


def test_a_lagging_replica_is_waited_for_with_a_line_per_poll_until_it_catches_up():
    made, clock, lines, events = pacer(PacingOptions(max_seconds=10, poll_seconds=2),
                                       scripted(behind(42), behind(30), behind(12), behind(4)))
    verdict = made.before_build("idx_a", None)
    assert verdict.build and verdict.reason is None
    assert clock.slept == [2, 2, 2] and verdict.waited_seconds == pytest.approx(6)
    texts = [text for _name, text in lines]
    assert texts[0] == "waiting for replica r1: 42 s behind, limit 10 s (waited 0 s of 600 s)"
    assert texts[2] == "waiting for replica r1: 12 s behind, limit 10 s (waited 4 s of 600 s)"
    assert texts[-1] == "replicas caught up after 6 s"
    wait = events[-1]
    assert wait["event"] == "replica_wait" and wait["outcome"] == "caught_up" and wait["polls"] == 4
    assert wait["peak"]["r1"]["lag_seconds"] == 42 and wait["problems"][0].startswith("replica r1 is 42.0 s behind")
    assert made.summary()["longest_replica_wait_seconds"] == 6


def test_a_paused_replica_is_waited_for_without_any_threshold():
    paused = [ReplicaLag(name="r1", source="replica", state="paused", detail="pg_wal_replay_pause()")]
    made, _clock, lines, _events = pacer(PacingOptions(), scripted(paused, behind(1)))
    assert made.before_build("a", None).build
    assert lines[0][1].startswith("waiting for replica r1: paused (pg_wal_replay_pause())")


def test_a_wait_that_times_out_stops_the_builds_with_the_reason():
    made, clock, lines, events = pacer(PacingOptions(max_seconds=10, timeout=5, poll_seconds=2), scripted(behind(50)))
    verdict = made.before_build("idx_a", None)
    assert not verdict.build and not verdict.interrupted
    assert verdict.reason == ("not built: the replicas did not catch up within replica_wait_timeout (5 s): replica r1 is"
                              " 50.0 s behind, limit 10 s (max_replication_lag_seconds)")
    assert clock.slept == [2, 2, 1]  # the last poll comes at the timeout, not after it
    assert "not building it nor the indexes after it" in lines[-1][1]
    assert events[-1]["outcome"] == "timed_out" and events[-1]["waited_seconds"] == 5


def test_continue_builds_anyway_after_the_timeout_and_says_so():
    made, _clock, lines, events = pacer(PacingOptions(max_bytes=100, timeout=4, action="continue"), scripted(behind(50)))
    verdict = made.before_build("idx_a", None)
    assert verdict.build and verdict.reason is None
    assert "building it anyway (replica_wait_action=continue)" in lines[-1][1]
    assert "50000 bytes behind, limit 100 bytes" in lines[0][1]
    assert events[-1]["outcome"] == "continued" and made.summary()["replica_waits"][0]["outcome"] == "continued"


def test_ctrl_c_during_a_wait_is_recorded_and_goes_on_as_a_ctrl_c():
    clock = Clock()

    def interrupted_sleep(seconds):
        raise KeyboardInterrupt

    lines, events = [], []
    made = Pacer(PacingOptions(max_seconds=10), scripted(behind(50)), line=lambda n, t: lines.append(t),
                 record=lambda event, **data: events.append(dict(data, event=event)), clock=clock, sleep=interrupted_sleep)
    with pytest.raises(KeyboardInterrupt):
        made.before_build("idx_a", None)
    assert events[-1]["event"] == "replica_wait" and events[-1]["outcome"] == "interrupted"


def test_the_end_of_the_run_ends_a_wait_and_a_pause():
    over = {"now": False}
    clock = Clock()
    made, _clock, _lines, events = pacer(PacingOptions(max_seconds=10, pause_seconds=5), scripted(behind(50)), clock,
                                         run_is_over=lambda: over["now"])
    original = clock.sleep

    def sleep(seconds):
        original(seconds)
        over["now"] = True

    made.sleep = sleep
    verdict = made.before_build("a", None)
    assert verdict.interrupted and not verdict.build and events[-1]["outcome"] == "interrupted"
    made.built()
    assert made.before_build("b", None).interrupted  # during the pause this time


def test_a_lag_that_cannot_be_read_is_said_and_the_build_goes_on():
    made, _clock, lines, events = pacer(PacingOptions(max_seconds=10), scripted(DatabaseUnavailable("gone away")))
    assert made.before_build("a", None).build
    assert lines[0][1] == "replica lag could not be read: gone away; building without waiting"
    assert events[-1]["outcome"] == "unread"


def test_replica_line_names_the_limit_that_is_crossed():
    assert replica_line(behind(3)[0], 10, None) is None
    assert replica_line(behind(12.44)[0], 10, None) == "waiting for replica r1: 12.4 s behind, limit 10 s"
    stopped = ReplicaLag(name="r2", source="replica", state="stopped", detail="SQL thread not running")
    assert replica_line(stopped, 10, None) == "waiting for replica r2: stopped (SQL thread not running)"


def test_the_report_shows_the_lag_over_the_run_the_waits_and_the_unbuilt_from_the_record_alone(tmp_path):
    from ansible.module_utils.safeindex.report.from_record import report_from_record
    from ansible.module_utils.safeindex.run.record import RunRecord, record_phase_result

    record = RunRecord(str(tmp_path))
    record.append("start", run_id="run-7", host="db1", engine="mysql", monotonic=100.0)
    record_phase_result(str(tmp_path), "preflight", {"spec": {"names": ["a", "b", "c"]}})
    record.append("phase_start", run_id="run-7", phase="indexes", monotonic=101.0)
    record.append("replica_wait", index="a", outcome="clear", waited_seconds=0.0, polls=1, problems=[], last_problems=[],
                  peak={"r1": {"lag_seconds": 1.0, "lag_bytes": None}}, lags=[], detail="")
    record_phase_result(str(tmp_path), "index", {"name": "a", "action": "created", "changed": True, "duration_seconds": 4.0,
                                                 "started_at": 1000.0, "finished_at": 1004.0})
    record.append("index_pause", index="b", seconds=5)
    record.append("replica_wait", index="b", outcome="caught_up", waited_seconds=12.5, polls=7,
                  problems=["replica r1 is 14.0 s behind, limit 10 s (max_replication_lag_seconds)"], last_problems=[],
                  peak={"r1": {"lag_seconds": 14.0, "lag_bytes": None}}, lags=[], detail="")
    record_phase_result(str(tmp_path), "index", {"name": "b", "action": "created", "changed": True, "duration_seconds": 4.0,
                                                 "started_at": 1021.5, "finished_at": 1025.5})
    record.append("index_pause", index="c", seconds=5)
    record.append("replica_wait", index="c", outcome="timed_out", waited_seconds=600.0, polls=300,
                  problems=["replica r1 is stopped"], last_problems=["replica r1 is stopped"],
                  peak={"r1": {"lag_seconds": None, "lag_bytes": None}}, lags=[], detail="")
    record_phase_result(str(tmp_path), "index", {"name": "c", "action": "not_built", "changed": False, "sql": [],
                                                 "reason": "not built: the replicas did not catch up within ..."})
    record.append("phase_end", run_id="run-7", phase="indexes", monotonic=731.0)
    samples = [{"seconds": 0.0, "connections": 3, "lock_waits": 0, "waiting": [],
                "replicas": [{"name": "r1", "state": "streaming", "lag_seconds": 3.0, "lag_bytes": None}]},
               {"seconds": 10.0, "connections": 3, "lock_waits": 0, "waiting": [],
                "replicas": [{"name": "r1", "state": "streaming", "lag_seconds": 0.0, "lag_bytes": None}]}]
    record_phase_result(str(tmp_path), "monitor", {"duration_seconds": 10.0, "smoke_checks": [], "error_logs": [],
                                                   "health": {"samples": samples, "detail": "2 samples"}, "failed": []})

    report, summary = report_from_record(str(tmp_path), "failed", "1 of 3 indexes not built: ...: c")
    replicas = report["replicas"]
    assert replicas["lag"] == {"r1": {"index_phase": {"max_lag_seconds": 14.0, "max_lag_bytes": None},
                                      "monitor": {"max_lag_seconds": 3.0, "max_lag_bytes": None}}}
    assert [(w["index"], w["outcome"]) for w in replicas["waits"]] == [("b", "caught_up"), ("c", "timed_out")]
    assert replicas["longest_wait_seconds"] == 600.0 and replicas["wait_seconds"] == 612.5
    assert (replicas["pauses"], replicas["paused_seconds"]) == (2, 10)
    assert replicas["not_built"] == [{"name": "c", "reason": "not built: the replicas did not catch up within ..."}]
    assert (report["not_built"], report["total_in_place"], report["total_expected"]) == (1, 2, 3) and summary["not_built"] == 1
    assert [i["reason"] for i in report["indexes"]] == [None, None, "not built: the replicas did not catch up within ..."]
    migration = next(row for row in report["timeline"] if row["phase"] == "Migration")
    assert (migration["paused_seconds"], migration["replica_wait_seconds"]) == (10, 612.5)
    markdown = (tmp_path / "report.md").read_text()
    assert "## Replicas and pacing" in markdown and "| r1 | 14.0 s | 3.0 s |" in markdown
    assert "Longest wait for the replicas: 10 min 0 s (2 waits, 10 min 12 s in all); 2 pauses between builds, 10.0 s in all." in markdown
    assert "- **c**: not built: the replicas did not catch up within ..." in markdown
    assert "Of the migration," in markdown
    html = (tmp_path / "report.html").read_text()
    assert 'id="replicas"' in html and 'id="replica-wait-table"' in html and "timed_out" in html


def test_a_run_without_replicas_or_pauses_has_no_replica_section(tmp_path):
    from ansible.module_utils.safeindex.report.from_record import report_from_record
    from ansible.module_utils.safeindex.run.record import RunRecord

    RunRecord(str(tmp_path)).append("start", run_id="run-8", host="db1", engine="postgresql", monotonic=100.0)
    report, _summary = report_from_record(str(tmp_path), "success")
    assert report["replicas"] is None and report["not_built"] == 0
    assert "Replicas and pacing" not in (tmp_path / "report.md").read_text()
