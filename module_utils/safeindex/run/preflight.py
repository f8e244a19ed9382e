"""The runbook's checklist, one row per check: {check, result (ok, warn, fail, skip), detail}.

Each check is written once; the engine answers the engine-specific questions. A check that cannot
be made says so (warn or skip) rather than pass in silence.
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, datetime, timedelta

from ansible.module_utils.safeindex.core.errors import SafeIndexError
from ansible.module_utils.safeindex.run import hooks, window

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def row(check, result, detail) -> dict:
    return {"check": check, "result": result, "detail": detail}


def table(rows) -> list:
    """The rows as lines to print: check, result, detail."""
    width = max([len(r["check"]) for r in rows] + [5])
    return ["%-*s  %-6s %s" % (width, "check", "result", "detail")] + [
        "%-*s  %-6s %s" % (width, r["check"], r["result"].upper() if r["result"] in ("fail", "warn") else r["result"], r["detail"])
        for r in rows
    ]


def guarded(check, function, *arguments) -> dict:
    """Run one check; an error while checking is that check's failure, not the end of the others."""
    try:
        return function(*arguments)
    except SafeIndexError as exc:
        return row(check, "fail", "could not check: %s" % exc)


def server_version(engine, minimum, version_tuple) -> dict:
    version = engine.server_version()
    if version_tuple(version) >= version_tuple(minimum):
        return row("server version", "ok", version)
    return row("server version", "fail", "%s is older than %s, the oldest this tool builds online on" % (version, minimum))


def privileges(engine, schema, tables) -> dict:
    if not tables:
        return row("privileges", "skip", "no tables to check (the index spec did not load)")
    problems = engine.index_privilege_problems(schema, tables)
    if problems:
        return row("privileges", "fail", "%s may not create indexes on: %s" % (
            engine.params.user, "; ".join("%s (%s)" % (table, why) for table, why in sorted(problems.items()))))
    return row("privileges", "ok", "%s may create indexes on all %d tables of the spec" % (engine.params.user, len(tables)))


def maintenance_window(setting, ignore, now=None) -> dict:
    if not setting:
        return row("maintenance window", "skip", "no maintenance_window set")
    open_now, why = window.is_open(setting, now)
    if open_now:
        return row("maintenance window", "ok", why)
    if ignore:
        return row("maintenance window", "warn", why + " (ignore_maintenance_window=true: going on anyway)")
    return row("maintenance window", "fail", why + " (the runbook: DO NOT run migrations during business hours;"
                                                   " -e ignore_maintenance_window=true to override)")


def active_connections(engine, maximum) -> dict:
    total, active = engine.connection_count()
    scope = engine.features.scope_of_connections(engine.params.database)
    detail = "%d sessions %s (%d active)" % (total, scope, active)
    if maximum is None:
        return row("active connections", "ok", detail + ", no max_active_connections set")
    if total > maximum:
        return row("active connections", "fail", "%s, more than max_active_connections %d: wait for a quieter moment" % (detail, maximum))
    return row("active connections", "ok", "%s, max %d" % (detail, maximum))


def long_transactions(engine, max_age, action) -> dict:
    from ansible.module_utils.safeindex.engines.base import describe_session

    sessions = engine.long_transactions(max_age)
    if not sessions:
        return row("long transactions", "ok", "none older than %gs" % max_age)
    listed = "; ".join(describe_session(s) for s in sessions[:10])
    return row("long transactions", "fail" if action == "fail" else "warn",
               "%d sessions in a transaction for more than %gs (they stall online index builds): %s" % (len(sessions), max_age, listed))


