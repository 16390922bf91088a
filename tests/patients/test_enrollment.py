from __future__ import annotations

import uuid

import httpx
import pytest

from server import db
from server.auth.tokens import CODE_BITS, normalize_code, sha256
from server.settings import Settings
from tests.support.clock import now
from tests.support.factories import client_ip, enroll, make_clinic, make_patient
from tests.support.live import start_server

pytestmark = pytest.mark.dated


async def test_code_is_typable_hyphenated_and_strong(pool: db.Pool, settings: Settings) -> None:
    clinic = await make_clinic(pool)
    created = await make_patient(pool, settings, clinic.id)
    code = created.enrollment_code
    assert CODE_BITS >= 50
    assert len(code) == 14 and code[4] == "-" and code[9] == "-"
    assert set(code.replace("-", "")) <= set("0123456789ABCDEFGHJKMNPQRSTVWXYZ")
    assert created.enrollment_link == f"{settings.origin}/app/enroll#{code}"
    lifetime = created.expires_at - now()
    assert 13.9 < lifetime.total_seconds() / 86400 <= 14
    # Stored only as a hash.
    stored = await pool.fetchval(
        "select code_hash from enrollment_code where patient_id = $1", created.patient_id
    )
    assert stored == sha256(code.replace("-", ""))
    assert code.encode() not in stored


