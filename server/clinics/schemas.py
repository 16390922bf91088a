from __future__ import annotations

from datetime import datetime
from uuid import UUID

import msgspec


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
