"""The plan: due windows and reminders from a patient's local settings, pure and time-zone exact.

Local instants are checked against an independent oracle that only ever converts UTC to local
time (which is unambiguous): the first UTC instant whose local wall clock reaches the wanted time.
That is exactly "a time in a DST gap moves forward, a time in a fold takes its first occurrence".
No database and no clock: every function gets ``now``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from itertools import count
from uuid import UUID
from zoneinfo import ZoneInfo

import msgspec
import pytest

from server.schedule.plan import (
    ExistingWindow,
    PatientSchedule,
    PlanChanges,
    PlannedReminder,
    PlannedWindow,
    Protocol,
    Questionnaire,
    QuietHours,
    ReminderKind,
    Session,
    after_quiet_hours,
    changes,
    in_quiet_hours,
    plan_reminders,
    plan_windows,
)
from server.schedule.windows import local_instant

ZONES = [
    "America/New_York",
    "Europe/London",
    "Australia/Lord_Howe",  # 30-minute DST
    "Antarctica/Troll",  # 2-hour DST
    "Africa/Casablanca",  # negative DST around Ramadan
    "Asia/Kolkata",  # +05:30, no DST
    "America/Santiago",  # transitions at midnight
]
# Inside the gaps and folds of the zones above, plus the patient default 18:00.
REMINDER_TIMES = [
    time(0, 0),
    time(0, 30),
    time(1, 30),
    time(1, 45),
    time(2, 0),
    time(2, 30),
    time(3, 0),
    time(18, 0),
    time(23, 30),
]
NEW_YORK = ZoneInfo("America/New_York")
PATIENT = PatientSchedule(NEW_YORK, time(18))
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)
SECOND = timedelta(seconds=1)


# --- the independent oracle -------------------------------------------------------------------


def wall(instant: datetime, tz: ZoneInfo) -> datetime:
    """The local wall clock at ``instant`` (UTC -> local: never ambiguous)."""
    return instant.astimezone(tz).replace(tzinfo=None)


@cache
def offset_range(tz: ZoneInfo) -> tuple[timedelta, timedelta]:
    """Smallest and largest UTC offset of the zone from December 2025 to January 2028."""
    start = datetime(2025, 12, 1, tzinfo=UTC)
    offsets = set()
    for hours in range(0, 26 * 31 * 24, 1):
        offset = (start + hours * HOUR).astimezone(tz).utcoffset()
        assert offset is not None
        offsets.add(offset)
    return min(offsets), max(offsets)


@cache
def reference(day: date, at: time, tz: ZoneInfo) -> datetime:
    """The first UTC instant whose local wall clock shows ``day`` at ``at`` or later.

    The answer lies between ``target - largest offset`` and ``target - smallest offset``, so a
    minute walk over that span finds it; a second walk back refines it should a transition ever
    fall inside a minute.
    """
    target = datetime.combine(day, at)
    smallest, largest = offset_range(tz)
    instant = target.replace(tzinfo=UTC) - largest - MINUTE
    last = target.replace(tzinfo=UTC) - smallest
    assert wall(instant, tz) < target
    while wall(instant, tz) < target:
        instant += MINUTE
        assert instant <= last, (day, at, tz)
    while wall(instant - SECOND, tz) >= target:
        instant -= SECOND
    return instant


def days(first: date, last: date) -> Iterator[date]:
    day = first
    while day <= last:
        yield day
        day += DAY


@cache
def transition_days(tz: ZoneInfo, year: int) -> frozenset[date]:
    """Local dates on which the zone's UTC offset changes, with their neighbours."""
    found: set[date] = set()
    instant = datetime(year, 1, 1, tzinfo=UTC)
    before = instant.astimezone(tz).utcoffset()
    while instant.year == year:
        instant += 30 * MINUTE
        after = instant.astimezone(tz).utcoffset()
        if after != before:
            local = instant.astimezone(tz).date()
            found.update({local - DAY, local, local + DAY})
        before = after
    return frozenset(found)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def local(tz: ZoneInfo, year: int, month: int, day: int, hour: int = 0) -> datetime:
    """A local time that is neither in a gap nor in a fold, as a UTC instant."""
    shown = datetime(year, month, day, hour)
    instant = shown.replace(tzinfo=tz).astimezone(UTC)
    assert wall(instant, tz) == shown
    return instant


# --- 1. the daily window ---------------------------------------------------------------------


def by_date(windows: Iterable[PlannedWindow], questionnaire: str) -> dict[date, PlannedWindow]:
    found: dict[date, PlannedWindow] = {}
    for window in windows:
        if window.questionnaire == questionnaire:
            assert window.local_date not in found, ("twice", window)
            found[window.local_date] = window
    return found


def day_windows(windows: Iterable[PlannedWindow]) -> dict[date, PlannedWindow]:
    """The daily-or-post-infusion window of each local date; fails if a date has two."""
    found: dict[date, PlannedWindow] = {}
    for window in windows:
        if window.questionnaire in ("daily", "post_infusion"):
            assert window.local_date not in found, ("two windows on one day", window)
            found[window.local_date] = window
    return found


@pytest.mark.parametrize("length", [timedelta(hours=12), timedelta(hours=6), timedelta(hours=20)])
def test_daily_window_opens_at_reminder_time_and_lasts_the_protocol_length(
    length: timedelta,
) -> None:
    now = local(NEW_YORK, 2026, 6, 10, 12)
    windows = plan_windows(PATIENT, Protocol(daily_window=length), [], now)
    window = by_date(windows, "daily")[date(2026, 6, 10)]
    assert window.opens_at == utc(2026, 6, 10, 22)  # 18:00 EDT
    assert window.closes_at == utc(2026, 6, 10, 22) + length
    assert window.session_id is None


