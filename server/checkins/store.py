"""SQL calls for check-ins."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from server.db import Connection, q


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
