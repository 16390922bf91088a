from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal
from uuid import UUID

import msgspec
from msgspec import Meta

ReminderStatus = Literal["pending", "sending", "sent", "failed", "cancelled", "expired"]


class SubscriptionKeys(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    p256dh: Annotated[str, Meta(min_length=80, max_length=100)]
    auth: Annotated[str, Meta(min_length=16, max_length=32)]


class SubscriptionIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``PushSubscription.toJSON()`` as the browser gives it.

    ``expirationTime`` keeps the W3C Push API's own spelling, the one camelCase name in the
    API: the app forwards the browser's object untouched.
    """

    endpoint: Annotated[str, Meta(min_length=1, max_length=2048)]
    keys: SubscriptionKeys
    expiration_time: int | None = msgspec.field(default=None, name="expirationTime")


class PublicKey(msgspec.Struct, frozen=True):
    public_key: str


class Opened(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    reminder_id: UUID


class PushPayload(msgspec.Struct, frozen=True):
    """What the phone receives: wording and ids only, never patient data (DESIGN rule 6)."""

    type: Literal["checkin_reminder"]
    reminder_id: UUID
    due_id: UUID | None
    title: str
    body: str
    url: str
    tag: str


class ReminderOut(msgspec.Struct, frozen=True):
    id: UUID
    kind: Literal["opening", "nudge", "manual"]
    status: ReminderStatus
    send_at: datetime
    expires_at: datetime
    sent_at: datetime | None
    opened_at: datetime | None
    attempts: int
    final_reason: str | None
    last_status_code: int | None = None


class WindowOut(msgspec.Struct, frozen=True):
    id: UUID
    questionnaire: str
    local_date: date
    opens_at: datetime
    closes_at: datetime
    status: Literal["open", "completed", "missed", "cancelled"]
    completed_at: datetime | None
    session_id: UUID | None
    reminders: list[ReminderOut]


class WindowPage(msgspec.Struct, frozen=True):
    items: list[WindowOut]
    next_cursor: str | None
    manual_reminders: list[ReminderOut]
