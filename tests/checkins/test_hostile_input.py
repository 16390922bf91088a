"""Bad input gets a clear 4xx that names the problem, never a 500, never the input echoed."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest

from server import db
from server.settings import Settings
from tests.support.factories import checkin_body, enrolled_patient, make_clinic, make_coordinator
from tests.support.live import ServerProcess

MARKER = "Jane Doe has CRPS"


async def _auth(pool: db.Pool, settings: Settings, http: httpx.AsyncClient) -> dict[str, str]:
    clinic = await make_clinic(pool)
    _, auth = await enrolled_patient(pool, settings, http, clinic.id)
    return auth


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/plain", json.dumps(checkin_body())),
        ("application/x-www-form-urlencoded", "pain_now=5"),
        ("multipart/form-data; boundary=x", "--x--"),
    ],
)
async def test_json_endpoints_want_json(
    pool: db.Pool, settings: Settings, http: httpx.AsyncClient, content_type: str, body: str
) -> None:
    auth = await _auth(pool, settings, http)
    response = await http.post(
        "/api/checkins", content=body.encode(), headers=auth | {"content-type": content_type}
    )
    assert response.status_code == 415
    assert "application/json" in response.json()["message"]


async def test_nul_characters_are_refused_by_field(
    pool: db.Pool, settings: Settings, http: httpx.AsyncClient
) -> None:
    auth = await _auth(pool, settings, http)
    response = await http.post("/api/checkins", json=checkin_body(note="a\u0000b"), headers=auth)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "note"
    clinic = await make_clinic(pool)
    staff = {"Authorization": f"Bearer {await make_coordinator(pool, clinic.id)}"}
    created = await http.post(
        "/api/coordinator/patients",
        headers=staff,
        json={"display_name": "Ze\u0000d", "timezone": "Europe/London"},
    )
    assert created.status_code == 422
    assert created.json()["errors"][0]["field"] == "display_name"


async def test_invalid_utf8_and_empty_bodies(
    pool: db.Pool, settings: Settings, http: httpx.AsyncClient
) -> None:
    auth = await _auth(pool, settings, http)
    json_type = auth | {"content-type": "application/json"}
    raw = json.dumps(checkin_body(note="X")).encode().replace(b'"X"', b'"\xff"')
    broken = await http.post("/api/checkins", content=raw, headers=json_type)
    assert broken.status_code == 400
    assert "UTF-8" in broken.json()["message"]
    for body in (b"", b"null", b"[]", b"1e400"):
        response = await http.post("/api/checkins", content=body, headers=json_type)
        assert response.status_code in (400, 422), (body, response.text)
        assert "'data'" not in response.text


@pytest.mark.parametrize(
    "answered_at",
    ["0001-01-01T00:00:00Z", "0001-01-01T05:00:00+06:00", "1999-12-31T23:00:00Z"],
)
async def test_answered_at_far_in_the_past_is_refused(
    pool: db.Pool, settings: Settings, http: httpx.AsyncClient, answered_at: str
) -> None:
    auth = await _auth(pool, settings, http)
    response = await http.post(
        "/api/checkins", json=checkin_body(answered_at=answered_at), headers=auth
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "answered_at"


@pytest.mark.parametrize(
    "until", ["0001-01-01T05:00:00+06:00", "0001-01-01T00:00:00Z", "2020-01-01T00:00:00Z"]
)
async def test_pause_must_end_in_the_future(
    pool: db.Pool, settings: Settings, http: httpx.AsyncClient, until: str
) -> None:
    auth = await _auth(pool, settings, http)
    response = await http.patch("/api/me", json={"reminders_paused_until": until}, headers=auth)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "reminders_paused_until"


async def test_errors_do_not_echo_what_was_sent(
    pool: db.Pool, settings: Settings, http: httpx.AsyncClient
) -> None:
    clinic = await make_clinic(pool)
    staff = {"Authorization": f"Bearer {await make_coordinator(pool, clinic.id)}"}
    bad_condition = await http.post(
        "/api/coordinator/patients",
        headers=staff,
        json={"display_name": "Zed", "timezone": "Europe/London", "condition": MARKER},
    )
    assert bad_condition.status_code == 422
    assert MARKER not in bad_condition.text
    error = bad_condition.json()["errors"][0]
    assert error["field"] == "condition"
    assert "crps" in error["message"] and "fibromyalgia" in error["message"]
    unknown = await http.post(
        "/api/coordinator/patients",
        headers=staff,
        json={"display_name": "Zed", "timezone": "Europe/London", MARKER: 1},
    )
    assert unknown.status_code == 422
    assert MARKER not in unknown.text


async def test_timezone_names_that_are_not_places(
    pool: db.Pool, settings: Settings, http: httpx.AsyncClient
) -> None:
    auth = await _auth(pool, settings, http)
    for name in ("localtime", "Factory", "posixrules", "EST5EDT+1"):
        response = await http.patch("/api/me", json={"timezone": name}, headers=auth)
        assert response.status_code == 422, name


async def test_conflict_answer_reveals_nothing(
    pool: db.Pool, settings: Settings, http: httpx.AsyncClient
) -> None:
    clinic = await make_clinic(pool)
    _, auth_a = await enrolled_patient(pool, settings, http, clinic.id)
    _, auth_b = await enrolled_patient(pool, settings, http, clinic.id)
    body = checkin_body(pain=9, note=MARKER)
    assert (await http.post("/api/checkins", json=body, headers=auth_a)).status_code == 201
    response = await http.post("/api/checkins", json=body, headers=auth_b)
    assert response.status_code == 409
    assert response.json() == {
        "error": "conflict",
        "message": "a different check-in was already stored with this id; "
        "a new check-in needs a new id",
    }


async def test_head_health(http: httpx.AsyncClient) -> None:
    response = await http.head("/healthz")
    assert response.status_code == 200


def test_server_log_holds_no_patient_data(server: ServerProcess) -> None:
    """Runs after the tests above in this module sent names and notes the log must not hold."""
    log = server.output()
    assert MARKER not in log
    assert str(uuid.UUID(int=0)) not in log


async def test_deep_nesting_and_strange_answer_keys(
    pool: db.Pool, settings: Settings, http: httpx.AsyncClient
) -> None:
    auth = await _auth(pool, settings, http)
    deep = b'{"note": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    response = await http.post(
        "/api/checkins", content=deep, headers=auth | {"content-type": "application/json"}
    )
    assert response.status_code == 400
    body = checkin_body()
    body["answers"][f"<b>{MARKER}</b>"] = 1
    strange = await http.post("/api/checkins", json=body, headers=auth)
    assert strange.status_code == 422
    assert MARKER not in strange.text
    assert strange.json()["errors"][0]["field"] == "answers"


async def test_acknowledging_needs_a_real_note(
    pool: db.Pool, settings: Settings, http: httpx.AsyncClient
) -> None:
    clinic = await make_clinic(pool)
    _, auth = await enrolled_patient(pool, settings, http, clinic.id)
    await http.post("/api/checkins", json=checkin_body(pain=10), headers=auth)
    staff = {"Authorization": f"Bearer {await make_coordinator(pool, clinic.id)}"}
    [alert] = (await http.get("/api/coordinator/alerts", headers=staff)).json()["items"]
    blank = await http.post(
        f"/api/coordinator/alerts/{alert['id']}/acknowledge", json={"note": "   "}, headers=staff
    )
    assert blank.status_code == 422
    assert blank.json()["errors"][0]["field"] == "note"
