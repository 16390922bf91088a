"""SQL calls for clinics and coordinator accounts."""

from __future__ import annotations

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
