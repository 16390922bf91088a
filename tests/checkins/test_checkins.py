from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from server import db
from server.settings import Settings
from tests.support.clock import now
from tests.support.factories import checkin_body, daily_answers, enrolled_patient, make_clinic

pytestmark = pytest.mark.dated


async def _patient(pool: db.Pool, settings: Settings, http: httpx.AsyncClient, **fields):  # type: ignore[no-untyped-def]
    clinic = await make_clinic(pool)
    return await enrolled_patient(pool, settings, http, clinic.id, **fields)


async def test_create_and_identical_replay(
    pool: db.Pool, settings: Settings, http: httpx.AsyncClient
) -> None:
    patient, auth = await _patient(pool, settings, http)
    body = checkin_body(pain=7, fatigue=4, note="  slept badly ")
    first = await http.post("/api/checkins", json=body, headers=auth)
    assert first.status_code == 201, first.text
    stored = first.json()
    assert stored["id"] == body["id"]
    assert stored["answers"] == daily_answers(7, 4)
    assert {k: stored["scores"][k] for k in daily_answers()} == daily_answers(7, 4)
    assert stored["scores"]["outcome"] == {"metric": "pain_now", "value": 7, "baseline": None}
    assert stored["note"] == "slept badly"
    assert stored["questionnaire"] == "daily" and stored["questionnaire_version"] == 2
    replay = await http.post("/api/checkins", json=body, headers=auth)
    assert replay.status_code == 200
    assert replay.json() == stored
    row = await pool.fetchrow("select * from checkin where id = $1", uuid.UUID(body["id"]))
    assert row["patient_id"] == patient.patient_id
    assert row["answers"] == daily_answers(7, 4)
    assert (
        await pool.fetchval(
            "select count(*) from checkin where patient_id = $1", patient.patient_id
        )
        == 1
    )


async def test_concurrent_replays_store_once(
    pool: db.Pool, settings: Settings, http: httpx.AsyncClient
) -> None:
    patient, auth = await _patient(pool, settings, http)
    body = checkin_body()
    responses = await asyncio.gather(
        *(http.post("/api/checkins", json=body, headers=auth) for _ in range(10))
    )
    assert sorted(r.status_code for r in responses) == [200] * 9 + [201]
    assert (
        await pool.fetchval(
            "select count(*) from checkin where patient_id = $1", patient.patient_id
        )
        == 1
    )


async def test_same_id_other_content_is_a_conflict(
    pool: db.Pool, settings: Settings, http: httpx.AsyncClient
) -> None:
    _, auth = await _patient(pool, settings, http)
    body = checkin_body(pain=3)
    assert (await http.post("/api/checkins", json=body, headers=auth)).status_code == 201
    changed = body | {"answers": daily_answers(4, 3)}
    response = await http.post("/api/checkins", json=changed, headers=auth)
    assert response.status_code == 409
    assert "new id" in response.json()["message"]
    stored = await pool.fetchval("select answers from checkin where id = $1", uuid.UUID(body["id"]))
    assert stored["pain_now"] == 3


async def test_same_id_from_another_patient_is_a_conflict_without_leaking(
    pool: db.Pool, settings: Settings, http: httpx.AsyncClient
) -> None:
    _, auth_a = await _patient(pool, settings, http)
    _, auth_b = await _patient(pool, settings, http)
    body = checkin_body(pain=9, note="private")
    assert (await http.post("/api/checkins", json=body, headers=auth_a)).status_code == 201
    response = await http.post("/api/checkins", json=body, headers=auth_b)
    assert response.status_code == 409
    assert response.json()["error"] == "conflict"
    assert "private" not in response.text


@pytest.mark.parametrize(
    ("answers", "field", "words"),
    [
        ({"mood": 2}, "answers.mood", "not an item"),
        ({"pain_now": None}, "answers.pain_now", "required"),
        ({"pain_now": 11}, "answers.pain_now", "from 0 to 10"),
        ({"pain_now": -1}, "answers.pain_now", "from 0 to 10"),
        ({"pain_now": "7"}, "answers.pain_now", "whole number"),
        ({"pain_now": 6.5}, "answers.pain_now", "whole number"),
        ({"pain_now": True}, "answers.pain_now", "whole number"),
        ({"pain_now": [1]}, "answers.pain_now", "whole number"),
        ({"fatigue": 10**30}, "answers.fatigue", "from 0 to 10"),
    ],
)
async def test_invalid_answers_name_the_item(
    pool: db.Pool,
    settings: Settings,
    http: httpx.AsyncClient,
    answers: dict[str, object],
    field: str,
    words: str,
) -> None:
    patient, auth = await _patient(pool, settings, http)
    body = checkin_body() | {"answers": daily_answers() | answers}
    response = await http.post("/api/checkins", json=body, headers=auth)
    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    assert any(e["field"] == field and words in e["message"] for e in errors), errors
    assert (
        await pool.fetchval(
            "select count(*) from checkin where patient_id = $1", patient.patient_id
        )
        == 0
    )


@pytest.mark.parametrize(
    ("change", "field", "status"),
    [
        ({"id": "not-a-uuid"}, "id", 422),
        ({"answered_at": "2026-01-01T10:00:00"}, "answered_at", 422),
        ({"answered_at": "yesterday"}, "answered_at", 422),
        ({"surprise": 1}, "surprise", 422),
        ({"note": "x" * 2001}, "note", 422),
        ({"questionnaire": "bpi"}, "questionnaire", 422),
        ({"questionnaire_version": 9}, "questionnaire_version", 422),
        ({"answers": []}, "answers", 422),
    ],
)
async def test_invalid_envelope_names_the_field(
    pool: db.Pool,
    settings: Settings,
    http: httpx.AsyncClient,
    change: dict[str, object],
    field: str,
    status: int,
) -> None:
    _, auth = await _patient(pool, settings, http)
    response = await http.post("/api/checkins", json=checkin_body() | change, headers=auth)
    assert response.status_code == status, response.text
    assert any(field in e["field"] for e in response.json()["errors"]), response.text


