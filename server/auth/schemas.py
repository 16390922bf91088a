from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

import msgspec

Role = Literal["coordinator", "admin"]


class PatientPrincipal(msgspec.Struct, frozen=True):
    device_id: UUID
    patient_id: UUID
    clinic_id: UUID
    condition: str  # some items are asked only for some conditions


class CoordinatorPrincipal(msgspec.Struct, frozen=True):
    token_id: UUID  # the API token, or the sign-in session
    coordinator_id: UUID
    clinic_id: UUID
    role: Role
    # Set for a signed-in session (cookie), None for an API token: changes made with the
    # cookie must carry this token.
    csrf_token: str | None = None
    email: str = ""
    display_name: str = ""
    clinic_timezone: str = "UTC"  # how the dashboard shows times


class SignInAccount(msgspec.Struct, frozen=True):
    """An enabled account, as sign-in needs it."""

    id: UUID
    clinic_id: UUID
    role: Role
    password_hash: str
    failed_logins: int
    locked_until: datetime | None


class AttemptCounted(msgspec.Struct, frozen=True):
    failed_logins: int
    locked_until: datetime | None