def test_default_daily_window_is_twelve_hours() -> None:
    windows = plan_windows(PATIENT, Protocol(), [], local(NEW_YORK, 2026, 1, 20, 12))
    window = by_date(windows, "daily")[date(2026, 1, 21)]
    assert window.opens_at == utc(2026, 1, 21, 23)  # 18:00 EST
    assert window.closes_at == utc(2026, 1, 22, 11)


# Hand-computed from the tz database; the oracle must agree too.
GAPS = [
    ("America/New_York", date(2026, 3, 8), time(2, 30), utc(2026, 3, 8, 7)),  # 02:00 -> 03:00
    ("Europe/London", date(2026, 3, 29), time(1, 30), utc(2026, 3, 29, 1)),  # 01:00 -> 02:00
    ("Australia/Lord_Howe", date(2026, 10, 4), time(2, 10), utc(2026, 10, 3, 15, 30)),
    ("Antarctica/Troll", date(2026, 3, 29), time(2, 0), utc(2026, 3, 29, 1)),  # 01:00 -> 03:00
    ("Africa/Casablanca", date(2026, 3, 22), time(2, 30), utc(2026, 3, 22, 2)),  # 02:00 -> 03:00
    ("America/Santiago", date(2026, 9, 6), time(0, 0), utc(2026, 9, 6, 4)),  # 00:00 -> 01:00
]
FOLDS = [
    ("America/New_York", date(2026, 11, 1), time(1, 30), utc(2026, 11, 1, 5, 30)),  # EDT
    ("Europe/London", date(2026, 10, 25), time(1, 30), utc(2026, 10, 25, 0, 30)),  # BST
    ("Australia/Lord_Howe", date(2026, 4, 5), time(1, 45), utc(2026, 4, 4, 14, 45)),  # +11
    ("Antarctica/Troll", date(2026, 10, 25), time(2, 0), utc(2026, 10, 25, 0, 0)),  # +02
    ("Africa/Casablanca", date(2026, 2, 15), time(2, 30), utc(2026, 2, 15, 1, 30)),  # +01
    ("America/Santiago", date(2026, 4, 4), time(23, 30), utc(2026, 4, 5, 2, 30)),  # -03
]


@pytest.mark.parametrize(("zone_name", "day", "at", "expected"), GAPS)
def test_reminder_time_in_dst_gap_opens_at_first_valid_instant(
    zone_name: str, day: date, at: time, expected: datetime
) -> None:
    tz = ZoneInfo(zone_name)
    patient = PatientSchedule(tz, at)
    now = datetime.combine(day - DAY, time(12), tz)
    window = by_date(plan_windows(patient, Protocol(), [], now), "daily")[day]
    assert window.opens_at == expected
    assert window.closes_at == expected + timedelta(hours=12)
    assert reference(day, at, tz) == expected
    # Moved forward, not back: a second earlier the local clock had not reached the time yet.
    assert wall(expected - SECOND, tz) < datetime.combine(day, at) < wall(expected, tz)


@pytest.mark.parametrize(("zone_name", "day", "at", "expected"), FOLDS)
def test_reminder_time_in_dst_fold_opens_at_first_occurrence(
    zone_name: str, day: date, at: time, expected: datetime
) -> None:
    tz = ZoneInfo(zone_name)
    patient = PatientSchedule(tz, at)
    now = datetime.combine(day - DAY, time(12), tz)
    window = by_date(plan_windows(patient, Protocol(), [], now), "daily")[day]
    assert window.opens_at == expected
    assert reference(day, at, tz) == expected
    # The clock shows this time again later the same night: that second reading is not used.
    later = [
        expected + step * MINUTE
        for step in range(1, 3 * 60)
        if wall(expected + step * MINUTE, tz) == datetime.combine(day, at)
    ]
    assert len(later) == 1


# --- 2. every day of the year in every kind of zone ---------------------------------------------


@pytest.mark.parametrize("zone_name", ZONES)
def test_local_instant_matches_utc_scan_every_day_of_2026_and_2027_transitions(
    zone_name: str,
) -> None:
    tz = ZoneInfo(zone_name)
    checked = [*days(date(2026, 1, 1), date(2026, 12, 31)), *sorted(transition_days(tz, 2027))]
    for day in checked:
        for at in REMINDER_TIMES:
            assert local_instant(day, at, tz) == reference(day, at, tz), (zone_name, day, at)
    if zone_name != "Asia/Kolkata":
        assert len(transition_days(tz, 2027)) >= 6  # the 2027 transitions were really checked


@pytest.mark.parametrize("zone_name", ZONES)
def test_plan_has_one_daily_window_per_consecutive_local_date_all_year(zone_name: str) -> None:
    tz = ZoneInfo(zone_name)
    for at in (time(0, 0), time(2, 30), time(18, 0), time(23, 30)):
        patient = PatientSchedule(tz, at)
        seen: dict[date, PlannedWindow] = {}
        now = datetime(2026, 1, 1, 0, tzinfo=tz)
        while now.year == 2026:
            planned = by_date(plan_windows(patient, Protocol(), [], now), "daily")
            dates = sorted(planned)
            assert dates == list(days(dates[0], dates[-1])), (zone_name, at, now)
            for day, window in planned.items():
                assert seen.setdefault(day, window) == window
            now += timedelta(days=7)
        ordered = sorted(seen)
        assert ordered[0] <= date(2026, 1, 1)
        assert ordered[-1] >= date(2026, 12, 31)
        assert ordered == list(days(ordered[0], ordered[-1]))
        for day, window in seen.items():
            assert window.opens_at == reference(day, at, tz), (zone_name, day, at)
            assert window.closes_at - window.opens_at == timedelta(hours=12)
            assert window.opens_at.utcoffset() == timedelta(0)  # stored as UTC


# --- 3. post-infusion and weekly windows, the horizon -----------------------------------------


