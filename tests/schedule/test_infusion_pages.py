"""The dashboard's infusion forms read a datetime-local field as the clinic's wall clock, with
the schedule's one rule for clock changes (server/schedule/windows.py local_instant): a time the
clocks skip moves forward to the first valid instant, a time they show twice is the first."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest

from server import db
from server.errors import Invalid
from server.schedule.pages import local_time
from server.settings import Settings
from tests.support.clock import now
from tests.support.factories import client_ip, make_clinic, make_patient
from tests.support.live import ServerProcess
from tests.support.staff import make_staff, signed_in

NEW_YORK = "America/New_York"


def test_a_skipped_time_moves_forward_and_a_repeated_one_is_the_first() -> None:
    # 2026-03-08: New York's clocks jump from 02:00 to 03:00 EST -> EDT.
    assert local_time("2026-03-08T02:30", NEW_YORK) == datetime(2026, 3, 8, 7, 0, tzinfo=UTC)
    # 2026-11-01: 01:00-02:00 happens twice; the first is EDT (UTC-4).
    assert local_time("2026-11-01T01:30", NEW_YORK) == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)
    assert local_time("2026-12-01T09:30", NEW_YORK) == datetime(2026, 12, 1, 14, 30, tzinfo=UTC)
    # A value that names its offset is taken as it is.
    assert local_time("2026-03-08T02:30+00:00", NEW_YORK) == datetime(2026, 3, 8, 2, 30, tzinfo=UTC)
    with pytest.raises(Invalid) as refused:
        local_time("next tuesday", NEW_YORK)
    assert refused.value.errors[0].field == "scheduled_at"


def _sunday(year: int, month: int, first_day: int) -> date:
    day = date(year, month, first_day)
    return day + timedelta(days=(6 - day.weekday()) % 7)


@pytest.fixture
async def browser(server: ServerProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=server.url, timeout=20.0, headers={"X-Forwarded-For": client_ip()}
    ) as client:
        yield client


async def test_the_page_schedules_on_the_clinics_clock_across_clock_changes(
    pool: db.Pool, settings: Settings, browser: httpx.AsyncClient
) -> None:
    # Next year's US clock changes: within the two years ahead an infusion may be booked.
    year = now().year + 1
    spring, autumn = _sunday(year, 3, 8), _sunday(year, 11, 1)  # second Sunday, first Sunday
    clinic = await make_clinic(pool, NEW_YORK)
    patient = await make_patient(pool, settings, clinic.id)
    csrf = await signed_in(browser, await make_staff(pool, clinic.id))
    path = f"/coordinator/patients/{patient.patient_id}/infusions"
    for wall, expected in (
        (f"{spring}T02:30", datetime.combine(spring, datetime.min.time(), UTC) + timedelta(hours=7)),
        (f"{autumn}T01:30", datetime.combine(autumn, datetime.min.time(), UTC) + timedelta(hours=5, minutes=30)),
    ):  # fmt: skip
        added = await browser.post(path, data={"csrf_token": csrf, "scheduled_at": wall})
        assert added.status_code == 302, added.text
        stored = await pool.fetchval(
            "select scheduled_at from infusion_session where patient_id = $1"
            " and scheduled_at::date between $2::date - 1 and $2::date + 1",
            patient.patient_id,
            date.fromisoformat(wall[:10]),
        )
        assert stored == expected, wall
    # Rescheduling reads the field the same way.
    session = await pool.fetchval(
        "select id from infusion_session where patient_id = $1 and scheduled_at = $2",
        patient.patient_id,
        datetime.combine(autumn, datetime.min.time(), UTC) + timedelta(hours=5, minutes=30),
    )
    moved = await browser.post(
        f"{path}/{session}",
        data={"csrf_token": csrf, "action": "reschedule", "scheduled_at": f"{spring}T02:15"},
    )
    assert moved.status_code == 302, moved.text
    at = await pool.fetchval("select scheduled_at from infusion_session where id = $1", session)
    assert at == datetime.combine(spring, datetime.min.time(), UTC) + timedelta(hours=7)
