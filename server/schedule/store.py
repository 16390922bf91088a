"""SQL calls for infusion plans, due windows and the reminders planned with them."""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

import asyncpg

from server.db import Connection, q, to_struct
from server.schedule.plan import ExistingWindow, PlannedWindow, Session


async def plan_inputs(conn: Connection, patient_id: UUID) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(q("schedule.plan_inputs"), patient_id)
    return row


async def sessions_since(conn: Connection, patient_id: UUID, since: datetime) -> list[Session]:
    rows = await conn.fetch(q("schedule.sessions_since"), patient_id, since)
    return [to_struct(row, Session) for row in rows]


async def windows_from(conn: Connection, patient_id: UUID, day: date) -> list[ExistingWindow]:
    rows = await conn.fetch(q("schedule.windows_from"), patient_id, day)
    return [to_struct(row, ExistingWindow) for row in rows]


async def delete_windows(conn: Connection, patient_id: UUID, ids: list[UUID]) -> None:
    if ids:
        await conn.execute(q("schedule.delete_windows"), patient_id, ids)


async def cancel_windows(conn: Connection, patient_id: UUID, ids: list[UUID]) -> None:
    if ids:
        await conn.execute(q("schedule.cancel_windows"), patient_id, ids)


async def reopen_windows(conn: Connection, patient_id: UUID, ids: list[UUID]) -> None:
    if ids:
        await conn.execute(q("schedule.reopen_windows"), patient_id, ids)


async def insert_windows(
    conn: Connection, patient_id: UUID, windows: list[PlannedWindow]
) -> list[ExistingWindow]:
    if not windows:
        return []
    rows = await conn.fetch(
        q("schedule.insert_windows"),
        patient_id,
        [w.questionnaire.value for w in windows],
        [w.local_date for w in windows],
        [w.opens_at for w in windows],
        [w.closes_at for w in windows],
        [w.session_id for w in windows],
    )
    return [to_struct(row, ExistingWindow) for row in rows]


async def upsert_reminders(
    conn: Connection,
    patient_id: UUID,
    planned: list[tuple[UUID, str, datetime, datetime]],
    window_ids: list[UUID],
    now: datetime,
) -> None:
    """Store the planned (window, kind, send_at, expires_at) of these windows; drop the rest."""
    if planned:
        due_ids, kinds, send_at, expires_at = (
            list(column) for column in zip(*planned, strict=True)
        )
        await conn.execute(
            q("schedule.upsert_reminders"), patient_id, due_ids, kinds, send_at, expires_at, now
        )
    if window_ids:
        await conn.execute(
            q("schedule.cancel_unplanned_reminders"),
            patient_id,
            window_ids,
            [p[0] for p in planned],
            [p[1] for p in planned],
        )


async def set_planned_until(conn: Connection, patient_id: UUID, until: datetime) -> None:
    await conn.execute(q("schedule.set_planned_until"), patient_id, until)


async def stale_plans(conn: Connection, before: datetime, limit: int) -> list[UUID]:
    rows = await conn.fetch(q("schedule.stale_plans"), before, limit)
    return [row["id"] for row in rows]


async def lock_if_stale(conn: Connection, patient_id: UUID, before: datetime) -> bool:
    return await conn.fetchval(q("schedule.lock_if_stale"), patient_id, before) is not None


async def open_windows(conn: Connection, patient_id: UUID, now: datetime) -> list[asyncpg.Record]:
    return await conn.fetch(q("schedule.open_windows"), patient_id, now)


async def next_opening(conn: Connection, patient_id: UUID, now: datetime) -> datetime | None:
    at: datetime | None = await conn.fetchval(q("schedule.next_opening"), patient_id, now)
    return at


async def mark_missed(conn: Connection, now: datetime, limit: int) -> int:
    count: int = await conn.fetchval(q("schedule.mark_missed"), now, limit)
    return count


async def next_close(conn: Connection) -> datetime | None:
    at: datetime | None = await conn.fetchval(q("schedule.next_close"))
    return at


async def withdraw(conn: Connection, patient_id: UUID, now: datetime) -> None:
    await conn.execute(q("schedule.withdraw_reminders"), patient_id)
    await conn.execute(q("schedule.withdraw_windows"), patient_id, now)


async def sessions_of(conn: Connection, patient_id: UUID) -> list[asyncpg.Record]:
    return await conn.fetch(q("infusions.list"), patient_id)


async def insert_session(
    conn: Connection, patient_id: UUID, scheduled_at: datetime, created_by: UUID, now: datetime
) -> asyncpg.Record:
    row = await conn.fetchrow(q("infusions.insert"), patient_id, scheduled_at, created_by, now)
    assert row is not None
    return row


async def session_for_update(
    conn: Connection, session_id: UUID, patient_id: UUID
) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        q("infusions.get_for_update"), session_id, patient_id
    )
    return row


async def update_session(
    conn: Connection,
    session_id: UUID,
    patient_id: UUID,
    scheduled_at: datetime,
    status: str,
    now: datetime,
) -> asyncpg.Record:
    row = await conn.fetchrow(
        q("infusions.update"), session_id, patient_id, scheduled_at, status, now
    )
    assert row is not None
    return row


async def patient_status(conn: Connection, patient_id: UUID, clinic_id: UUID) -> str | None:
    status: str | None = await conn.fetchval(q("infusions.patient_status"), patient_id, clinic_id)
    return status


async def side_effects(conn: Connection, patient_id: UUID) -> list[asyncpg.Record]:
    return await conn.fetch(q("infusions.side_effects"), patient_id)
