"""Push subscriptions, "opened" reports, coordinator nudges and delivery history."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime, timedelta
from urllib.parse import urlsplit
from uuid import UUID

from cryptography.hazmat.primitives.asymmetric import ec

from server import audit
from server.db import Connection
from server.errors import Conflict, Invalid, NotFound
from server.pagination import decode_cursor, encode_cursor
from server.patients import store as patient_store
from server.reminders import store
from server.reminders.schemas import ReminderOut, SubscriptionIn, WindowOut, WindowPage
from server.schedule.plan import QuietHours, after_quiet_hours
from server.schedule.windows import zone
from server.settings import Settings

# A nudge sent outside any window stays deliverable this long (a phone that is off).
NUDGE_LIFETIME = timedelta(hours=12)


def _b64url_bytes(value: str) -> bytes | None:
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        return None


def origin_allowed(endpoint: str, allowed: tuple[str, ...]) -> bool:
    """Is the endpoint on one of the allowed push service origins (``*.host`` = subdomains)?"""
    parts = urlsplit(endpoint)
    try:
        port = parts.port
    except ValueError:
        return False
    host = parts.hostname
    # Nothing but host[:port] in the authority: no credentials, no empty or odd port.
    if not host or parts.netloc.lower() not in (host, f"{host}:{port}"):
        return False
    for origin in allowed:
        expected = urlsplit(origin)
        if expected.scheme != parts.scheme or expected.port != port:
            continue
        wanted = expected.hostname or ""
        if wanted.startswith("*.") and host.endswith(wanted[1:]):
            return True
        if host == wanted:
            return True
    return False


def check_subscription(sub: SubscriptionIn, settings: Settings) -> None:
    if not origin_allowed(sub.endpoint, settings.push_origins):
        raise Invalid.field(
            "endpoint", "must be an https address of a known push service (the browser's own)"
        )
    key = _b64url_bytes(sub.keys.p256dh)
    try:
        if key is None:
            raise ValueError
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), key)
    except ValueError:
        raise Invalid.field(
            "keys.p256dh", "must be the browser's P-256 public key, base64url"
        ) from None
    secret = _b64url_bytes(sub.keys.auth)
    if secret is None or len(secret) != 16:
        raise Invalid.field("keys.auth", "must be the browser's 16-byte auth secret, base64url")


async def subscribe(
    conn: Connection,
    settings: Settings,
    patient_id: UUID,
    device_id: UUID,
    sub: SubscriptionIn,
    now: datetime,
) -> None:
    check_subscription(sub, settings)
    await store.save_subscription(
        conn, patient_id, device_id, sub.endpoint, sub.keys.p256dh, sub.keys.auth, now
    )


async def unsubscribe(conn: Connection, device_id: UUID) -> None:
    await store.delete_subscription(conn, device_id)


async def opened(conn: Connection, patient_id: UUID, reminder_id: UUID, now: datetime) -> None:
    if not await store.opened(conn, reminder_id, patient_id, now):
        raise NotFound("no such reminder")


async def nudge(
    conn: Connection,
    clinic_id: UUID,
    coordinator_id: UUID,
    patient_id: UUID,
    now: datetime,
) -> ReminderOut:
    """Queue a reminder now (after the patient's quiet hours), for their open window if any."""
    async with conn.transaction():
        target = await store.nudge_target(conn, patient_id, now, clinic_id)
        if target is None:
            raise NotFound("no such patient")
        if target.status != "active":
            raise Conflict("the patient has not enrolled a phone yet, or was discharged")
        paused = target.reminders_paused_until
        if paused is not None and paused > now:
            raise Conflict(f"the patient paused reminders until {paused.isoformat()}")
        if not target.subscribed:
            raise Conflict("the patient has not allowed notifications on any phone")
        quiet = None
        if target.quiet_start is not None and target.quiet_end is not None:
            quiet = QuietHours(target.quiet_start, target.quiet_end)
        send_at = after_quiet_hours(now, quiet, zone(target.timezone))
        expires_at = target.closes_at or send_at + NUDGE_LIFETIME
        if send_at >= expires_at:
            raise Conflict(
                "the patient's quiet hours last until their open check-in closes; "
                "no reminder can reach them in time"
            )
        queued = await store.insert_manual(
            conn, patient_id, target.due_id, send_at, expires_at, coordinator_id
        )
        if queued is None:
            raise Conflict("a reminder for this patient is already waiting to be sent")
        await audit.by_coordinator(
            conn,
            coordinator_id,
            clinic_id,
            "reminder.nudge",
            now,
            patient_id=patient_id,
            detail={"reminder_id": str(queued.id)},
        )
    return queued


async def windows(
    conn: Connection,
    clinic_id: UUID,
    coordinator_id: UUID,
    patient_id: UUID,
    cursor: str | None,
    limit: int,
    now: datetime,
) -> WindowPage:
    """The patient's windows that have opened, newest first, each with its reminders."""
    before, before_id = decode_cursor(cursor)
    async with conn.transaction():
        if not await patient_store.exists_in_clinic(conn, patient_id, clinic_id):
            raise NotFound("no such patient")
        rows = await store.windows_for_patient(conn, patient_id, now, before, before_id, limit + 1)
        page = rows[:limit]
        oldest = page[-1].opens_at if page else now - timedelta(days=1)
        reminders = await store.reminders_for_windows(
            conn, patient_id, [row.id for row in page], oldest
        )
        await audit.by_coordinator(
            conn, coordinator_id, clinic_id, "patient.windows.read", now, patient_id=patient_id
        )
    by_window: dict[UUID | None, list[ReminderOut]] = {}
    for reminder in reminders:
        by_window.setdefault(reminder.due_id, []).append(reminder.out())
    items = [
        WindowOut(
            id=row.id,
            questionnaire=row.questionnaire,
            local_date=row.local_date,
            opens_at=row.opens_at,
            closes_at=row.closes_at,
            status=row.status,
            completed_at=row.completed_at,
            session_id=row.session_id,
            reminders=by_window.get(row.id, []),
        )
        for row in page
    ]
    next_cursor = encode_cursor(page[-1].opens_at, page[-1].id) if len(rows) > limit else None
    return WindowPage(items, next_cursor, by_window.get(None, []))
