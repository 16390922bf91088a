"""Local times in every kind of time zone, checked against an independent computation."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from server.schedule.windows import daily_window, local_instant

ZONES = [
    "America/New_York",
    "Europe/London",
    "Australia/Lord_Howe",
    "Antarctica/Troll",
    "Africa/Casablanca",
    "Asia/Kolkata",
    "America/Santiago",
]
TIMES = [time(0, 0), time(0, 30), time(1, 30), time(2, 0), time(2, 30), time(8, 0), time(23, 59)]


def reference(day: date, at: time, tz: ZoneInfo) -> datetime:
    """Independent: walk UTC minutes (every offset lies within -12h..+14h) for the first instant
    whose local wall time is ``at`` on ``day``, or the first one after it if the clock skips it.
    A coarse 15-minute walk finds the quarter hour, a 1-minute walk the minute."""
    wall = datetime.combine(day, at)

    def reached(instant: datetime) -> bool:
        return instant.astimezone(tz).replace(tzinfo=None) >= wall

    instant = wall.replace(tzinfo=UTC) - timedelta(hours=15)
    while not reached(instant):
        instant += timedelta(minutes=15)
    instant -= timedelta(minutes=15)
    while not reached(instant):
        instant += timedelta(minutes=1)
    return instant


@pytest.mark.parametrize("zone_name", ZONES)
def test_local_instant_matches_reference_all_year(zone_name: str) -> None:
    tz = ZoneInfo(zone_name)
    day = date(2026, 1, 1)
    checked = 0
    while day.year == 2026:
        for at in TIMES:
            assert local_instant(day, at, tz) == reference(day, at, tz), (zone_name, day, at)
            checked += 1
        day += timedelta(days=3 if day.month not in (3, 4, 9, 10, 11) else 1)
    assert checked > 700


def test_gap_moves_forward_and_fold_takes_first() -> None:
    new_york = ZoneInfo("America/New_York")
    assert local_instant(date(2026, 3, 8), time(2, 30), new_york) == datetime(
        2026, 3, 8, 7, tzinfo=UTC
    )
    assert local_instant(date(2026, 11, 1), time(1, 30), new_york) == datetime(
        2026, 11, 1, 5, 30, tzinfo=UTC
    )
    lord_howe = ZoneInfo("Australia/Lord_Howe")  # 30-minute jump at 02:00 on 2026-10-04
    opened = local_instant(date(2026, 10, 4), time(2, 10), lord_howe)
    assert opened.astimezone(lord_howe).time() == time(2, 30)


def test_daily_window_has_clinic_length() -> None:
    window = daily_window(
        date(2026, 3, 8), time(18), ZoneInfo("America/New_York"), timedelta(hours=12)
    )
    assert window.opens_at == datetime(2026, 3, 8, 22, tzinfo=UTC)
    assert window.closes_at - window.opens_at == timedelta(hours=12)
