"""Cached device tokens never outlive a revocation, in any server process."""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx
import pytest

from server import db
from server.auth.cache import DeviceCache
from server.auth.schemas import PatientPrincipal
from server.settings import Settings
from tests.support.clock import now
from tests.support.factories import enroll, make_clinic, make_patient
from tests.support.live import start_server


def _principal() -> PatientPrincipal:
    return PatientPrincipal(uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), "crps")


def test_cache_only_while_listening_and_within_ttl() -> None:
    cache = DeviceCache(ttl=0.2)
    principal = _principal()
    cache.put(b"k", principal, cache.generation)
    assert cache.get(b"k") is None  # not listening: never cached
    cache.enabled = True
    cache.put(b"k", principal, cache.generation)
    assert cache.get(b"k") == principal
    time.sleep(0.25)
    assert cache.get(b"k") is None


def test_invalidation_by_device_and_patient_and_stale_lookups() -> None:
    cache = DeviceCache()
    cache.enabled = True
    a, b = _principal(), _principal()
    cache.put(b"a", a, cache.generation)
    cache.put(b"b", b, cache.generation)
    cache.invalidate(f"device:{a.device_id}")
    assert cache.get(b"a") is None and cache.get(b"b") == b
    cache.invalidate(f"patient:{b.patient_id}")
    assert cache.get(b"b") is None
    # A lookup that started before an invalidation must not be cached after it.
    generation = cache.generation
    cache.invalidate(f"device:{uuid.uuid4()}")
    cache.put(b"a", a, generation)
    assert cache.get(b"a") is None


@pytest.mark.slow
async def test_revocation_reaches_every_process(make_database) -> None:  # type: ignore[no-untyped-def]
    database = await make_database()
    server = start_server(database, workers=2)
    try:
        settings = Settings(public_url=server.url)
        pool = await db.create_pool(settings, database)
        try:
            clinic = await make_clinic(pool)
            async with httpx.AsyncClient(base_url=server.url) as client:
                patients = [await make_patient(pool, settings, clinic.id) for _ in range(2)]
                tokens = [await enroll(client, p.enrollment_code) for p in patients]
                auth = [{"Authorization": f"Bearer {t}"} for t in tokens]

                async def statuses(headers: dict[str, str], n: int = 40) -> set[int]:
                    answers = await asyncio.gather(
                        *(client.get("/api/me", headers=headers) for _ in range(n))
                    )
                    return {r.status_code for r in answers}

                # Warm both processes' caches.
                assert await statuses(auth[0]) == {200}
                assert await statuses(auth[1]) == {200}

                # Logout through the API: refused at once, whichever process answers.
                assert (await client.post("/api/logout", headers=auth[0])).status_code == 204
                assert await statuses(auth[0]) == {401}

                # Revoked behind the server's back (SQL): the trigger tells every process.
                await pool.execute(
                    "update device set revoked_at = $2 where patient_id = $1",
                    patients[1].patient_id,
                    now(),
                )
                await asyncio.sleep(0.2)  # a NOTIFY is delivered after the commit
                assert await statuses(auth[1]) == {401}
        finally:
            await pool.close()
    finally:
        server.stop()
