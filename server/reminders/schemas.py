from __future__ import annotations

from datetime import date, datetime, time
from typing import Annotated, Literal
from uuid import UUID

import msgspec
from msgspec import Meta

from server.schedule.plan import QuietHours

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


class Claimed(msgspec.Struct, frozen=True):
    """A reminder this process holds, with what decides whether and when it goes."""

    id: UUID
    patient_id: UUID
    due_id: UUID | None
    kind: str
    expires_at: datetime
    attempts: int
    patient_status: str
    reminders_paused_until: datetime | None
    language: str
    timezone: str
    quiet_start: time | None
    quiet_end: time | None
    window_status: str | None

    @property
    def quiet(self) -> QuietHours | None:
        if self.quiet_start is None or self.quiet_end is None:
            return None
        return QuietHours(self.quiet_start, self.quiet_end)


class Subscription(msgspec.Struct, frozen=True):
    id: UUID
    patient_id: UUID
    endpoint: str
    p256dh: str
    auth: str


class Settlement(msgspec.Struct, frozen=True):
    """What becomes of a claimed reminder: settled (sent, failed, cancelled, expired) or
    pending again at ``next_attempt_at``."""

    id: UUID
    status: Literal["pending", "sent", "failed", "cancelled", "expired"]
    next_attempt_at: datetime | None = None
    sent_at: datetime | None = None
    reason: str | None = None


class NudgeTarget(msgspec.Struct, frozen=True):
    """A patient as a coordinator's nudge needs them: reachable, and their open window."""

    status: str
    reminders_paused_until: datetime | None
    timezone: str
    quiet_start: time | None
    quiet_end: time | None
    due_id: UUID | None
    closes_at: datetime | None
    subscribed: bool


class WindowRow(msgspec.Struct, frozen=True):
    id: UUID
    questionnaire: str
    local_date: date
    opens_at: datetime
    closes_at: datetime
    status: Literal["open", "completed", "missed", "cancelled"]
    completed_at: datetime | None
    session_id: UUID | None


class WindowReminder(msgspec.Struct, frozen=True):
    """A reminder of one of the patient's windows (``due_id``), or a manual one (None)."""

    id: UUID
    due_id: UUID | None
    kind: Literal["opening", "nudge", "manual"]
    status: ReminderStatus
    send_at: datetime
    expires_at: datetime
    sent_at: datetime | None
    opened_at: datetime | None
    attempts: int
    final_reason: str | None
    last_status_code: int | None

    def out(self) -> ReminderOut:
        return ReminderOut(
            id=self.id,
            kind=self.kind,
            status=self.status,
            send_at=self.send_at,
            expires_at=self.expires_at,
            sent_at=self.sent_at,
            opened_at=self.opened_at,
            attempts=self.attempts,
            final_reason=self.final_reason,
            last_status_code=self.last_status_code,
        )
