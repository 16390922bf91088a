"""The board, the patients list and the audit trail: what a coordinator reads about the whole
clinic, each read audited with the patients it showed."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from server import audit
from server.coordinators import store
from server.coordinators.schemas import AuditTrail, Board, PatientFilter, PatientsPage
from server.db import Connection
from server.errors import check_text

# A morning's worth: beyond this the board says how many more there are, and the patients
# list (filters "has an open alert", "adherence below") finds them.
BOARD_ROWS = 200


async def board(conn: Connection, clinic_id: UUID, coordinator_id: UUID, now: datetime) -> Board:
    """Who needs attention today, most urgent first; the read is audited with the patients
    shown."""
    async with conn.transaction():
        rows = await store.board(conn, clinic_id, now, BOARD_ROWS)
        await audit.by_coordinator(
            conn,
            coordinator_id,
            clinic_id,
            "board.view",
            now,
            detail={"patient_ids": [str(r.patient_id) for r in rows]},
        )
    return Board(rows, rows[0].total if rows else 0, now)


PATIENTS_PER_PAGE = 50


def _like(text: str) -> str:
    """The typed text as a literal inside ILIKE '%...%'."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def patients_page(
    conn: Connection,
    clinic_id: UUID,
    coordinator_id: UUID,
    wanted: PatientFilter,
    now: datetime,
) -> PatientsPage:
    name = wanted.q.strip() if wanted.q else None
    if name:
        check_text("q", name)
    async with conn.transaction():
        rows = await store.patients_page(
            conn,
            clinic_id,
            _like(name) if name else None,
            wanted.condition or None,
            wanted.status or None,
            wanted.adherence_below,
            wanted.has_alert,
            wanted.sort,
            PATIENTS_PER_PAGE,
            (wanted.page - 1) * PATIENTS_PER_PAGE,
            now,
        )
        await audit.by_coordinator(
            conn,
            coordinator_id,
            clinic_id,
            "patient.list",
            now,
            detail={"patient_ids": [str(r.patient_id) for r in rows]},
        )
    total = rows[0].total if rows else 0
    return PatientsPage(rows, total, wanted.page, max(1, -(-total // PATIENTS_PER_PAGE)))


AUDIT_PER_PAGE = 100


async def audit_trail(
    conn: Connection,
    clinic_id: UUID,
    coordinator_id: UUID,
    patient_id: UUID | None,
    actor_id: UUID | None,
    before: int | None,
    now: datetime,
) -> AuditTrail:
    """The clinic's audit events, newest first ("who viewed patient X"); reading it is itself
    audited."""
    async with conn.transaction():
        rows = await store.audit_trail(
            conn, clinic_id, patient_id, actor_id, before, AUDIT_PER_PAGE + 1
        )
        entries = rows[:AUDIT_PER_PAGE]
        staff = await store.staff_of_clinic(conn, clinic_id)
        await audit.by_coordinator(
            conn,
            coordinator_id,
            clinic_id,
            "audit.view",
            now,
            patient_id=patient_id,
            detail={
                "actor_id": str(actor_id) if actor_id else None,
                "patient_ids": sorted({str(e.patient_id) for e in entries if e.patient_id}),
            },
        )
    next_before = entries[-1].id if len(rows) > AUDIT_PER_PAGE else None
    return AuditTrail(entries, staff, next_before)
