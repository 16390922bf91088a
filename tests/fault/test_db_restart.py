"""PostgreSQL restarts under load: fast, then immediate (a crash: no checkpoint, recovery from
the WAL), on a cluster of the test's own, while phones post check-ins the way the patient app
does (each kept and sent again with the same id until stored).

Shown: every check-in the server answered 2xx is stored exactly once and as sent; every check-in
a phone had to send again is stored exactly once too; while PostgreSQL is down the server
answers 503 with Retry-After (never a 500) and /healthz says so; afterwards it serves again by
itself, without a restart, and its LISTEN connections are back (a revoked device is refused at
once).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from server import db
from tests.fault.phones import Fleet, HealthWatch, seed_phones
from tests.fault.waits import until
from tests.support import pg
from tests.support.clock import now
from tests.support.cluster import Cluster, StopMode
from tests.support.live import ServerProcess, start_server

OUTAGE = 2.0  # seconds PostgreSQL stays down each time
RECOVERY_LIMIT = 30.0  # seconds the server may take to serve again once PostgreSQL is back


@pytest.fixture
async def cluster_db() -> AsyncIterator[tuple[Cluster, str]]:
    cluster = Cluster("checkin-restart")
    try:
        cluster.start()
        url = await pg.create_database(cluster.url, "checkin")
        async with db.connection(url) as conn:
            await db.migrate(conn)
        yield cluster, url
    finally:
        cluster.remove()


async def test_checkins_survive_database_restarts(cluster_db: tuple[Cluster, str]) -> None:
    cluster, url = cluster_db
    phones = await seed_phones(url, 20)
    server = start_server(url, workers=2)
    try:
        await _restarts(cluster, url, phones, server)
    finally:
        server.stop()


async def _restarts(
    cluster: Cluster, url: str, phones: list[tuple[uuid.UUID, str]], server: ServerProcess
) -> None:
    fleet = Fleet(server.url, phones)
    health = HealthWatch(server.url)
    running = [asyncio.create_task(fleet.run()), asyncio.create_task(health.run())]
    recovered: dict[StopMode, float] = {}
    try:
        await until(lambda: len(fleet.stored) >= 50, "check-ins stored before the restart", 20)
        for mode in ("fast", "immediate"):
            down = time.monotonic()
            await asyncio.to_thread(cluster.stop, mode)
            await asyncio.sleep(OUTAGE)
            await asyncio.to_thread(cluster.start)
            up = time.monotonic()
            stored = len(fleet.stored)
            recovered[mode] = await until(
                lambda s=stored: (
                    len(fleet.stored) >= s + 20  # type: ignore[misc]
                    and health.seen[-1][1] == 200
                ),
                f"serving again after a {mode} restart",
                RECOVERY_LIMIT,
            )
            assert 503 in health.between(down, up), f"/healthz did not report the {mode} outage"
            await asyncio.sleep(1.0)
        fleet.stop_making()
        await asyncio.wait_for(running[0], RECOVERY_LIMIT)
    finally:
        fleet.abandon()
        health.stop()
        await asyncio.gather(*running, return_exceptions=True)

    print(
        f"\n{len(fleet.made)} check-ins, {len(fleet.retried)} sent again, "
        f"{sum(1 for s in fleet.stored.values() if s == 200)} answered 200 (stored before the "
        f"answer was lost); failed attempts {dict(fleet.failures)}; serving again "
        + ", ".join(f"{m} {s:.1f} s" for m, s in recovered.items())
    )
    assert server.process.poll() is None, "the server process died"
    assert not fleet.unexpected
    assert fleet.retried, "no phone had to send again: the restarts were not felt"
    # Every failed attempt was a 503 with Retry-After or a broken connection, never a 500.
    assert all(
        (kind.startswith("503 retry-after=") and not kind.endswith("None")) or not kind[0].isdigit()
        for kind in fleet.failures
    ), fleet.failures
    # Every check-in answered 2xx, and every one sent again, is stored exactly once, as sent.
    assert set(fleet.stored) == set(fleet.made)
    async with db.connection(url) as conn:
        rows = await conn.fetch("select id, patient_id, answers from checkin")
    assert len(rows) == len(fleet.made)
    assert {r["id"]: r["patient_id"] for r in rows} == fleet.made
    assert all(r["answers"]["pain_now"] == 4 for r in rows)

    # The LISTEN connections are back: revoking a device reaches the token cache at once
    # (without it, the cache would accept the token for up to a minute).
    patient, token = phones[0]
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=server.url, timeout=5.0) as http:
        assert (await http.get("/api/me", headers=headers)).status_code == 200
        async with db.connection(url) as conn:
            await conn.execute(
                "update device set revoked_at = $2 where patient_id = $1", patient, now()
            )
        statuses = []
        for _ in range(100):  # 10 s at most
            statuses.append((await http.get("/api/me", headers=headers)).status_code)
            if statuses[-1] == 401:
                break
            await asyncio.sleep(0.1)
        assert statuses[-1] == 401, statuses
    log = server.output()
    assert "Traceback" not in log and "unhandled" not in log, log
