"""The append-only audit trail: who did or read what, and when."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from server.db import Connection, Exec, Scalar

ActorKind = Literal["coordinator", "patient", "operator", "system"]

_record = Exec("audit.record")
_set_client = Scalar("audit.set_client", str)


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
    await _record(conn, actor_kind, actor_id, clinic_id, patient_id, action, detail or {}, now)


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


async def set_client(conn: Connection, address: str) -> None:
    """Where the staff request holding this connection comes from ("" for none): audit events
    recorded on it say so."""
    await _set_client(conn, address)
