"""Keeps each patient's due windows and reminders in the database in step with their plan.

``replan`` runs whenever what a plan depends on changes (sessions, patient settings, the
clinic's protocol) and, through ``extend_plans``, as the horizon rolls forward.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from uuid import UUID

import msgspec

from server.db import Connection, Pool
from server.schedule import store
from server.schedule.plan import (
    HORIZON,
    PatientSchedule,
    Protocol,
    QuietHours,
    changes,
    plan_reminders,
    plan_windows,
)
from server.schedule.schemas import OpenWindow, PlanInputs
from server.schedule.windows import local_date, zone

# Plans are extended a day before they would run short, so the horizon never shrinks
# below 13 days between planner passes.
EXTEND_BEFORE = HORIZON - timedelta(days=1)


def _schedule(row: PlanInputs) -> PatientSchedule:
    quiet = None
    if row.quiet_start is not None and row.quiet_end is not None:
        quiet = QuietHours(row.quiet_start, row.quiet_end)
    return PatientSchedule(zone(row.timezone), row.reminder_time, quiet)


def _protocol(row: PlanInputs) -> Protocol:
    return Protocol(
        daily_window=timedelta(minutes=row.daily_window_minutes),
        post_infusion_days=row.post_infusion_days,
        weekly_weekday=row.weekly_weekday,
        weekly_window=timedelta(minutes=row.weekly_window_minutes),
        nudge_after=timedelta(minutes=row.nudge_after_minutes),
    )


async def replan(conn: Connection, patient_id: UUID, now: datetime) -> None:
    """Bring the patient's windows and reminders in line with their plan at ``now``.

    Runs inside the caller's transaction, or in its own.
    """
    async with conn.transaction():
        row = await store.plan_inputs(conn, patient_id)
        if row is None:
            return
        if row.status != "active":
            if row.status == "discharged":
                await store.withdraw(conn, patient_id, now)
            return
        patient = _schedule(row)
        protocol = _protocol(row)
        lookback = timedelta(days=protocol.post_infusion_days + 2)
        sessions = await store.sessions_since(conn, patient_id, now - lookback)
        desired = plan_windows(patient, protocol, sessions, now)
        yesterday = local_date(now, patient.timezone) - timedelta(days=1)
        existing = await store.windows_from(conn, patient_id, yesterday)
        plan = changes(existing, desired, now)
        await store.delete_windows(conn, patient_id, plan.delete)
        await store.cancel_windows(conn, patient_id, plan.cancel)
        await store.reopen_windows(conn, patient_id, plan.reopen)
        inserted = await store.insert_windows(conn, patient_id, plan.insert)

        gone = set(plan.delete) | set(plan.cancel)
        by_key = {(w.questionnaire.value, w.local_date): w for w in desired}
        reminders: list[tuple[UUID, str, datetime, datetime]] = []
        window_ids: list[UUID] = []
        new_ids = {w.id for w in inserted}
        for window in [*existing, *inserted]:
            planned = by_key.get((window.questionnaire, window.local_date))
            status = "open" if window.id in plan.reopen else window.status
            if window.id in gone or status != "open" or window.closes_at <= now:
                continue
            if planned is None:
                continue
            window_ids.append(window.id)
            # An open window keeps its own times even if the plan moved on since it opened.
            stored = msgspec.structs.replace(
                planned, opens_at=window.opens_at, closes_at=window.closes_at
            )
            for reminder in plan_reminders(
                stored, patient, protocol, now, window_is_new=window.id in new_ids
            ):
                reminders.append(
                    (window.id, reminder.kind.value, reminder.send_at, window.closes_at)
                )
        await store.upsert_reminders(conn, patient_id, reminders, window_ids, now)
        await store.set_planned_until(conn, patient_id, now + HORIZON)


async def ensure_planned(
    conn: Connection, patient_id: UUID, planned_until: datetime | None, now: datetime
) -> None:
    """Replan when the stored plan runs short of the horizon (or was never made)."""
    if planned_until is None or planned_until < now + EXTEND_BEFORE:
        await replan(conn, patient_id, now)


async def open_windows(conn: Connection, patient_id: UUID, now: datetime) -> list[OpenWindow]:
    return await store.open_windows(conn, patient_id, now)


async def next_opening(conn: Connection, patient_id: UUID, now: datetime) -> datetime | None:
    return await store.next_opening(conn, patient_id, now)


async def extend_plans(pool: Pool, now: datetime, budget: float, batch: int = 200) -> int:
    """Replan active patients whose plans run short (or were marked stale), for at most
    ``budget`` seconds; safe with many processes at once."""
    done = 0
    deadline = time.monotonic() + budget
    async with pool.acquire() as conn:
        while time.monotonic() < deadline:
            candidates = await store.stale_plans(conn, now + EXTEND_BEFORE, batch)
            progressed = False
            for patient_id in candidates:
                async with conn.transaction():
                    # Another process may have taken or finished this one meanwhile.
                    if await store.lock_if_stale(conn, patient_id, now + EXTEND_BEFORE):
                        await replan(conn, patient_id, now)
                        done += 1
                        progressed = True
                if time.monotonic() >= deadline:
                    break
            if len(candidates) < batch or not progressed:
                break
    return done


async def mark_missed(pool: Pool, now: datetime, batch: int = 500) -> int:
    """Mark windows that closed unanswered as missed; returns how many."""
    total = 0
    async with pool.acquire() as conn:
        while True:
            count = await store.mark_missed(conn, now, batch)
            total += count
            if count < batch:
                return total
