"""Pacing of the index phase: the runbook's pause between two builds, and the wait for the replicas to catch up.

Each build makes the replicas fall behind (PostgreSQL streams the build's WAL; a MySQL/MariaDB replica applies an
ALTER only once the primary has finished it, so it lags by about the build's length). Twenty builds in a row add
up, so before each build the batch asks the Pacer: it sleeps `pause_seconds` after a previous build, then reads the
replicas' lag and, while run/replica_lag.lag_problems() finds any, waits (one progress line per poll) up to `timeout`.
A wait that times out stops the builds (action `stop`: the indexes not yet started are not built, each reported with
the reason) or, with `continue`, builds the next index anyway and says so.

Everything the pacer needs from outside is injected (lag source, clock, sleep, line, record), so its rules are unit
tested without a server. A Ctrl-C during a pause or a wait ends the sleep with KeyboardInterrupt, which the batch
handles as a Ctrl-C anywhere else; the wait is recorded as interrupted first.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ansible.module_utils.safeindex.core.errors import SafeIndexError
from ansible.module_utils.safeindex.run.replica_lag import lag_problems

ACTIONS = ("stop", "continue")
DEFAULT_TIMEOUT = 600.0
DEFAULT_POLL = 2.0
PAUSE_EVENT = "index_pause"    # the run record's event of a pause between two builds
WAIT_EVENT = "replica_wait"    # ... and of a look at the replicas before a build (waited or not)

# db_index's own pacing options (its DOCUMENTATION documents them); the replica options come from REPLICA_ARGUMENT_SPEC.
PACING_ARGUMENT_SPEC = dict(
    pause_between_indexes=dict(type="float", default=0),
    wait_for_replicas=dict(type="bool"),
    replica_wait_timeout=dict(type="float", default=DEFAULT_TIMEOUT),
    replica_wait_action=dict(type="str", choices=list(ACTIONS), default="stop"),
    replica_wait_poll_seconds=dict(type="float", default=DEFAULT_POLL),
)


@dataclass
class PacingOptions:
    pause_seconds: float = 0.0
    wait_for_replicas: bool | None = None  # None: wait when replicas are known (listed, or the primary shows any)
    timeout: float = DEFAULT_TIMEOUT
    action: str = "stop"
    poll_seconds: float = DEFAULT_POLL
    max_seconds: float | None = None
    max_bytes: int | None = None

    @property
    def reads_lag(self) -> bool:
        return self.wait_for_replicas is not False


def pacing_options(params: dict) -> PacingOptions:
    """db_index's parameters as PacingOptions; ValueError on a value that cannot work."""
    if params["pause_between_indexes"] < 0 or params["replica_wait_timeout"] < 0 or params["replica_wait_poll_seconds"] <= 0:
        raise ValueError("pause_between_indexes and replica_wait_timeout must not be negative, replica_wait_poll_seconds"
                         " must be more than 0")
    return PacingOptions(
        pause_seconds=params["pause_between_indexes"],
        wait_for_replicas=params["wait_for_replicas"],
        timeout=params["replica_wait_timeout"],
        action=params["replica_wait_action"],
        poll_seconds=params["replica_wait_poll_seconds"],
        max_seconds=params.get("max_replication_lag_seconds"),
        max_bytes=params.get("max_replication_lag_bytes"),
    )


@dataclass
class Verdict:
    build: bool = True          # go on with this index
    interrupted: bool = False   # the run is over (its lock holder is gone): start nothing more
    reason: str | None = None   # why the index is not built (a wait that timed out)
    waited_seconds: float = 0.0
    paused_seconds: float = 0.0


@dataclass
class Wait:
    """One look at the replicas before a build, and the wait it caused: what the record and the report keep."""
    index: str
    outcome: str = "clear"      # clear | caught_up | timed_out | continued | interrupted | unread
    waited_seconds: float = 0.0
    polls: int = 0
    problems: list = field(default_factory=list)       # the first reading's problems (why it waited)
    last_problems: list = field(default_factory=list)  # the last reading's (why it timed out)
    peak: dict = field(default_factory=dict)           # replica name: {lag_seconds, lag_bytes}, the most seen
    lags: list = field(default_factory=list)           # the last reading, ReplicaLag.as_dict() each
    detail: str = ""

    def as_dict(self) -> dict:
        return {"index": self.index, "outcome": self.outcome, "waited_seconds": round(self.waited_seconds, 1),
                "polls": self.polls, "problems": self.problems, "last_problems": self.last_problems, "peak": self.peak,
                "lags": self.lags, "detail": self.detail}


def replica_line(lag: Any, max_seconds: float | None, max_bytes: int | None) -> str | None:
    """`waiting for replica X: 42 s behind, limit 10 s` for a replica that lag_problems() holds against; else None."""
    if not lag_problems([lag], max_seconds, max_bytes):
        return None
    if max_seconds is not None and lag.lag_seconds is not None and lag.lag_seconds > max_seconds:
        what = "%s s behind, limit %s s" % (_number(lag.lag_seconds), _number(max_seconds))
    elif max_bytes is not None and lag.lag_bytes is not None and lag.lag_bytes > max_bytes:
        what = "%d bytes behind, limit %d bytes" % (lag.lag_bytes, max_bytes)
    else:
        what = lag.state + (" (%s)" % lag.detail if lag.detail else "")
    return "waiting for replica %s: %s" % (lag.name, what)


def _number(value: float) -> str:
    return "%d" % round(value) if abs(value - round(value)) < 0.05 else "%.1f" % value


