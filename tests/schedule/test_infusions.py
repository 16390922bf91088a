"""Infusion sessions through the coordinator API, and the windows and reminders they plan."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from server import db
from server.schedule import service as schedule
from server.settings import Settings
from tests.support.factories import (
    checkin_body,
    enrolled_patient,
    make_clinic,
    make_coordinator,
    now,
    open_window_now,
)

pytestmark = pytest.mark.dated

NY = ZoneInfo("America/New_York")


async def _setup(
    pool: db.Pool, settings: Settings, http: httpx.AsyncClient, **fields: Any
) -> tuple[uuid.UUID, dict[str, str], dict[str, str]]:
    clinic = await make_clinic(pool)
    staff = {"Authorization": f"Bearer {await make_coordinator(pool, clinic.id)}"}
    patient, auth = await enrolled_patient(pool, settings, http, clinic.id, **fields)
    return patient.patient_id, auth, staff


def _local_day(offset: int) -> date:
    return now().astimezone(NY).date() + timedelta(days=offset)


def _at(day: date, clock: time) -> str:
    return datetime.combine(day, clock, tzinfo=NY).isoformat()


async def _windows(pool: db.Pool, patient_id: uuid.UUID) -> dict[date, dict[str, Any]]:
    """The daily or post-infusion window of each local day."""
    rows = await pool.fetch(
        "select id, questionnaire, local_date, status::text as status, session_id, opens_at"
        " from checkin_due where patient_id = $1 and questionnaire <> 'weekly'",
        patient_id,
    )
    by_day: dict[date, dict[str, Any]] = {}
    for row in rows:
        assert row["local_date"] not in by_day, f"two windows on {row['local_date']}"
        by_day[row["local_date"]] = dict(row)
    return by_day


async def test_enrollment_plans_fourteen_days_of_windows_with_reminders(
    pool: db.Pool, settings: Settings, http: httpx.AsyncClient
) -> None:
    patient_id, auth, _ = await _setup(pool, settings, http)
    due = (await http.get("/api/checkins/due", headers=auth)).json()
    soonest = await pool.fetchval(
        "select min(opens_at) from checkin_due where patient_id = $1 and opens_at > $2",
        patient_id,
        now(),
    )
    assert datetime.fromisoformat(due["next_opens_at"]) == soonest
    windows = await _windows(pool, patient_id)
    for offset in range(1, 15):
        window = windows[_local_day(offset)]
        assert window["questionnaire"] == "daily" and window["status"] == "open"
        assert window["opens_at"] == datetime.combine(_local_day(offset), time(18), tzinfo=NY)
    future = await pool.fetch(
        "select r.kind::text as kind, r.send_at, d.opens_at from reminder r"
        " join checkin_due d on d.id = r.due_id"
        " where r.patient_id = $1 and d.local_date = $2 and d.questionnaire = 'daily'",
        patient_id, _local_day(3),
    )  # fmt: skip
    sends = {r["kind"]: r["send_at"] - r["opens_at"] for r in future}
    assert sends == {"opening": timedelta(0), "nudge": timedelta(hours=4)}
    weekly = await pool.fetch(
        "select local_date from checkin_due where patient_id = $1 and questionnaire = 'weekly'",
        patient_id,
    )
    assert weekly and all(w["local_date"].isoweekday() == 7 for w in weekly)


async def test_sessions_replace_daily_windows_and_move_with_a_reschedule(
    pool: db.Pool, settings: Settings, http: httpx.AsyncClient
) -> None:
    patient_id, _, staff = await _setup(pool, settings, http)
    base = f"/api/coordinator/patients/{patient_id}/infusions"
    created = await http.post(
        base, json={"scheduled_at": _at(_local_day(1), time(10))}, headers=staff
    )
    assert created.status_code == 201, created.text
    session = created.json()
    assert session["status"] == "scheduled"

    windows = await _windows(pool, patient_id)
    for offset in (2, 3, 4):
        window = windows[_local_day(offset)]
        assert window["questionnaire"] == "post_infusion"
        assert str(window["session_id"]) == session["id"]
    assert windows[_local_day(1)]["questionnaire"] == "daily"
    assert windows[_local_day(5)]["questionnaire"] == "daily"
    post_reminders = await pool.fetchval(
        "select count(*) from reminder r join checkin_due d on d.id = r.due_id"
        " where d.patient_id = $1 and d.questionnaire = 'post_infusion' and r.status = 'pending'",
        patient_id,
    )
    assert post_reminders == 6

    moved = await http.patch(
        f"{base}/{session['id']}",
        json={"scheduled_at": _at(_local_day(5), time(9, 30))},
        headers=staff,
    )
    assert moved.status_code == 200, moved.text
    windows = await _windows(pool, patient_id)
    assert [windows[_local_day(d)]["questionnaire"] for d in range(1, 10)] == [
        "daily", "daily", "daily", "daily", "daily",
        "post_infusion", "post_infusion", "post_infusion", "daily",
    ]  # fmt: skip
    orphans = await pool.fetchval(
        "select count(*) from reminder r where r.patient_id = $1 and r.due_id is not null"
        " and not exists (select 1 from checkin_due d where d.id = r.due_id)",
        patient_id,
    )
    assert orphans == 0

    cancelled = await http.patch(
        f"{base}/{session['id']}", json={"status": "cancelled"}, headers=staff
    )
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    windows = await _windows(pool, patient_id)
    assert {w["questionnaire"] for w in windows.values()} == {"daily"}

    again = await http.patch(f"{base}/{session['id']}", json={"status": "completed"}, headers=staff)
    assert again.status_code == 409

    listed = await http.get(base, headers=staff)
    assert [s["status"] for s in listed.json()["items"]] == ["cancelled"]
    actions = await pool.fetch(
        "select action from audit_event where patient_id = $1 and action like 'infusion.%'"
        " order by id",
        patient_id,
    )
    assert [a["action"] for a in actions] == [
        "infusion.schedule",
        "infusion.reschedule",
        "infusion.cancelled",
        "infusion.list",
    ]


async def test_a_five_day_series_gives_one_window_a_day(
    pool: db.Pool, settings: Settings, http: httpx.AsyncClient
) -> None:
    patient_id, _, staff = await _setup(pool, settings, http)
    base = f"/api/coordinator/patients/{patient_id}/infusions"
    ids = []
    for day in range(1, 6):
        response = await http.post(
            base, json={"scheduled_at": _at(_local_day(day), time(9))}, headers=staff
        )
        assert response.status_code == 201
        ids.append(response.json()["id"])
    windows = await _windows(pool, patient_id)  # asserts one per day
    for day in range(2, 9):
        window = windows[_local_day(day)]
        assert window["questionnaire"] == "post_infusion"
        # The most recent infusion before the day owns its window.
        owner = ids[min(day - 2, 4)]
        assert str(window["session_id"]) == owner
    assert windows[_local_day(9)]["questionnaire"] == "daily"


async def test_an_answered_window_is_never_issued_again(
    pool: db.Pool, settings: Settings, http: httpx.AsyncClient
) -> None:
    patient_id, auth, staff = await _setup(pool, settings, http, timezone="UTC")
    due_id = await open_window_now(pool, patient_id)
    day = await pool.fetchval("select local_date from checkin_due where id = $1", due_id)
    posted = await http.post(
        "/api/checkins", json=checkin_body() | {"due_id": str(due_id)}, headers=auth
    )
    assert posted.status_code == 201
    # Move the reminder time and put an infusion on the day before: the answered day keeps
    # its one window, neither moved nor joined by a post-infusion one.
    later = (now() + timedelta(hours=2)).strftime("%H:%M")
    assert (
        await http.patch("/api/me", json={"reminder_time": later}, headers=auth)
    ).status_code == 200
    infusion = datetime.combine(day - timedelta(days=1), time(12), tzinfo=UTC).isoformat()
    response = await http.post(
        f"/api/coordinator/patients/{patient_id}/infusions",
        json={"scheduled_at": infusion},
        headers=staff,
    )
    assert response.status_code == 201
    rows = await pool.fetch(
        "select id, status::text as status from checkin_due"
        " where patient_id = $1 and local_date = $2 and questionnaire <> 'weekly'",
        patient_id, day,
    )  # fmt: skip
    assert [(r["id"], r["status"]) for r in rows] == [(due_id, "completed")]


async def test_quiet_hours_move_waiting_reminders(
    pool: db.Pool, settings: Settings, http: httpx.AsyncClient
) -> None:
    patient_id, auth, _ = await _setup(pool, settings, http, reminder_time="21:30")
    patch = await http.patch(
        "/api/me", json={"quiet_hours": {"start": "21:00", "end": "07:30"}}, headers=auth
    )
    assert patch.status_code == 200, patch.text
    rows = await pool.fetch(
        "select r.kind::text as kind, r.status::text as status, r.send_at, d.closes_at"
        " from reminder r join checkin_due d on d.id = r.due_id"
        " where d.patient_id = $1 and d.local_date = $2 and d.questionnaire = 'daily'",
        patient_id, _local_day(3),
    )  # fmt: skip
    by_kind = {r["kind"]: r for r in rows}
    # 21:30 and 01:30 are quiet: both would wait until 07:30 the next morning (the window,
    # 21:30 + 12 h, is still open then); one reminder at 07:30 says it, the nudge is dropped.
    expected = datetime.combine(_local_day(4), time(7, 30), tzinfo=NY)
    assert by_kind["opening"]["send_at"] == expected
    assert by_kind["opening"]["status"] == "pending"
    assert by_kind["nudge"]["status"] == "cancelled"

    patch = await http.patch(
        "/api/me", json={"quiet_hours": {"start": "21:00", "end": "09:45"}}, headers=auth
    )
    assert patch.status_code == 200
    rows = await pool.fetch(
        "select r.kind::text as kind, r.status::text as status, r.final_reason"
        " from reminder r join checkin_due d on d.id = r.due_id"
        " where d.patient_id = $1 and d.local_date = $2 and d.questionnaire = 'daily'",
        patient_id, _local_day(3),
    )  # fmt: skip
    # Quiet until after the window closes (09:30): nothing can go out.
    assert {(r["kind"], r["status"], r["final_reason"]) for r in rows} == {
        ("opening", "cancelled", "rescheduled"),
        ("nudge", "cancelled", "rescheduled"),
    }

    # Quiet hours cleared: both come back at their own times.
    patch = await http.patch("/api/me", json={"quiet_hours": None}, headers=auth)
    assert patch.status_code == 200
    rows = await pool.fetch(
        "select r.kind::text as kind, r.status::text as status, r.send_at"
        " from reminder r join checkin_due d on d.id = r.due_id"
        " where d.patient_id = $1 and d.local_date = $2 and d.questionnaire = 'daily'",
        patient_id, _local_day(3),
    )  # fmt: skip
    opening = datetime.combine(_local_day(3), time(21, 30), tzinfo=NY)
    assert {(r["kind"], r["status"], r["send_at"]) for r in rows} == {
        ("opening", "pending", opening),
        ("nudge", "pending", opening + timedelta(hours=4)),
    }


async def test_closed_windows_become_missed_and_two_in_a_row_raise_an_alert(
    pool: db.Pool, settings: Settings, http: httpx.AsyncClient
) -> None:
    patient_id, _, _ = await _setup(pool, settings, http)
    # Two past daily windows that nobody answered, with a reminder still waiting on the last.
    async with pool.acquire() as conn:
        ids = []
        for days_ago in (3, 2):
            opens = now() - timedelta(days=days_ago)
            ids.append(
                await conn.fetchval(
                    "insert into checkin_due (patient_id, questionnaire, local_date, opens_at,"
                    " closes_at) values ($1, 'daily', $2, $3, $4) returning id",
                    patient_id, _local_day(-days_ago - 30), opens, opens + timedelta(hours=12),
                )
            )  # fmt: skip
        waiting = await conn.fetchval(
            "insert into reminder (patient_id, due_id, kind, send_at, expires_at, next_attempt_at)"
            " values ($1, $2, 'nudge', $3, $4, $3) returning id",
            patient_id, ids[1], now() + timedelta(days=1), now() + timedelta(days=2),
        )  # fmt: skip
    assert await schedule.mark_missed(pool, now()) >= 2
    statuses = await pool.fetch(
        "select status::text as status from checkin_due where id = any($1::uuid[])", ids
    )
    assert {r["status"] for r in statuses} == {"missed"}
    reminder = await pool.fetchrow(
        "select status::text, final_reason from reminder where id = $1", waiting
    )
    assert tuple(reminder) == ("expired", "window_closed")
    alerts = await pool.fetch(
        "select kind::text as kind from alert where patient_id = $1 and status = 'open'", patient_id
    )
    assert [a["kind"] for a in alerts] == ["missed_twice"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"scheduled_at": "2026-12-01T10:00:00"}, "scheduled_at"),
        ({"scheduled_at": "2031-12-01T10:00:00Z"}, "scheduled_at"),
        ({"scheduled_at": "tomorrow"}, "scheduled_at"),
        ({"scheduled_at": "2026-12-01T10:00:00Z", "room": "4"}, "room"),
        ({}, "scheduled_at"),
    ],
)
async def test_bad_sessions_are_refused_naming_the_field(
    pool: db.Pool, settings: Settings, http: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    patient_id, _, staff = await _setup(pool, settings, http)
    response = await http.post(
        f"/api/coordinator/patients/{patient_id}/infusions", json=body, headers=staff
    )
    assert response.status_code in (400, 422), response.text
    assert field in response.text
    assert (
        await pool.fetchval(
            "select count(*) from infusion_session where patient_id = $1", patient_id
        )
        == 0
    )


async def test_a_change_must_say_what_changes(
    pool: db.Pool, settings: Settings, http: httpx.AsyncClient
) -> None:
    patient_id, _, staff = await _setup(pool, settings, http)
    base = f"/api/coordinator/patients/{patient_id}/infusions"
    session = (
        await http.post(base, json={"scheduled_at": _at(_local_day(2), time(9))}, headers=staff)
    ).json()
    for body in ({}, {"scheduled_at": _at(_local_day(3), time(9)), "status": "completed"}):
        response = await http.patch(f"{base}/{session['id']}", json=body, headers=staff)
        assert response.status_code == 422, response.text


async def test_sessions_of_another_clinic_or_patient_are_404(
    pool: db.Pool, settings: Settings, http: httpx.AsyncClient
) -> None:
    patient_id, _, staff = await _setup(pool, settings, http)
    other_patient, _, other_staff = await _setup(pool, settings, http)
    base = f"/api/coordinator/patients/{patient_id}/infusions"
    session = (
        await http.post(base, json={"scheduled_at": _at(_local_day(2), time(9))}, headers=staff)
    ).json()
    at = {"scheduled_at": _at(_local_day(4), time(9))}
    for method, path, body in (
        ("GET", base, None),
        ("POST", base, at),
        ("PATCH", f"{base}/{session['id']}", at),
    ):
        response = await http.request(method, path, json=body, headers=other_staff)
        assert response.status_code == 404, (method, path, response.text)
    # The session id under another patient of one's own clinic is not found either.
    response = await http.patch(
        f"/api/coordinator/patients/{other_patient}/infusions/{session['id']}",
        json=at,
        headers=other_staff,
    )
    assert response.status_code == 404
    stored = await pool.fetchval("select scheduled_at from infusion_session where id = $1",
                                 uuid.UUID(session["id"]))  # fmt: skip
    assert stored == datetime.fromisoformat(session["scheduled_at"])


async def test_protocol_changes_are_for_admins_and_replan_every_patient(
    pool: db.Pool, settings: Settings, http: httpx.AsyncClient
) -> None:
    clinic = await make_clinic(pool)
    staff = {"Authorization": f"Bearer {await make_coordinator(pool, clinic.id)}"}
    admin = {"Authorization": f"Bearer {await make_coordinator(pool, clinic.id, role='admin')}"}
    patient, _ = await enrolled_patient(pool, settings, http, clinic.id)
    shown = await http.get("/api/coordinator/clinic/protocol", headers=staff)
    assert shown.json() == {
        "daily_window_minutes": 720,
        "nudge_after_minutes": 240,
        "post_infusion_days": 3,
        "weekly_weekday": 7,
        "weekly_window_minutes": 2880,
    }
    change = {"daily_window_minutes": 360, "nudge_after_minutes": 60}
    refused = await http.patch("/api/coordinator/clinic/protocol", json=change, headers=staff)
    assert refused.status_code == 403
    bad = await http.patch(
        "/api/coordinator/clinic/protocol", json={"weekly_weekday": 8}, headers=admin
    )
    assert bad.status_code == 422 and "weekly_weekday" in bad.text

    changed = await http.patch("/api/coordinator/clinic/protocol", json=change, headers=admin)
    assert changed.status_code == 200, changed.text
    assert changed.json()["patients_to_replan"] == 1
    assert changed.json()["protocol"]["daily_window_minutes"] == 360

    # The live server's dispatcher is told to replan now and does so within seconds.
    day = _local_day(5)
    deadline = asyncio.get_running_loop().time() + 15
    while True:
        row = await pool.fetchrow(
            "select opens_at, closes_at from checkin_due where patient_id = $1"
            " and questionnaire = 'daily' and local_date = $2",
            patient.patient_id, day,
        )  # fmt: skip
        if row is not None and row["closes_at"] - row["opens_at"] == timedelta(hours=6):
            break
        assert asyncio.get_running_loop().time() < deadline, dict(row or {})
        await asyncio.sleep(0.1)
    nudge = await pool.fetchval(
        "select r.send_at - d.opens_at from reminder r join checkin_due d on d.id = r.due_id"
        " where d.patient_id = $1 and d.local_date = $2 and r.kind = 'nudge'",
        patient.patient_id, day,
    )  # fmt: skip
    assert nudge == timedelta(hours=1)