def replication_lag(engine, module_params: dict, listed: list, max_seconds, max_bytes, to_build=(),
                    build_bytes_per_second=None) -> dict:
    """Every replica's lag (run/replica_lag.py: the primary's view joined with each listed replica's own), against the
    thresholds; a replica that is paused, stopped, in error or unreachable fails on its own. Where replicas apply a build
    only after the primary finished it (MySQL/MariaDB), the longest build to come says how far they will fall behind."""
    from ansible.module_utils.safeindex.run.replica_lag import lag_problems, number_text, read_replica_lags

    check = "replication lag"
    try:
        lags = read_replica_lags(engine, module_params, listed)
    except SafeIndexError as exc:
        return row(check, "warn", "could not read the replicas: %s" % exc)
    limits = _lag_limits(max_seconds, max_bytes)
    problems = lag_problems(lags, max_seconds, max_bytes)
    if not lags:
        return row(check, "ok", "no replicas attached")
    parts = ["%d replicas: %s" % (len(lags), ", ".join(_lag_text(lag) for lag in lags))]
    if limits:
        parts.append(limits)
    if problems:
        return row(check, "fail", "; ".join(problems + parts))
    features = engine.features
    unknown = [lag for lag in lags if lag.state == "unknown" or (lag.lag_seconds is None and lag.lag_bytes is None)]
    result = "ok"
    if unknown and not listed and not features.lag_seen_from_primary:
        result = "warn"
        parts = ["%d replicas connected (binlog dump threads) whose lag cannot be checked from the primary: list them in"
                 " the `replicas` inventory setting ([{host, port}]) so preflight reads each one's own lag" % len(unknown)]
    elif unknown:
        result = "warn"
        parts.append("lag unknown for %s" % "; ".join("%s (%s)" % (lag.name, lag.detail or "not said") for lag in unknown))
    longest = longest_build_seconds(engine, to_build, build_bytes_per_second) if features.replica_lags_by_build_time else None
    if longest is not None:
        parts.append("each replica will lag about as long as each build; the largest here is about %.0f s" % longest)
        if max_seconds is not None and longest > max_seconds:
            result = "warn"
            parts.append("more than max_replication_lag_seconds %s s" % number_text(max_seconds))
    return row(check, result, "; ".join(parts))


def longest_build_seconds(engine, to_build, build_bytes_per_second) -> float | None:
    """The longest build to come, at the assumed build speed (run/server_checks.py's estimate: the table's bytes);
    None with nothing to build."""
    from ansible.module_utils.safeindex.run.server_checks import online_log_estimate

    if not to_build or not build_bytes_per_second:
        return None
    return max(online_log_estimate(0, engine.table_bytes(schema, definition.table), 0, build_bytes_per_second)
               ["build_seconds"] for schema, definition in to_build)


def _lag_text(lag) -> str:
    figures = []
    if lag.lag_seconds is not None:
        figures.append("%.1f s" % lag.lag_seconds)
    if lag.lag_bytes is not None:
        figures.append("%s behind" % _size(lag.lag_bytes))
    return "%s %s%s" % (lag.name, lag.state, " (%s)" % ", ".join(figures) if figures else "")


def _lag_limits(max_seconds, max_bytes) -> str:
    from ansible.module_utils.safeindex.run.replica_lag import number_text

    limits = []
    if max_seconds is not None:
        limits.append("max_replication_lag_seconds %s s" % number_text(max_seconds))
    if max_bytes is not None:
        limits.append("max_replication_lag_bytes %d" % max_bytes)
    return "limits: " + ", ".join(limits) if limits else ""


def leftovers(engine, equivalents) -> dict:
    invalid = engine.invalid_indexes()
    parts = []
    if invalid:
        parts.append("INVALID leftovers of failed builds: %s (a spec index among them is rebuilt by this run)" % ", ".join(invalid))
    if equivalents:
        parts.append("equal to a spec index under another name (not built twice): %s" % ", ".join(
            "%s = %s" % (existing, wanted) for wanted, existing in sorted(equivalents.items())))
    if parts:
        return row("invalid and duplicate indexes", "warn", "; ".join(parts))
    return row("invalid and duplicate indexes", "ok", "none")


def disk_space(engine, to_build, headroom, rds_instance_id=None, rds_cluster_id=None, free_bytes=None, cloudwatch=None) -> dict:
    """The indexes to build (estimated) times the headroom, against the free space where the data lives."""
    needed = sum(engine.estimated_index_bytes(schema, definition) for schema, definition in to_build)
    wanted = int(needed * headroom)
    detail = "%d indexes to build, about %s (x%s headroom: %s)" % (len(to_build), _size(needed), headroom, _size(wanted))
    if not to_build:
        return row("disk space", "ok", "nothing to build")
    if rds_cluster_id:
        return row("disk space", "ok", detail + "; Aurora storage grows as it is needed")
    where = None
    if rds_instance_id:
        free_bytes, where = _cloudwatch_free_storage(cloudwatch, rds_instance_id)
    elif free_bytes is not None:
        where = "given free space"
    else:
        directory = engine.data_directory()
        if engine.params.host in LOOPBACK and directory and os.path.isdir(directory):
            free_bytes, where = shutil.disk_usage(directory).free, "df %s" % directory
    if free_bytes is None:
        return row("disk space", "warn", detail + "; could not read the free space (set rds_instance_id for RDS, or"
                                                  " db_free_bytes, or run where the data directory is visible)")
    if free_bytes < wanted:
        return row("disk space", "fail", "%s, but only %s free (%s)" % (detail, _size(free_bytes), where))
    return row("disk space", "ok", "%s; %s free (%s)" % (detail, _size(free_bytes), where))


