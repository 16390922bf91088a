"""SQL calls for infusion plans, due windows and the reminders planned with them."""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

from server.db import Connection, Exec, Many, One, Scalar
from server.schedule.plan import ExistingWindow, PlannedWindow, Session
from server.schedule.schemas import (
    Infusion,
    OpenWindow,
    PatientRef,
    PlanInputs,
    PostInfusionAnswers,
)

_plan_inputs = One("schedule.plan_inputs", PlanInputs)
_sessions_since = Many("schedule.sessions_since", Session)
_windows_from = Many("schedule.windows_from", ExistingWindow)
_delete_windows = Exec("schedule.delete_windows")
_cancel_windows = Exec("schedule.cancel_windows")
_reopen_windows = Exec("schedule.reopen_windows")
_insert_windows = Many("schedule.insert_windows", ExistingWindow)
_upsert_reminders = Exec("schedule.upsert_reminders")
_cancel_unplanned_reminders = Exec("schedule.cancel_unplanned_reminders")
_set_planned_until = Exec("schedule.set_planned_until")
_stale_plans = Many("schedule.stale_plans", PatientRef)
_lock_if_stale = One("schedule.lock_if_stale", PatientRef)
_open_windows = Many("schedule.open_windows", OpenWindow)
_next_opening = Scalar("schedule.next_opening", datetime)
_mark_missed = Scalar("schedule.mark_missed", int)
_withdraw_reminders = Exec("schedule.withdraw_reminders")
_withdraw_windows = Exec("schedule.withdraw_windows")
_list_infusions = Many("infusions.list", Infusion)
_insert_infusion = One("infusions.insert", Infusion)
_infusion_for_update = One("infusions.get_for_update", Infusion)
_update_infusion = One("infusions.update", Infusion)
_patient_status = Scalar("infusions.patient_status", str)
_post_infusion_answers = Many("infusions.side_effects", PostInfusionAnswers)


async def plan_inputs(conn: Connection, patient_id: UUID) -> PlanInputs | None:
    return await _plan_inputs(conn, patient_id)


async def sessions_since(conn: Connection, patient_id: UUID, since: datetime) -> list[Session]:
    return await _sessions_since(conn, patient_id, since)


async def windows_from(conn: Connection, patient_id: UUID, day: date) -> list[ExistingWindow]:
    return await _windows_from(conn, patient_id, day)


async def delete_windows(conn: Connection, patient_id: UUID, ids: list[UUID]) -> None:
    if ids:
        await _delete_windows(conn, patient_id, ids)


async def cancel_windows(conn: Connection, patient_id: UUID, ids: list[UUID]) -> None:
    if ids:
        await _cancel_windows(conn, patient_id, ids)


async def reopen_windows(conn: Connection, patient_id: UUID, ids: list[UUID]) -> None:
    if ids:
        await _reopen_windows(conn, patient_id, ids)


async def insert_windows(
    conn: Connection, patient_id: UUID, windows: list[PlannedWindow]
) -> list[ExistingWindow]:
    if not windows:
        return []
    return await _insert_windows(
        conn,
        patient_id,
        [w.questionnaire.value for w in windows],
        [w.local_date for w in windows],
        [w.opens_at for w in windows],
        [w.closes_at for w in windows],
        [w.session_id for w in windows],
    )


async def upsert_reminders(
    conn: Connection,
    patient_id: UUID,
    planned: list[tuple[UUID, str, datetime, datetime]],
    window_ids: list[UUID],
    now: datetime,
) -> None:
    """Store the planned (window, kind, send_at, expires_at) of these windows; drop the rest."""
    if planned:
        due_ids, kinds, send_at, expires_at = (
            list(column) for column in zip(*planned, strict=True)
        )
        await _upsert_reminders(conn, patient_id, due_ids, kinds, send_at, expires_at, now)
    if window_ids:
        await _cancel_unplanned_reminders(
            conn, patient_id, window_ids, [p[0] for p in planned], [p[1] for p in planned]
        )


async def set_planned_until(conn: Connection, patient_id: UUID, until: datetime) -> None:
    await _set_planned_until(conn, patient_id, until)


async def stale_plans(conn: Connection, before: datetime, limit: int) -> list[UUID]:
    return [row.id for row in await _stale_plans(conn, before, limit)]


async def lock_if_stale(conn: Connection, patient_id: UUID, before: datetime) -> bool:
    return await _lock_if_stale(conn, patient_id, before) is not None


async def open_windows(conn: Connection, patient_id: UUID, now: datetime) -> list[OpenWindow]:
    return await _open_windows(conn, patient_id, now)


async def next_opening(conn: Connection, patient_id: UUID, now: datetime) -> datetime | None:
    return await _next_opening(conn, patient_id, now)


async def mark_missed(conn: Connection, now: datetime, limit: int) -> int:
    return await _mark_missed.required(conn, now, limit)


async def withdraw(conn: Connection, patient_id: UUID, now: datetime) -> None:
    await _withdraw_reminders(conn, patient_id)
    await _withdraw_windows(conn, patient_id, now)


async def infusions_of(conn: Connection, patient_id: UUID) -> list[Infusion]:
    return await _list_infusions(conn, patient_id)


async def insert_infusion(
    conn: Connection, patient_id: UUID, scheduled_at: datetime, created_by: UUID, now: datetime
) -> Infusion:
    row = await _insert_infusion(conn, patient_id, scheduled_at, created_by, now)
    assert row is not None  # an insert returns its row
    return row


async def infusion_for_update(
    conn: Connection, session_id: UUID, patient_id: UUID
) -> Infusion | None:
    return await _infusion_for_update(conn, session_id, patient_id)


async def update_infusion(
    conn: Connection,
    session_id: UUID,
    patient_id: UUID,
    scheduled_at: datetime,
    status: str,
    now: datetime,
) -> Infusion:
    row = await _update_infusion(conn, session_id, patient_id, scheduled_at, status, now)
    assert row is not None  # called with the session locked by infusion_for_update
    return row


async def patient_status(conn: Connection, patient_id: UUID, clinic_id: UUID) -> str | None:
    return await _patient_status(conn, patient_id, clinic_id)


async def post_infusion_answers(conn: Connection, patient_id: UUID) -> list[PostInfusionAnswers]:
    return await _post_infusion_answers(conn, patient_id)
