"""SQL calls for clinics and coordinator accounts."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
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
    await forget_devices(conn, coordinator_id)


async def forget_devices(conn: Connection, coordinator_id: UUID) -> None:
    await conn.execute(q("clinics.forget_devices"), coordinator_id)


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


async def staff(conn: Connection, clinic_id: UUID) -> list[asyncpg.Record]:
    return await conn.fetch(q("clinics.staff"), clinic_id)


async def set_disabled(
    conn: Connection, coordinator_id: UUID, clinic_id: UUID, disabled: bool, now: datetime
) -> bool:
    found = await conn.fetchval(q("clinics.set_disabled"), coordinator_id, clinic_id, disabled, now)
    return found is not None


async def set_role(conn: Connection, coordinator_id: UUID, clinic_id: UUID, role: str) -> bool:
    found = await conn.fetchval(q("clinics.set_role"), coordinator_id, clinic_id, role)
    return found is not None


async def end_sessions(conn: Connection, coordinator_id: UUID, now: datetime) -> None:
    await conn.execute(q("clinics.end_sessions"), coordinator_id, now)
