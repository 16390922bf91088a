"""SQL calls for push subscriptions, reminders and delivery attempts."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from server.db import Connection, q


async def claim(
    conn: Connection, now: datetime, limit: int, lease_until: datetime, worker: str
) -> list[asyncpg.Record]:
    return await conn.fetch(q("reminders.claim"), now, limit, lease_until, worker)


async def subscriptions_of(conn: Connection, patient_ids: list[UUID]) -> list[asyncpg.Record]:
    return await conn.fetch(q("reminders.subscriptions_of"), patient_ids)


async def finish(
    conn: Connection,
    worker: str,
    settled: list[tuple[UUID, str, datetime | None, datetime | None, str | None]],
) -> None:
    """Write (id, status, next_attempt_at, sent_at, reason) for reminders this worker holds."""
    if not settled:
        return
    # Rows locked in one order by every writer (see also the sweep and the check-in trigger,
    # which take one window's reminders at a time) keep deadlocks rare.
    settled = sorted(settled, key=lambda s: s[0])
    ids, statuses, next_at, sent_at, reasons = (list(c) for c in zip(*settled, strict=True))
    await conn.execute(q("reminders.finish"), ids, statuses, next_at, sent_at, reasons, worker)


async def record_attempts(
    conn: Connection,
    attempts: list[tuple[UUID, UUID, datetime, int | None, str | None, int]],
) -> None:
    if not attempts:
        return
    columns = [list(c) for c in zip(*attempts, strict=True)]
    await conn.execute(q("reminders.record_attempts"), *columns)


async def drop_subscriptions(conn: Connection, gone: list[tuple[UUID, str]]) -> None:
    """Delete (subscription id, endpoint) pairs a push service called gone."""
    if gone:
        await conn.execute(
            q("reminders.drop_subscriptions"), [g[0] for g in gone], [g[1] for g in gone]
        )


async def subscriptions_worked(conn: Connection, ids: list[UUID], now: datetime) -> None:
    if ids:
        await conn.execute(q("reminders.subscriptions_worked"), ids, now)


async def next_attempt(conn: Connection) -> datetime | None:
    at: datetime | None = await conn.fetchval(q("reminders.next_attempt"))
    return at


async def save_subscription(
    conn: Connection,
    patient_id: UUID,
    device_id: UUID,
    endpoint: str,
    p256dh: str,
    auth: str,
    now: datetime,
) -> UUID:
    subscription_id: UUID = await conn.fetchval(
        q("reminders.save_subscription"), patient_id, device_id, endpoint, p256dh, auth, now
    )
    return subscription_id


async def delete_subscription(conn: Connection, device_id: UUID) -> None:
    await conn.execute(q("reminders.delete_subscription"), device_id)


async def opened(conn: Connection, reminder_id: UUID, patient_id: UUID, now: datetime) -> bool:
    return await conn.fetchval(q("reminders.opened"), reminder_id, patient_id, now) is not None


async def nudge_target(
    conn: Connection, patient_id: UUID, now: datetime, clinic_id: UUID
) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        q("reminders.nudge_target"), patient_id, now, clinic_id
    )
    return row


async def insert_manual(
    conn: Connection,
    patient_id: UUID,
    due_id: UUID | None,
    send_at: datetime,
    expires_at: datetime,
    created_by: UUID,
) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        q("reminders.insert_manual"), patient_id, due_id, send_at, expires_at, created_by
    )
    return row


async def windows_for_patient(
    conn: Connection,
    patient_id: UUID,
    now: datetime,
    before: datetime | None,
    before_id: UUID | None,
    limit: int,
) -> list[asyncpg.Record]:
    return await conn.fetch(
        q("reminders.windows_for_patient"), patient_id, now, before, before_id, limit
    )


async def reminders_for_windows(
    conn: Connection, patient_id: UUID, window_ids: list[UUID], manual_since: datetime
) -> list[asyncpg.Record]:
    return await conn.fetch(
        q("reminders.reminders_for_windows"), patient_id, window_ids, manual_since
    )
