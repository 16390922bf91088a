"""The server's clock: the system's, or for tests one that starts at a set instant and
advances at the real rate; never a set one on a server others can reach."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from server import db
from server.clock import server_clock, system_clock
from server.settings import Settings, SettingsError
from tests.conftest import MakeDatabase
from tests.support.clock import moved_to
from tests.support.factories import enrolled_patient, make_clinic
from tests.support.live import start_server

START = "2026-03-08T01:59:59-05:00"  # a second before New York's clocks jump


def test_without_a_setting_the_server_reads_the_system_clock() -> None:
    assert server_clock(Settings().test_clock) is system_clock


def test_a_set_clock_starts_at_the_instant_and_advances_at_the_real_rate() -> None:
    clock = server_clock(Settings.from_env({"TEST_CLOCK": START}).test_clock)
    first = clock()
    assert first.tzinfo is UTC
    assert (
        timedelta(0) <= first - datetime(2026, 3, 8, 6, 59, 59, tzinfo=UTC) < timedelta(seconds=1)
    )
    time.sleep(0.2)
    elapsed = clock() - first
    assert timedelta(seconds=0.2) <= elapsed < timedelta(seconds=1)


@pytest.mark.parametrize(
    "env",
    [
        {"HOST": "0.0.0.0"},  # noqa: S104 - the point of the test
        {"HOST": "10.1.2.3"},
        {"PUBLIC_URL": "https://checkin.example.org"},
        {"PUBLIC_URL": "http://checkin.example.org"},
    ],
    ids=["all-interfaces", "lan-address", "https-origin", "public-http-origin"],
)
def test_a_set_clock_is_refused_on_a_server_others_can_reach(env: dict[str, str]) -> None:
    with pytest.raises(SettingsError, match="TEST_CLOCK is for tests"):
        Settings.from_env({"TEST_CLOCK": START, **env})


@pytest.mark.parametrize(
    "value",
    ["2026-03-08T01:59:59", "yesterday", "2026-03-08T01:59:59-05:00@soon"],
    ids=["no-offset", "not-an-instant", "bad-anchor"],
)
def test_a_set_clock_is_checked(value: str) -> None:
    with pytest.raises(SettingsError, match="TEST_CLOCK is not valid"):
        Settings.from_env({"TEST_CLOCK": value})


def test_an_anchored_clock_reads_the_instant_at_its_anchor_in_every_process() -> None:
    """Anchored to the monotonic clock (one for every process of the machine), a clock made
    seconds later, as in a worker process that took long to start, reads the same time."""
    anchor = time.monotonic() - 5.0  # the instant held five seconds ago
    clock = server_clock(f"{START}@{anchor}")
    late = clock() - datetime(2026, 3, 8, 6, 59, 59, tzinfo=UTC)
    assert timedelta(seconds=5) <= late < timedelta(seconds=6)


async def test_a_server_started_at_an_instant_lives_there(make_database: MakeDatabase) -> None:
    """The whole stack at a set instant: the server plans the patient's days from it."""
    database = await make_database()
    with moved_to(datetime.fromisoformat(START)):
        server = start_server(database, DISPATCHER="false")
        try:
            settings = Settings(public_url=server.url)
            pool = await db.create_pool(settings, database)
            try:
                async with httpx.AsyncClient(base_url=server.url) as http:
                    clinic = await make_clinic(pool)
                    _, auth = await enrolled_patient(
                        pool, settings, http, clinic.id, reminder_time="09:00"
                    )
                    due = (await http.get("/api/checkins/due", headers=auth)).json()
            finally:
                await pool.close()
        finally:
            server.stop()
    # Nothing is open at 01:59 in New York; the next window opens at 09:00 that morning,
    # daylight time by then (13:00 UTC, not 14:00).
    assert due["items"] == []
    assert datetime.fromisoformat(due["next_opens_at"]) == datetime(2026, 3, 8, 13, tzinfo=UTC)