def session(n: int, at: datetime, *, cancelled: bool = False) -> Session:
    return Session(UUID(int=n), at, cancelled)


def test_post_infusion_windows_replace_daily_on_the_three_days_after_a_session() -> None:
    infusion = session(1, local(NEW_YORK, 2026, 6, 10, 10))
    windows = plan_windows(PATIENT, Protocol(), [infusion], local(NEW_YORK, 2026, 6, 9, 12))
    days_ = day_windows(windows)
    post = {d for d, w in days_.items() if w.questionnaire == "post_infusion"}
    assert post == {date(2026, 6, 11), date(2026, 6, 12), date(2026, 6, 13)}
    for day in post:
        window = days_[day]
        assert window.session_id == infusion.id
        assert window.opens_at == local(NEW_YORK, day.year, day.month, day.day, 18)
        assert window.closes_at == window.opens_at + timedelta(hours=12)
    for day in (date(2026, 6, 10), date(2026, 6, 14)):
        assert days_[day].questionnaire == "daily"
        assert days_[day].session_id is None
    assert set(days_) == set(days(date(2026, 6, 9), date(2026, 6, 23)))


@pytest.mark.parametrize("post_days", [1, 5])
def test_number_of_post_infusion_days_follows_the_protocol(post_days: int) -> None:
    infusion = session(1, local(NEW_YORK, 2026, 6, 10, 10))
    protocol = Protocol(post_infusion_days=post_days)
    windows = plan_windows(PATIENT, protocol, [infusion], local(NEW_YORK, 2026, 6, 9, 12))
    post = sorted(w.local_date for w in windows if w.questionnaire == "post_infusion")
    assert post == list(days(date(2026, 6, 11), date(2026, 6, 10) + timedelta(days=post_days)))


def test_post_infusion_days_count_from_the_sessions_local_date() -> None:
    # 22:00 in New York is already the next day in UTC.
    infusion = session(1, utc(2026, 6, 11, 2))
    windows = plan_windows(PATIENT, Protocol(), [infusion], local(NEW_YORK, 2026, 6, 9, 12))
    post = sorted(w.local_date for w in windows if w.questionnaire == "post_infusion")
    assert post == [date(2026, 6, 11), date(2026, 6, 12), date(2026, 6, 13)]


def test_cancelled_session_gives_no_post_infusion_window() -> None:
    cancelled = session(1, local(NEW_YORK, 2026, 6, 10, 10), cancelled=True)
    windows = plan_windows(PATIENT, Protocol(), [cancelled], local(NEW_YORK, 2026, 6, 9, 12))
    assert [w for w in windows if w.questionnaire == "post_infusion"] == []
    assert set(day_windows(windows)) == set(days(date(2026, 6, 9), date(2026, 6, 23)))


def test_overlapping_sessions_give_one_window_per_day_from_the_latest_earlier_session() -> None:
    series = [session(n, local(NEW_YORK, 2026, 6, 10 + n, 10)) for n in range(5)]  # 10th..14th
    shuffled = [series[3], series[0], series[4], series[2], series[1]]
    windows = plan_windows(PATIENT, Protocol(), shuffled, local(NEW_YORK, 2026, 6, 9, 12))
    days_ = day_windows(windows)
    owner = {d: w.session_id for d, w in days_.items() if w.questionnaire == "post_infusion"}
    expected = {date(2026, 6, 11 + n): series[n].id for n in range(5)}  # the day before's
    expected |= {date(2026, 6, 16): series[4].id, date(2026, 6, 17): series[4].id}
    assert owner == expected
    assert days_[date(2026, 6, 10)].questionnaire == "daily"
    assert days_[date(2026, 6, 18)].questionnaire == "daily"


@pytest.mark.parametrize(
    ("weekday", "expected_days"),
    [
        (7, [date(2026, 6, 14), date(2026, 6, 21)]),  # Sundays
        (3, [date(2026, 6, 10), date(2026, 6, 17), date(2026, 6, 24)]),  # Wednesdays
    ],
)
def test_weekly_window_opens_on_protocol_weekday_alongside_the_day_window(
    weekday: int, expected_days: list[date]
) -> None:
    infusion = session(1, local(NEW_YORK, 2026, 6, 13, 10))  # post-infusion on the 14th
    protocol = Protocol(weekly_weekday=weekday)
    windows = plan_windows(PATIENT, protocol, [infusion], local(NEW_YORK, 2026, 6, 10, 12))
    weekly = by_date(windows, "weekly")
    assert sorted(weekly) == expected_days
    days_ = day_windows(windows)
    for day, window in weekly.items():
        assert window.opens_at == local(NEW_YORK, day.year, day.month, day.day, 18)
        assert window.closes_at == window.opens_at + timedelta(hours=48)
        assert window.session_id is None
        assert day in days_  # the daily (or post-infusion) window is still there


def test_weekly_window_length_follows_the_protocol() -> None:
    protocol = Protocol(weekly_window=timedelta(hours=30))
    windows = plan_windows(PATIENT, protocol, [], local(NEW_YORK, 2026, 6, 10, 12))
    window = by_date(windows, "weekly")[date(2026, 6, 14)]
    assert window.closes_at == utc(2026, 6, 14, 22) + timedelta(hours=30)


