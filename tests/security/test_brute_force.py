"""A scripted guessing attack on enrollment codes and a coordinator's password, from many client
addresses at once, against a server of its own (two processes, one PostgreSQL; the server trusts
127.0.0.1 as its proxy, so X-Forwarded-For is each guesser's address).

Throttled globally (429 with Retry-After once the global budget is spent, whatever the address
spread), no guess succeeds, the per-address limits and the account lock hold, and the patient
with a real code and the coordinator with the right password are served during the attack.
"""

from __future__ import annotations

import asyncio
import math
import secrets
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
import pytest

from server import db
from server.auth import throttle
from server.auth.sessions import SIGN_IN_WINDOW_SECONDS
from server.auth.tokens import CODE_ALPHABET
from server.clinics import service as clinics
from server.settings import Settings
from tests.conftest import MakeDatabase
from tests.support.clock import moved_to, now
from tests.support.factories import client_ip, make_clinic, make_patient
from tests.support.live import ServerProcess, start_server
from tests.support.staff import PASSWORD, hidden, make_staff

ADDRESSES = 200
PER_CLIENT = 3
ENROLL_GLOBAL = 60
SIGN_IN_GLOBAL = 40


@dataclass
class Target:
    server: ServerProcess
    pool: db.Pool
    settings: Settings


def freshadd_window() -> datetime:
    """A second into the next fixed window of both throttles, so that each attack's guesses
    are counted in one window (one that ended mid-attack would grant a second budget)."""
    window = math.lcm(Settings().enroll_throttle_window_seconds, SIGN_IN_WINDOW_SECONDS)
    return throttle.window_start(now(), window) + timedelta(seconds=window + 1)


@pytest.fixture(scope="module")
async def target(make_database: MakeDatabase) -> AsyncIterator[Target]:
    database = await make_database()
    with moved_to(freshadd_window()):
        server = start_server(
            database,
            workers=2,
            TRUSTED_PROXIES="127.0.0.1",
            DISPATCHER="false",
            ENROLL_MAX_FAILURES_PER_CLIENT=str(PER_CLIENT),
            ENROLL_MAX_FAILURES_GLOBAL=str(ENROLL_GLOBAL),
            SIGN_IN_MAX_FAILURES_PER_CLIENT=str(PER_CLIENT),
            SIGN_IN_MAX_FAILURES_GLOBAL=str(SIGN_IN_GLOBAL),
        )
        settings = Settings(public_url=server.url)
        pool = await db.create_pool(settings, database)
        try:
            yield Target(server, pool, settings)
        finally:
            await pool.close()
            server.stop()


def guess_code() -> str:
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(12))
    return f"{raw[:4]}-{raw[4:8]}-{raw[8:]}"


async def test_enrollment_codes_under_a_distributed_guessing_attack(target: Target) -> None:
    clinic = await make_clinic(target.pool)
    patients = [await make_patient(target.pool, target.settings, clinic.id) for _ in range(3)]
    addresses = [client_ip() for _ in range(ADDRESSES)]
    limits = httpx.Limits(max_connections=64)
    async with httpx.AsyncClient(base_url=target.server.url, timeout=30, limits=limits) as client:

        async def guesser(address: str) -> list[httpx.Response]:
            answers = []
            for _ in range(PER_CLIENT + 2):
                answers.append(
                    await client.post(
                        "/api/enroll",
                        json={"code": guess_code()},
                        headers={"X-Forwarded-For": address},
                    )
                )
            return answers

        attack = asyncio.gather(*(guesser(a) for a in addresses))
        # Patients typing their real codes while the attack runs, each from their own phone.
        served = []
        for patient in patients[:2]:
            await asyncio.sleep(0)
            served.append(
                await client.post(
                    "/api/enroll",
                    json={"code": patient.enrollment_code},
                    headers={"X-Forwarded-For": client_ip()},
                )
            )
        answers = [r for per_address in await attack for r in per_address]
        # After the attack, with the global budget long spent: still served.
        served.append(
            await client.post(
                "/api/enroll",
                json={"code": patients[2].enrollment_code},
                headers={"X-Forwarded-For": client_ip()},
            )
        )
    statuses = Counter(r.status_code for r in answers)
    assert set(statuses) <= {400, 429}, statuses  # no guess enrolled a device
    assert [r.status_code for r in served] == [201, 201, 201], [r.text for r in served]
    # Guesses checked at all: the global budget, plus one first try per address once it is
    # spent (the patients' own first tries pass the same way).
    assert statuses[400] <= ENROLL_GLOBAL + ADDRESSES
    assert statuses[400] < ADDRESSES * PER_CLIENT  # the global limit cut in below per-address
    throttled = [r for r in answers if r.status_code == 429]
    assert throttled and all(0 < int(r.headers["retry-after"]) <= 900 for r in throttled)
    devices = await target.pool.fetchval(
        "select count(*) from device d join patient p on p.id = d.patient_id"
        " where p.clinic_id = $1",
        clinic.id,
    )
    assert devices == 3
    counted = await target.pool.fetchval(
        "select hits from rate_counter where bucket = 'enroll:global' order by window_start desc"
        " limit 1"
    )
    assert counted >= ENROLL_GLOBAL  # the budget is counted in PostgreSQL, across processes


