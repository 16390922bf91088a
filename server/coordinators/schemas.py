from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec
from msgspec import Meta


class BoardRow(msgspec.Struct, frozen=True):
    patient_id: UUID
    display_name: str
    condition: str
    open_alerts: int
    alert_kinds: list[str] | None
    first_alert_id: UUID | None
    misses: int
    overdue_since: datetime | None
    last_checkin_at: datetime | None
    pain: float | None
    fatigue: float | None
    trend: str | None  # the 3-day pain category: worsening, ..._improvement, no_meaningful_change
    last_infusion: datetime | None
    next_infusion: datetime | None
    completed: int
    missed: int
    reminder_status: str | None
    reminder_opened_at: datetime | None
    has_push: bool
    total: int  # candidates on the whole board, of which this row is one

    @property
    def adherence(self) -> int | None:
        """Per cent of the windows since the last infusion that were answered."""
        total = self.completed + self.missed
        return None if total == 0 else round(100 * self.completed / total)

    @property
    def delivery(self) -> str:
        if not self.has_push:
            return "no push subscription"
        if self.reminder_opened_at is not None:
            return "opened"
        return self.reminder_status or "none sent"


class Board(msgspec.Struct, frozen=True):
    rows: list[BoardRow]
    total: int  # how many need attention; the rows are the most urgent of them
    generated_at: datetime


class PatientRow(msgspec.Struct, frozen=True):
    patient_id: UUID
    display_name: str
    condition: str
    status: str
    created_at: datetime
    last_checkin_at: datetime | None
    open_alerts: int
    completed: int
    missed: int
    total: int

    @property
    def adherence(self) -> int | None:
        answered = self.completed + self.missed
        return None if answered == 0 else round(100 * self.completed / answered)


Sort = Literal["name", "last_checkin", "adherence", "alerts"]


class PatientFilter(msgspec.Struct, frozen=True):
    q: Annotated[str, Meta(max_length=100)] | None = None
    condition: Literal["crps", "fibromyalgia", "lyme", "other"] | None = None
    status: Literal["invited", "active", "discharged"] | None = None
    adherence_below: Annotated[int, Meta(ge=1, le=100)] | None = None
    has_alert: bool = False
    sort: Sort = "name"
    page: Annotated[int, Meta(ge=1, le=100_000)] = 1


class PatientsPage(msgspec.Struct, frozen=True):
    rows: list[PatientRow]
    total: int
    page: int
    pages: int


class AuditEntry(msgspec.Struct, frozen=True):
    id: int
    at: datetime
    actor_kind: str
    actor_id: UUID | None
    actor_email: str | None
    patient_id: UUID | None
    patient_name: str | None
    action: str
    detail: dict[str, Any]
    client_addr: str | None


class StaffMember(msgspec.Struct, frozen=True):
    id: UUID
    email: str


class AuditTrail(msgspec.Struct, frozen=True):
    entries: list[AuditEntry]
    staff: list[StaffMember]
    next_before: int | None
