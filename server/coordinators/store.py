"""SQL calls for the coordinator side: the board, the patients list, the audit trail, the
export."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any
from uuid import UUID

from server.coordinators.schemas import AuditEntry, BoardRow, PatientRow, StaffMember
from server.db import Connection, Exec, Many

_board = Many("board.board", BoardRow)
_patients_page = Many("board.patients_page", PatientRow)
_watch = Exec("board.watch")
_audit_search = Many("audit.search", AuditEntry)
_staff_of_clinic = Many("audit.staff_of_clinic", StaffMember)


async def copy_export(
    conn: Connection,
    query: str,
    clinic_id: UUID,
    output: Callable[[bytes], Coroutine[Any, Any, None]],
    limit_seconds: float,
) -> None:
    await conn.copy_from_query(
        query, clinic_id, output=output, format="csv", header=True, timeout=limit_seconds
    )


async def board(conn: Connection, clinic_id: UUID, now: datetime, limit: int) -> list[BoardRow]:
    return await _board(conn, clinic_id, now, limit)


async def patients_page(
    conn: Connection,
    clinic_id: UUID,
    name: str | None,
    condition: str | None,
    status: str | None,
    adherence_below: int | None,
    has_alert: bool,
    sort: str,
    limit: int,
    offset: int,
    now: datetime,
) -> list[PatientRow]:
    return await _patients_page(
        conn,
        clinic_id, name, condition, status, adherence_below, has_alert, sort, limit, offset, now,
    )  # fmt: skip


async def audit_trail(
    conn: Connection,
    clinic_id: UUID,
    patient_id: UUID | None,
    actor_id: UUID | None,
    before: int | None,
    limit: int,
) -> list[AuditEntry]:
    return await _audit_search(conn, clinic_id, patient_id, actor_id, before, limit)


async def staff_of_clinic(conn: Connection, clinic_id: UUID) -> list[StaffMember]:
    return await _staff_of_clinic(conn, clinic_id)


async def watch_boards(conn: Connection, clinic_ids: list[UUID], seconds: float) -> None:
    """Boards of these clinics are open in this process: have their changes notified."""
    await _watch(conn, clinic_ids, seconds)
