"""SQL calls for patients, enrollment codes and profiles."""

from __future__ import annotations

from datetime import datetime, time
from uuid import UUID

import asyncpg

from server.db import Connection, q


async def insert_patient(
    conn: Connection,
    clinic_id: UUID,
    display_name: str,
    timezone: str,
    condition: str,
    language: str,
    reminder_time: time,
) -> UUID:
    patient_id: UUID = await conn.fetchval(
        q("patients.insert"), clinic_id, display_name, timezone, condition, language, reminder_time
    )
    return patient_id


async def insert_code(
    conn: Connection,
    patient_id: UUID,
    code_hash: bytes,
    created_by: UUID | None,
    now: datetime,
    expires_at: datetime,
) -> None:
    await conn.execute(
        q("patients.insert_code"), patient_id, code_hash, created_by, now, expires_at
    )


async def revoke_codes(conn: Connection, patient_id: UUID, now: datetime) -> None:
    await conn.execute(q("patients.revoke_codes"), patient_id, now)


async def redeem_code(conn: Connection, code_hash: bytes, now: datetime) -> UUID | None:
    patient_id: UUID | None = await conn.fetchval(q("patients.redeem_code"), code_hash, now)
    return patient_id


async def activate(conn: Connection, patient_id: UUID) -> None:
    await conn.execute(q("patients.activate"), patient_id)


async def profile(conn: Connection, patient_id: UUID, now: datetime) -> asyncpg.Record | None:
    return await conn.fetchrow(q("patients.profile"), patient_id, now)


async def update_profile(
    conn: Connection,
    patient_id: UUID,
    *,
    timezone: str | None,
    reminder_time: time | None,
    set_quiet: bool,
    quiet_start: time | None,
    quiet_end: time | None,
    language: str | None,
    set_pause: bool,
    paused_until: datetime | None,
) -> None:
    await conn.execute(
        q("patients.update_profile"),
        patient_id,
        timezone,
        reminder_time,
        set_quiet,
        quiet_start,
        quiet_end,
        language,
        set_pause,
        paused_until,
    )


async def list_for_clinic(
    conn: Connection, clinic_id: UUID, before: datetime | None, before_id: UUID | None, limit: int
) -> list[asyncpg.Record]:
    return await conn.fetch(q("patients.list_for_clinic"), clinic_id, before, before_id, limit)


async def detail_for_clinic(
    conn: Connection, patient_id: UUID, clinic_id: UUID, now: datetime
) -> asyncpg.Record | None:
    return await conn.fetchrow(q("patients.detail_for_clinic"), patient_id, clinic_id, now)


async def exists_in_clinic(conn: Connection, patient_id: UUID, clinic_id: UUID) -> bool:
    found: bool = await conn.fetchval(q("patients.exists_in_clinic"), patient_id, clinic_id)
    return found


async def schedule_settings(conn: Connection, patient_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(q("patients.schedule_settings"), patient_id)


async def discharge(conn: Connection, patient_id: UUID, clinic_id: UUID) -> bool:
    changed = await conn.fetchval(q("patients.discharge"), patient_id, clinic_id)
    return changed is not None
