"""The tests' clock: every test reads the time here, and the suite can be run at a set instant.

``pytest --instant NAME`` (or an ISO 8601 instant with an offset) moves the whole run to that
instant, and time then advances at the real rate:

- this process: ``time-machine`` travels there (``datetime.now``, ``time.time``; monotonic
  time stays real, so timeouts and sleeps are unchanged), and ``TZ`` is set to the instant's
  zone, so nothing may lean on the machine's zone;
- every server and command line the tests start: ``TEST_CLOCK`` (``tests.support.live.clean_env``),
  which ``server/clock.py`` starts its clock from;
- every browser context: Playwright's clock and ``timezone_id`` (``tests/e2e/conftest.py``);
- PostgreSQL cannot be moved: tests pass instants to SQL instead of calling ``now()``
  (``tests/test_clock_guard.py`` keeps it so).

The date-sensitive tests carry the ``dated`` marker; ``make test`` runs them at every instant in
``INSTANTS`` after the whole suite.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import msgspec
import time_machine


class Instant(msgspec.Struct, frozen=True):
    name: str
    at: datetime  # aware
    zone: str  # the browser's and the test process's zone at this instant
    why: str


def _at(local: str, zone: str) -> datetime:
    """A local wall-clock time in ``zone`` (first occurrence in a fold) as an aware instant."""
    return datetime.fromisoformat(local).replace(tzinfo=ZoneInfo(zone))


INSTANTS: dict[str, Instant] = {
    i.name: i
    for i in (
        Instant(
            "sunday",
            _at("2026-12-06T16:00", "America/New_York"),
            "America/New_York",
            "the weekly window opens on Sundays: two check-ins are due",
        ),
        Instant(
            "monday",
            _at("2026-12-07T08:30", "America/New_York"),
            "America/New_York",
            "the first day of the week, the weekly window from Sunday still open",
        ),
        Instant(
            "us-spring-forward",
            _at("2026-03-08T03:30", "America/New_York"),
            "America/Chicago",
            "New York has just jumped from 02:00 to 03:00: a 23-hour day",
        ),
        Instant(
            "us-fall-back",
            _at("2026-11-01T01:20", "America/New_York"),
            "America/Los_Angeles",
            "the first 01:20 of the hour New York lives twice: a 25-hour day",
        ),
        Instant(
            "eu-spring-forward",
            _at("2026-03-29T03:10", "Europe/Madrid"),
            "Europe/Madrid",
            "Europe has just jumped an hour forward (01:00 UTC)",
        ),
        Instant(
            "eu-fall-back",
            _at("2026-10-25T01:40", "Europe/London"),
            "Europe/London",
            "the first 01:40 of the hour London lives twice",
        ),
        Instant(
            "late-evening",
            _at("2026-12-08T23:59", "America/New_York"),
            "Pacific/Kiritimati",
            "one minute to midnight where most test patients live: the date changes mid-run",
        ),
    )
}

_current: Instant | None = None
_moved = 0  # blocks of moved_to() running


def now() -> datetime:
    """The tests' time: the set instant, advancing, or the real time when none is set."""
    return datetime.now(UTC)


def current() -> Instant | None:
    return _current


def parse(value: str) -> Instant:
    """An instant by name, or an ISO 8601 instant with an offset (its zone then UTC)."""
    if value in INSTANTS:
        return INSTANTS[value]
    try:
        at = datetime.fromisoformat(value.partition("@")[0])
    except ValueError:
        at = None
    if at is None or at.tzinfo is None:
        names = ", ".join(INSTANTS)
        raise ValueError(f"--instant takes one of {names}, or an ISO 8601 instant with an offset")
    return Instant(value, at, "UTC", "given on the command line")


def travel(instant: Instant) -> None:
    """Move this process (and what it starts from now on) to ``instant``, once per run."""
    global _current
    time_machine.travel(instant.at, tick=True).start()
    os.environ["TZ"] = instant.zone
    time.tzset()
    _current = instant


@contextmanager
def moved_to(at: datetime) -> Iterator[None]:
    """This process at ``at`` for the block, advancing; what it starts meanwhile starts there
    too. For a test whose own server must begin at a particular moment (a fresh throttle
    window, say)."""
    global _moved
    with time_machine.travel(at, tick=True):
        _moved += 1
        try:
            yield
        finally:
            _moved -= 1


def server_env() -> dict[str, str]:
    """The settings that start a server or command at the tests' time, when it is set."""
    if _current is None and not _moved:
        return {}
    # Anchored to the monotonic clock, which every process of the machine shares: a server
    # that takes seconds to start still reads the same time as this process.
    return {"TEST_CLOCK": f"{now().isoformat()}@{time.monotonic()}"}


if __name__ == "__main__":  # the names, for the Makefile's loop
    print(" ".join(INSTANTS))
