"""Replica lag as the run judges it: one ReplicaLag per replica, from whatever source saw it (the primary, the replica
itself, CloudWatch for RDS); lag_problems() says which are over their limits or not replicating at all.

Preflight refuses on these problems; the index phase waits on them (wait_for_replicas); the monitor samples them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

STATES_THAT_FAIL = ("paused", "stopped", "error", "unreachable")


@dataclass
class ReplicaLag:
    name: str  # what the operator calls it: host:port, the standby's application_name@address, the RDS instance id
    source: str  # where the figures come from: "primary", "replica", "cloudwatch"
    state: str = "streaming"  # streaming | catching_up | paused | stopped | error | unreachable | unknown
    lag_seconds: float | None = None
    lag_bytes: int | None = None
    detail: str = ""  # the server's own words: last error, why unknown
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


def lag_problems(lags: list, max_seconds: float | None, max_bytes: int | None) -> list:
    """One sentence per replica that stops the run: not replicating (paused, stopped, in error, unreachable), or behind
    by more than a limit that is set. An unknown lag is no problem here: the caller warns about it."""
    problems = []
    for lag in lags:
        if lag.state in STATES_THAT_FAIL:
            problems.append("replica %s is %s%s" % (lag.name, lag.state, ": " + lag.detail if lag.detail else ""))
        elif max_seconds is not None and lag.lag_seconds is not None and lag.lag_seconds > max_seconds:
            problems.append("replica %s is %.1f s behind, limit %s s (max_replication_lag_seconds)"
                            % (lag.name, lag.lag_seconds, _number(max_seconds)))
        elif max_bytes is not None and lag.lag_bytes is not None and lag.lag_bytes > max_bytes:
            problems.append("replica %s is %d bytes behind, limit %d bytes (max_replication_lag_bytes)"
                            % (lag.name, lag.lag_bytes, max_bytes))
    return problems


def _number(value: float) -> str:
    return ("%d" % value) if float(value).is_integer() else ("%s" % value)


# The module options every module that reads replica lag takes (db_preflight, db_index, db_health); the doc fragment
# safeindex.safeindex.replicas documents them. Helper A of issue 20 fills these in; the names are the contract.
REPLICA_ARGUMENT_SPEC = dict(
    replicas=dict(type="list", elements="dict", default=[], no_log=False),  # [{host, port, name?, user?, password?}]
    max_replication_lag_seconds=dict(type="float"),
    max_replication_lag_bytes=dict(type="int"),
)


def read_replica_lags(engine, module_params: dict, listed: list) -> list:
    """Every replica's lag: the primary's view (engine.replicas_seen_from_primary()), joined with each listed replica's
    own view (a connection of its own: the host's credentials unless the entry gives them), an unreachable one as its
    own state. Connections it opens it closes."""
    raise NotImplementedError("issue 20, helper A")