@pytest.mark.parametrize(
    ("now", "first", "last"),
    [
        # 03:00: yesterday's window (18:00 -> 06:00) is still open.
        (local(NEW_YORK, 2026, 6, 10, 3), date(2026, 6, 9), date(2026, 6, 24)),
        # 07:00: it closed at 06:00.
        (local(NEW_YORK, 2026, 6, 10, 7), date(2026, 6, 10), date(2026, 6, 24)),
        # 06:00 sharp: closed exactly now counts as closed.
        (local(NEW_YORK, 2026, 6, 10, 6), date(2026, 6, 10), date(2026, 6, 24)),
        # 23:30 EST before spring forward: 14 days later it is 00:30 EDT on the 16th.
        (
            datetime(2026, 3, 1, 23, 30, tzinfo=NEW_YORK).astimezone(UTC),
            date(2026, 3, 1),
            date(2026, 3, 16),
        ),
    ],
)
def test_plan_covers_yesterday_to_the_horizon_and_drops_closed_windows(
    now: datetime, first: date, last: date
) -> None:
    windows = plan_windows(PATIENT, Protocol(), [], now)
    assert sorted(day_windows(windows)) == list(days(first, last))
    assert all(w.closes_at > now for w in windows)


def test_horizon_is_counted_in_the_patients_local_dates() -> None:
    # 2026-06-10 20:00 EDT is the 11th in UTC; the plan ends on the 24th, local.
    windows = plan_windows(PATIENT, Protocol(), [], utc(2026, 6, 11, 0))
    assert max(day_windows(windows)) == date(2026, 6, 24)
    tokyo = PatientSchedule(ZoneInfo("Asia/Tokyo"), time(18))
    windows = plan_windows(tokyo, Protocol(), [], utc(2026, 6, 11, 0))  # 09:00 on the 11th
    assert sorted(day_windows(windows)) == list(days(date(2026, 6, 11), date(2026, 6, 25)))


# --- 4. reminders -----------------------------------------------------------------------------


def window_at(opens: datetime, length: timedelta = timedelta(hours=12)) -> PlannedWindow:
    day = opens.astimezone(NEW_YORK).date()
    return PlannedWindow(Questionnaire.daily, day, opens, opens + length)


def sent(reminders: Iterable[PlannedReminder]) -> list[tuple[str, datetime]]:
    return [(r.kind.value, r.send_at) for r in reminders]


@pytest.mark.parametrize("nudge_after", [timedelta(hours=4), timedelta(hours=2, minutes=30)])
def test_reminders_at_opening_and_a_nudge_later(nudge_after: timedelta) -> None:
    opens = utc(2026, 6, 10, 22)
    reminders = plan_reminders(
        window_at(opens), PATIENT, Protocol(nudge_after=nudge_after), opens, window_is_new=True
    )
    assert sent(reminders) == [("opening", opens), ("nudge", opens + nudge_after)]
    assert [r.kind for r in reminders] == [ReminderKind.opening, ReminderKind.nudge]


@pytest.mark.parametrize(
    ("quiet", "reminder_time", "length", "expected"),
    [
        # 22:00-07:00 spans midnight: the nudge at 22:00 waits for 07:00, after the close.
        (QuietHours(time(22), time(7)), time(18), 12, [("opening", utc(2026, 6, 10, 22))]),
        # Same with a 14-hour window: 07:00 is before the close at 08:00.
        (
            QuietHours(time(22), time(7)),
            time(18),
            14,
            [("opening", utc(2026, 6, 10, 22)), ("nudge", utc(2026, 6, 11, 11))],
        ),
        # Opening at 06:00 inside quiet hours waits for 07:00 the same morning.
        (
            QuietHours(time(22), time(7)),
            time(6),
            12,
            [("opening", utc(2026, 6, 10, 11)), ("nudge", utc(2026, 6, 10, 14))],
        ),
        # Quiet hours within one day: the nudge at 14:00 waits for 15:00.
        (
            QuietHours(time(13), time(15)),
            time(10),
            12,
            [("opening", utc(2026, 6, 10, 14)), ("nudge", utc(2026, 6, 10, 19))],
        ),
        # Outside quiet hours nothing moves.
        (
            QuietHours(time(1), time(5)),
            time(10),
            12,
            [("opening", utc(2026, 6, 10, 14)), ("nudge", utc(2026, 6, 10, 18))],
        ),
    ],
)
def test_reminder_in_quiet_hours_waits_for_their_end_and_is_dropped_past_the_close(
    quiet: QuietHours, reminder_time: time, length: int, expected: list[tuple[str, datetime]]
) -> None:
    patient = PatientSchedule(NEW_YORK, reminder_time, quiet)
    protocol = Protocol(daily_window=timedelta(hours=length))
    now = local(NEW_YORK, 2026, 6, 9, 12)
    window = by_date(plan_windows(patient, protocol, [], now), "daily")[date(2026, 6, 10)]
    reminders = plan_reminders(window, patient, protocol, now, window_is_new=True)
    assert sent(reminders) == expected


@pytest.mark.parametrize(
    ("close_after_quiet_end", "nudge_kept"),
    [(timedelta(0), False), (-SECOND, False), (SECOND, True)],
)
def test_reminder_deferred_to_or_past_the_close_is_dropped(
    close_after_quiet_end: timedelta, nudge_kept: bool
) -> None:
    quiet = QuietHours(time(22), time(7))
    patient = PatientSchedule(NEW_YORK, time(18), quiet)
    opens = local(NEW_YORK, 2026, 6, 10, 18)
    quiet_end = local(NEW_YORK, 2026, 6, 11, 7)
    window = window_at(opens, quiet_end + close_after_quiet_end - opens)
    reminders = plan_reminders(window, patient, Protocol(), opens, window_is_new=True)
    expected = [("opening", opens)] + ([("nudge", quiet_end)] if nudge_kept else [])
    assert sent(reminders) == expected


def test_quiet_end_in_spring_forward_gap_is_the_first_valid_instant() -> None:
    # New York, 2026-03-08: 02:00 EST jumps to 03:00 EDT, so a quiet end at 02:30 is 03:00 EDT.
    quiet = QuietHours(time(22), time(2, 30))
    patient = PatientSchedule(NEW_YORK, time(20), quiet)
    opens = utc(2026, 3, 8, 1)  # 20:00 EST on the 7th; the nudge at 00:00 is in quiet hours
    reminders = plan_reminders(window_at(opens), patient, Protocol(), opens, window_is_new=True)
    assert sent(reminders) == [("opening", opens), ("nudge", utc(2026, 3, 8, 7))]
    assert after_quiet_hours(utc(2026, 3, 8, 6, 59), quiet, NEW_YORK) == utc(2026, 3, 8, 7)
    assert after_quiet_hours(utc(2026, 3, 8, 3), quiet, NEW_YORK) == utc(2026, 3, 8, 7)


