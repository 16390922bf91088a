"""Build clinics, coordinators and enrolled patients through the real services and API."""

from __future__ import annotations

import itertools
import secrets
import uuid
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from server import db
from server.clinics import service as clinics
from server.clinics.schemas import Clinic
from server.patients import service as patients
from server.patients.schemas import NewPatient, PatientCreated
from server.settings import Settings
from tests.support.clock import now

_ip_counter = itertools.count(1)


def client_ip() -> str:
    """A distinct client address per call (TEST-NET ranges; only ever a header value)."""
    n = next(_ip_counter)
    return f"2001:db8:{n // 65536:x}:{n % 65536:x}::1"


async def make_clinic(pool: db.Pool, timezone: str = "America/New_York") -> Clinic:
    async with pool.acquire() as conn:
        return await clinics.create_clinic(
            conn, f"Clinic {secrets.token_hex(3)}", timezone, now=now()
        )


async def weekly_elsewhere(pool: db.Pool, clinic_id: uuid.UUID, zone: str) -> None:
    """Move the clinic's weekly check-in so none is open now in ``zone``: it opens three days
    from today, and the last one closed two days ago (its window is 48 hours). For tests of
    the daily check-in alone, whatever the weekday."""
    weekday = (now().astimezone(ZoneInfo(zone)) + timedelta(days=3)).isoweekday()
    await pool.execute("update clinic set weekly_weekday = $2 where id = $1", clinic_id, weekday)


async def make_coordinator(pool: db.Pool, clinic_id: uuid.UUID, role: str = "coordinator") -> str:
    """A coordinator of the clinic; returns an API token for them."""
    async with pool.acquire() as conn:
        coordinator = await clinics.create_coordinator(
            conn,
            clinic_id=clinic_id,
            email=f"c-{secrets.token_hex(4)}@clinic.test",
            display_name="Test Coordinator",
            role=role,
            password=secrets.token_urlsafe(16),
            now=now(),
        )
        issued = await clinics.issue_api_token(conn, coordinator.email, "test", now=now())
    return issued.token


async def make_patient(
    pool: db.Pool, settings: Settings, clinic_id: uuid.UUID, **fields: Any
) -> PatientCreated:
    values: dict[str, Any] = {"display_name": "Pat", "timezone": "America/New_York"} | fields
    async with pool.acquire() as conn:
        return await patients.create_patient(
            conn,
            settings,
            clinic_id,
            NewPatient(**values),
            actor_kind="operator",
            actor_id=None,
            now=now(),
        )


async def new_code(
    pool: db.Pool, settings: Settings, clinic_id: uuid.UUID, patient_id: uuid.UUID
) -> PatientCreated:
    """Another enrollment code for an existing patient, as an operator would issue it."""
    async with pool.acquire() as conn:
        return await patients.new_code(
            conn, settings, clinic_id, patient_id, actor_kind="operator", actor_id=None, now=now()
        )


async def enroll(http: httpx.AsyncClient, code: str) -> str:
    response = await http.post(
        "/api/enroll", json={"code": code}, headers={"X-Forwarded-For": client_ip()}
    )
    assert response.status_code == 201, response.text
    token: str = response.json()["device_token"]
    return token


async def enrolled_patient(
    pool: db.Pool, settings: Settings, http: httpx.AsyncClient, clinic_id: uuid.UUID, **fields: Any
) -> tuple[PatientCreated, dict[str, str]]:
    """A patient with an enrolled device; returns the patient and auth headers."""
    created = await make_patient(pool, settings, clinic_id, **fields)
    token = await enroll(http, created.enrollment_code)
    return created, {"Authorization": f"Bearer {token}"}


def daily_answers(pain: Any = 5, fatigue: Any = 3) -> dict[str, Any]:
    return {"pain_now": pain, "pain_avg_24h": 5, "fatigue": fatigue, "sleep_quality": 6}


def checkin_body(pain: Any = 5, fatigue: Any = 3, **extra: Any) -> dict[str, Any]:
    """A valid daily check-in (the newest version)."""
    return {
        "id": str(uuid.uuid4()),
        "answered_at": now().isoformat(),
        "answers": daily_answers(pain, fatigue),
    } | extra


async def open_window_now(
    pool: db.Pool, patient_id: uuid.UUID, questionnaire: str = "daily"
) -> uuid.UUID:
    """The patient's one open window: opened an hour ago (the planned ones that are open or
    share its day make way)."""
    opens = now() - timedelta(hours=1)
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "delete from checkin_due d where d.patient_id = $1"
            " and (d.status = 'open' and d.opens_at <= $4"
            "      or d.questionnaire = $2 and d.local_date = $3)"
            " and not exists (select 1 from checkin k where k.due_id = d.id)",
            patient_id, questionnaire, opens.date(), now(),
        )  # fmt: skip
        window: uuid.UUID = await conn.fetchval(
            "insert into checkin_due (patient_id, questionnaire, local_date, opens_at, closes_at)"
            " values ($1, $2, $3, $4, $5) returning id",
            patient_id, questionnaire, opens.date(), opens, opens + timedelta(hours=12),
        )  # fmt: skip
    return window


async def add_window(
    pool: db.Pool, patient_id: uuid.UUID, days_ago: int, status: str, hours_open: float = 12
) -> None:
    """A daily window of the patient's that many days ago, in that state."""
    opens = now() - timedelta(days=days_ago, hours=hours_open + 1)
    if status == "open":
        opens = now() - timedelta(hours=hours_open)
    await pool.execute(
        "insert into checkin_due (patient_id, questionnaire, local_date, opens_at, closes_at,"
        " status, completed_at) values ($1, 'daily', $2, $3, $4, $5::due_status,"
        " case when $5 = 'completed' then $4::timestamptz end)",
        patient_id,
        (now() - timedelta(days=days_ago)).date(),
        opens,
        opens + timedelta(hours=hours_open if status != "open" else hours_open + 12),
        status,
    )
