"""The clinic's alerts: listed by status and audited, acknowledged once with a note, from the
API or the dashboard, and never another clinic's."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from server import db
from server.settings import Settings
from tests.support.clock import now
from tests.support.factories import client_ip, make_clinic, make_coordinator, make_patient
from tests.support.live import ServerProcess
from tests.support.staff import make_staff, signed_in


@pytest.fixture
async def browser(server: ServerProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=server.url, timeout=20.0, headers={"X-Forwarded-For": client_ip()}
    ) as client:
        yield client


async def _alert(pool: db.Pool, patient_id: uuid.UUID, kind: str) -> uuid.UUID:
    alert_id: uuid.UUID = await pool.fetchval(
        "insert into alert (patient_id, kind, raised_at) values ($1, $2, $3) returning id",
        patient_id,
        kind,
        now(),
    )
    return alert_id


async def test_listed_by_status_and_acknowledged_once(
    pool: db.Pool, settings: Settings, http: httpx.AsyncClient, browser: httpx.AsyncClient
) -> None:
    clinic = await make_clinic(pool)
    patient = await make_patient(pool, settings, clinic.id, display_name="Oda")
    by_page = await _alert(pool, patient.patient_id, "pain_high")
    by_api = await _alert(pool, patient.patient_id, "worsening")
    staff = {"Authorization": f"Bearer {await make_coordinator(pool, clinic.id)}"}
    csrf = await signed_in(browser, await make_staff(pool, clinic.id))

    async def listed(status: str) -> list[str]:
        response = await http.get(f"/api/coordinator/alerts?status={status}", headers=staff)
        assert response.status_code == 200, response.text
        return sorted(a["kind"] for a in response.json()["items"])

    assert await listed("open") == ["pain_high", "worsening"]
    page = await browser.post(
        f"/coordinator/alerts/{by_page}/acknowledge",
        data={"csrf_token": csrf, "note": "Called; dose adjusted", "back": "/coordinator/board"},
    )
    assert page.status_code == 302
    assert page.headers["location"] == "/coordinator/board?done=acknowledged"
    api = await http.post(
        f"/api/coordinator/alerts/{by_api}/acknowledge", json={"note": "Seen"}, headers=staff
    )
    assert api.status_code == 200 and api.json()["status"] == "acknowledged"
    assert await listed("open") == []
    assert await listed("acknowledged") == await listed("all") == ["pain_high", "worsening"]
    # Once only, whichever way it is asked.
    again = await http.post(
        f"/api/coordinator/alerts/{by_page}/acknowledge", json={"note": "Again"}, headers=staff
    )
    assert again.status_code == 409 and again.json()["error"] == "conflict"
    twice = await browser.post(
        f"/coordinator/alerts/{by_api}/acknowledge", data={"csrf_token": csrf, "note": "Again"}
    )
    assert twice.status_code == 409 and "text/html" in twice.headers["content-type"]
    notes = await pool.fetch(
        "select note, acknowledged_by is not null as by from alert where patient_id = $1"
        " order by kind",
        patient.patient_id,
    )
    assert [(r["note"], r["by"]) for r in notes] == [
        ("Called; dose adjusted", True),
        ("Seen", True),
    ]
    audited = await pool.fetch(
        "select action, detail from audit_event where patient_id = $1 or"
        " (clinic_id = $2 and action = 'alert.list') order by id",
        patient.patient_id,
        clinic.id,
    )
    actions = [r["action"] for r in audited]
    assert actions.count("alert.acknowledge") == 2 and actions.count("alert.list") == 4
    first_list = next(r for r in audited if r["action"] == "alert.list")
    assert first_list["detail"]["patient_ids"] == [str(patient.patient_id)]


async def test_another_clinics_alert_is_not_found(
    pool: db.Pool, settings: Settings, http: httpx.AsyncClient
) -> None:
    clinic, other = await make_clinic(pool), await make_clinic(pool)
    patient = await make_patient(pool, settings, clinic.id)
    alert_id = await _alert(pool, patient.patient_id, "pain_high")
    theirs = {"Authorization": f"Bearer {await make_coordinator(pool, other.id, 'admin')}"}
    for target in (alert_id, uuid.uuid4()):
        refused = await http.post(
            f"/api/coordinator/alerts/{target}/acknowledge", json={"note": "x"}, headers=theirs
        )
        assert refused.status_code == 404 and refused.json()["message"] == "no such alert"
    listed = await http.get("/api/coordinator/alerts?status=all", headers=theirs)
    assert listed.json() == {"items": []}
    status = await pool.fetchval("select status::text from alert where id = $1", alert_id)
    assert status == "open"
