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
