"""Check-ins that arrive together share one statement (server/checkins/writer.py), and
nothing else about storing them changes: each is scored against what came before it, one bad
check-in fails only itself, a replay is still a replay, and a phone that gave up is stored."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import asyncpg
import msgspec
import pytest

from server import db
from server.auth.schemas import PatientPrincipal
from server.checkins import service
from server.checkins.schemas import CheckinIn
from server.checkins.writer import CheckinWriter
from server.errors import DATABASE_UNAVAILABLE, Conflict
from server.settings import Settings
from tests.support.factories import daily_answers, make_clinic, make_patient, now, open_window_now


async def _patients(pool: db.Pool, settings: Settings, count: int) -> list[PatientPrincipal]:
    clinic = await make_clinic(pool)
    principals = []
    for _ in range(count):
        created = await make_patient(pool, settings, clinic.id)
        principals.append(PatientPrincipal(uuid.uuid4(), created.patient_id, clinic.id, "other"))
    return principals


def _body(pain: int = 5, days_ago: float = 0, **extra: Any) -> CheckinIn:
    return msgspec.convert(
        {
            "id": str(uuid.uuid4()),
            "answered_at": (now() - timedelta(days=days_ago)).isoformat(),
            "answers": daily_answers(pain),
        }
        | extra,
        CheckinIn,
    )


async def _stored(pool: db.Pool, ids: list[uuid.UUID]) -> int:
    count: int = await pool.fetchval("select count(*) from checkin where id = any($1)", ids)
    return count


async def _waiting_at_the_lock(pool: db.Pool) -> list[int]:
    """The backends whose check-in insert waits for the table lock (30 s at most)."""
    for _ in range(3000):
        waiting = await pool.fetch(
            "select pid from pg_locks where relation = 'checkin'::regclass and not granted"
        )
        if waiting:
            return [r["pid"] for r in waiting]
        await asyncio.sleep(0.01)
    raise AssertionError("no check-in reached PostgreSQL")


async def test_checkins_sent_together_are_stored_in_one_statement(
    pool: db.Pool, settings: Settings
) -> None:
    writer = CheckinWriter(pool)
    patients = await _patients(pool, settings, 20)
    bodies = [_body(pain=i % 11) for i in range(20)]
    results = await asyncio.gather(
        *(service.submit(pool, writer, p, b, now()) for p, b in zip(patients, bodies, strict=True))
    )
    assert all(r.created for r in results)
    assert [r.checkin.id for r in results] == [b.id for b in bodies]
    assert [r.checkin.answers["pain_now"] for r in results] == [i % 11 for i in range(20)]
    assert await _stored(pool, [b.id for b in bodies]) == 20
    assert writer.statements <= 2  # 20 one by one without batching


async def test_two_checkins_of_one_patient_are_scored_in_the_order_they_came(
    pool: db.Pool, settings: Settings
) -> None:
    writer = CheckinWriter(pool)
    (patient,) = await _patients(pool, settings, 1)
    for days_ago in (4, 3):
        await service.submit(pool, writer, patient, _body(pain=8, days_ago=days_ago), now())
    before = writer.statements
    first, second = await asyncio.gather(
        service.submit(pool, writer, patient, _body(pain=2, days_ago=2), now()),
        service.submit(pool, writer, patient, _body(pain=5, days_ago=1), now()),
    )
    # The first three (8, 8, 2) are the baseline for both: the second saw the first. Stored
    # side by side in one statement, the second would have had (8, 8, 5).
    assert first.checkin.scores["outcome"]["baseline"] == 6.0
    assert second.checkin.scores["outcome"]["baseline"] == 6.0
    assert second.checkin.scores["outcome"]["baseline_n"] == 3
    assert writer.statements - before == 2


async def test_a_refused_checkin_fails_only_itself(pool: db.Pool, settings: Settings) -> None:
    writer = CheckinWriter(pool)
    patients = await _patients(pool, settings, 6)
    others_window = await open_window_now(pool, patients[0].patient_id)
    bodies = [_body() for _ in patients]
    bodies[3] = _body(due_id=str(others_window))  # patient 3 answers patient 0's window
    results = await asyncio.gather(
        *(service.submit(pool, writer, p, b, now()) for p, b in zip(patients, bodies, strict=True)),
        return_exceptions=True,
    )
    assert isinstance(results[3], asyncpg.ForeignKeyViolationError)
    good = [r for i, r in enumerate(results) if i != 3]
    assert all(isinstance(r, service.Submitted) and r.created for r in good)
    assert await _stored(pool, [b.id for b in bodies]) == 5


async def test_replays_sent_together(pool: db.Pool, settings: Settings) -> None:
    writer = CheckinWriter(pool)
    (patient,) = await _patients(pool, settings, 1)
    body = _body(pain=4)
    results = await asyncio.gather(
        service.submit(pool, writer, patient, body, now()),
        service.submit(pool, writer, patient, body, now()),
    )
    assert sorted(r.created for r in results) == [False, True]
    assert results[0].checkin.scores == results[1].checkin.scores
    changed = msgspec.structs.replace(body, answers=daily_answers(9))
    other = _body(pain=4)
    outcome = await asyncio.gather(
        service.submit(pool, writer, patient, changed, now()),
        service.submit(pool, writer, patient, other, now()),
        return_exceptions=True,
    )
    assert isinstance(outcome[0], Conflict)
    assert isinstance(outcome[1], service.Submitted) and outcome[1].created
    assert await _stored(pool, [body.id, other.id]) == 2


async def test_a_checkin_whose_phone_gave_up_is_still_stored(
    pool: db.Pool, settings: Settings
) -> None:
    writer = CheckinWriter(pool)
    (patient,) = await _patients(pool, settings, 1)
    body = _body(pain=6)
    async with pool.acquire() as blocker, blocker.transaction():
        # Check-ins wait at PostgreSQL until this transaction ends.
        await blocker.execute("lock table checkin in share mode")
        task = asyncio.create_task(service.submit(pool, writer, patient, body, now()))
        await _waiting_at_the_lock(pool)
        task.cancel()  # the phone gives up while its check-in is being stored
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await _stored(pool, [body.id]) == 0
    await writer.drain()
    assert await _stored(pool, [body.id]) == 1
    replay = await service.submit(pool, writer, patient, body, now())
    assert not replay.created and replay.checkin.answers["pain_now"] == 6


async def test_a_broken_connection_fails_the_batch_as_unavailable(
    pool: db.Pool, settings: Settings
) -> None:
    """Not stored one by one on a dead connection (each would fail as 'connection is closed',
    a 500): every check-in of the batch gets the error that means 'try again' (503)."""
    writer = CheckinWriter(pool)
    patients = await _patients(pool, settings, 3)
    bodies = [_body() for _ in patients]
    async with pool.acquire() as blocker, blocker.transaction():
        await blocker.execute("lock table checkin in share mode")
        submitted = [
            asyncio.create_task(service.submit(pool, writer, p, b, now()))
            for p, b in zip(patients, bodies, strict=True)
        ]
        waiting = await _waiting_at_the_lock(pool)
        await pool.execute("select pg_terminate_backend($1)", waiting[0])
        results = await asyncio.gather(*submitted, return_exceptions=True)
    assert writer.statements == 1
    assert all(isinstance(r, DATABASE_UNAVAILABLE) for r in results), results
    assert await _stored(pool, [b.id for b in bodies]) == 0


async def test_one_id_from_two_patients_together_stores_one(
    pool: db.Pool, settings: Settings
) -> None:
    """Only one of two patients can own an id: the other is told it is taken."""
    writer = CheckinWriter(pool)
    patients = await _patients(pool, settings, 2)
    body = _body(pain=3)
    results = await asyncio.gather(
        *(service.submit(pool, writer, p, body, now()) for p in patients), return_exceptions=True
    )
    assert isinstance(results[0], service.Submitted) and results[0].created
    assert isinstance(results[1], Conflict)
