from __future__ import annotations

from datetime import datetime, time
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec
from msgspec import UNSET, Meta, UnsetType

InfusionStatus = Literal["scheduled", "completed", "cancelled"]
Instant = Annotated[datetime, Meta(tz=True, description="an instant with its UTC offset")]


class Infusion(msgspec.Struct, frozen=True):
    id: UUID
    scheduled_at: datetime
    status: InfusionStatus
    created_at: datetime
    updated_at: datetime


class InfusionList(msgspec.Struct, frozen=True):
    items: list[Infusion]


class NewInfusion(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    scheduled_at: Instant


class InfusionChange(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Reschedule (``scheduled_at``), or settle (``status``: completed or cancelled)."""

    scheduled_at: Instant | UnsetType = UNSET
    status: Literal["completed", "cancelled"] | UnsetType = UNSET


class SideEffect(msgspec.Struct, frozen=True):
    code: str
    severity: str | None  # mild, moderate or severe, when the patient said


class AfterInfusion(msgspec.Struct, frozen=True):
    """What the patient reported in the post-infusion check-ins after one session."""

    session_id: UUID
    scheduled_at: datetime
    checkins: int
    side_effects: list[SideEffect]


class PlanInputs(msgspec.Struct, frozen=True):
    """A patient's settings and their clinic's protocol, as planning needs them."""

    id: UUID
    status: str
    timezone: str
    reminder_time: time
    quiet_start: time | None
    quiet_end: time | None
    daily_window_minutes: int
    post_infusion_days: int
    weekly_weekday: int
    weekly_window_minutes: int
    nudge_after_minutes: int


class OpenWindow(msgspec.Struct, frozen=True):
    id: UUID
    questionnaire: str
    opens_at: datetime
    closes_at: datetime


class PatientRef(msgspec.Struct, frozen=True):
    id: UUID


class PostInfusionAnswers(msgspec.Struct, frozen=True):
    """A completed session, and one post-infusion check-in filed under it (or none)."""

    session_id: UUID
    scheduled_at: datetime
    answered_at: datetime | None
    answers: dict[str, Any] | None
