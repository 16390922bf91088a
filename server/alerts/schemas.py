from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

import msgspec
from msgspec import Meta

AlertKind = Literal["pain_high", "worsening", "severe_side_effect", "pgic_worse", "missed_twice"]


class Alert(msgspec.Struct, frozen=True):
    id: UUID
    patient_id: UUID
    display_name: str
    condition: str
    kind: AlertKind
    status: Literal["open", "acknowledged"]
    raised_at: datetime
    checkin_id: UUID | None
    acknowledged_at: datetime | None
    acknowledged_by: UUID | None
    note: str | None


class AlertList(msgspec.Struct, frozen=True):
    items: list[Alert]


class Acknowledge(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    note: Annotated[str, Meta(min_length=1, max_length=2000, description="what was done")]
