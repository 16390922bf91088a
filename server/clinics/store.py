"""SQL calls for clinics and coordinator accounts."""

from __future__ import annotations

from collections.abc import Mapping
from uuid import UUID

import asyncpg

from server.db import Connection, q


async def insert_clinic(conn: Connection, name: str, timezone: str) -> asyncpg.Record:
    row = await conn.fetchrow(q("clinics.insert"), name, timezone)
    assert row is not None
    return row


async def get_clinic(conn: Connection, clinic_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(q("clinics.get"), clinic_id)


async def count_clinics(conn: Connection) -> int:
    count: int = await conn.fetchval(q("clinics.count"))
    return count


async def insert_coordinator(
    conn: Connection, clinic_id: UUID, email: str, display_name: str, role: str, password_hash: str
) -> asyncpg.Record:
    row = await conn.fetchrow(
        q("clinics.insert_coordinator"), clinic_id, email, display_name, role, password_hash
    )
    assert row is not None
    return row


async def coordinator_by_email(conn: Connection, email: str) -> asyncpg.Record | None:
    return await conn.fetchrow(q("clinics.coordinator_by_email"), email)


async def set_password(conn: Connection, coordinator_id: UUID, password_hash: str) -> None:
    await conn.execute(q("clinics.set_password"), coordinator_id, password_hash)


async def protocol(conn: Connection, clinic_id: UUID) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(q("clinics.protocol"), clinic_id)
    return row


async def update_protocol(
    conn: Connection, clinic_id: UUID, values: Mapping[str, int]
) -> asyncpg.Record:
    row = await conn.fetchrow(
        q("clinics.update_protocol"),
        clinic_id,
        values.get("daily_window_minutes"),
        values.get("nudge_after_minutes"),
        values.get("post_infusion_days"),
        values.get("weekly_weekday"),
        values.get("weekly_window_minutes"),
    )
    assert row is not None
    return row


async def plans_stale(conn: Connection, clinic_id: UUID) -> int:
    count: int = await conn.fetchval(q("clinics.plans_stale"), clinic_id)
    return count


async def wake_planner(conn: Connection) -> None:
    await conn.execute(q("clinics.wake_planner"))
