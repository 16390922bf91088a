"""SQL calls for check-ins."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from server.db import Connection, q


async def insert(
    conn: Connection,
    *,
    id_: UUID,
    patient_id: UUID,
    due_id: UUID | None,
    questionnaire: str,
    version: int,
    answered_at: datetime,
    answers: dict[str, Any],
    scores: dict[str, Any],
    note: str | None,
    content_hash: bytes,
    flags: list[str],
    outcome_metric: str | None,
    outcome_value: float | int | None,
    clinic_id: UUID,
    now: datetime,
) -> asyncpg.Record | None:
    """(due_id, scores) of the stored row, or None when a check-in with this id exists."""
    return await conn.fetchrow(
        q("checkins.insert"),
        id_,
        patient_id,
        due_id,
        questionnaire,
        version,
        answered_at,
        answers,
        scores,
        note,
        content_hash,
        now,
        flags,
        outcome_metric,
        outcome_value,
        clinic_id,
    )


async def get_existing(conn: Connection, id_: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(q("checkins.get_existing"), id_)


async def history(
    conn: Connection, patient_id: UUID, before: datetime | None, before_id: UUID | None, limit: int
) -> list[asyncpg.Record]:
    return await conn.fetch(q("checkins.history"), patient_id, before, before_id, limit)


async def latest(conn: Connection, patient_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(q("checkins.history"), patient_id, None, None, 1)


async def trend_days(
    conn: Connection, patient_id: UUID, since: datetime, until: datetime
) -> list[asyncpg.Record]:
    return await conn.fetch(q("checkins.trend_days"), patient_id, since, until)


async def trend_infusions(
    conn: Connection, patient_id: UUID, since: datetime, until: datetime
) -> list[asyncpg.Record]:
    return await conn.fetch(q("checkins.trend_infusions"), patient_id, since, until)


async def latest_outcome(conn: Connection, patient_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(q("checkins.latest_outcome"), patient_id)
