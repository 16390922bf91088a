"""The one place the server reads the time.

Every time-dependent function takes ``now`` as an argument; handlers, the dispatcher and the
command line get it from a ``Clock``. Production runs on the system clock. A test server may be
started at a set instant (``TEST_CLOCK``): its clock then starts there and advances at the
real rate, so timeouts, leases and backoffs behave as they would on that day.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from server.settings import Settings

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


def clock_from(start: datetime) -> Clock:
    """A clock that reads ``start`` now and advances from there at the real rate."""
    origin = time.monotonic()
    start = start.astimezone(UTC)

    def now() -> datetime:
        return start + timedelta(seconds=time.monotonic() - origin)

    return now


def server_clock(settings: Settings) -> Clock:
    if settings.test_clock is None:
        return system_clock
    return clock_from(settings.test_clock)