def test_quiet_end_in_fall_back_fold_is_its_first_occurrence_for_earlier_instants() -> None:
    # New York, 2026-11-01: 01:00-02:00 happens twice; 01:30 EDT (05:30 UTC) comes first.
    quiet = QuietHours(time(22), time(1, 30))
    assert after_quiet_hours(utc(2026, 11, 1, 4), quiet, NEW_YORK) == utc(2026, 11, 1, 5, 30)
    assert after_quiet_hours(utc(2026, 11, 1, 5, 10), quiet, NEW_YORK) == utc(2026, 11, 1, 5, 30)


def test_nudge_in_repeated_hour_before_quiet_end_is_not_sent_during_quiet_hours() -> None:
    # Default protocol, reminder 22:10, quiet 22:00-01:30, New York, night of 2026-10-31.
    # The opening (22:10 EDT) waits for 01:30 EDT; the nudge at 02:10 UTC + 4 h = 06:10 UTC is
    # 01:10 EST, the clock's second pass through 01:00-02:00, inside quiet hours again.
    quiet = QuietHours(time(22), time(1, 30))
    patient = PatientSchedule(NEW_YORK, time(22, 10), quiet)
    now = local(NEW_YORK, 2026, 10, 31, 12)
    window = by_date(plan_windows(patient, Protocol(), [], now), "daily")[date(2026, 10, 31)]
    reminders = plan_reminders(window, patient, Protocol(), now, window_is_new=True)
    assert sent(reminders)[0] == ("opening", utc(2026, 11, 1, 5, 30))
    nudge = reminders[1].send_at
    assert not in_quiet_hours(nudge, quiet, NEW_YORK)
    assert nudge == utc(2026, 11, 1, 6, 30)  # 01:30 EST, when the clock leaves quiet hours


@pytest.mark.parametrize(
    ("quiet", "clock", "expected"),
    [
        (QuietHours(time(22), time(7)), time(22), True),  # start included
        (QuietHours(time(22), time(7)), time(23, 59), True),
        (QuietHours(time(22), time(7)), time(0), True),
        (QuietHours(time(22), time(7)), time(6, 59), True),
        (QuietHours(time(22), time(7)), time(7), False),  # end excluded
        (QuietHours(time(22), time(7)), time(12), False),
        (QuietHours(time(22), time(7)), time(21, 59), False),
        (QuietHours(time(13), time(15)), time(13), True),
        (QuietHours(time(13), time(15)), time(14, 59), True),
        (QuietHours(time(13), time(15)), time(15), False),
        (QuietHours(time(13), time(15)), time(12, 59), False),
        (QuietHours(time(13), time(15)), time(0), False),
    ],
)
def test_in_quiet_hours_reads_the_local_clock_start_included_end_excluded(
    quiet: QuietHours, clock: time, expected: bool
) -> None:
    kolkata = ZoneInfo("Asia/Kolkata")
    instant = datetime.combine(date(2026, 6, 10), clock, kolkata).astimezone(UTC)
    assert in_quiet_hours(instant, quiet, kolkata) is expected


def test_after_quiet_hours_without_quiet_hours_changes_nothing() -> None:
    instant = utc(2026, 6, 10, 7, 13)
    assert after_quiet_hours(instant, None, NEW_YORK) == instant


def fold_end(zone_name: str, start: time, end: time, day: date) -> object:
    return pytest.param(
        zone_name,
        QuietHours(start, end),
        day,
        id=f"{zone_name}-{start}-{end}-fold-end",
    )


@pytest.mark.parametrize(
    ("zone_name", "quiet", "day"),
    [
        ("America/New_York", QuietHours(time(22), time(7)), date(2026, 3, 8)),
        ("America/New_York", QuietHours(time(22), time(7)), date(2026, 11, 1)),
        ("America/New_York", QuietHours(time(22), time(2, 30)), date(2026, 3, 8)),  # end in gap
        ("America/New_York", QuietHours(time(2, 15), time(2, 45)), date(2026, 3, 8)),  # skipped
        ("America/New_York", QuietHours(time(13), time(15)), date(2026, 11, 1)),
        ("Europe/London", QuietHours(time(23), time(1, 30)), date(2026, 3, 29)),
        ("Australia/Lord_Howe", QuietHours(time(22), time(2, 15)), date(2026, 10, 4)),
        ("Antarctica/Troll", QuietHours(time(0, 30), time(2, 30)), date(2026, 3, 29)),
        ("Antarctica/Troll", QuietHours(time(21), time(6)), date(2026, 10, 25)),
        ("Africa/Casablanca", QuietHours(time(1), time(2, 30)), date(2026, 3, 22)),
        ("Africa/Casablanca", QuietHours(time(22), time(6)), date(2026, 2, 15)),
        ("America/Santiago", QuietHours(time(22), time(0, 30)), date(2026, 9, 6)),
        ("America/Santiago", QuietHours(time(21), time(7)), date(2026, 4, 5)),
        ("Asia/Kolkata", QuietHours(time(22), time(7)), date(2026, 6, 10)),
        fold_end("America/New_York", time(22), time(1, 30), date(2026, 11, 1)),
        fold_end("Europe/London", time(0), time(1, 30), date(2026, 10, 25)),
        fold_end("Australia/Lord_Howe", time(22), time(1, 45), date(2026, 4, 5)),
        fold_end("Antarctica/Troll", time(22), time(2), date(2026, 10, 25)),
        fold_end("Africa/Casablanca", time(1), time(2, 30), date(2026, 2, 15)),
        fold_end("America/Santiago", time(22), time(23, 30), date(2026, 4, 4)),
    ],
)
def test_after_quiet_hours_lands_on_the_first_moment_the_clock_leaves_quiet_hours(
    zone_name: str, quiet: QuietHours, day: date
) -> None:
    """Every 10 minutes over three days around a transition: an instant outside quiet hours is
    kept; one inside moves to the quiet end (or the first instant after a gap that skips it),
    which is outside quiet hours, with every sampled moment in between still quiet."""
    tz = ZoneInfo(zone_name)
    start = datetime.combine(day - DAY, time(0), tz).astimezone(UTC)
    for step in range(3 * 24 * 6):
        instant = start + step * 10 * MINUTE
        result = after_quiet_hours(instant, quiet, tz)
        if not in_quiet_hours(instant, quiet, tz):
            assert result == instant
            continue
        assert not in_quiet_hours(result, quiet, tz), (instant, result)
        assert instant < result < instant + DAY
        shown = wall(result, tz)
        end = datetime.combine(shown.date(), quiet.end)
        assert shown == end or wall(result - SECOND, tz) < end < shown, (instant, result)
        between = instant + 10 * MINUTE
        while between < result:
            assert in_quiet_hours(between, quiet, tz), (instant, between, result)
            between += 10 * MINUTE


