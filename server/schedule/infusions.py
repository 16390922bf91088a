"""Infusion sessions: coordinators schedule, reschedule, complete and cancel them; every
change re-plans the patient's windows in the same transaction."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

from msgspec import UNSET

from server import audit
from server.db import Connection
from server.errors import Conflict, Invalid, NotFound
from server.schedule import service as schedule
from server.schedule import store
from server.schedule.schemas import (
    AfterInfusion,
    Infusion,
    InfusionChange,
    InfusionList,
    NewInfusion,
    SideEffect,
)

# Far enough for a booster series and for entering a past infusion late; not a typo's year.
EARLIEST = timedelta(days=365)
LATEST = timedelta(days=2 * 365)


def _check_time(at: datetime, now: datetime) -> None:
    # Compare years first: a date near year 1 or 9999 overflows when shifted.
    if not (now.year - 2 <= at.year <= now.year + 3) or not (now - EARLIEST <= at <= now + LATEST):
        raise Invalid.field(
            "scheduled_at", "must be within a year before and two years after today"
        )


async def _patient_status(conn: Connection, patient_id: UUID, clinic_id: UUID) -> str:
    status = await store.patient_status(conn, patient_id, clinic_id)
    if status is None:
        raise NotFound("no such patient")
    return status


async def list_sessions(
    conn: Connection, clinic_id: UUID, coordinator_id: UUID, patient_id: UUID, now: datetime
) -> InfusionList:
    async with conn.transaction():
        await _patient_status(conn, patient_id, clinic_id)
        infusions = await store.infusions_of(conn, patient_id)
        await audit.by_coordinator(
            conn, coordinator_id, clinic_id, "infusion.list", now, patient_id=patient_id
        )
    return InfusionList(infusions)


async def schedule_session(
    conn: Connection,
    clinic_id: UUID,
    coordinator_id: UUID,
    patient_id: UUID,
    new: NewInfusion,
    now: datetime,
) -> Infusion:
    _check_time(new.scheduled_at, now)
    async with conn.transaction():
        if await _patient_status(conn, patient_id, clinic_id) == "discharged":
            raise Conflict("the patient was discharged")
        added = await store.insert_infusion(conn, patient_id, new.scheduled_at, coordinator_id, now)
        await schedule.replan(conn, patient_id, now)
        await audit.by_coordinator(
            conn,
            coordinator_id,
            clinic_id,
            "infusion.schedule",
            now,
            patient_id=patient_id,
            detail={"session_id": str(added.id)},
        )
    return added


async def change_session(
    conn: Connection,
    clinic_id: UUID,
    coordinator_id: UUID,
    patient_id: UUID,
    session_id: UUID,
    change: InfusionChange,
    now: datetime,
) -> Infusion:
    if change.scheduled_at is UNSET and change.status is UNSET:
        raise Invalid("send scheduled_at to reschedule, or status to complete or cancel")
    if change.scheduled_at is not UNSET and change.status is not UNSET:
        raise Invalid("reschedule and settle in two requests: send scheduled_at or status")
    if change.scheduled_at is not UNSET:
        _check_time(change.scheduled_at, now)
    async with conn.transaction():
        await _patient_status(conn, patient_id, clinic_id)
        current = await store.infusion_for_update(conn, session_id, patient_id)
        if current is None:
            raise NotFound("no such infusion session")
        if current.status != "scheduled":
            raise Conflict(f"the session is {current.status} and can no longer change")
        scheduled_at = (
            change.scheduled_at if change.scheduled_at is not UNSET else current.scheduled_at
        )
        status = change.status if change.status is not UNSET else "scheduled"
        changed = await store.update_infusion(
            conn, session_id, patient_id, scheduled_at, status, now
        )
        await schedule.replan(conn, patient_id, now)
        action = "infusion.reschedule" if change.scheduled_at is not UNSET else f"infusion.{status}"
        await audit.by_coordinator(
            conn,
            coordinator_id,
            clinic_id,
            action,
            now,
            patient_id=patient_id,
            detail={"session_id": str(session_id)},
        )
    return changed


async def side_effects(
    conn: Connection, clinic_id: UUID, coordinator_id: UUID, patient_id: UUID, now: datetime
) -> list[AfterInfusion]:
    """Side effects reported after each of the last 10 completed infusions, worst severity
    per effect."""
    async with conn.transaction():
        await _patient_status(conn, patient_id, clinic_id)
        rows = await store.post_infusion_answers(conn, patient_id)
        await audit.by_coordinator(
            conn, coordinator_id, clinic_id, "infusion.side_effects", now, patient_id=patient_id
        )
    by_session: dict[UUID, tuple[datetime, int, dict[str, str | None]]] = {}
    for row in rows:
        at, count, effects = by_session.get(row.session_id, (row.scheduled_at, 0, {}))
        answers = row.answers
        if answers is not None:
            count += 1
            for code in answers.get("side_effects", []):
                if code == "none":
                    continue
                severity = answers.get(f"severity_{code}")
                known = effects.get(code)
                if known is None or SEVERITY.index(severity or "") > SEVERITY.index(known or ""):
                    effects[code] = severity
        by_session[row.session_id] = (at, count, effects)
    return [
        AfterInfusion(
            session_id, at, count, [SideEffect(code, sev) for code, sev in sorted(effects.items())]
        )
        for session_id, (at, count, effects) in by_session.items()
    ]


SEVERITY = ["", "mild", "moderate", "severe"]
