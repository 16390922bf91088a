"""SQL calls for push subscriptions, reminders, delivery attempts and the VAPID key."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from server.db import Connection, Exec, Many, One, Scalar
from server.reminders.schemas import (
    Claimed,
    NudgeTarget,
    ReminderOut,
    Settlement,
    Subscription,
    WindowReminder,
    WindowRow,
)

_vapid_key = Scalar("reminders.vapid_key", str)
_insert_vapid_key = Exec("reminders.insert_vapid_key")
_claim = Many("reminders.claim", Claimed)
_subscriptions_of = Many("reminders.subscriptions_of", Subscription)
_finish = Exec("reminders.finish")
_record_attempts = Exec("reminders.record_attempts")
_drop_subscriptions = Exec("reminders.drop_subscriptions")
_subscriptions_worked = Exec("reminders.subscriptions_worked")
_next_attempt = Scalar("reminders.next_attempt", datetime)
_save_subscription = Scalar("reminders.save_subscription", UUID)
_delete_subscription = Exec("reminders.delete_subscription")
_opened = Scalar("reminders.opened", UUID)
_nudge_target = One("reminders.nudge_target", NudgeTarget)
_insert_manual = One("reminders.insert_manual", ReminderOut)
_windows_for_patient = Many("reminders.windows_for_patient", WindowRow)
_reminders_for_windows = Many("reminders.reminders_for_windows", WindowReminder)


async def vapid_key(conn: Connection) -> str | None:
    """The server's VAPID private key (PEM), once one was made."""
    return await _vapid_key(conn)


async def insert_vapid_key(conn: Connection, private_pem: str, public_key: str) -> None:
    """Keep a new key unless another process stored one first."""
    await _insert_vapid_key(conn, private_pem, public_key)


async def claim(
    conn: Connection, now: datetime, limit: int, lease_until: datetime, worker: str
) -> list[Claimed]:
    return await _claim(conn, now, limit, lease_until, worker)


async def subscriptions_of(conn: Connection, patient_ids: list[UUID]) -> list[Subscription]:
    return await _subscriptions_of(conn, patient_ids)


async def finish(conn: Connection, worker: str, settled: list[Settlement]) -> None:
    """Write what became of the reminders this worker holds."""
    if not settled:
        return
    # Rows locked in one order by every writer (see also the sweep and the check-in trigger,
    # which take one window's reminders at a time) keep deadlocks rare.
    settled = sorted(settled, key=lambda s: s.id)
    await _finish(
        conn,
        [s.id for s in settled],
        [s.status for s in settled],
        [s.next_attempt_at for s in settled],
        [s.sent_at for s in settled],
        [s.reason for s in settled],
        worker,
    )


async def record_attempts(
    conn: Connection,
    attempts: list[tuple[UUID, UUID, datetime, int | None, str | None, int]],
) -> None:
    if not attempts:
        return
    await _record_attempts(conn, *(list(c) for c in zip(*attempts, strict=True)))


async def drop_subscriptions(conn: Connection, gone: list[tuple[UUID, str]]) -> None:
    """Delete (subscription id, endpoint) pairs a push service called gone."""
    if gone:
        await _drop_subscriptions(conn, [g[0] for g in gone], [g[1] for g in gone])


async def subscriptions_worked(conn: Connection, ids: list[UUID], now: datetime) -> None:
    if ids:
        await _subscriptions_worked(conn, ids, now)


async def next_attempt(conn: Connection) -> datetime | None:
    return await _next_attempt(conn)


async def save_subscription(
    conn: Connection,
    patient_id: UUID,
    device_id: UUID,
    endpoint: str,
    p256dh: str,
    auth: str,
    now: datetime,
) -> UUID:
    return await _save_subscription.required(
        conn, patient_id, device_id, endpoint, p256dh, auth, now
    )


async def delete_subscription(conn: Connection, device_id: UUID) -> None:
    await _delete_subscription(conn, device_id)


async def opened(conn: Connection, reminder_id: UUID, patient_id: UUID, now: datetime) -> bool:
    return await _opened(conn, reminder_id, patient_id, now) is not None


async def nudge_target(
    conn: Connection, patient_id: UUID, now: datetime, clinic_id: UUID
) -> NudgeTarget | None:
    return await _nudge_target(conn, patient_id, now, clinic_id)


async def insert_manual(
    conn: Connection,
    patient_id: UUID,
    due_id: UUID | None,
    send_at: datetime,
    expires_at: datetime,
    created_by: UUID,
) -> ReminderOut | None:
    """A manual reminder, unless one is already waiting (then None)."""
    return await _insert_manual(conn, patient_id, due_id, send_at, expires_at, created_by)


async def windows_for_patient(
    conn: Connection,
    patient_id: UUID,
    now: datetime,
    before: datetime | None,
    before_id: UUID | None,
    limit: int,
) -> list[WindowRow]:
    return await _windows_for_patient(conn, patient_id, now, before, before_id, limit)


async def reminders_for_windows(
    conn: Connection, patient_id: UUID, window_ids: list[UUID], manual_since: datetime
) -> list[WindowReminder]:
    return await _reminders_for_windows(conn, patient_id, window_ids, manual_since)