async def _sign_in(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    form = await client.get("/coordinator/sign-in")
    return await client.post(
        "/coordinator/sign-in",
        data={"csrf_token": hidden(form.text, "csrf_token"), "email": email, "password": password},
    )


async def test_a_coordinators_password_under_a_distributed_guessing_attack(
    target: Target,
) -> None:
    clinic = await make_clinic(target.pool)
    email = await make_staff(target.pool, clinic.id)
    own_address = client_ip()
    async with httpx.AsyncClient(
        base_url=target.server.url, headers={"X-Forwarded-For": own_address}
    ) as owner:
        # The coordinator's own browser: signed in before, it keeps the known-device cookie
        # (sent only to the sign-in form), not the session.
        assert (await _sign_in(owner, email, PASSWORD)).status_code == 302
        assert "checkin_staff_device" in owner.cookies
        owner.cookies.delete("checkin_staff")
        addresses = [client_ip() for _ in range(ADDRESSES // 4)]

        async def guesser(address: str) -> list[int]:
            async with httpx.AsyncClient(
                base_url=target.server.url, timeout=60, headers={"X-Forwarded-For": address}
            ) as client:
                return [
                    (await _sign_in(client, email, secrets.token_urlsafe(8))).status_code
                    for _ in range(PER_CLIENT + 1)
                ]

        statuses = Counter(s for per in await asyncio.gather(*map(guesser, addresses)) for s in per)
        assert set(statuses) <= {400, 429}, statuses
        assert statuses[429] > 0
        assert statuses[400] <= SIGN_IN_GLOBAL + len(addresses)
        locked = await target.pool.fetchval(
            "select locked_until > $2 from coordinator where email = $1", email, now()
        )
        assert locked  # the account is locked against everyone else, wherever they are:
        for address in (client_ip(), own_address):  # the owner's own network included
            async with httpx.AsyncClient(
                base_url=target.server.url, headers={"X-Forwarded-For": address}
            ) as stranger:
                assert (await _sign_in(stranger, email, PASSWORD)).status_code == 400
        # ... but its owner's browser signs in with the right password, from anywhere.
        owner.headers["X-Forwarded-For"] = client_ip()
        assert (await _sign_in(owner, email, PASSWORD)).status_code == 302
    row = await target.pool.fetchrow(
        "select failed_logins, locked_until from coordinator where email = $1", email
    )
    assert (row["failed_logins"], row["locked_until"]) == (0, None)
    sessions = await target.pool.fetchval(
        "select count(*) from staff_session s join coordinator c on c.id = s.coordinator_id"
        " where c.email = $1",
        email,
    )
    assert sessions == 2  # the owner's two sign-ins, no guesser's
    devices = await target.pool.fetch(
        "select failures from staff_device d join coordinator c on c.id = d.coordinator_id"
        " where c.email = $1",
        email,
    )
    assert [d["failures"] for d in devices] == [0]  # one browser, known since the first


async def test_a_stolen_device_cookie_is_not_a_password(target: Target) -> None:
    """A known browser's own count: five wrong passwords there and it is known no more (the
    account's lock applies to it again); a new password forgets every browser."""
    clinic = await make_clinic(target.pool)
    email = await make_staff(target.pool, clinic.id)
    async with httpx.AsyncClient(
        base_url=target.server.url, headers={"X-Forwarded-For": client_ip()}
    ) as thief:
        assert (await _sign_in(thief, email, PASSWORD)).status_code == 302
        thief.cookies.delete("checkin_staff")
        for _ in range(5):  # from a new address each time: past the per-address limit
            thief.headers["X-Forwarded-For"] = client_ip()
            assert (await _sign_in(thief, email, secrets.token_urlsafe(8))).status_code == 400
        counts = await target.pool.fetchrow(
            "select c.failed_logins, d.failures from coordinator c"
            " join staff_device d on d.coordinator_id = c.id where c.email = $1",
            email,
        )
        assert (counts["failed_logins"], counts["failures"]) == (0, 5)
        thief.headers["X-Forwarded-For"] = client_ip()
        assert (await _sign_in(thief, email, secrets.token_urlsafe(8))).status_code == 400
        failed = await target.pool.fetchval(
            "select failed_logins from coordinator where email = $1", email
        )
        assert failed == 1  # counted against the account now
        async with target.pool.acquire() as conn:
            coordinator = await conn.fetchval("select id from coordinator where email = $1", email)
            await clinics.set_password(conn, coordinator, PASSWORD + "-new")
        known = await target.pool.fetchval(
            "select count(*) from staff_device where coordinator_id = $1", coordinator
        )
        assert known == 0
