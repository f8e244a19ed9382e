"""The maintenance window: days, start, end and time zone; a window may cross midnight.

A window belongs to the day it opens: {days: [fri], start: "22:00", end: "06:00"} is open from
Friday 22:00 to Saturday 06:00.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ansible.module_utils.safeindex.core.errors import SafeIndexError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class WindowError(SafeIndexError):
    """The maintenance_window setting cannot be understood."""


def parse(window: dict) -> tuple[list[int], time, time, ZoneInfo]:
    """(days as weekday numbers, start, end, zone) from the inventory's mapping."""
    if not isinstance(window, dict):
        raise WindowError("maintenance_window must be a mapping with days, start, end and timezone")
    unknown = sorted(set(window) - {"days", "start", "end", "timezone"})
    if unknown:
        raise WindowError("maintenance_window: unknown keys %s" % ", ".join(unknown))
    days = window.get("days") or list(DAYS)
    if isinstance(days, str):
        days = [d.strip() for d in days.split(",")]
    try:
        weekdays = sorted({DAYS.index(str(d).strip().lower()[:3]) for d in days})
    except ValueError:
        raise WindowError("maintenance_window.days must name days of the week (mon, tue, ...), not %r" % (days,)) from None
    try:
        zone = ZoneInfo(window.get("timezone") or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        raise WindowError("maintenance_window.timezone %r is not a known time zone (e.g. Europe/Berlin)" % window.get("timezone")) from None
    return weekdays, _clock(window.get("start"), "start"), _clock(window.get("end"), "end"), zone


def _clock(value, name):
    try:
        hours, minutes = str(value).split(":")
        return time(int(hours), int(minutes))
    except (ValueError, TypeError):
        raise WindowError("maintenance_window.%s must be HH:MM, not %r" % (name, value)) from None


def is_open(window: dict, now: datetime | None = None) -> tuple[bool, str]:
    """(open?, a sentence that says why) for `now` (an aware datetime; the current time by default)."""
    weekdays, start, end, zone = parse(window)
    local = (now or datetime.now(zone)).astimezone(zone)
    today, clock = local.weekday(), local.time().replace(second=0, microsecond=0)
    if start < end:
        open_now = today in weekdays and start <= clock < end
    elif start > end:  # crosses midnight: the part after midnight belongs to yesterday's window
        open_now = (today in weekdays and clock >= start) or ((today - 1) % 7 in weekdays and clock < end)
    else:  # start == end: the whole day
        open_now = today in weekdays
    described = describe(window)
    when = "%s %s" % (DAYS[today].capitalize(), local.strftime("%H:%M %Z"))
    if open_now:
        return True, "now (%s) is inside the window %s" % (when, described)
    return False, "now (%s) is outside the window %s; it next opens %s" % (when, described, next_opening(weekdays, start, local))


def describe(window: dict) -> str:
    weekdays, start, end, zone = parse(window)
    days = "every day" if len(weekdays) == 7 else ",".join(DAYS[d].capitalize() for d in weekdays)
    return "%s %s-%s %s" % (days, start.strftime("%H:%M"), end.strftime("%H:%M"), zone.key)


def next_opening(weekdays: list[int], start: time, local: datetime) -> str:
    for ahead in range(0, 8):
        day = local + timedelta(days=ahead)
        opening = day.replace(hour=start.hour, minute=start.minute, second=0, microsecond=0)
        if day.weekday() in weekdays and opening > local:
            return opening.strftime("%a %Y-%m-%d %H:%M %Z")
    return "never"
