"""Due windows from a patient's local settings: pure functions, exact in every time zone.

A local wall-clock time that does not exist (the gap when clocks jump forward) moves forward to
the first instant that exists; an ambiguous one (the fold when clocks go back) takes its first
occurrence. Nothing here reads the clock: ``now`` is always an argument.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, available_timezones

import msgspec


class Window(msgspec.Struct, frozen=True):
    questionnaire: str
    local_date: date
    opens_at: datetime
    closes_at: datetime


# In the tz database but not places: their meaning depends on the host or on nothing at all.
NOT_ZONES = frozenset({"localtime", "Factory", "posixrules", "posix", "right"})
# Offsets named like POSIX ones ("GMT+0", "UTC-3"), which PostgreSQL reads with the sign
# reversed: the database's is_valid_timezone refuses them, and so does this.
POSIX_OFFSET = re.compile(r"(UTC|GMT)[+-]")


@lru_cache(maxsize=1)
def zone_names() -> frozenset[str]:
    """The time zones a patient or clinic may be in."""
    return frozenset(
        name
        for name in available_timezones()
        if name.split("/")[0] not in NOT_ZONES and not POSIX_OFFSET.match(name)
    )


def is_valid_zone(name: str) -> bool:
    return name in zone_names()


@lru_cache(maxsize=1024)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _wall(instant: datetime, tz: ZoneInfo) -> datetime:
    return instant.astimezone(tz).replace(tzinfo=None)


def local_instant(day: date, at: time, tz: ZoneInfo) -> datetime:
    """The UTC instant at which the local clock in ``tz`` shows ``at`` on ``day``."""
    wall = datetime.combine(day, at)
    first = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if _wall(first, tz) == wall:
        return first  # exists; in a fold, fold=0 is the first occurrence
    # In a gap. fold=0 reads the wall time with the offset from before the jump and fold=1
    # with the offset after it; the jump itself lies between the two readings. Find the
    # first instant whose local time is at or past ``wall``, to the second.
    second = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
    low, high = min(first, second), max(first, second)
    while high - low > timedelta(seconds=1):
        mid = low + (high - low) / 2
        if _wall(mid, tz) >= wall:
            high = mid
        else:
            low = mid
    return high.replace(microsecond=0)


def local_date(instant: datetime, tz: ZoneInfo) -> date:
    return instant.astimezone(tz).date()


def daily_window(day: date, reminder_time: time, tz: ZoneInfo, length: timedelta) -> Window:
    opens = local_instant(day, reminder_time, tz)
    return Window("daily", day, opens, opens + length)
