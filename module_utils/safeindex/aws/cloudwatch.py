"""CloudWatch metrics of an RDS instance or Aurora cluster, before the run against the monitoring window.

Missing data is not a failure: the value is None and a note says why (CloudWatch publishes RDS
metrics a minute or so late, and a window shorter than the period may hold no datapoint).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

RDS_METRICS = ["CPUUtilization", "ReadLatency", "WriteLatency", "DatabaseConnections"]


def parse_time(value: datetime | str | float) -> datetime:
    """A timestamp given as epoch seconds or ISO 8601 (no zone means UTC), as an aware datetime."""
    if isinstance(value, datetime):
        moment = value
    else:
        text = str(value).strip()
        try:
            return datetime.fromtimestamp(float(text), UTC)
        except ValueError:
            moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def dimension(instance_id: str | None, cluster_id: str | None) -> dict:
    if instance_id:
        return {"Name": "DBInstanceIdentifier", "Value": instance_id}
    return {"Name": "DBClusterIdentifier", "Value": cluster_id}


def average(cloudwatch: Any, metric: str, dim: dict, start: datetime, end: datetime, period: int) -> tuple:
    """(mean over the window, unit) or (None, None) when CloudWatch has no datapoint in it."""
    points = cloudwatch.get_metric_statistics(
        Namespace="AWS/RDS", MetricName=metric, Dimensions=[dim], StartTime=start, EndTime=end, Period=period,
        Statistics=["Average", "Sum", "SampleCount"],
    )["Datapoints"]
    if not points:
        return None, None
    unit = points[0].get("Unit")
    samples = sum(p.get("SampleCount") or 0 for p in points)
    if samples and all("Sum" in p for p in points):
        mean = sum(p["Sum"] for p in points) / samples
    else:
        mean = sum(p["Average"] for p in points) / len(points)
    return round(mean, 6), unit


def compare(cloudwatch: Any, dim: dict, metrics: list, before: tuple, after: tuple, period: int) -> dict:
    """{metric: {before, after, unit, change_percent, note}} for windows before=(start, end) and after=(start, end)."""
    compared = {}
    for metric in metrics:
        entry = {"before": None, "after": None, "unit": None, "change_percent": None, "note": None}
        notes = []
        for key, (start, end) in (("before", before), ("after", after)):
            try:
                value, unit = average(cloudwatch, metric, dim, start, end, period)
            except Exception as exc:  # botocore's errors: no credentials, access denied, throttled past the retries
                notes.append("%s: could not read (%s)" % (key, exc))
                continue
            entry[key] = value
            entry["unit"] = entry["unit"] or unit
            if value is None:
                notes.append("%s: no data from %s to %s" % (key, isoformat(start), isoformat(end)))
        if entry["before"] not in (None, 0) and entry["after"] is not None:
            entry["change_percent"] = round((entry["after"] - entry["before"]) * 100.0 / entry["before"], 1)
        entry["note"] = "; ".join(notes) or None
        compared[metric] = entry
    return compared


def windows(run_started: datetime | str | float, baseline_seconds: float, monitor_started: datetime | str | float,
            monitor_ended: datetime | str | float | None = None) -> tuple:
    """The baseline (the baseline_seconds before the run started) and the monitoring window."""
    run_started = parse_time(run_started)
    ended = parse_time(monitor_ended) if monitor_ended else datetime.now(UTC)
    return (run_started - timedelta(seconds=baseline_seconds), run_started), (parse_time(monitor_started), ended)


def isoformat(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