def _cloudwatch_free_storage(cloudwatch, instance_id):
    if cloudwatch is None:
        raise SafeIndexError("no CloudWatch client")
    now = datetime.now(UTC)
    try:
        points = cloudwatch.get_metric_statistics(
            Namespace="AWS/RDS", MetricName="FreeStorageSpace", Dimensions=[{"Name": "DBInstanceIdentifier", "Value": instance_id}],
            StartTime=now - timedelta(minutes=30), EndTime=now, Period=60, Statistics=["Minimum"],
        )["Datapoints"]
    except Exception as exc:  # botocore's errors: no credentials, access denied, throttled or timed out past the retries
        raise SafeIndexError("CloudWatch FreeStorageSpace of %s at %s: %s" % (instance_id, cloudwatch.meta.endpoint_url, exc)) from None
    if not points:
        return None, "CloudWatch has no FreeStorageSpace for %s in the last 30 minutes" % instance_id
    latest = max(points, key=lambda p: p["Timestamp"])
    return int(latest["Minimum"]), "CloudWatch FreeStorageSpace of %s" % instance_id


def client_tools(engine, bin_dir) -> dict:
    """The dump client the backup will use for this server and why (the engine's dumper chooses it)."""
    from ansible.module_utils.safeindex.backup.clients import ClientError
    from ansible.module_utils.safeindex.engines import dumper_for

    server_version = engine.server_version()
    try:
        chosen = dumper_for(engine.params, bin_dir, server_version=server_version).client_choice(server_version)
    except ClientError as exc:  # checked, and none fits: a refusal that says why, not a check that could not be made
        return row("client tools", "fail", str(exc))
    return row("client tools", "ok", chosen["detail"])


def deployment(setting) -> dict:
    if not setting:
        return row("deployment", "skip", "no deployment_check set")
    outcome = hooks.run(setting)
    said = " (%s)" % outcome["output"] if outcome["output"] else ""
    code = "exit %s" % outcome["rc"] if "rc" in outcome else "HTTP %s" % outcome["status"]
    if outcome["ok"]:
        return row("deployment", "ok", "%s says no deployment is in progress (%s)" % (outcome["what"], code))
    return row("deployment", "fail", "%s says a deployment is in progress or could not tell (%s)%s" % (outcome["what"], code, said))


def rehearsal(environment, fingerprint, engine, directory, skip) -> dict:
    if environment != "prod":
        return row("rehearsal", "skip", "environment_name is %s, not prod" % (environment or "unset"))
    if not fingerprint:
        return row("rehearsal", "fail", "the index spec did not load, so its rehearsal cannot be checked")
    record = rehearsal_record(directory, fingerprint, engine)
    if record is not None:
        return row("rehearsal", "ok", "spec %s rehearsed on %s by run %s (%s)" % (
            fingerprint[:12], record.get("host"), record.get("run_id"), record.get("finished")))
    why = ("spec %s has not passed the staging rehearsal on %s: run migrate.yml on the staging inventory (or molecule test) first"
           % (fingerprint[:12], engine))
    if skip:
        return row("rehearsal", "warn", why + " (skip_rehearsal_gate=true: going on anyway)")
    return row("rehearsal", "fail", why + "; -e skip_rehearsal_gate=true to override")


def rehearsal_path(directory, fingerprint, engine) -> str:
    return os.path.join(directory, "%s-%s.json" % (fingerprint, engine))


def write_rehearsal_record(directory, report, fingerprint) -> str:
    """A successful staging run vouches for its spec: the record a prod run's rehearsal gate looks for."""
    from ansible.module_utils.safeindex.core.files import write_private
    from ansible.module_utils.safeindex.run.estimates import rehearsal_rates

    path = rehearsal_path(directory, fingerprint, report["engine"])
    write_private(path, {"fingerprint": fingerprint, "engine": report["engine"], "host": report["host"], "run_id": report["run_id"],
                         "finished": report["finished"], "status": report["status"],
                         "total_in_place": report["total_in_place"], "total_expected": report["total_expected"],
                         # Each build's measured rate, for the time estimates of later plans of this spec (run/estimates.py).
                         **rehearsal_rates(report)})
    return path


def rehearsal_record(directory, fingerprint, engine) -> dict | None:
    try:
        with open(rehearsal_path(directory, fingerprint, engine)) as handle:
            record = json.load(handle)
    except (OSError, ValueError):
        return None
    return record if record.get("status") == "success" and record.get("fingerprint") == fingerprint else None


def _size(count):
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if count < 1024 or unit == "TB":
            return "%.0f %s" % (count, unit) if unit == "B" else "%.1f %s" % (count, unit)
        count /= 1024.0
