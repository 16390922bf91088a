"""Hostile input in every text field and number of the patient and coordinator APIs.

Each value is either refused with a 4xx that names the field, or stored verbatim: read back
from the API and from PostgreSQL as sent, and shown escaped in the coordinator's pages.
(tests/test_hostile_input.py covers content types, NUL in notes and names, invalid UTF-8,
empty bodies, deep nesting and unknown keys.)
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import markupsafe
import pytest

from server import db
from server.settings import Settings
from tests.support.factories import (
    checkin_body,
    client_ip,
    enrolled_patient,
    make_clinic,
    make_coordinator,
)
from tests.support.live import ServerProcess
from tests.support.staff import make_staff, sign_in

# Stored as sent: text that must never be taken for SQL or markup, and Unicode a name or a
# note may really hold.
VERBATIM = {
    "sql": "'; drop table checkin; --",
    "script": "<script>alert(1)</script>",
    "attribute": '" onmouseover="alert(1)',
    "rtl_override": "Ana \u202egnp.exe",
    "zero_width_joiner": "Ana \U0001f469\u200d\U0001f469\u200d\U0001f467",
    "emoji": "Ana \U0001f489\U0001f9ea",
    "combining": "Zoe\u0301",
}
# Refused with (status, field): PostgreSQL text cannot hold NUL, 10,000 characters is over
# every text field's limit, and a lone surrogate is not Unicode text at all (the JSON decoder
# refuses the body before any field is read).
REFUSED = {
    "nul": ("a\u0000b", 422, None),
    "long": ("x" * 10_000, 422, None),
    "lone_surrogate": ("a\ud800b", 400, "body"),
}
MARKUP = ("<script>alert(1)</script>", '" onmouseover="alert(1)')


@dataclass
class Clinic:
    staff: dict[str, str]
    patient: dict[str, str]
    patient_id: uuid.UUID
    browser: httpx.AsyncClient


@pytest.fixture
async def clinic(
    pool: db.Pool, settings: Settings, http: httpx.AsyncClient, server: ServerProcess
) -> AsyncIterator[Clinic]:
    """A clinic with an admin's API token (who may send every body, the protocol's included:
    a coordinator's change of it is refused before its body is read), an enrolled patient and a
    signed-in dashboard session."""
    made = await make_clinic(pool)
    staff = {"Authorization": f"Bearer {await make_coordinator(pool, made.id, role='admin')}"}
    created, patient = await enrolled_patient(pool, settings, http, made.id)
    email = await make_staff(pool, made.id)
    async with httpx.AsyncClient(
        base_url=server.url, timeout=20.0, headers={"X-Forwarded-For": client_ip()}
    ) as browser:
        signed_in = await sign_in(browser, email)
        assert signed_in.status_code in (302, 303), signed_in.text
        yield Clinic(staff, patient, created.patient_id, browser)


def _raw_json(body: dict[str, Any], name: str, value: str) -> bytes:
    """The body as JSON with ``value`` spliced in as the raw text of field ``name``."""
    return json.dumps(body | {name: "@@"}).replace('"@@"', value).encode()


async def _page(clinic: Clinic, path: str) -> str:
    response = await clinic.browser.get(path)
    assert response.status_code == 200, (path, response.status_code)
    return response.text


def _shown_escaped(page: str, value: str) -> None:
    """The value is on the page as Jinja escapes it, and its markup nowhere as markup."""
    assert str(markupsafe.escape(value)) in page
    for markup in MARKUP:
        if markup in value:
            assert markup not in page


@pytest.mark.parametrize("kind", list(VERBATIM))
async def test_checkin_note_is_stored_verbatim_and_shown_escaped(
    pool: db.Pool, clinic: Clinic, http: httpx.AsyncClient, kind: str
) -> None:
    value = VERBATIM[kind]
    body = checkin_body(note=value)
    stored = await http.post("/api/checkins", json=body, headers=clinic.patient)
    assert stored.status_code == 201, stored.text
    assert stored.json()["note"] == value
    [mine] = (await http.get("/api/checkins", headers=clinic.patient)).json()["items"]
    assert mine["note"] == value
    async with pool.acquire() as conn:
        assert await conn.fetchval("select note from checkin where id = $1", body["id"]) == value
    _shown_escaped(await _page(clinic, f"/coordinator/patients/{clinic.patient_id}"), value)


@pytest.mark.parametrize("kind", list(VERBATIM))
async def test_display_name_is_stored_verbatim_and_shown_escaped(
    pool: db.Pool, clinic: Clinic, http: httpx.AsyncClient, kind: str
) -> None:
    value = VERBATIM[kind]
    created = await http.post(
        "/api/coordinator/patients",
        json={"display_name": value, "timezone": "Europe/London"},
        headers=clinic.staff,
    )
    assert created.status_code == 201, created.text
    patient_id = created.json()["patient_id"]
    detail = await http.get(f"/api/coordinator/patients/{patient_id}", headers=clinic.staff)
    assert detail.json()["display_name"] == value
    async with pool.acquire() as conn:
        name = await conn.fetchval("select display_name from patient where id = $1", patient_id)
    assert name == value
    _shown_escaped(await _page(clinic, f"/coordinator/patients/{patient_id}"), value)
    _shown_escaped(await _page(clinic, "/coordinator/patients"), value)


@pytest.mark.parametrize("kind", list(VERBATIM))
async def test_acknowledge_note_is_stored_verbatim(
    pool: db.Pool, clinic: Clinic, http: httpx.AsyncClient, kind: str
) -> None:
    value = VERBATIM[kind]
    await http.post("/api/checkins", json=checkin_body(pain=10), headers=clinic.patient)
    [alert] = (await http.get("/api/coordinator/alerts", headers=clinic.staff)).json()["items"]
    acknowledged = await http.post(
        f"/api/coordinator/alerts/{alert['id']}/acknowledge",
        json={"note": value},
        headers=clinic.staff,
    )
    assert acknowledged.status_code == 200, acknowledged.text
    assert acknowledged.json()["note"] == value
    listed = await http.get("/api/coordinator/alerts?status=all", headers=clinic.staff)
    assert [a["note"] for a in listed.json()["items"]] == [value]
    async with pool.acquire() as conn:
        assert await conn.fetchval("select note from alert where id = $1", alert["id"]) == value


@pytest.mark.parametrize("kind", list(REFUSED))
async def test_refused_text_names_the_field(
    clinic: Clinic, http: httpx.AsyncClient, kind: str
) -> None:
    text, status, named = REFUSED[kind]
    value = json.dumps(text)  # a lone surrogate only travels as a JSON escape
    json_type = {"content-type": "application/json"}
    await http.post("/api/checkins", json=checkin_body(pain=10), headers=clinic.patient)
    [alert] = (await http.get("/api/coordinator/alerts", headers=clinic.staff)).json()["items"]
    attempts = [
        ("/api/checkins", clinic.patient, checkin_body(), "note"),
        (
            "/api/coordinator/patients",
            clinic.staff,
            {"timezone": "Europe/London"},
            "display_name",
        ),
        (f"/api/coordinator/alerts/{alert['id']}/acknowledge", clinic.staff, {}, "note"),
    ]
    for path, auth, body, field in attempts:
        response = await http.post(
            path, content=_raw_json(body, field, value), headers=auth | json_type
        )
        assert response.status_code == status, (path, kind, response.text)
        assert [e["field"] for e in response.json()["errors"]] == [named or field], (path, kind)
        assert text[:20] not in response.text


@pytest.mark.parametrize(
    "literal", ["1e309", "-1e309", "18446744073709551616", "9223372036854775808", "NaN",
                "Infinity", "-Infinity", "1.5", "true", '"5"', "[]", "{}"]
)  # fmt: skip
async def test_numbers_that_are_not_answers(
    clinic: Clinic, http: httpx.AsyncClient, literal: str
) -> None:
    json_type = clinic.patient | {"content-type": "application/json"}
    body = checkin_body()
    raw = json.dumps(body).replace('"pain_now": 5', f'"pain_now": {literal}').encode()
    response = await http.post("/api/checkins", content=raw, headers=json_type)
    assert response.status_code in (400, 422), (literal, response.text)
    fields = [e["field"] for e in response.json()["errors"]]
    assert fields in (["answers.pain_now"], ["body"]), (literal, fields)


async def test_negative_zero_is_the_answer_zero(
    pool: db.Pool, clinic: Clinic, http: httpx.AsyncClient
) -> None:
    body = checkin_body()
    raw = json.dumps(body).replace('"pain_now": 5', '"pain_now": -0').encode()
    response = await http.post(
        "/api/checkins", content=raw, headers=clinic.patient | {"content-type": "application/json"}
    )
    assert response.status_code == 201, response.text
    assert response.json()["answers"]["pain_now"] == 0
    async with pool.acquire() as conn:
        answers = await conn.fetchval("select answers from checkin where id = $1", body["id"])
    assert answers["pain_now"] == 0


@pytest.mark.parametrize("literal", ["1e309", "18446744073709551616", "9223372036854775808",
                                     "-9223372036854775809", "2147483648", "-0.0", "NaN"])  # fmt: skip
@pytest.mark.parametrize(
    ("method", "path", "field"),
    [
        ("patch", "/api/coordinator/clinic/protocol", "daily_window_minutes"),
        ("patch", "/api/coordinator/clinic/protocol", "weekly_weekday"),
        ("post", "/api/checkins", "version"),
    ],
)
async def test_huge_numbers_in_number_fields(
    clinic: Clinic, http: httpx.AsyncClient, method: str, path: str, field: str, literal: str
) -> None:
    auth = clinic.patient if path == "/api/checkins" else clinic.staff
    body = checkin_body() if path == "/api/checkins" else {}
    response = await http.request(
        method,
        path,
        content=_raw_json(body, field, literal),
        headers=auth | {"content-type": "application/json"},
    )
    assert response.status_code in (400, 422), (literal, response.text)
    assert [e["field"] for e in response.json()["errors"]] in ([field], ["body"])


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/api/checkins", "limit=18446744073709551616"),
        ("/api/checkins", "limit=1e309"),
        ("/api/checkins/trend", "days=9223372036854775808"),
        ("/api/checkins", "cursor=%27%3B%20drop%20table%20checkin%3B%20--"),
        ("/api/checkins", "cursor=%ED%A0%80"),
    ],
)
async def test_hostile_query_parameters(
    clinic: Clinic, http: httpx.AsyncClient, path: str, query: str
) -> None:
    response = await http.get(f"{path}?{query}", headers=clinic.patient)
    assert response.status_code in (400, 422), (query, response.text)
    assert [e["field"] for e in response.json()["errors"]] == [query.split("=")[0]]


async def test_body_over_the_limit_gets_413(clinic: Clinic, http: httpx.AsyncClient) -> None:
    """MAX_BODY_BYTES (64 KiB by default) holds whatever the body's declared length."""
    limit = Settings().max_body_bytes
    json_type = clinic.patient | {"content-type": "application/json"}
    big = json.dumps(checkin_body(note="x" * limit)).encode()
    declared = await http.post("/api/checkins", content=big, headers=json_type)
    assert declared.status_code == 413
    assert declared.json()["error"] == "request_entity_too_large"

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(big), 8192):
            yield big[start : start + 8192]

    streamed = await http.post("/api/checkins", content=chunks(), headers=json_type)
    assert streamed.status_code == 413
    under = json.dumps(checkin_body(note="x" * 2000)).encode()
    assert len(under) < limit
    assert (await http.post("/api/checkins", content=under, headers=json_type)).status_code == 201