def peak_of(peak: dict, lags: list) -> dict:
    """The most lag seen per replica, this reading included."""
    for lag in lags:
        seen = peak.setdefault(lag.name, {"lag_seconds": None, "lag_bytes": None})
        for key in ("lag_seconds", "lag_bytes"):
            value = getattr(lag, key)
            if value is not None and (seen[key] is None or value > seen[key]):
                seen[key] = value
    return peak


class Pacer:
    """Asked by the batch before each build: `before_build(name, engine)` pauses, waits for the replicas, and says
    whether to build. `read_lags(engine)` returns [ReplicaLag] (run/replica_lag.read_replica_lags); `line(name, text)`
    shows a progress line; `record(event, **data)` appends to the run record; `run_is_over()` ends a wait early."""

    def __init__(self, options: PacingOptions, read_lags: Callable[[Any], list],
                 line: Callable[[str, str], None] = lambda name, text: None,
                 record: Callable[..., None] = lambda event, **data: None,
                 run_is_over: Callable[[], bool] = lambda: False,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep):
        self.options, self.read_lags, self.line, self.record = options, read_lags, line, record
        self.run_is_over, self.clock, self.sleep = run_is_over, clock, sleep
        self.builds = 0                  # builds started so far: the pause comes between two
        self.waits: list = []            # Wait of every look that waited (or could not read), for the result
        self.paused_seconds = 0.0

    def built(self) -> None:
        """The batch says a build ran (the next one is paused before)."""
        self.builds += 1

    def before_build(self, name: str, engine: Any) -> Verdict:
        verdict = Verdict()
        if self.builds and self.options.pause_seconds > 0:
            verdict.paused_seconds = self._pause(name)
            if verdict.paused_seconds is None:
                return Verdict(build=False, interrupted=True)
        if self.options.reads_lag:
            wait = self._wait(name, engine)
            verdict.waited_seconds = wait.waited_seconds
            if wait.outcome == "interrupted":
                verdict.build, verdict.interrupted = False, True
            elif wait.outcome == "timed_out":
                verdict.build = False
                verdict.reason = ("not built: the replicas did not catch up within replica_wait_timeout (%s s): %s"
                                  % (_number(self.options.timeout), "; ".join(wait.last_problems)))
        return verdict

    def _pause(self, name: str) -> float | None:
        """The runbook's pause between two builds; None when the run ended during it."""
        seconds = self.options.pause_seconds
        self.line(name, "pausing %s s before this build (pause_between_indexes)" % _number(seconds))
        started = self.clock()
        self.record(PAUSE_EVENT, index=name, seconds=seconds, monotonic=time.monotonic())
        while True:
            left = seconds - (self.clock() - started)
            if left <= 0:
                break
            if self.run_is_over():
                return None
            self.sleep(min(left, self.options.poll_seconds))
        paused = self.clock() - started
        self.paused_seconds += paused
        return paused

    def _read(self, engine: Any, wait: Wait) -> list | None:
        try:
            lags = list(self.read_lags(engine))
        except SafeIndexError as exc:
            wait.detail = "replica lag could not be read: %s" % (str(exc).strip().splitlines() or ["?"])[0]
            return None
        wait.polls += 1
        wait.lags = [lag.as_dict() for lag in lags]
        peak_of(wait.peak, lags)
        return lags

    def _wait(self, name: str, engine: Any) -> Wait:
        """One look at the replicas before a build and, while they are behind, the wait (see the module's doc)."""
        options = self.options
        wait = Wait(index=name)
        started = self.clock()
        try:
            while True:
                lags = self._read(engine, wait)
                if lags is None:  # an unreadable lag does not stop the builds: it is said, and the build goes on
                    wait.outcome = "unread"
                    self.line(name, wait.detail + "; building without waiting")
                    break
                problems = lag_problems(lags, options.max_seconds, options.max_bytes)
                wait.waited_seconds = self.clock() - started
                if not problems:
                    if wait.problems:
                        wait.outcome = "caught_up"
                        self.line(name, "replicas caught up after %s s" % _number(wait.waited_seconds))
                    break
                wait.problems = wait.problems or problems
                wait.last_problems = problems
                if wait.waited_seconds >= options.timeout:
                    wait.outcome = "timed_out" if options.action == "stop" else "continued"
                    self.line(name, "replicas still behind after %s s (replica_wait_timeout): %s" % (
                        _number(wait.waited_seconds),
                        "not building it nor the indexes after it" if options.action == "stop"
                        else "building it anyway (replica_wait_action=continue)"))
                    break
                for lag in lags:
                    text = replica_line(lag, options.max_seconds, options.max_bytes)
                    if text:
                        self.line(name, "%s (waited %s s of %s s)" % (text, _number(wait.waited_seconds),
                                                                      _number(options.timeout)))
                if self.run_is_over():
                    wait.outcome = "interrupted"
                    break
                self.sleep(max(0.0, min(options.poll_seconds, options.timeout - wait.waited_seconds)))
        except KeyboardInterrupt:
            wait.outcome = "interrupted"
            wait.waited_seconds = self.clock() - started
            self._keep(wait)
            raise
        self._keep(wait)
        return wait

    def _keep(self, wait: Wait) -> None:
        if wait.outcome != "clear":
            self.waits.append(wait)
        if wait.lags or wait.outcome != "clear":  # no replica known and nothing to say: no event
            self.record(WAIT_EVENT, monotonic=time.monotonic(), **wait.as_dict())

    def summary(self) -> dict:
        """db_index's return keys of the pacing: replica_waits, longest_replica_wait_seconds, paused_seconds."""
        return {"replica_waits": [w.as_dict() for w in self.waits],
                "longest_replica_wait_seconds": round(max((w.waited_seconds for w in self.waits), default=0.0), 1),
                "paused_seconds": round(self.paused_seconds, 1)}
