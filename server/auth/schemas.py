from __future__ import annotations

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
    token_id: UUID
    coordinator_id: UUID
    clinic_id: UUID
    role: Role