async def test_answered_in_the_future_is_refused(
    pool: db.Pool, settings: Settings, http: httpx.AsyncClient
) -> None:
    _, auth = await _patient(pool, settings, http)
    future = (now() + timedelta(hours=2)).isoformat()
    response = await http.post("/api/checkins", json=checkin_body(answered_at=future), headers=auth)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "answered_at"


async def test_malformed_json_and_wrong_content(
    pool: db.Pool, settings: Settings, http: httpx.AsyncClient
) -> None:
    _, auth = await _patient(pool, settings, http)
    bad = await http.post(
        "/api/checkins", content=b"{not json", headers=auth | {"content-type": "application/json"}
    )
    assert bad.status_code == 400
    assert bad.json()["error"] == "bad_request"
    huge = await http.post(
        "/api/checkins",
        content=b'{"note": "' + b"x" * 70_000 + b'"}',
        headers=auth | {"content-type": "application/json"},
    )
    assert huge.status_code == 413


async def test_history_is_paginated_newest_first(
    pool: db.Pool, settings: Settings, http: httpx.AsyncClient
) -> None:
    _, auth = await _patient(pool, settings, http)
    base = now() - timedelta(days=1)
    ids = []
    for i in range(5):
        body = checkin_body(pain=i, answered_at=(base + timedelta(hours=i)).isoformat())
        ids.append(body["id"])
        assert (await http.post("/api/checkins", json=body, headers=auth)).status_code == 201
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await http.get("/api/checkins", params=params, headers=auth)).json()
        seen += [item["id"] for item in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == list(reversed(ids))
    bad = await http.get("/api/checkins", params={"cursor": "garbage!"}, headers=auth)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "cursor"
    too_many = await http.get("/api/checkins", params={"limit": 1000}, headers=auth)
    assert too_many.status_code == 422


def _daily(windows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The daily windows among those due (on the clinic's weekly day a weekly one is due too)."""
    return [w for w in windows if w["questionnaire"]["code"] == "daily"]


def _reminder_an_hour_ago(timezone: str) -> str:
    local = (now() - timedelta(hours=1)).astimezone(ZoneInfo(timezone))
    return f"{local.hour:02d}:{local.minute:02d}"


async def _patient_with_open_window(  # type: ignore[no-untyped-def]
    pool: db.Pool, settings: Settings, http: httpx.AsyncClient, zone: str, **fields
):
    """A patient whose daily reminder was an hour ago and who joined yesterday, so today's
    window is due whatever the hour."""
    patient, auth = await _patient(
        pool, settings, http, timezone=zone, reminder_time=_reminder_an_hour_ago(zone), **fields
    )
    await pool.execute(
        "update patient set created_at = $2::timestamptz - interval '1 day' where id = $1",
        patient.patient_id,
        now(),
    )
    return patient, auth


async def test_due_window_is_completed_by_the_checkin(
    pool: db.Pool, settings: Settings, http: httpx.AsyncClient
) -> None:
    _, auth = await _patient_with_open_window(pool, settings, http, "Asia/Kolkata", language="es")
    due = (await http.get("/api/checkins/due", headers=auth)).json()["items"]
    [window] = _daily(due)
    assert window["questionnaire"]["items"][0]["text"].startswith("¿")  # Spanish
    assert [i["code"] for i in window["questionnaire"]["items"]] == list(daily_answers())
    # Asking again does not make another window.
    again = (await http.get("/api/checkins/due", headers=auth)).json()["items"]
    assert [w["id"] for w in again] == [w["id"] for w in due]
    response = await http.post(
        "/api/checkins", json=checkin_body(due_id=window["id"]), headers=auth
    )
    assert response.status_code == 201
    assert response.json()["due_id"] == window["id"]
    status = await pool.fetchval(
        "select status::text from checkin_due where id = $1", uuid.UUID(window["id"])
    )
    assert status == "completed"
    assert _daily((await http.get("/api/checkins/due", headers=auth)).json()["items"]) == []


async def test_checkin_without_due_id_completes_the_open_window(
    pool: db.Pool, settings: Settings, http: httpx.AsyncClient
) -> None:
    _, auth = await _patient_with_open_window(pool, settings, http, "America/Santiago")
    [window] = _daily((await http.get("/api/checkins/due", headers=auth)).json()["items"])
    stored = (await http.post("/api/checkins", json=checkin_body(), headers=auth)).json()
    assert stored["due_id"] == window["id"]
    assert _daily((await http.get("/api/checkins/due", headers=auth)).json()["items"]) == []


async def test_another_patients_due_window_is_refused(
    pool: db.Pool, settings: Settings, http: httpx.AsyncClient
) -> None:
    _, other_auth = await _patient_with_open_window(pool, settings, http, "Europe/London")
    [window] = _daily((await http.get("/api/checkins/due", headers=other_auth)).json()["items"])
    patient, auth = await _patient(pool, settings, http)
    response = await http.post(
        "/api/checkins", json=checkin_body(due_id=window["id"]), headers=auth
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "due_id"
    assert (
        await pool.fetchval(
            "select count(*) from checkin where patient_id = $1", patient.patient_id
        )
        == 0
    )
    status = await pool.fetchval(
        "select status::text from checkin_due where id = $1", uuid.UUID(window["id"])
    )
    assert status == "open"
