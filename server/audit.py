"""The append-only audit trail: who did or read what, and when."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from server.db import Connection, q

ActorKind = Literal["coordinator", "patient", "operator", "system"]


async def record(
    conn: Connection,
    *,
    actor_kind: ActorKind,
    actor_id: UUID | None,
    clinic_id: UUID | None,
    patient_id: UUID | None,
    action: str,
    now: datetime,
    detail: dict[str, Any] | None = None,
) -> None:
    await conn.execute(
        q("audit.record"), actor_kind, actor_id, clinic_id, patient_id, action, detail or {}, now
    )


async def by_coordinator(
    conn: Connection,
    coordinator_id: UUID,
    clinic_id: UUID,
    action: str,
    now: datetime,
    *,
    patient_id: UUID | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """A coordinator read or changed something of their clinic."""
    await record(
        conn,
        actor_kind="coordinator",
        actor_id=coordinator_id,
        clinic_id=clinic_id,
        patient_id=patient_id,
        action=action,
        now=now,
        detail=detail,
    )


async def by_patient(
    conn: Connection,
    patient_id: UUID,
    action: str,
    now: datetime,
    *,
    detail: dict[str, Any] | None = None,
) -> None:
    """A patient's own device did something."""
    await record(
        conn,
        actor_kind="patient",
        actor_id=patient_id,
        clinic_id=None,
        patient_id=patient_id,
        action=action,
        now=now,
        detail=detail,
    )