def test_new_window_drops_reminders_more_than_fifteen_minutes_late() -> None:
    opens = utc(2026, 6, 10, 22)
    window = window_at(opens)
    at_grace = plan_reminders(
        window, PATIENT, Protocol(), opens + timedelta(minutes=15), window_is_new=True
    )
    assert sent(at_grace) == [("opening", opens), ("nudge", opens + 4 * HOUR)]
    past_grace = plan_reminders(
        window, PATIENT, Protocol(), opens + timedelta(minutes=15) + SECOND, window_is_new=True
    )
    assert sent(past_grace) == [("nudge", opens + 4 * HOUR)]
    late = plan_reminders(window, PATIENT, Protocol(), opens + 5 * HOUR, window_is_new=True)
    assert sent(late) == []


def test_existing_window_keeps_its_past_reminders() -> None:
    opens = utc(2026, 6, 10, 22)
    reminders = plan_reminders(
        window_at(opens), PATIENT, Protocol(), opens + 5 * HOUR, window_is_new=False
    )
    assert sent(reminders) == [("opening", opens), ("nudge", opens + 4 * HOUR)]


# --- 5. changes between the stored windows and the plan ---------------------------------------

Key = tuple[str, date]
_ids = count(1000)


def stored(window: PlannedWindow, status: str = "open") -> ExistingWindow:
    return ExistingWindow(
        id=UUID(int=next(_ids)),
        questionnaire=window.questionnaire.value,
        local_date=window.local_date,
        opens_at=window.opens_at,
        closes_at=window.closes_at,
        status=status,
        session_id=window.session_id,
    )


def planned(
    day: date,
    questionnaire: str = "daily",
    session_id: UUID | None = None,
    opens: time = time(18),
) -> PlannedWindow:
    start = datetime.combine(day, opens, NEW_YORK).astimezone(UTC)
    return PlannedWindow(Questionnaire(questionnaire), day, start, start + 12 * HOUR, session_id)


def keys_of(rows: Iterable[ExistingWindow], ids: list[UUID]) -> set[Key]:
    by_id = {row.id: (row.questionnaire, row.local_date) for row in rows}
    return {by_id[i] for i in ids}


def inserted(plan: PlanChanges) -> set[Key]:
    return {(w.questionnaire.value, w.local_date) for w in plan.insert}


NOTHING = PlanChanges([], [], [])
JUNE_10 = date(2026, 6, 10)
BEFORE_OPENING = local(NEW_YORK, 2026, 6, 10, 12)
WHILE_OPEN = local(NEW_YORK, 2026, 6, 10, 20)
AFTER_CLOSE = local(NEW_YORK, 2026, 6, 11, 7)


@pytest.mark.parametrize("status", ["completed", "missed"])
@pytest.mark.parametrize("now", [BEFORE_OPENING, WHILE_OPEN, AFTER_CLOSE])
def test_completed_or_missed_window_is_never_issued_again(status: str, now: datetime) -> None:
    row = stored(planned(JUNE_10), status)
    moved = planned(JUNE_10, opens=time(9))  # even though the plan moved it
    assert changes([row], [moved], now) == NOTHING
    assert changes([row], [planned(JUNE_10)], now) == NOTHING


@pytest.mark.parametrize("status", ["completed", "missed"])
def test_completed_or_missed_day_gets_no_window_of_the_other_kind(status: str) -> None:
    # An infusion recorded late turns an answered day into a post-infusion day, or back.
    daily = stored(planned(JUNE_10), status)
    post = planned(JUNE_10, "post_infusion", UUID(int=1))
    assert changes([daily], [post], WHILE_OPEN) == NOTHING
    assert changes([stored(post, status)], [planned(JUNE_10)], WHILE_OPEN) == NOTHING


def test_cancelled_window_is_not_inserted_again_but_reopened_while_it_can_be_answered() -> None:
    row = stored(planned(JUNE_10), "cancelled")
    moved = planned(JUNE_10, opens=time(19))
    assert changes([row], [moved], WHILE_OPEN) == PlanChanges([], [], [], [row.id])
    assert changes([row], [planned(JUNE_10)], WHILE_OPEN) == PlanChanges([], [], [], [row.id])
    assert changes([row], [planned(JUNE_10)], AFTER_CLOSE) == NOTHING  # too late to answer
    assert changes([row], [], WHILE_OPEN) == NOTHING  # not wanted: stays cancelled


