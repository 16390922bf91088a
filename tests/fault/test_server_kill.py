"""`checkin serve` killed with SIGKILL (every process of it at once) while phones are posting
check-ins and its dispatcher has a batch of reminders at the push service, then started again.

Shown: no check-in answered 2xx is missing, and every check-in the phones kept sending is
stored exactly once; every due reminder ends in a final state; a reminder is delivered twice
only if it was in a batch in flight when the server died (the design's bound: the lease
expires and the batch is sent again; one Topic per patient lets the push service collapse it).
"""

from __future__ import annotations

import asyncio
import os
import signal
import uuid

import pytest

from server import db
from tests.conftest import MakeDatabase
from tests.fault.phones import Fleet, seed_phones
from tests.fault.waits import until
from tests.support import seed
from tests.support.factories import now
from tests.support.fakepush import Behaviour, FakePushService
from tests.support.live import ServerProcess, free_port, push_settings, start_server

pytestmark = pytest.mark.slow

REMINDERS = 300
BATCH = 50
WORKERS = 2


def _serve(url: str, port: int, push: FakePushService) -> ServerProcess:
    # The push service stalls 1.5 s; a slow machine must not turn that into timeouts (and
    # sends again beyond the killed batch).
    return start_server(
        url,
        workers=WORKERS,
        port=port,
        **push_settings(
            push,
            PUSH_BATCH_SIZE=str(BATCH),
            PUSH_CONCURRENCY=str(BATCH),
            PUSH_TIMEOUT_SECONDS="5",
            PUSH_LEASE_SECONDS="6",
        ),
    )


async def _count(conn: db.Connection, ids: list[uuid.UUID], status: str) -> int:
    count: int = await conn.fetchval(
        "select count(*) from reminder where status = $2::reminder_status and id = any($1)",
        ids,
        status,
    )
    return count


async def test_serve_killed_mid_request_and_mid_dispatch(
    make_database: MakeDatabase, push: FakePushService
) -> None:
    url = await make_database()
    conn = await db.connect(url)
    push.expected_vapid_key = None  # a fresh database makes its own key
    subscribers = [push.new_subscriber() for _ in range(REMINDERS)]
    ids = await seed.due_reminders(conn, [s.subscription_info() for s in subscribers], now())
    phones = await seed_phones(url, 20)
    # The push service answers slowly, so batches are in flight when the server dies.
    push.set_default(Behaviour(201, stall=1.5))
    port = free_port()
    first = _serve(url, port, push)
    fleet = Fleet(first.url, phones)
    posting = asyncio.create_task(fleet.run())
    second: ServerProcess | None = None
    try:

        async def mid_everything() -> bool:
            return len(fleet.stored) >= 30 and await _count(conn, ids, "sending") > 0

        await until(mid_everything, "check-ins stored and a batch at the push service", 60)
        # Hold the check-ins being stored at PostgreSQL, so some requests are surely in
        # flight when the server dies (their rows are committed once the lock goes: the
        # phone never hears, sends again, and gets 200).
        blocker = await db.connect(url)
        held = blocker.transaction()
        await held.start()
        await blocker.execute("lock table checkin in share mode")

        try:

            async def requests_in_flight() -> bool:
                waiting: int = await conn.fetchval(
                    "select count(*) from pg_locks"
                    " where relation = 'checkin'::regclass and not granted"
                )
                return waiting >= 1

            await until(requests_in_flight, "check-ins waiting at PostgreSQL", 60)
            await asyncio.sleep(0.3)  # more requests arrive and wait behind them
            os.killpg(first.process.pid, signal.SIGKILL)
            first.process.wait(timeout=10)
        finally:
            await held.rollback()
            await blocker.close()
        answered_before = dict(fleet.stored)
        leased_ids = {
            str(r["id"])
            for r in await conn.fetch(
                "select id from reminder where status = 'sending' and id = any($1)", ids
            )
        }
        leased = len(leased_ids)
        assert 0 < leased <= BATCH * WORKERS

        await asyncio.sleep(1.0)  # phones find nobody there, and keep their check-ins
        push.set_default(None)
        second = await asyncio.to_thread(_serve, url, port, push)

        async def settled() -> bool:
            return await _count(conn, ids, "sending") + await _count(conn, ids, "pending") == 0

        await until(settled, "every reminder in a final state", 60)
        await asyncio.sleep(1.0)
        fleet.stop_making()
        await asyncio.wait_for(posting, 60)
    finally:
        fleet.abandon()
        await asyncio.gather(posting, return_exceptions=True)
        push.set_default(None)
        first.stop()
        if second is not None:
            second.stop()

    try:
        await asyncio.sleep(2.0)  # the killed batch's stalled requests finish at the fake
        delivered = seed.deliveries_per_reminder(push, ids)
        twice = [r for r, n in delivered.items() if n > 1]
        print(
            f"\n{len(fleet.made)} check-ins ({len(answered_before)} answered before the kill), "
            f"{len(fleet.retried)} sent again, "
            f"{sum(1 for s in fleet.stored.values() if s == 200)} answered 200 (stored, answer "
            f"lost), failed attempts {dict(fleet.failures)}; {leased} reminders leased when "
            f"killed, {len(twice)} delivered twice"
        )
        assert not fleet.unexpected
        assert fleet.retried, "no phone noticed the server was gone"
        # Requests cut off mid-way, and check-ins stored whose answer never arrived.
        assert fleet.failures["RemoteProtocolError"] + fleet.failures["ReadError"] > 0
        assert 200 in fleet.stored.values()
        assert not any(kind.startswith("500") for kind in fleet.failures), fleet.failures
        rows = await conn.fetch("select id, patient_id from checkin")
        assert {r["id"]: r["patient_id"] for r in rows} == fleet.made
        assert set(answered_before) <= {r["id"] for r in rows}

        statuses = await conn.fetch(
            "select status::text, count(*) from reminder where id = any($1) group by 1", ids
        )
        assert {r["status"]: r["count"] for r in statuses} == {"sent": REMINDERS}
        assert set(delivered) == {str(i) for i in ids}  # nothing lost
        assert max(delivered.values()) <= 2
        assert set(twice) <= leased_ids  # only those in flight when the server died
        assert (
            await conn.fetchval(
                "select count(*) from reminder where id = any($1) and sent_at is null", ids
            )
            == 0
        )
    finally:
        await conn.close()
