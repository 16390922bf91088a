from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

import msgspec
from msgspec import UNSET, Meta, UnsetType


class Clinic(msgspec.Struct, frozen=True):
    id: UUID
    name: str
    timezone: str
    daily_window_minutes: int
    created_at: datetime


class Coordinator(msgspec.Struct, frozen=True):
    id: UUID
    clinic_id: UUID
    email: str
    display_name: str
    role: str
    created_at: datetime


class ApiToken(msgspec.Struct, frozen=True):
    coordinator_id: UUID
    email: str
    token_id: UUID
    token: str


class Protocol(msgspec.Struct, frozen=True):
    """How the clinic's check-ins and reminders are timed (see server/schedule/plan.py)."""

    daily_window_minutes: int
    nudge_after_minutes: int
    post_infusion_days: int
    weekly_weekday: int
    weekly_window_minutes: int


class ProtocolPatch(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    daily_window_minutes: Annotated[int, Meta(ge=60, le=1440)] | UnsetType = UNSET
    nudge_after_minutes: Annotated[int, Meta(ge=15, le=1440)] | UnsetType = UNSET
    post_infusion_days: Annotated[int, Meta(ge=0, le=14)] | UnsetType = UNSET
    weekly_weekday: (
        Annotated[int, Meta(ge=1, le=7, description="ISO weekday: 1 Monday ... 7 Sunday")]
        | UnsetType
    ) = UNSET
    weekly_window_minutes: Annotated[int, Meta(ge=60, le=10080)] | UnsetType = UNSET


class ProtocolChanged(msgspec.Struct, frozen=True):
    protocol: Protocol
    patients_to_replan: int


class StaffMember(msgspec.Struct, frozen=True):
    id: UUID
    email: str
    display_name: str
    role: str
    created_at: datetime
    disabled_at: datetime | None
    last_sign_in: datetime | None


class NewStaff(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    email: Annotated[str, Meta(min_length=3, max_length=254)]
    role: Literal["coordinator", "admin"]
    password: Annotated[str, Meta(max_length=1024)]
    display_name: Annotated[str, Meta(max_length=200)] = ""
