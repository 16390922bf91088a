"""Protocol -> due windows and reminders: pure functions of patient, protocol, sessions, now.

- A daily window opens every local day at the patient's reminder time and stays open for the
  clinic's ``daily_window``.
- On the ``post_infusion_days`` local days after an infusion (scheduled or completed, not
  cancelled) a post-infusion window takes the daily window's place, at the same time.
- A weekly window opens on the clinic's weekday (ISO, 1 = Monday) at the reminder time.
- Each window has an opening reminder and, ``nudge_after`` later, a nudge; a reminder that
  falls in the patient's quiet hours waits for their end, and is dropped if the window has
  closed by then.

Plans cover ``HORIZON`` from today (local); the store keeps what was answered and moves what
has not opened yet.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from uuid import UUID
from zoneinfo import ZoneInfo

import msgspec

from server.schedule.windows import local_date, local_instant

HORIZON = timedelta(days=14)
# A window made when it is already open (a patient who just enrolled or moved their time)
# gets a reminder only if its time is this recent: a reminder hours late says nothing the app
# does not show.
LATE_REMINDER_GRACE = timedelta(minutes=15)


class Questionnaire(StrEnum):
    daily = "daily"
    post_infusion = "post_infusion"
    weekly = "weekly"


class ReminderKind(StrEnum):
    opening = "opening"
    nudge = "nudge"
    manual = "manual"


class Protocol(msgspec.Struct, frozen=True):
    daily_window: timedelta = timedelta(hours=12)
    post_infusion_days: int = 3
    weekly_weekday: int = 7
    weekly_window: timedelta = timedelta(hours=48)
    nudge_after: timedelta = timedelta(hours=4)


class QuietHours(msgspec.Struct, frozen=True):
    """Local times; ``start`` after ``end`` means the quiet spans midnight (22:00-07:00)."""

    start: time
    end: time


class PatientSchedule(msgspec.Struct, frozen=True):
    timezone: ZoneInfo
    reminder_time: time
    quiet: QuietHours | None = None


class Session(msgspec.Struct, frozen=True):
    id: UUID
    scheduled_at: datetime
    cancelled: bool = False


class PlannedWindow(msgspec.Struct, frozen=True):
    questionnaire: Questionnaire
    local_date: date
    opens_at: datetime
    closes_at: datetime
    session_id: UUID | None = None


class PlannedReminder(msgspec.Struct, frozen=True):
    kind: ReminderKind
    send_at: datetime


def in_quiet_hours(instant: datetime, quiet: QuietHours, tz: ZoneInfo) -> bool:
    clock = instant.astimezone(tz).time()
    if quiet.start < quiet.end:
        return quiet.start <= clock < quiet.end
    return clock >= quiet.start or clock < quiet.end


def after_quiet_hours(instant: datetime, quiet: QuietHours | None, tz: ZoneInfo) -> datetime:
    """``instant``, or the end of the quiet hours it falls in (local, DST-exact)."""
    if quiet is None or not in_quiet_hours(instant, quiet, tz):
        return instant
    day = local_date(instant, tz)
    clock = instant.astimezone(tz).time()
    if quiet.start > quiet.end and clock >= quiet.start:
        day += timedelta(days=1)  # quiet since this evening: it ends tomorrow morning
    end = local_instant(day, quiet.end, tz)
    if end <= instant:
        # The end lies in the hour clocks go back and ``instant`` in its second pass: quiet
        # lasts until the clock shows the end again.
        end = datetime.combine(day, quiet.end).replace(tzinfo=tz, fold=1).astimezone(UTC)
    return end if end > instant else instant


def plan_windows(
    patient: PatientSchedule,
    protocol: Protocol,
    sessions: list[Session],
    now: datetime,
) -> list[PlannedWindow]:
    """The windows from yesterday (local) to the end of the horizon that have not closed."""
    tz = patient.timezone
    today = local_date(now, tz)
    last = local_date(now + HORIZON, tz)
    post_days: dict[date, UUID] = {}
    # Later sessions win a shared day: the window follows the most recent infusion.
    for session in sorted(sessions, key=lambda s: s.scheduled_at):
        if session.cancelled:
            continue
        infusion_day = local_date(session.scheduled_at, tz)
        for offset in range(1, protocol.post_infusion_days + 1):
            post_days[infusion_day + timedelta(days=offset)] = session.id
    windows: list[PlannedWindow] = []
    day = today - timedelta(days=1)
    while day <= last:
        opens = local_instant(day, patient.reminder_time, tz)
        session_id = post_days.get(day)
        if session_id is not None:
            windows.append(
                PlannedWindow(
                    Questionnaire.post_infusion,
                    day,
                    opens,
                    opens + protocol.daily_window,
                    session_id,
                )
            )
        else:
            windows.append(
                PlannedWindow(Questionnaire.daily, day, opens, opens + protocol.daily_window)
            )
        if day.isoweekday() == protocol.weekly_weekday:
            windows.append(
                PlannedWindow(Questionnaire.weekly, day, opens, opens + protocol.weekly_window)
            )
        day += timedelta(days=1)
    return [w for w in windows if w.closes_at > now]


def plan_reminders(
    window: PlannedWindow,
    patient: PatientSchedule,
    protocol: Protocol,
    now: datetime,
    *,
    window_is_new: bool,
) -> list[PlannedReminder]:
    """The opening reminder and the nudge of a window, each after the patient's quiet hours.

    A reminder that the quiet hours push past the window's end is not planned at all.
    """
    planned: list[PlannedReminder] = []
    for kind, at in (
        (ReminderKind.opening, window.opens_at),
        (ReminderKind.nudge, window.opens_at + protocol.nudge_after),
    ):
        send_at = after_quiet_hours(at, patient.quiet, patient.timezone)
        if send_at >= window.closes_at:
            continue
        if window_is_new and send_at < now - LATE_REMINDER_GRACE:
            continue
        if planned and send_at <= planned[-1].send_at:
            continue  # quiet hours pushed both to one moment: one reminder says it
        planned.append(PlannedReminder(kind, send_at))
    return planned


class ExistingWindow(msgspec.Struct, frozen=True):
    id: UUID
    questionnaire: str
    local_date: date
    opens_at: datetime
    closes_at: datetime
    status: str
    session_id: UUID | None = None


class PlanChanges(msgspec.Struct, frozen=True):
    delete: list[UUID]
    cancel: list[UUID]
    insert: list[PlannedWindow]
    reopen: list[UUID] = msgspec.field(default_factory=list)


def _same(existing: ExistingWindow, planned: PlannedWindow) -> bool:
    return (
        existing.opens_at == planned.opens_at
        and existing.closes_at == planned.closes_at
        and existing.session_id == planned.session_id
    )


def _slot(questionnaire: str, day: date) -> tuple[str, date]:
    """Daily and post-infusion windows share a day: one of the two per local day."""
    if questionnaire in (Questionnaire.daily, Questionnaire.post_infusion):
        return ("day", day)
    return (questionnaire, day)


def changes(
    existing: list[ExistingWindow], desired: list[PlannedWindow], now: datetime
) -> PlanChanges:
    """What turns the stored windows into the desired ones without rewriting the past.

    - Answered and missed windows stay as they are; neither they nor another window for their
      day is issued again.
    - A window that has opened stays while its day and questionnaire are still wanted (the
      patient may be answering it), and is cancelled when they are not (its session was
      cancelled, a post-infusion window now takes its day). Cancelled by a plan, it opens
      again when a later plan wants it back.
    - A window not yet open is replaced when anything about it changed.
    """
    wanted = {(w.questionnaire.value, w.local_date): w for w in desired}
    taken: set[tuple[str, date]] = set()  # (questionnaire, day): a row exists
    slots: set[tuple[str, date]] = set()  # the day's daily/post-infusion place is filled
    delete: list[UUID] = []
    cancel: list[UUID] = []
    reopen: list[UUID] = []
    # Rows that fill their day come first, so a cancelled window never comes back to a day
    # that was answered meanwhile.
    for row in sorted(existing, key=lambda r: r.status == "cancelled"):
        key = (row.questionnaire, row.local_date)
        planned = wanted.get(key)
        if row.status == "cancelled":
            taken.add(key)
            if planned is not None and row.closes_at > now and _slot(*key) not in slots:
                reopen.append(row.id)
                slots.add(_slot(*key))
        elif row.status != "open":
            taken.add(key)
            slots.add(_slot(*key))
        elif row.opens_at > now:
            if planned is not None and _same(row, planned):
                taken.add(key)
                slots.add(_slot(*key))
            else:
                delete.append(row.id)
        elif planned is not None or row.closes_at <= now:
            # Still wanted, or closed unanswered (the sweeper marks it missed).
            taken.add(key)
            slots.add(_slot(*key))
        else:
            taken.add(key)
            cancel.append(row.id)
    insert = [
        w
        for key, w in wanted.items()
        if key not in taken and _slot(w.questionnaire.value, w.local_date) not in slots
    ]
    return PlanChanges(delete, cancel, insert, reopen)
