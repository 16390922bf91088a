"""Patients see only their own data, coordinators only their clinic's; others get 404."""

from __future__ import annotations

import uuid

import httpx

from server import db
from server.settings import Settings
from tests.support.factories import (
    checkin_body,
    daily_answers,
    enrolled_patient,
    make_clinic,
    make_coordinator,
)


async def test_cross_clinic_reads_answer_404(
    pool: db.Pool, settings: Settings, http: httpx.AsyncClient
) -> None:
    clinic_a = await make_clinic(pool)
    clinic_b = await make_clinic(pool)
    patient_a, auth_a = await enrolled_patient(
        pool, settings, http, clinic_a.id, display_name="Ana"
    )
    await http.post("/api/checkins", json=checkin_body(), headers=auth_a)
    staff_a = {"Authorization": f"Bearer {await make_coordinator(pool, clinic_a.id)}"}
    staff_b = {"Authorization": f"Bearer {await make_coordinator(pool, clinic_b.id)}"}

    own = await http.get(f"/api/coordinator/patients/{patient_a.patient_id}", headers=staff_a)
    assert own.status_code == 200 and own.json()["display_name"] == "Ana"
    latest = own.json()["latest_scores"]
    assert {code: latest[code] for code in daily_answers()} == daily_answers()
    assert latest["outcome"] == {"metric": "pain_now", "value": 5, "baseline": None}

    for path in (
        f"/api/coordinator/patients/{patient_a.patient_id}",
        f"/api/coordinator/patients/{patient_a.patient_id}/checkins",
        f"/api/coordinator/patients/{uuid.uuid4()}",
    ):
        response = await http.get(path, headers=staff_b)
        assert response.status_code == 404, path
        assert "Ana" not in response.text
    code = await http.post(
        f"/api/coordinator/patients/{patient_a.patient_id}/enrollment-code", headers=staff_b
    )
    assert code.status_code == 404

    listed = (await http.get("/api/coordinator/patients", headers=staff_b)).json()["items"]
    assert str(patient_a.patient_id) not in {p["patient_id"] for p in listed}
    listed_a = (await http.get("/api/coordinator/patients", headers=staff_a)).json()["items"]
    assert str(patient_a.patient_id) in {p["patient_id"] for p in listed_a}
    # The list read is audited with who was shown.
    shown = await pool.fetchval(
        "select detail->'patient_ids' from audit_event where action = 'patient.list'"
        " and clinic_id = $1 order by id desc limit 1",
        clinic_a.id,
    )
    assert shown == [str(patient_a.patient_id)]


async def test_patient_sees_only_own_checkins(
    pool: db.Pool, settings: Settings, http: httpx.AsyncClient
) -> None:
    clinic = await make_clinic(pool)
    _, auth_a = await enrolled_patient(pool, settings, http, clinic.id)
    _, auth_b = await enrolled_patient(pool, settings, http, clinic.id)
    mine = checkin_body(pain=2)
    theirs = checkin_body(pain=9)
    await http.post("/api/checkins", json=mine, headers=auth_a)
    await http.post("/api/checkins", json=theirs, headers=auth_b)
    history = (await http.get("/api/checkins", headers=auth_a)).json()["items"]
    assert [c["id"] for c in history] == [mine["id"]]


async def test_missing_and_wrong_credentials_answer_401(http: httpx.AsyncClient) -> None:
    for method, path in (
        ("GET", "/api/me"),
        ("GET", "/api/checkins"),
        ("GET", "/api/checkins/due"),
        ("POST", "/api/logout"),
        ("GET", "/api/coordinator/patients"),
    ):
        for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic x"}):
            response = await http.request(method, path, headers=headers)
            assert response.status_code == 401, (method, path, headers)
    # A device token is not a coordinator token and vice versa.


async def test_tokens_do_not_cross_roles(
    pool: db.Pool, settings: Settings, http: httpx.AsyncClient
) -> None:
    clinic = await make_clinic(pool)
    _, patient_auth = await enrolled_patient(pool, settings, http, clinic.id)
    staff = {"Authorization": f"Bearer {await make_coordinator(pool, clinic.id)}"}
    assert (await http.get("/api/coordinator/patients", headers=patient_auth)).status_code == 401
    assert (await http.get("/api/me", headers=staff)).status_code == 401


async def test_coordinator_creates_patient_and_reads_are_audited(
    pool: db.Pool, settings: Settings, http: httpx.AsyncClient
) -> None:
    clinic = await make_clinic(pool)
    staff_token = await make_coordinator(pool, clinic.id)
    staff = {"Authorization": f"Bearer {staff_token}"}
    created = await http.post(
        "/api/coordinator/patients",
        headers=staff,
        json={"display_name": "Maya", "timezone": "Africa/Casablanca", "condition": "crps"},
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["enrollment_link"].endswith(f"/app/enroll#{body['enrollment_code']}")
    patient_id = uuid.UUID(body["patient_id"])
    bad = await http.post(
        "/api/coordinator/patients",
        headers=staff,
        json={"display_name": "X", "timezone": "Nowhere/Special", "condition": "crps"},
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "timezone"
    bad_condition = await http.post(
        "/api/coordinator/patients",
        headers=staff,
        json={"display_name": "X", "timezone": "Europe/Paris", "condition": "migraine"},
    )
    assert bad_condition.status_code == 422
    assert bad_condition.json()["errors"][0]["field"] == "condition"

    await http.get(f"/api/coordinator/patients/{patient_id}", headers=staff)
    await http.get(f"/api/coordinator/patients/{patient_id}/checkins", headers=staff)
    coordinator_id = await pool.fetchval(
        "select coordinator_id from coordinator_token t join coordinator c on c.id = t.coordinator_id"
        " where c.clinic_id = $1",
        clinic.id,
    )
    rows = await pool.fetch(
        "select action, actor_kind::text, actor_id, clinic_id from audit_event"
        " where patient_id = $1 order by id",
        patient_id,
    )
    assert [r["action"] for r in rows] == ["patient.create", "patient.read", "checkin.list"]
    assert all(r["actor_kind"] == "coordinator" and r["actor_id"] == coordinator_id for r in rows)
    assert all(r["clinic_id"] == clinic.id for r in rows)
