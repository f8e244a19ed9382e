"""The maintenance window: inside or outside, crossing midnight, days and time zones."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from ansible.module_utils.safeindex.run.window import WindowError, is_open

BERLIN = ZoneInfo("Europe/Berlin")
NIGHTS = {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "22:00", "end": "06:00", "timezone": "Europe/Berlin"}


def at(*fields, zone=BERLIN):
    return datetime(*fields, tzinfo=zone)


@pytest.mark.parametrize(
    "now, expected",
    [
        (at(2026, 11, 23, 22, 0), True),    # Monday 22:00: opens
        (at(2026, 11, 24, 5, 59), True),    # Tuesday 05:59: Monday's window, after midnight
        (at(2026, 11, 24, 6, 0), False),    # Tuesday 06:00: closed
        (at(2026, 11, 24, 14, 30), False),  # business hours
        (at(2026, 11, 28, 2, 0), True),     # Saturday 02:00: Friday's window
        (at(2026, 11, 28, 23, 0), False),   # Saturday night: not a listed day
        (at(2026, 11, 23, 3, 0), False),    # Monday 03:00 would be Sunday's window: Sunday is not listed
    ],
)
def test_a_window_crossing_midnight_belongs_to_the_day_it_opens(now, expected):
    assert is_open(NIGHTS, now)[0] is expected


def test_the_time_zone_is_the_windows_not_the_controllers():
    # 21:30 UTC is 22:30 in Berlin (winter): inside.
    assert is_open(NIGHTS, at(2026, 11, 23, 21, 30, zone=ZoneInfo("UTC")))[0]


def test_the_answer_says_why_and_when_it_opens_next():
    open_now, why = is_open(NIGHTS, at(2026, 11, 24, 14, 30))
    assert not open_now
    assert "now (Tue 14:30 CET) is outside the window Mon,Tue,Wed,Thu,Fri 22:00-06:00 Europe/Berlin" in why
    assert "it next opens Tue 2026-11-24 22:00 CET" in why


def test_a_daytime_window_and_a_whole_day():
    lunch = {"start": "12:00", "end": "13:00", "timezone": "UTC"}
    assert is_open(lunch, at(2026, 11, 24, 12, 30, zone=ZoneInfo("UTC")))[0]
    assert not is_open(lunch, at(2026, 11, 24, 13, 0, zone=ZoneInfo("UTC")))[0]
    sunday = {"days": "sun", "start": "00:00", "end": "00:00", "timezone": "UTC"}
    assert is_open(sunday, at(2026, 11, 29, 15, 0, zone=ZoneInfo("UTC")))[0]


@pytest.mark.parametrize(
    "window, message",
    [
        ({"start": "25:00", "end": "06:00"}, "start must be HH:MM"),
        ({"start": "22:00"}, "end must be HH:MM"),
        ({"days": ["funday"], "start": "22:00", "end": "06:00"}, "days of the week"),
        ({"start": "22:00", "end": "06:00", "timezone": "Mars/Olympus"}, "not a known time zone"),
        ({"start": "22:00", "end": "06:00", "weekend": True}, "unknown keys weekend"),
        ("22:00-06:00", "must be a mapping"),
    ],
)
def test_a_bad_window_is_a_clear_error(window, message):
    with pytest.raises(WindowError, match=message):
        is_open(window)
