"""Replica lag as the run judges it: one ReplicaLag per replica, from whatever source saw it (the primary, the replica
itself, CloudWatch for RDS); lag_problems() says which are over their limits or not replicating at all.

Preflight refuses on these problems; the index phase waits on them (wait_for_replicas); the monitor samples them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

STATES_THAT_FAIL = ("paused", "stopped", "error", "unreachable")
# WAL the primary has written and a caught-up standby has not replayed yet because it is on its way (a commit record, a
# running-transactions record: tens of bytes); more than a WAL page behind is behind.
IN_FLIGHT_BYTES = 8192


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
        elif max_seconds is not None and lag.extra.get("applied_primary_position") is False:
            problems.append("replica %s has not applied within %s s what the primary had written (it reads %s s"
                            " behind while it replays an earlier event, such as an index build), limit %s s"
                            " (max_replication_lag_seconds)" % (lag.name, _number(max_seconds),
                                                                _number(lag.lag_seconds or 0), _number(max_seconds)))
        elif max_bytes is not None and lag.lag_bytes is not None and lag.lag_bytes > max_bytes:
            problems.append("replica %s is %d bytes behind, limit %d bytes (max_replication_lag_bytes)"
                            % (lag.name, lag.lag_bytes, max_bytes))
    return problems


def _number(value: float) -> str:
    return ("%d" % value) if float(value).is_integer() else ("%s" % value)


number_text = _number  # a limit as the operator wrote it (10, not 10.0), for preflight's messages too


# The module options every module that reads replica lag takes (db_preflight, db_index, db_health); the doc fragment
# safeindex.safeindex.replicas documents them. Helper A of issue 20 fills these in; the names are the contract.
REPLICA_ARGUMENT_SPEC = dict(
    # [{host, port, name?, user?, password?}]; the suboptions' password is no_log.
    replicas=dict(type="list", elements="dict", default=[], options=dict(
        host=dict(type="str", required=True),
        port=dict(type="int"),
        name=dict(type="str"),
        user=dict(type="str"),
        password=dict(type="str", no_log=True),
    )),
    max_replication_lag_seconds=dict(type="float"),
    max_replication_lag_bytes=dict(type="int"),
)


def read_replica_lags(engine, module_params: dict, listed: list) -> list:
    """Every replica's lag: the primary's view (engine.replicas_seen_from_primary()), joined with each listed replica's
    own view (a connection of its own: the host's credentials unless the entry gives them), an unreachable one as its
    own state. Connections it opens it closes."""
    seen = [_from_primary(row) for row in engine.replicas_seen_from_primary()]
    if listed and not engine.features.lag_seen_from_primary:
        # The primary's rows (binlog dump threads) cannot be told apart nor say a lag: the listed replicas speak.
        seen = []
    position = _primary_position(engine) if listed else None
    lags = []
    for entry in listed or ():
        own = read_listed_replica(engine, module_params, entry, position)
        match = _matching(seen, own)
        if match is not None:
            seen.remove(match)
            own = joined(match, own)
        lags.append(own)
    return lags + seen


def read_listed_replica(engine, module_params: dict, entry: dict, position: str | None = None) -> ReplicaLag:
    """One listed replica's own view, on a connection of its own; "unreachable" (naming the error, no secret) when it
    cannot be reached. With the primary's `position` (MySQL/MariaDB), also whether the replica applies it within
    max_replication_lag_seconds: its seconds behind read about 0 while it replays a long index build."""
    from ansible.module_utils.safeindex.core.errors import SafeIndexError

    name = replica_name(entry)
    try:
        replica = open_replica(engine, module_params, entry)
    except SafeIndexError as exc:
        return ReplicaLag(name=name, source="replica", state="unreachable", detail=_first_line(exc))
    try:
        view = replica.replica_own_view()
        limit = module_params.get("max_replication_lag_seconds")
        if position and limit is not None and view.get("sql_running") and not view.get("last_error"):
            view["applied_primary_position"] = replica.applied_position(position, limit)
    except SafeIndexError as exc:
        return ReplicaLag(name=name, source="replica", state="unknown",
                          detail="cannot read its replication status: %s" % _first_line(exc))
    finally:
        replica.close()
    state, detail = state_of_view(view)
    extra = {key: value for key, value in view.items()
             if key not in ("lag_seconds", "lag_bytes", "last_error") and value is not None}
    return ReplicaLag(name=name, source="replica", state=state, lag_seconds=view.get("lag_seconds"),
                      lag_bytes=view.get("lag_bytes"), detail=detail, extra=extra)


def open_replica(engine, module_params: dict, entry: dict):
    """A connected engine on the listed replica: the host's connection settings with the entry's host and port, and
    its user and password when it gives them."""
    from ansible.module_utils.safeindex.core.connection import connection_params
    from ansible.module_utils.safeindex.engines import open_engine

    overrides = {"db_host": entry.get("host"), "db_port": entry.get("port")}
    if entry.get("user"):
        overrides["db_user"] = entry["user"]
        overrides["db_password"] = entry.get("password")
    elif entry.get("password"):
        overrides["db_password"] = entry["password"]
    params = connection_params({**module_params, **{key: value for key, value in overrides.items() if value is not None}})
    return open_engine(params, application_name="safeindex replica lag")


def _primary_position(engine) -> str | None:
    from ansible.module_utils.safeindex.core.errors import SafeIndexError

    try:
        return engine.primary_position()
    except SafeIndexError:
        return None  # the seconds behind still speak


def replica_name(entry: dict) -> str:
    return str(entry.get("name") or "%s:%s" % (entry.get("host"), entry.get("port")))


def state_of_view(view: dict) -> tuple:
    """(state, detail) of a replica from its own view (engine.replica_own_view()): paused, in error, stopped, lag unknown
    while replicating, or streaming."""
    if not view.get("replicating", True):
        return "error", view.get("last_error") or "not a replica"
    if view.get("paused"):
        return "paused", "WAL replay is paused (pg_wal_replay_pause()): it receives but applies nothing"
    if view.get("last_error"):
        return "error", view["last_error"]
    if view.get("sql_running") is False:
        return "stopped", "its SQL thread is stopped: it applies nothing"
    if view.get("io_running") is False:
        state = view.get("io_state")
        return "stopped", "it does not receive from its primary (IO thread %s)" % (state or "not running")
    if view.get("lag_seconds") is None and view.get("lag_bytes") is None:
        return "unknown", "it replicates but does not say how far behind it is (seconds behind is NULL)"
    return "streaming", ""


def joined(primary: ReplicaLag, own: ReplicaLag) -> ReplicaLag:
    """One replica as both the primary and it see it: its own state when it has one to tell (paused, stopped, ...),
    the larger of the two lags. A standby's time since its last replay counts when the primary says it is behind. One
    that cannot be reached stays unreachable, with the primary's figures."""
    if own.state == "unreachable":
        # Listed to be read there: that it cannot be is the operator's to know, whatever the primary sees.
        return ReplicaLag(name=own.name, source="primary", state=own.state, lag_seconds=primary.lag_seconds,
                          lag_bytes=primary.lag_bytes, detail=own.detail, extra=dict(primary.extra))
    seconds = [v for v in (primary.lag_seconds, own.lag_seconds) if v is not None]
    if (primary.lag_bytes or 0) > IN_FLIGHT_BYTES and own.extra.get("seconds_since_replay") is not None:
        seconds.append(own.extra["seconds_since_replay"])
    behind = [v for v in (primary.lag_bytes, own.lag_bytes) if v is not None]
    state = own.state if own.state != "streaming" else primary.state
    return ReplicaLag(name=own.name, source="primary+replica", state=state, lag_seconds=max(seconds) if seconds else None,
                      lag_bytes=max(behind) if behind else None, detail=own.detail or primary.detail,
                      extra={**primary.extra, **own.extra})


def _from_primary(row: dict) -> ReplicaLag:
    extra = {key: value for key, value in row.items() if key not in ("name", "state", "lag_seconds", "lag_bytes", "detail")}
    return ReplicaLag(name=row["name"], source="primary", state=row.get("state") or "unknown",
                      lag_seconds=row.get("lag_seconds"), lag_bytes=row.get("lag_bytes"), detail=row.get("detail") or "",
                      extra=extra)


def _matching(seen: list, own: ReplicaLag):
    """The primary's row of this listed replica: by the name the primary knows it under (PostgreSQL's
    application_name), or the listed name."""
    names = {own.name, own.extra.get("primary_name")} - {None, ""}
    for lag in seen:
        if lag.extra.get("application_name") in names or lag.name in names:
            return lag
    return None


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
