from __future__ import annotations

from datetime import datetime, timedelta

import httpx
import pytest

from server import db
from server.settings import Settings
from tests.support.clock import now
from tests.support.factories import enrolled_patient, make_clinic

pytestmark = pytest.mark.dated


async def test_profile_read_and_patch(
    pool: db.Pool, settings: Settings, http: httpx.AsyncClient
) -> None:
    clinic = await make_clinic(pool)
    patient, auth = await enrolled_patient(pool, settings, http, clinic.id, display_name="Iris")
    me = (await http.get("/api/me", headers=auth)).json()
    assert me["display_name"] == "Iris"
    assert me["clinic_name"] == clinic.name
    assert me["reminder_time"] == "18:00" and me["quiet_hours"] is None
    pause = (now() + timedelta(days=3)).replace(microsecond=0)
    changed = await http.patch(
        "/api/me",
        headers=auth,
        json={
            "reminder_time": "07:45",
            "quiet_hours": {"start": "22:00", "end": "07:00"},
            "language": "es",
            "timezone": "Australia/Lord_Howe",
            "reminders_paused_until": pause.isoformat(),
        },
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert body["reminder_time"] == "07:45"
    assert body["quiet_hours"] == {"start": "22:00", "end": "07:00"}
    assert body["language"] == "es" and body["timezone"] == "Australia/Lord_Howe"
    assert datetime.fromisoformat(body["reminders_paused_until"]) == pause
    # Sending only one field leaves the others; null clears.
    cleared = await http.patch("/api/me", headers=auth, json={"quiet_hours": None})
    assert cleared.json()["quiet_hours"] is None
    assert cleared.json()["reminder_time"] == "07:45"
    row = await pool.fetchrow("select * from patient where id = $1", patient.patient_id)
    assert row["quiet_start"] is None and row["language"] == "es"


async def test_profile_patch_rejects_bad_values(
    pool: db.Pool, settings: Settings, http: httpx.AsyncClient
) -> None:
    clinic = await make_clinic(pool)
    _, auth = await enrolled_patient(pool, settings, http, clinic.id)
    cases = [
        ({"timezone": "Mars/Olympus_Mons"}, "timezone", 422),
        ({"timezone": "+05:00"}, "timezone", 422),
        ({"reminder_time": "25:00"}, "reminder_time", 422),
        ({"reminder_time": "7pm"}, "reminder_time", 422),
        ({"quiet_hours": {"start": "22:00"}}, "quiet_hours", 422),
        ({"quiet_hours": {"start": "22:00", "end": "22:00"}}, "quiet_hours", 422),
        ({"language": "fr"}, "language", 422),
        ({"display_name": "Someone else"}, "display_name", 422),
        ({"reminders_paused_until": "2030-01-01T00:00:00Z"}, "reminders_paused_until", 422),
    ]
    for body, field, status in cases:
        response = await http.patch("/api/me", headers=auth, json=body)
        assert response.status_code == status, (body, response.text)
        assert any(field in e["field"] for e in response.json()["errors"]), (body, response.text)
    me = (await http.get("/api/me", headers=auth)).json()
    assert me["timezone"] == "America/New_York" and me["reminder_time"] == "18:00"


async def test_logout_revokes_this_device_only(
    pool: db.Pool, settings: Settings, http: httpx.AsyncClient
) -> None:
    clinic = await make_clinic(pool)
    patient, phone = await enrolled_patient(pool, settings, http, clinic.id)
    from tests.support.factories import enroll, new_code

    second = await new_code(pool, settings, clinic.id, patient.patient_id)
    tablet = {"Authorization": f"Bearer {await enroll(http, second.enrollment_code)}"}
    response = await http.post("/api/logout", headers=phone)
    assert response.status_code == 204
    assert "checkin_device=" in response.headers["set-cookie"]
    assert (await http.get("/api/me", headers=phone)).status_code == 401
    assert (await http.get("/api/me", headers=tablet)).status_code == 200
    actions = await pool.fetch(
        "select action from audit_event where patient_id = $1 order by id", patient.patient_id
    )
    assert [a["action"] for a in actions][-1] == "device.logout"


async def test_health(http: httpx.AsyncClient) -> None:
    response = await http.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "up"}


async def test_changing_the_reminder_time_moves_windows_not_yet_open(
    pool: db.Pool, settings: Settings, http: httpx.AsyncClient
) -> None:
    from zoneinfo import ZoneInfo

    # A zone where it is day time, so both reminder times fall on today's local date.
    zones = ["Asia/Kolkata", "Europe/London", "America/New_York", "Asia/Tokyo", "Pacific/Auckland"]
    zone = next(z for z in zones if 4 <= now().astimezone(ZoneInfo(z)).hour < 18)
    # Wall-clock times three hours later and one earlier, counted in real time (never a time
    # the clocks skip).
    later = (now() + timedelta(hours=3)).astimezone(ZoneInfo(zone)).strftime("%H:%M")
    earlier = (now() - timedelta(hours=1)).astimezone(ZoneInfo(zone)).strftime("%H:%M")
    clinic = await make_clinic(pool)
    patient, auth = await enrolled_patient(
        pool, settings, http, clinic.id, timezone=zone, reminder_time=later
    )
    await pool.execute(
        "update patient set created_at = $2::timestamptz - interval '2 days' where id = $1",
        patient.patient_id,
        now(),
    )
    # Yesterday's window may still be open when "later" wraps past midnight; today's is not.
    before = {w["id"] for w in (await http.get("/api/checkins/due", headers=auth)).json()["items"]}
    changed = await http.patch("/api/me", json={"reminder_time": earlier}, headers=auth)
    assert changed.status_code == 200
    after = (await http.get("/api/checkins/due", headers=auth)).json()["items"]
    # The daily window (on the clinic's weekly day, the weekly one moves with it too).
    new_ids = {w["id"] for w in after if w["questionnaire"]["code"] == "daily"} - before
    assert len(new_ids) == 1
    [window] = [w for w in after if w["id"] in new_ids]
    opens = datetime.fromisoformat(window["opens_at"]).astimezone(ZoneInfo(zone))
    assert opens.strftime("%H:%M") == earlier


async def test_openapi_describes_the_contract(http: httpx.AsyncClient) -> None:
    response = await http.get("/schema/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    paths = set(schema["paths"])
    for path in (
        "/api/enroll",
        "/api/me",
        "/api/checkins",
        "/api/checkins/due",
        "/api/logout",
        "/api/coordinator/patients",
        "/api/coordinator/patients/{patient_id}",
        "/api/coordinator/patients/{patient_id}/checkins",
        "/api/coordinator/patients/{patient_id}/fhir",
        "/api/coordinator/alerts",
        "/api/coordinator/export.csv",
        "/healthz",
    ):
        assert path in paths, path
    assert {"device", "coordinator"} <= set(schema["components"]["securitySchemes"])
