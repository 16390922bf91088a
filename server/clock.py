"""The one place the server reads the time.

Every time-dependent function takes ``now`` as an argument; handlers, the dispatcher and the
command line get it from a ``Clock``. Production runs on the system clock. A test server may be
started at a set instant (``TEST_CLOCK``): its clock then reads that instant and advances from
it at the real rate, so timeouts, leases and backoffs behave as they would on that day.

``TEST_CLOCK`` is an ISO 8601 instant with its offset, optionally anchored to a reading of the
machine's monotonic clock (``2026-03-08T01:59:00-05:00@81234.5``): the moment the instant
holds. The monotonic clock is one for every process of the machine, so a test and the servers
and worker processes it starts all read the same time. Without an anchor, the clock reads the
instant when the process reads the setting (``checkin serve`` anchors it for its workers).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import msgspec

Clock = Callable[[], datetime]


class SetClock(msgspec.Struct, frozen=True):
    instant: datetime  # aware
    anchor: float | None  # time.monotonic() when the instant holds


def system_clock() -> datetime:
    return datetime.now(UTC)


def parse_set_clock(value: str) -> SetClock:
    """``instant[@monotonic]``; ValueError says what is wrong."""
    text, _, anchor = value.strip().partition("@")
    try:
        instant = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError("must be an ISO 8601 instant, like 2026-03-08T01:59:00-05:00") from None
    if instant.tzinfo is None:
        raise ValueError("must carry its UTC offset, like 2026-03-08T01:59:00-05:00")
    if not anchor:
        return SetClock(instant, None)
    try:
        return SetClock(instant, float(anchor))
    except ValueError:
        raise ValueError("after @ comes a reading of the monotonic clock, in seconds") from None


def anchored(value: str) -> str:
    """The setting anchored now, unless it already is (for processes started after this)."""
    return value if parse_set_clock(value).anchor is not None else f"{value}@{time.monotonic()}"


def clock_from(start: datetime, anchor: float | None = None) -> Clock:
    """A clock that reads ``start`` at monotonic time ``anchor`` (default: now) and advances
    from there at the real rate."""
    origin = time.monotonic() if anchor is None else anchor
    start = start.astimezone(UTC)

    def now() -> datetime:
        return start + timedelta(seconds=time.monotonic() - origin)

    return now


def server_clock(test_clock: str | None) -> Clock:
    """The system clock, or the set one a test asked for (Settings.test_clock)."""
    if test_clock is None:
        return system_clock
    setting = parse_set_clock(test_clock)
    return clock_from(setting.instant, setting.anchor)