def test_cancelled_window_leaves_its_day_to_the_other_kind() -> None:
    cancelled = stored(planned(JUNE_10, "post_infusion", UUID(int=1)), "cancelled")
    daily = planned(JUNE_10)
    assert changes([cancelled], [daily], WHILE_OPEN) == PlanChanges([], [], [daily])


@pytest.mark.parametrize("answered_first", [True, False])
def test_cancelled_window_is_not_reopened_on_a_day_already_answered(
    answered_first: bool,
) -> None:
    # Post-infusion window of the 10th opened, then the session moved away: it was cancelled
    # and a daily window took the day; the patient answered that one; the session moves back.
    post = stored(planned(JUNE_10, "post_infusion", UUID(int=1)), "cancelled")
    daily = stored(planned(JUNE_10), "completed")
    rows = [daily, post] if answered_first else [post, daily]
    desired = [planned(JUNE_10, "post_infusion", UUID(int=1))]
    plan = changes(rows, desired, WHILE_OPEN)
    assert plan.reopen == []
    assert plan.insert == []


def test_unopened_window_that_is_unchanged_is_kept() -> None:
    row = stored(planned(JUNE_10))
    assert changes([row], [planned(JUNE_10)], BEFORE_OPENING) == NOTHING


@pytest.mark.parametrize(
    ("before", "desired"),
    [
        (planned(JUNE_10), planned(JUNE_10, opens=time(19))),
        (
            planned(JUNE_10),
            msgspec.structs.replace(planned(JUNE_10), closes_at=planned(JUNE_10).closes_at + HOUR),
        ),
        (
            planned(JUNE_10, "post_infusion", UUID(int=1)),
            planned(JUNE_10, "post_infusion", UUID(int=2)),
        ),
    ],
    ids=["opens", "closes", "session"],
)
def test_unopened_window_is_replaced_when_its_times_or_session_change(
    before: PlannedWindow, desired: PlannedWindow
) -> None:
    row = stored(before)
    plan = changes([row], [desired], BEFORE_OPENING)
    assert plan.delete == [row.id]
    assert plan.cancel == []
    assert plan.insert == [desired]


def test_unopened_window_no_longer_wanted_is_deleted() -> None:
    row = stored(planned(JUNE_10, "post_infusion", UUID(int=1)))
    daily = planned(JUNE_10)
    plan = changes([row], [daily], BEFORE_OPENING)
    assert plan == PlanChanges([row.id], [], [daily])


def test_opened_window_still_wanted_keeps_its_times() -> None:
    row = stored(planned(JUNE_10))
    moved = planned(JUNE_10, opens=time(21))
    assert changes([row], [moved], WHILE_OPEN) == NOTHING


def test_opened_window_no_longer_wanted_is_cancelled_while_open() -> None:
    row = stored(planned(JUNE_10, "post_infusion", UUID(int=1)))
    daily = planned(JUNE_10)
    assert changes([row], [daily], WHILE_OPEN) == PlanChanges([], [row.id], [daily])
    assert changes([row], [], WHILE_OPEN) == PlanChanges([], [row.id], [])


@pytest.mark.parametrize("now", [AFTER_CLOSE, planned(JUNE_10).closes_at])
def test_closed_unanswered_window_is_left_for_the_missed_sweeper(now: datetime) -> None:
    row = stored(planned(JUNE_10, "post_infusion", UUID(int=1)))
    assert changes([row], [], now) == NOTHING


def test_wanted_window_not_stored_yet_is_inserted() -> None:
    stored_row = stored(planned(JUNE_10))
    tomorrow = planned(date(2026, 6, 11))
    weekly = planned(date(2026, 6, 14), "weekly")
    plan = changes([stored_row], [planned(JUNE_10), tomorrow, weekly], BEFORE_OPENING)
    assert plan == PlanChanges([], [], [tomorrow, weekly])


def apply(rows: list[ExistingWindow], plan: PlanChanges) -> list[ExistingWindow]:
    """The stored windows after the change (cancelled ones stay as rows, as in the store)."""
    status = {i: "cancelled" for i in plan.cancel} | {i: "open" for i in plan.reopen}
    kept = [
        msgspec.structs.replace(r, status=status[r.id]) if r.id in status else r
        for r in rows
        if r.id not in plan.delete
    ]
    return kept + [stored(w) for w in plan.insert]


def live_days(rows: Iterable[ExistingWindow]) -> dict[date, ExistingWindow]:
    found: dict[date, ExistingWindow] = {}
    for row in rows:
        if row.questionnaire in ("daily", "post_infusion") and row.status != "cancelled":
            assert row.local_date not in found, ("two windows on one day", row)
            found[row.local_date] = row
    return found


