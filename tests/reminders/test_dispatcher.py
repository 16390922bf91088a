"""Dispatcher processes sharing one database: exactly once across processes, nothing lost
when one is killed mid-batch, everything delivered after a push service outage."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from server import db
from tests.conftest import MakeDatabase
from tests.support import seed
from tests.support.factories import now
from tests.support.fakepush import Behaviour, FakePushService
from tests.support.live import ROOT, clean_env, push_settings

pytestmark = pytest.mark.slow


class Dispatchers:
    """`checkin dispatch` processes against one database; killed at the end of the test."""

    def __init__(self, database_url: str, push: FakePushService, **settings: str) -> None:
        self.env = clean_env(
            DATABASE_URL=database_url, LOG_LEVEL="warning", **push_settings(push, **settings)
        )
        self.processes: list[subprocess.Popen[bytes]] = []
        self.logs: list[Path] = []

    def start(self) -> subprocess.Popen[bytes]:
        log = Path(os.environ.get("TMPDIR", "/tmp")) / f"checkin-dispatch-{uuid.uuid4().hex}.log"
        self.logs.append(log)
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "server", "dispatch"],
                cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        self.processes.append(process)
        return process

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)

    def output(self) -> str:
        return "\n".join(log.read_text(errors="replace") for log in self.logs if log.exists())


@pytest.fixture
def dispatchers() -> Iterator[list[Dispatchers]]:
    made: list[Dispatchers] = []
    yield made
    for group in made:
        group.stop()


async def _fresh(
    make_database: MakeDatabase, push: FakePushService, count: int
) -> tuple[str, db.Connection, list[uuid.UUID]]:
    url = await make_database()
    conn = await db.connect(url)
    # A fresh database: its dispatchers make a VAPID key of their own (checked per test).
    push.expected_vapid_key = None
    subscribers = [push.new_subscriber() for _ in range(count)]
    ids = await seed.due_reminders(conn, [s.subscription_info() for s in subscribers], now())
    return url, conn, ids


async def _wait_settled(
    conn: db.Connection, ids: list[uuid.UUID], group: Dispatchers, within: float = 90.0
) -> dict[str, int]:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        rows = await conn.fetch(
            "select status::text as status, count(*) from reminder where id = any($1::uuid[])"
            " group by status",
            ids,
        )
        statuses = {r["status"]: r["count"] for r in rows}
        if statuses.get("pending", 0) + statuses.get("sending", 0) == 0:
            return statuses
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not settled: {statuses}\n{group.output()}")
        await asyncio.sleep(0.2)


async def test_three_dispatchers_send_2000_reminders_exactly_once(
    make_database: MakeDatabase, push: FakePushService, dispatchers: list[Dispatchers]
) -> None:
    url, conn, ids = await _fresh(make_database, push, 2000)
    try:
        group = Dispatchers(url, push, PUSH_BATCH_SIZE="50")
        dispatchers.append(group)
        for _ in range(3):
            group.start()
        statuses = await _wait_settled(conn, ids, group)
        assert statuses == {"sent": 2000}
        delivered = seed.deliveries_per_reminder(push, ids)
        assert len(delivered) == 2000 and set(delivered.values()) == {1}
        # Three processes started at once on a new database share one VAPID key.
        stored = await conn.fetchval("select public_key from vapid_key")
        keys = {d.vapid_key for d in push.deliveries if d.json and d.json.get("reminder_id")
                in {str(i) for i in ids}}  # fmt: skip
        assert keys == {stored}
        repeated = await conn.fetch(
            "select count(*) from push_attempt a where a.reminder_id = any($1::uuid[])"
            " group by a.reminder_id having count(*) <> 1",
            ids,
        )
        assert repeated == []
        assert push.rejected == []
        assert all(p.poll() is None for p in group.processes), group.output()
    finally:
        await conn.close()


async def test_a_dispatcher_killed_mid_batch_loses_nothing(
    make_database: MakeDatabase, push: FakePushService, dispatchers: list[Dispatchers]
) -> None:
    url, conn, ids = await _fresh(make_database, push, 300)
    try:
        push.set_default(Behaviour(201, stall=1.5))
        group = Dispatchers(
            url, push, PUSH_BATCH_SIZE="50", PUSH_CONCURRENCY="50", PUSH_LEASE_SECONDS="3"
        )
        dispatchers.append(group)
        victim = group.start()
        deadline = asyncio.get_running_loop().time() + 30
        while not await conn.fetchval(
            "select count(*) from reminder where status = 'sending' and id = any($1::uuid[])", ids
        ):
            assert asyncio.get_running_loop().time() < deadline, group.output()
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.3)  # its requests are now in flight at the push service
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=5)
        leased = await conn.fetchval(
            "select count(*) from reminder where status = 'sending' and id = any($1::uuid[])", ids
        )
        assert 0 < leased <= 50

        push.set_default(None)
        group.start()
        statuses = await _wait_settled(conn, ids, group)
        assert statuses == {"sent": 300}
        await asyncio.sleep(2.0)  # let the killed batch's stalled requests finish at the fake
        delivered = seed.deliveries_per_reminder(push, ids)
        assert set(delivered) == {str(i) for i in ids}  # nothing lost
        duplicates = sum(delivered.values()) - len(delivered)
        assert duplicates <= 50  # at most the batch that was in flight
    finally:
        push.set_default(None)
        await conn.close()


async def test_everything_is_delivered_after_a_push_service_outage(
    make_database: MakeDatabase, push: FakePushService, dispatchers: list[Dispatchers]
) -> None:
    url, conn, ids = await _fresh(make_database, push, 200)
    try:
        push.set_default(Behaviour(500))
        group = Dispatchers(url, push, PUSH_RETRY_BASE_SECONDS="0.5", PUSH_MAX_ATTEMPTS="10")
        dispatchers.append(group)
        group.start()
        deadline = asyncio.get_running_loop().time() + 30
        while (
            await conn.fetchval(
                "select count(distinct reminder_id) from push_attempt where status_code = 500"
                " and reminder_id = any($1::uuid[])",
                ids,
            )
            < 200
        ):
            assert asyncio.get_running_loop().time() < deadline, group.output()
            await asyncio.sleep(0.1)
        await asyncio.sleep(2.0)  # a few more rounds of 500s
        push.set_default(None)
        statuses = await _wait_settled(conn, ids, group)
        assert statuses == {"sent": 200}
        delivered = seed.deliveries_per_reminder(push, ids)
        assert len(delivered) == 200 and set(delivered.values()) == {1}
        tries = await conn.fetchval(
            "select min(attempts) from reminder where id = any($1::uuid[])", ids
        )
        assert tries >= 2
    finally:
        push.set_default(None)
        await conn.close()


async def test_a_dispatcher_stopped_mid_batch_settles_it_first(
    make_database: MakeDatabase, push: FakePushService, dispatchers: list[Dispatchers]
) -> None:
    url, conn, ids = await _fresh(make_database, push, 40)
    try:
        push.set_default(Behaviour(201, stall=1.0))
        group = Dispatchers(url, push, PUSH_BATCH_SIZE="40", PUSH_CONCURRENCY="40")
        dispatchers.append(group)
        process = group.start()
        deadline = asyncio.get_running_loop().time() + 30
        while not await conn.fetchval(
            "select count(*) from reminder where status = 'sending' and id = any($1::uuid[])", ids
        ):
            assert asyncio.get_running_loop().time() < deadline, group.output()
            await asyncio.sleep(0.02)
        process.send_signal(signal.SIGTERM)  # a deploy
        assert await asyncio.to_thread(process.wait, 20) == 0, group.output()
        statuses = await conn.fetch(
            "select status::text as status, count(*) from reminder where id = any($1::uuid[])"
            " group by status",
            ids,
        )
        assert {r["status"]: r["count"] for r in statuses} == {"sent": 40}
    finally:
        push.set_default(None)
        await conn.close()
