"""SQL calls for the coordinator side: alerts."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from server.db import Connection, q


async def list_alerts(
    conn: Connection, clinic_id: UUID, status: str | None, limit: int
) -> list[asyncpg.Record]:
    return await conn.fetch(q("alerts.list_for_clinic"), clinic_id, status, limit)


async def acknowledge(
    conn: Connection, alert_id: UUID, clinic_id: UUID, now: datetime, by: UUID, note: str
) -> asyncpg.Record | None:
    return await conn.fetchrow(q("alerts.acknowledge"), alert_id, clinic_id, now, by, note)


async def alert_status(conn: Connection, alert_id: UUID, clinic_id: UUID) -> str | None:
    status: str | None = await conn.fetchval(q("alerts.status_in_clinic"), alert_id, clinic_id)
    return status


async def copy_export(
    conn: Connection,
    query: str,
    clinic_id: UUID,
    output: Callable[[bytes], Coroutine[Any, Any, None]],
    limit_seconds: float,
) -> None:
    await conn.copy_from_query(
        query, clinic_id, output=output, format="csv", header=True, timeout=limit_seconds
    )


async def board(
    conn: Connection, clinic_id: UUID, now: datetime, limit: int
) -> list[asyncpg.Record]:
    return await conn.fetch(q("board.board"), clinic_id, now, limit)


async def patients_page(
    conn: Connection,
    clinic_id: UUID,
    name: str | None,
    condition: str | None,
    status: str | None,
    adherence_below: int | None,
    has_alert: bool,
    sort: str,
    limit: int,
    offset: int,
    now: datetime,
) -> list[asyncpg.Record]:
    return await conn.fetch(
        q("board.patients_page"),
        clinic_id, name, condition, status, adherence_below, has_alert, sort, limit, offset, now,
    )  # fmt: skip


async def audit_trail(
    conn: Connection,
    clinic_id: UUID,
    patient_id: UUID | None,
    actor_id: UUID | None,
    before: int | None,
    limit: int,
) -> list[asyncpg.Record]:
    return await conn.fetch(q("audit.search"), clinic_id, patient_id, actor_id, before, limit)


async def staff_of_clinic(conn: Connection, clinic_id: UUID) -> list[asyncpg.Record]:
    return await conn.fetch(q("audit.staff_of_clinic"), clinic_id)