def test_rescheduling_a_session_moves_its_post_infusion_windows_and_keeps_completed_ones() -> None:
    done = session(1, local(NEW_YORK, 2026, 6, 8, 10))  # post-infusion 9th, 10th, 11th
    upcoming = session(2, local(NEW_YORK, 2026, 6, 15, 10))  # post-infusion 16th, 17th, 18th
    first_plan = plan_windows(
        PATIENT, Protocol(), [done, upcoming], local(NEW_YORK, 2026, 6, 8, 12)
    )
    now = WHILE_OPEN  # the 10th, 20:00: the post-infusion window of the 10th is open
    status = {date(2026, 6, 8): "completed", date(2026, 6, 9): "completed"}
    rows = [stored(w, status.get(w.local_date, "open")) for w in first_plan]
    assert live_days(rows)[JUNE_10].questionnaire == "post_infusion"

    moved = Session(upcoming.id, upcoming.scheduled_at + 2 * DAY)  # now the 17th
    desired = plan_windows(PATIENT, Protocol(), [done, moved], now)
    plan = changes(rows, desired, now)

    assert keys_of(rows, plan.delete) == {
        ("post_infusion", date(2026, 6, 16)),
        ("post_infusion", date(2026, 6, 17)),
        ("daily", date(2026, 6, 19)),
        ("daily", date(2026, 6, 20)),
    }
    assert plan.cancel == []
    assert inserted(plan) == {
        ("daily", date(2026, 6, 16)),
        ("daily", date(2026, 6, 17)),
        ("post_infusion", date(2026, 6, 19)),
        ("post_infusion", date(2026, 6, 20)),
        ("daily", date(2026, 6, 23)),  # the horizon rolled on since the first plan
        ("daily", date(2026, 6, 24)),
    }
    after = apply(rows, plan)
    days_ = live_days(after)
    assert sorted(days_) == list(days(date(2026, 6, 8), date(2026, 6, 24)))
    post = {d: r.session_id for d, r in days_.items() if r.questionnaire == "post_infusion"}
    assert post == {
        date(2026, 6, 9): done.id,
        date(2026, 6, 10): done.id,
        date(2026, 6, 11): done.id,
        date(2026, 6, 18): upcoming.id,
        date(2026, 6, 19): upcoming.id,
        date(2026, 6, 20): upcoming.id,
    }
    assert days_[date(2026, 6, 8)].status == "completed"
    assert days_[date(2026, 6, 9)].status == "completed"
    assert days_[JUNE_10] in rows  # the open one the patient may be answering is untouched
    # Last Sunday's weekly window closed unanswered: left as it was, for the missed sweeper.
    assert sorted(r.local_date for r in after if r.questionnaire == "weekly") == [
        date(2026, 6, 7),
        date(2026, 6, 14),
        date(2026, 6, 21),
    ]
    assert ("weekly", date(2026, 6, 7)) not in keys_of(rows, plan.delete + plan.cancel)


def test_cancelling_a_session_cancels_its_open_window_and_restores_daily_ones() -> None:
    infusion = session(1, local(NEW_YORK, 2026, 6, 9, 10))  # post-infusion 10th, 11th, 12th
    first_plan = plan_windows(PATIENT, Protocol(), [infusion], local(NEW_YORK, 2026, 6, 9, 12))
    rows = [stored(w, "completed" if w.local_date < JUNE_10 else "open") for w in first_plan]
    cancelled = Session(infusion.id, infusion.scheduled_at, cancelled=True)
    desired = plan_windows(PATIENT, Protocol(), [cancelled], WHILE_OPEN)
    plan = changes(rows, desired, WHILE_OPEN)

    assert keys_of(rows, plan.cancel) == {("post_infusion", JUNE_10)}
    assert keys_of(rows, plan.delete) == {
        ("post_infusion", date(2026, 6, 11)),
        ("post_infusion", date(2026, 6, 12)),
    }
    assert inserted(plan) == {
        ("daily", JUNE_10),
        ("daily", date(2026, 6, 11)),
        ("daily", date(2026, 6, 12)),
        ("daily", date(2026, 6, 24)),
    }
    days_ = live_days(apply(rows, plan))
    assert all(r.questionnaire == "daily" for r in days_.values())
    assert sorted(days_) == list(days(date(2026, 6, 9), date(2026, 6, 24)))


def test_moving_a_session_away_and_back_reopens_its_cancelled_window() -> None:
    infusion = session(1, local(NEW_YORK, 2026, 6, 9, 10))  # post-infusion 10th, 11th, 12th
    first_plan = plan_windows(PATIENT, Protocol(), [infusion], local(NEW_YORK, 2026, 6, 9, 12))
    rows = [stored(w, "completed" if w.local_date < JUNE_10 else "open") for w in first_plan]
    post_10 = next(r for r in rows if r.local_date == JUNE_10)
    assert post_10.questionnaire == "post_infusion"

    away = Session(infusion.id, local(NEW_YORK, 2026, 6, 12, 10))
    plan = changes(rows, plan_windows(PATIENT, Protocol(), [away], WHILE_OPEN), WHILE_OPEN)
    assert plan.cancel == [post_10.id]
    rows = apply(rows, plan)
    daily_10 = live_days(rows)[JUNE_10]
    assert daily_10.questionnaire == "daily"

    later = WHILE_OPEN + HOUR
    plan = changes(rows, plan_windows(PATIENT, Protocol(), [infusion], later), later)
    assert plan.reopen == [post_10.id]
    assert plan.cancel == [daily_10.id]
    assert inserted(plan) == {
        ("post_infusion", date(2026, 6, 11)),
        ("post_infusion", date(2026, 6, 12)),
        ("daily", date(2026, 6, 13)),
        ("daily", date(2026, 6, 14)),
        ("daily", date(2026, 6, 15)),
    }
    days_ = live_days(apply(rows, plan))
    assert days_[JUNE_10].id == post_10.id
    assert sorted(days_) == list(days(date(2026, 6, 9), date(2026, 6, 24)))
    post = sorted(d for d, r in days_.items() if r.questionnaire == "post_infusion")
    assert post == [JUNE_10, date(2026, 6, 11), date(2026, 6, 12)]


def test_a_nudge_pushed_to_the_openings_moment_is_dropped() -> None:
    # Reminder 23:00, nudge 03:00, quiet 22:00-07:00: both would go at 07:00; one does.
    quiet = QuietHours(time(22), time(7))
    patient = PatientSchedule(NEW_YORK, time(23), quiet)
    now = local(NEW_YORK, 2026, 6, 10, 12)
    window = by_date(plan_windows(patient, Protocol(), [], now), "daily")[date(2026, 6, 10)]
    reminders = plan_reminders(window, patient, Protocol(), now, window_is_new=True)
    assert sent(reminders) == [("opening", local(NEW_YORK, 2026, 6, 11, 7))]