async def test_enroll_success_sets_cookie_and_returns_profile(
    pool: db.Pool, settings: Settings, http: httpx.AsyncClient
) -> None:
    clinic = await make_clinic(pool, timezone="Europe/London")
    created = await make_patient(
        pool, settings, clinic.id, display_name="Rosa", timezone="Europe/Madrid"
    )
    # Typed sloppily: lower case, spaces, O for zero.
    typed = created.enrollment_code.lower().replace("-", " ").replace("0", "o")
    response = await http.post(
        "/api/enroll", json={"code": typed}, headers={"X-Forwarded-For": client_ip()}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["patient_id"] == str(created.patient_id)
    assert body["profile"]["display_name"] == "Rosa"
    assert body["profile"]["timezone"] == "Europe/Madrid"
    token = body["device_token"]
    assert len(token) >= 43
    cookie = response.headers["set-cookie"]
    assert f"checkin_device={token}" in cookie
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    # The token is stored only as its SHA-256.
    stored = await pool.fetchval(
        "select token_hash from device where patient_id = $1", created.patient_id
    )
    assert stored == sha256(token)
    # Both the cookie and the bearer header work.
    me = await http.get("/api/me", headers={"Cookie": f"checkin_device={token}"})
    assert me.status_code == 200 and me.json()["patient_id"] == str(created.patient_id)
    status = await pool.fetchval(
        "select status::text from patient where id = $1", created.patient_id
    )
    assert status == "active"


async def test_used_expired_and_wrong_codes_answer_the_same(
    pool: db.Pool, settings: Settings, http: httpx.AsyncClient
) -> None:
    clinic = await make_clinic(pool)
    used = await make_patient(pool, settings, clinic.id)
    await enroll(http, used.enrollment_code)
    expired = await make_patient(pool, settings, clinic.id)
    await pool.execute(
        "update enrollment_code set created_at = $2::timestamptz - interval '15 days',"
        " expires_at = $2::timestamptz - interval '1 second' where patient_id = $1",
        expired.patient_id,
        now(),
    )
    answers = []
    for code in (used.enrollment_code, expired.enrollment_code, "ZZZZ-ZZZZ-ZZZZ", "not a code"):
        response = await http.post(
            "/api/enroll", json={"code": code}, headers={"X-Forwarded-For": client_ip()}
        )
        assert response.status_code == 400
        answers.append(response.json())
    assert all(answer == answers[0] for answer in answers)
    assert "code did not work" in answers[0]["message"]
    devices = await pool.fetchval(
        "select count(*) from device where patient_id = $1", expired.patient_id
    )
    assert devices == 0


async def test_code_is_single_use_under_concurrency(
    pool: db.Pool, settings: Settings, http: httpx.AsyncClient
) -> None:
    import asyncio

    clinic = await make_clinic(pool)
    created = await make_patient(pool, settings, clinic.id)
    responses = await asyncio.gather(
        *(
            http.post(
                "/api/enroll",
                json={"code": created.enrollment_code},
                headers={"X-Forwarded-For": client_ip()},
            )
            for _ in range(8)
        )
    )
    assert sorted(r.status_code for r in responses) == [201] + [400] * 7
    assert (
        await pool.fetchval("select count(*) from device where patient_id = $1", created.patient_id)
        == 1
    )


async def test_failures_are_throttled_per_client(
    pool: db.Pool, settings: Settings, http: httpx.AsyncClient
) -> None:
    clinic = await make_clinic(pool)
    created = await make_patient(pool, settings, clinic.id)
    attacker = client_ip()
    statuses = []
    for _ in range(settings.enroll_max_failures_per_client + 2):
        response = await http.post(
            "/api/enroll", json={"code": "AAAA-AAAA-AAAA"}, headers={"X-Forwarded-For": attacker}
        )
        statuses.append(response.status_code)
    limit = settings.enroll_max_failures_per_client
    assert statuses[:limit] == [400] * limit
    assert statuses[limit:] == [429, 429]
    # Even the right code is refused to a throttled client, with a time to wait.
    blocked = await http.post(
        "/api/enroll", json={"code": created.enrollment_code}, headers={"X-Forwarded-For": attacker}
    )
    assert blocked.status_code == 429
    retry_after = int(blocked.headers["retry-after"])
    assert 0 < retry_after <= settings.enroll_throttle_window_seconds
    assert "wait" in blocked.json()["message"]
    # Another client is not affected.
    await enroll(http, created.enrollment_code)


@pytest.mark.slow
async def test_failures_are_throttled_globally_across_processes(make_database) -> None:  # type: ignore[no-untyped-def]
    """Two server processes share one global budget of failures kept in PostgreSQL. Once it is
    spent, every address still gets its first try of the window (patients typing their own code
    are served) but no second one."""
    database = await make_database()
    server = start_server(
        database, workers=2, ENROLL_MAX_FAILURES_GLOBAL="12", ENROLL_MAX_FAILURES_PER_CLIENT="5"
    )
    try:
        settings = Settings(public_url=server.url)
        pool = await db.create_pool(settings, database)
        try:
            clinic = await make_clinic(pool)
            patient = await make_patient(pool, settings, clinic.id)
        finally:
            await pool.close()
        async with httpx.AsyncClient(base_url=server.url) as client:

            async def attempt(code: str, address: str) -> int:
                response = await client.post(
                    "/api/enroll", json={"code": code}, headers={"X-Forwarded-For": address}
                )
                return response.status_code

            # One address that keeps guessing is stopped by its own limit and, blocked,
            # does not eat into everyone's budget.
            hammer = client_ip()
            statuses = [await attempt("AAAA-AAAA-AAAA", hammer) for _ in range(30)]
            assert statuses == [400] * 5 + [429] * 25
            # Many addresses spend the global budget (5 of 12 already spent above).
            addresses = [client_ip() for _ in range(7)]
            assert [await attempt("AAAA-AAAA-AAAA", a) for a in addresses] == [400] * 7
            # Spent: a second try from any of them is refused ...
            assert await attempt("AAAA-AAAA-AAAA", addresses[0]) == 429
            # ... while a patient's first try is still served.
            assert await attempt(patient.enrollment_code, client_ip()) == 201
        async with db.connection(database) as conn:
            hits = await conn.fetchval(
                "select sum(hits) from rate_counter where bucket = 'enroll:global'"
            )
        assert hits == 13  # 12 failures + the refused second try; the success was refunded
    finally:
        server.stop()


def test_code_normalization() -> None:
    assert normalize_code("abcd-efgh-jkmn") == "ABCDEFGHJKMN"
    assert normalize_code(" o1l0 IIII 2222 ") == "0110" + "1111" + "2222"
    assert normalize_code("ABCD-EFGH-JKM") is None
    assert normalize_code("ABCD-EFGH-JKMU") is None  # U is not in the alphabet
    assert normalize_code(str(uuid.uuid4())) is None


async def test_new_code_voids_the_old_and_discharged_patients_cannot_enroll(
    pool: db.Pool, settings: Settings, http: httpx.AsyncClient
) -> None:
    from tests.support.factories import new_code

    clinic = await make_clinic(pool)
    first = await make_patient(pool, settings, clinic.id)
    second = await new_code(pool, settings, clinic.id, first.patient_id)
    old = await http.post(
        "/api/enroll",
        json={"code": first.enrollment_code},
        headers={"X-Forwarded-For": client_ip()},
    )
    assert old.status_code == 400
    other = await make_patient(pool, settings, clinic.id)
    await pool.execute("update patient set status = 'discharged' where id = $1", other.patient_id)
    discharged = await http.post(
        "/api/enroll",
        json={"code": other.enrollment_code},
        headers={"X-Forwarded-For": client_ip()},
    )
    assert discharged.status_code == 400
    assert await enroll(http, second.enrollment_code)
