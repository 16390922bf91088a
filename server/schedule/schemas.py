from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
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
