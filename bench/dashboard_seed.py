"""Seed a large, realistic clinic dataset for the dashboard benchmark.

Fills a freshly migrated, empty database with CLINICS clinics and PATIENTS patients in all, one
clinic holding exactly BIG_CLINIC of them (the one the benchmark times). Every patient has DAYS
days of daily check-in windows up to today plus the planner's 14 days ahead, the check-ins that
answered them, a series of six infusions and boosters every 4-8 weeks, alerts, a device with a
push subscription (most patients) and the last week of reminders.

The rows are what the server itself would have stored: answers, scores, the outcome block and
the flags as sql/queries/checkins.sql computes them (PostgreSQL's numeric rounding included),
windows completed by the check-in that answered them, missed otherwise, alerts raised by the
triggers' rules and acknowledged by a coordinator after a while (so a kind is open at most once
per patient). Patients are simulated day by day in worker processes, each patient with its own
random stream, and the rows reach PostgreSQL through COPY in time order, the order in which a
real clinic's tables fill.

    python bench/dashboard_seed.py --dsn postgresql://postgres@127.0.0.1/dash_bench
        [--clinics 10] [--patients 20000] [--big-clinic 2000] [--days 365] [--seed 1]

The database must be empty (it is migrated first if it is not yet). No reminder is left
pending, so a server started on it sends no push message; windows still open are marked missed
by the dispatcher as they close.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import functools
import gc
import hashlib
import io
import math
import multiprocessing
import queue
import random
import sys
import time
import traceback
import uuid
from collections import deque
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import asyncpg
import msgspec

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from server import db  # noqa: E402
from server.checkins.questionnaires import registry, score, validate_answers  # noqa: E402
from server.checkins.schemas import CheckinIn  # noqa: E402
from server.checkins.service import content_hash  # noqa: E402
from server.clinics import service as clinics_service  # noqa: E402
from server.demo import FIRST_NAMES  # noqa: E402
from server.schedule.plan import (  # noqa: E402
    HORIZON,
    PatientSchedule,
    PlannedWindow,
    Protocol,
    Questionnaire,
    QuietHours,
    plan_reminders,
)
from server.schedule.windows import local_date, local_instant  # noqa: E402

ZONES = (
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
    "Europe/London",
)
# Evening is the common choice; none falls in a DST gap (01:00-03:00).
REMINDER_TIMES = (
    (clock(7, 30), 1),
    (clock(8, 0), 3),
    (clock(9, 0), 2),
    (clock(12, 0), 1),
    (clock(17, 30), 1),
    (clock(18, 0), 6),
    (clock(19, 0), 3),
    (clock(20, 0), 3),
    (clock(21, 0), 2),
)
QUIET_HOURS = QuietHours(clock(22, 0), clock(7, 0))
CONDITIONS = (("crps", 35), ("fibromyalgia", 35), ("lyme", 20), ("other", 10))
CHECKIN_NOTES = (
    "Rough night, woke up at 3.",
    "Flare after a long drive.",
    "Better after the weekend.",
    "Weather change, joints aching.",
    "Forgot yesterday, sorry.",
    "Felt dizzy in the afternoon.",
)
ACK_NOTES = (
    "Called the patient; no change to the plan.",
    "Left a voicemail, will try again tomorrow.",
    "Spoke with the patient: flare after activity, advised rest.",
    "Patient travelling, reminders resume next week.",
    "Discussed with the physician; booster moved earlier.",
)

DAILY = registry().current["daily"]  # the newest version: the one the app asks
PROTOCOL = Protocol()  # the clinic defaults: 12-hour window, nudge after 4 hours
WORKERS = 2  # fixed, so that the physical row order depends only on the seed
BLOCK_DAYS = 7  # days simulated per message from a worker: the unit of time order
REMINDER_DAYS = 7  # reminders are kept for the windows of the last week only
INFUSION_SERIES = (0, 2, 4, 7, 9, 11)  # days after the first infusion
PAIN_HIGH = 9  # the clinic default pain_alert_threshold
BASELINE = timedelta(days=14)  # before the first infusion, per the insert query
RECENT = timedelta(hours=72)  # the insert query's 3-day mean
PUSH_HOSTS = (
    ("https://fcm.googleapis.com/fcm/send/", 6),
    ("https://web.push.apple.com/", 3),
    ("https://updates.push.services.mozilla.com/wpush/v2/", 1),
)

# The tables a worker fills, in the order they are copied, with the columns it writes.
COLUMNS = {
    "infusion_session": (
        ["id", "patient_id", "scheduled_at", "status", "created_at", "updated_at", "created_by"]
    ),
    "checkin_due": [
        "id",
        "patient_id",
        "questionnaire",
        "local_date",
        "opens_at",
        "closes_at",
        "status",
        "completed_at",
        "created_at",
    ],
    "checkin": [
        "id",
        "patient_id",
        "due_id",
        "questionnaire",
        "questionnaire_version",
        "answered_at",
        "received_at",
        "answers",
        "scores",
        "note",
        "content_hash",
        "flags",
        "outcome_metric",
        "outcome_value",
    ],
    "alert": [
        "id",
        "patient_id",
        "kind",
        "status",
        "raised_at",
        "checkin_id",
        "detail",
        "acknowledged_at",
        "acknowledged_by",
        "note",
    ],
    "reminder": [
        "id",
        "patient_id",
        "due_id",
        "kind",
        "send_at",
        "expires_at",
        "status",
        "attempts",
        "sent_at",
        "opened_at",
        "final_reason",
        "created_at",
    ],
    "push_attempt": ["reminder_id", "subscription_id", "at", "status_code", "error", "duration_ms"],
    "device": ["id", "patient_id", "token_hash", "created_at", "last_seen_at", "revoked_at"],
    "push_subscription": [
        "id",
        "patient_id",
        "device_id",
        "endpoint",
        "p256dh",
        "auth",
        "created_at",
        "updated_at",
        "last_success_at",
    ],
}
PATIENT_COLUMNS = [
    "id",
    "clinic_id",
    "display_name",
    "timezone",
    "reminder_time",
    "quiet_start",
    "quiet_end",
    "language",
    "condition",
    "status",
    "created_at",
    "pseudonym",
    "planned_until",
]
# The big tables: loaded without their indexes and constraints, which are rebuilt afterwards
# (a sorted build is several times faster than 13 million random B-tree inserts).
BULK_TABLES = ("checkin_due", "checkin")
COUNTED_TABLES = ("clinic", "coordinator", "patient", *COLUMNS)

NULL = "\\N"


class SeedError(Exception):
    """The database cannot be seeded as asked (message is for the operator)."""


@dataclass(frozen=True)
class SeedResult:
    """The clinic the benchmark times, an admin of it, rows per table, and how long it took."""

    big_clinic_id: uuid.UUID
    coordinator_email: str
    coordinator_password: str
    counts: dict[str, int]
    seconds: float


class _PatientSpec(msgspec.Struct, frozen=True):
    """What the main process decides about a patient; the worker simulates the rest."""

    id: str
    coordinator_id: str
    timezone: str
    reminder_time: clock
    quiet: bool
    created_at: datetime
    seed: str


# --- PostgreSQL numeric arithmetic ------------------------------------------------------------
# The outcome block must hold exactly the text the insert query stores, so averages and ratios
# are computed as PostgreSQL computes numerics: a value is (m, s) meaning m / 10**s, a division
# keeps the scale select_div_scale() picks, and rounding goes half away from zero.


def _round_div(num: int, den: int) -> int:
    """num / den rounded half away from zero."""
    q = (2 * abs(num) + abs(den)) // (2 * abs(den))
    return -q if (num < 0) != (den < 0) else q


def _leading(m: int, s: int) -> tuple[int, int]:
    """Weight and first digit of m / 10**s in base 10000, PostgreSQL's numeric digits."""
    if m == 0:
        return 0, 0
    m = abs(m)
    weight = (len(str(m)) - 1 - s) // 4
    shift = s + 4 * weight
    return weight, m // 10**shift if shift >= 0 else m * 10**-shift


def _div(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
    """a / b at the scale PostgreSQL's select_div_scale() gives it."""
    (am, as_), (bm, bs) = a, b
    weight_a, first_a = _leading(am, as_)
    weight_b, first_b = _leading(bm, bs)
    quotient_weight = weight_a - weight_b - (1 if first_a <= first_b else 0)
    scale = min(max(16 - 4 * quotient_weight, as_, bs, 0), 1000)
    return _round_div(am * 10 ** (bs + scale), bm * 10**as_), scale


def _sub(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
    scale = max(a[1], b[1])
    return a[0] * 10 ** (scale - a[1]) - b[0] * 10 ** (scale - b[1]), scale


def _round(a: tuple[int, int], scale: int) -> tuple[int, int]:
    m, s = a
    if s <= scale:
        return m * 10 ** (scale - s), scale
    return _round_div(m, 10 ** (s - scale)), scale


def _text(a: tuple[int, int]) -> str:
    m, s = a
    if s == 0:
        return str(m)
    whole, part = divmod(abs(m), 10**s)
    return f"{'-' if m < 0 else ''}{whole}.{part:0{s}d}"


def _at_most(a: tuple[int, int], bound: int) -> bool:
    return _sub(a, (bound, 0))[0] <= 0


def _at_least(a: tuple[int, int], bound: int) -> bool:
    return _sub(a, (bound, 0))[0] >= 0


def _category(change: tuple[int, int], pct: tuple[int, int] | None) -> str:
    """outcome_category() of the migrations (a null percentage compares as false)."""
    if pct is not None and _at_most(pct, -50):
        return "substantial_improvement"
    if pct is not None and _at_most(pct, -30):
        return "moderate_improvement"
    if _at_least(change, 2) or (pct is not None and _at_least(pct, 30)):
        return "worsening"
    return "no_meaningful_change"


def _percent(part: tuple[int, int], whole: tuple[int, int]) -> tuple[int, int] | None:
    """round(part / whole * 100, 1), null when whole is 0."""
    if whole[0] == 0:
        return None
    m, s = _div(part, whole)
    return _round((m * 100, s), 1)


@functools.cache
def _outcome_block(
    value: int, base_sum: int, base_n: int, kind: str, recent_sum: int, recent_n: int
) -> tuple[str, str | None]:
    """The "outcome" JSON of outcome_json() for a value against the mean of base_n values
    (none: no baseline) and a 3-day mean, and its category_3d (None without a baseline).
    Cached: everything it depends on is a small integer, so few inputs ever occur."""
    head = f'"metric":"pain_now","value":{value},"baseline":'
    if base_n == 0:
        return f"{{{head}null}}", None
    base = _div((base_sum, 0), (base_n, 0))
    recent = _div((recent_sum, 0), (recent_n, 0))
    difference = _sub((value, 0), base)
    recent_difference = _sub(recent, base)
    change = _round(difference, 2)
    pct = _percent(difference, base)
    category_3d = _category(_round(recent_difference, 2), _percent(recent_difference, base))
    block = (
        f"{{{head}{_text(_round(base, 2))},"
        f'"baseline_n":{base_n},"baseline_kind":"{kind}",'
        f'"change":{_text(change)},"change_pct":{"null" if pct is None else _text(pct)},'
        f'"category":"{_category(change, pct)}",'
        f'"mean_3d":{_text(_round(recent, 2))},"category_3d":"{category_3d}"}}'
    )
    return block, category_3d


# --- COPY text ----------------------------------------------------------------------------------


def _text_field(value: str) -> str:
    for char, escaped in (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r")):
        value = value.replace(char, escaped)
    return value


def _ts(value: datetime | None) -> str:
    return NULL if value is None else value.isoformat()


def _uuid(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def _bytea(value: bytes) -> str:
    return "\\\\x" + value.hex()


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


# --- one patient, day by day --------------------------------------------------------------------


class _Day(NamedTuple):
    """One local day's daily window, with its COPY text made once for all its patients."""

    date: date
    opens: datetime
    closes: datetime
    text: str  # local_date, opens_at, closes_at
    planned: datetime  # when the planner, HORIZON ahead, made the window
    planned_text: str


class _Windows:
    """Each (zone, reminder time)'s daily windows by day index, shared by its patients."""

    def __init__(self, now: datetime, days: int) -> None:
        self.now = now
        self.days = days
        self._cache: dict[tuple[str, clock], list[_Day]] = {}

    def start(self, zone: ZoneInfo) -> date:
        return local_date(self.now, zone) - timedelta(days=self.days - 1)

    def last_index(self, zone: ZoneInfo) -> int:
        """The last day planned: the planner's horizon from now."""
        return (local_date(self.now + HORIZON, zone) - self.start(zone)).days

    def get(self, zone: ZoneInfo, at: clock) -> list[_Day]:
        key = (zone.key, at)
        found = self._cache.get(key)
        if found is None:
            start = self.start(zone)
            found = []
            for index in range(self.last_index(zone) + 1):
                day = start + timedelta(days=index)
                opens = local_instant(day, at, zone)
                closes = opens + PROTOCOL.daily_window
                planned = min(opens - HORIZON, self.now)
                text = f"{day.isoformat()}\t{opens.isoformat()}\t{closes.isoformat()}"
                found.append(_Day(day, opens, closes, text, planned, planned.isoformat()))
            self._cache[key] = found
        return found


class _Out:
    """COPY text lines per table for one block of days."""

    def __init__(self) -> None:
        self.lines: dict[str, list[str]] = {table: [] for table in COLUMNS}

    def add(self, table: str, *fields: str) -> None:
        self.lines[table].append("\t".join(fields) + "\n")

    def take(self) -> dict[str, bytes]:
        taken = {t: "".join(lines).encode() for t, lines in self.lines.items() if lines}
        self.lines = {table: [] for table in COLUMNS}
        return taken


class _Patient:
    """A patient's hidden course (pain, adherence, infusions) and what it has stored so far."""

    def __init__(self, spec: _PatientSpec, windows: _Windows) -> None:
        rng = self.rng = random.Random(spec.seed)
        self.spec = spec
        self.id = spec.id
        self.created_text = spec.created_at.isoformat()
        self.now = windows.now
        self.reminders_from = self.now - timedelta(days=REMINDER_DAYS)
        self.zone = ZoneInfo(spec.timezone)
        self.schedule = PatientSchedule(
            self.zone, spec.reminder_time, QUIET_HOURS if spec.quiet else None
        )
        self.windows = windows.get(self.zone, spec.reminder_time)
        self.today = windows.days - 1

        boosters = self._course(rng, windows.days)
        self._infusions(rng, windows.start(self.zone), boosters)

        # What the insert query reads back: values before the first infusion, the first three,
        # the last 72 hours.
        self.pre_sum = self.pre_n = 0
        self.first_three: list[int] = []
        self.recent: deque[tuple[datetime, int]] = deque()
        self.recent_sum = 0
        self.previous_status: str | None = None
        self.open_alerts: dict[str, datetime] = {}  # kind -> when it gets acknowledged

        self.device = _uuid(rng)
        self.subscription = _uuid(rng) if rng.random() < 0.88 else None
        self.replaced_device = rng.random() < 0.06
        self.last_seen = spec.created_at
        self.last_push: datetime | None = None

    def _course(self, rng: random.Random, days: int) -> int:
        """Draw the patient's pain and adherence; returns how many boosters they will have."""
        # Pain ~7 before treatment; responders fall to ~4 after the series, partial responders
        # by ~1.5, the rest hardly (and they stop after a booster or two).
        self.base_pain = min(9.3, max(4.5, rng.gauss(7.0, 0.8)))
        kind = rng.random()
        if kind < 0.65:
            self.relief, boosters = max(1.5, rng.gauss(3.6, 0.5)), days
        elif kind < 0.85:
            self.relief, boosters = max(0.5, rng.gauss(1.5, 0.4)), days
        else:
            self.relief, boosters = max(0.0, rng.gauss(0.2, 0.3)), rng.randint(1, 2)
        # An infusion's relief wears off over weeks: pain drifts back up before a booster.
        self.decay = math.exp(-1 / rng.uniform(40, 80))
        self.effect = 0.0
        self.noise = 0.0
        self.fatigue_base = rng.uniform(0.5, 3.0)
        # Flares: a few days to two weeks of pain rising and settling again, ~0.8 a year.
        self.flares: dict[int, float] = {}
        for _ in range(_poisson(rng, 0.8)):
            onset, length = rng.randrange(days), rng.randint(4, 12)
            size = rng.uniform(1.5, 3.5)
            for day in range(onset, onset + length):
                extra = size * (1 - abs(day - onset - length / 2) / (length / 2))
                self.flares[day] = self.flares.get(day, 0.0) + extra

        # Adherence: a two-state chain (answered yesterday or not) whose long-run rate is the
        # patient's; ~10% answer only 30-60% of days, and a few went quiet in the last days.
        rate = rng.uniform(0.30, 0.60) if rng.random() < 0.10 else rng.triangular(0.75, 0.95, 0.9)
        self.after_miss = 0.6 * rate
        self.after_answer = 1 - self.after_miss * (1 - rate) / rate
        self.answered_yesterday = True
        self.silent_from = self.today - rng.randint(2, 10) if rng.random() < 0.03 else None
        return boosters

    def _infusions(self, rng: random.Random, start: date, boosters: int) -> None:
        """Six infusions in two weeks, then boosters every 4-8 weeks up to the next one ahead;
        now and then a booster is cancelled and held a few days later."""
        first = rng.randint(14, 28)  # after two weeks of check-ins: the baseline
        plan = [(first + offset, "series") for offset in INFUSION_SERIES]
        day = plan[-1][0]
        while boosters > 0 and day <= self.today:
            day += rng.randint(28, 56)
            if day < self.today and rng.random() < 0.04:
                plan.append((day, "cancelled"))
                day += rng.randint(2, 7)
            plan.append((day, "booster"))
            boosters -= 1
        self.gains = {d: 0.35 if k == "series" else 0.7 for d, k in plan if k != "cancelled"}
        self.sessions: list[tuple[str, ...]] = []
        last_visit = (
            self.spec.created_at
        )  # the series is booked at enrollment, a booster at a visit
        for day, kind in plan:
            at = local_instant(
                start + timedelta(days=day),
                clock(rng.randint(9, 14), rng.choice((0, 30))),
                self.zone,
            )
            created = self.spec.created_at if kind == "series" else min(last_visit, self.now)
            if kind == "cancelled":
                status, updated = "cancelled", max(created, at - timedelta(days=rng.uniform(1, 5)))
            elif at <= self.now:
                status, updated = "completed", min(at + timedelta(hours=2), self.now)
                last_visit = updated
            else:
                status, updated = "scheduled", created
            self.sessions.append(
                (str(_uuid(rng)), at.isoformat(), status, created.isoformat(), updated.isoformat())
            )
        # The insert query's first infusion: the series never has a cancelled session.
        self.first_infusion = datetime.fromisoformat(self.sessions[0][1])
        self.baseline_from = self.first_infusion - BASELINE

    def write_sessions(self, out: _Out) -> None:
        for session_id, at, status, created, updated in self.sessions:
            out.add(
                "infusion_session",
                session_id,
                self.id,
                at,
                status,
                created,
                updated,
                self.spec.coordinator_id,
            )

    def day(self, index: int, out: _Out) -> None:
        if index >= len(self.windows):
            return
        day = self.windows[index]
        rng = self.rng
        due_id = _uuid(rng)
        if day.opens > self.now:
            self._window(out, due_id, day, "open", None)
            return

        decayed = self.effect * self.decay
        self.effect = decayed + (1 - decayed) * self.gains.get(index - 1, 0.0)
        self.noise = 0.7 * self.noise + rng.gauss(0, 0.6)
        flare = self.flares.get(index, 0.0)
        mean = self.base_pain - self.relief * self.effect + flare + self.noise
        answers = self._answers(rng, mean)
        chance = self.after_answer if self.answered_yesterday else self.after_miss
        answered = rng.random() < chance and (self.silent_from is None or index < self.silent_from)
        self.answered_yesterday = answered
        answered_at, received_at = self._answer_time(rng, day.opens, day.closes)
        if answered and received_at <= self.now:
            self._window(out, due_id, day, "completed", received_at)
            self._checkin(out, due_id, answers, answered_at, received_at)
            self._reminders(out, due_id, day, received_at)
            self.previous_status = "completed"
        elif day.closes <= self.now:
            self._window(out, due_id, day, "missed", None)
            self._reminders(out, due_id, day, None)
            if self.previous_status == "missed":
                # The sweeper marks a window missed within a minute of its closing.
                swept = min(day.closes + timedelta(seconds=rng.uniform(1, 60)), self.now)
                self._raise(out, "missed_twice", swept, None, f'{{"due_id": "{due_id}"}}')
            self.previous_status = "missed"
        else:
            self._window(out, due_id, day, "open", None)
            self._reminders(out, due_id, day, None)

    def _answers(self, rng: random.Random, mean: float) -> dict[str, int]:
        pain = _scale(mean + rng.gauss(0, 0.5))
        fatigue = _scale(0.55 * pain + self.fatigue_base + rng.gauss(0, 1))
        return {
            "pain_now": pain,
            "pain_avg_24h": _scale(pain + rng.choice((-1, 0, 0, 1))),
            "fatigue": fatigue,
            "sleep_quality": _scale(8.5 - 0.45 * pain + rng.gauss(0, 1.2)),
        }

    def _answer_time(
        self, rng: random.Random, opens: datetime, closes: datetime
    ) -> tuple[datetime, datetime]:
        """When the phone answered (milliseconds) and when the server received it."""
        pick = rng.random()
        if pick < 0.55:
            minutes = rng.uniform(0.5, 45)  # on the opening reminder
        elif pick < 0.80:
            minutes = PROTOCOL.nudge_after.total_seconds() / 60 + rng.uniform(0.5, 60)
        else:
            minutes = rng.uniform(0.5, 715)
        answered = opens + timedelta(milliseconds=round(minutes * 60_000))
        # Mostly at once; now and then a phone that was offline syncs later, still before the
        # window closes (a window marked missed first would raise missed_twice in between).
        delay = rng.uniform(0.05, 3) if rng.random() < 0.97 else rng.uniform(300, 10_800)
        left = (closes - answered).total_seconds()
        return answered, answered + timedelta(seconds=min(delay, left * 0.9))

    def _planned(self, day: _Day) -> str:
        """When the window (and its reminders) were made: the horizon ahead, or enrollment."""
        return day.planned_text if day.planned >= self.spec.created_at else self.created_text

    def _window(
        self, out: _Out, due_id: uuid.UUID, day: _Day, status: str, completed: datetime | None
    ) -> None:
        out.add(
            "checkin_due",
            str(due_id),
            self.id,
            DAILY.code,
            day.text,
            status,
            _ts(completed),
            self._planned(day),
        )

    def _checkin(
        self,
        out: _Out,
        due_id: uuid.UUID,
        answers: dict[str, int],
        answered_at: datetime,
        received_at: datetime,
    ) -> None:
        rng = self.rng
        checkin_id = _uuid(rng)
        note = rng.choice(CHECKIN_NOTES) if rng.random() < 0.02 else None
        body = CheckinIn(
            id=checkin_id,
            answered_at=answered_at,
            answers=answers,
            due_id=due_id,
            questionnaire=DAILY.code,
            questionnaire_version=DAILY.version,
            note=note,
        )
        value = answers["pain_now"]
        block, category_3d = _outcome_block(value, *self._baseline(answered_at, value))
        # The insert query's flags; the daily items raise none of their own (answer_flags).
        flags = []
        if value >= PAIN_HIGH:
            flags.append("pain_high")
        if category_3d == "worsening":
            flags.append("worsening")
        answers_json = msgspec.json.encode(answers).decode()
        scores = answers_json[:-1] + f',"outcome":{block}}}'  # score() of scale items: answers
        out.add(
            "checkin",
            str(checkin_id),
            self.id,
            str(due_id),
            DAILY.code,
            str(DAILY.version),
            answered_at.isoformat(),
            received_at.isoformat(),
            answers_json,
            scores,
            NULL if note is None else _text_field(note),
            _bytea(content_hash(body)),
            "{" + ",".join(flags) + "}",
            "pain_now",
            str(value),
        )
        self.last_seen = received_at
        for flag in flags:
            self._raise(out, flag, received_at, checkin_id, "{}")

    def _baseline(self, at: datetime, value: int) -> tuple[int, int, str, int, int]:
        """What the insert query averages for this check-in: the baseline's (sum, count, kind;
        count 0 for none) and the last 72 hours' (sum, count). Then remember the check-in as
        the query finds it next time."""
        first = self.first_infusion
        in_pre = self.baseline_from <= at < first
        self.pre_n += in_pre
        self.pre_sum += value * in_pre
        if len(self.first_three) < 3:
            self.first_three.append(value)
        while self.recent and self.recent[0][0] <= at - RECENT:
            self.recent_sum -= self.recent.popleft()[1]
        self.recent.append((at, value))
        self.recent_sum += value
        recent = (self.recent_sum, len(self.recent))
        if self.pre_n > 0 and (self.pre_n >= 3 or at >= first):
            return self.pre_sum, self.pre_n, "before_first_infusion", *recent
        if len(self.first_three) == 3:
            return sum(self.first_three), 3, "first_three", *recent
        return 0, 0, "", *recent

    def _raise(
        self, out: _Out, kind: str, at: datetime, checkin_id: uuid.UUID | None, detail: str
    ) -> None:
        """An alert as the triggers raise it: not while one of its kind is open. Coordinators
        acknowledge most within a day, some after days; the recent ones are still open."""
        acknowledged_later = self.open_alerts.get(kind)
        if acknowledged_later is not None and acknowledged_later > at:
            return
        rng = self.rng
        pick = rng.random()
        if pick < 0.6:
            hours = rng.uniform(1, 20)
        elif pick < 0.9:
            hours = rng.uniform(20, 72)
        else:
            hours = rng.uniform(72, 240)
        acknowledged = at + timedelta(hours=hours)
        self.open_alerts[kind] = acknowledged
        done = acknowledged <= self.now
        out.add(
            "alert",
            str(_uuid(rng)),
            self.id,
            kind,
            "acknowledged" if done else "open",
            at.isoformat(),
            NULL if checkin_id is None else str(checkin_id),
            detail,
            acknowledged.isoformat() if done else NULL,
            self.spec.coordinator_id if done else NULL,
            _text_field(rng.choice(ACK_NOTES)) if done else NULL,
        )

    def _reminders(
        self, out: _Out, due_id: uuid.UUID, day: _Day, completed: datetime | None
    ) -> None:
        """The window's opening reminder and nudge as the dispatcher left them, for the last
        week's windows. Ones not yet due are left out: nothing is pending."""
        if day.opens <= self.reminders_from:
            return
        rng = self.rng
        window = PlannedWindow(Questionnaire.daily, day.date, day.opens, day.closes)
        for planned in plan_reminders(
            window, self.schedule, PROTOCOL, self.now, window_is_new=False
        ):
            send_at = planned.send_at
            if send_at > self.now:
                continue
            reminder_id = _uuid(rng)
            sent_at = opened = None
            attempts = 1
            reason = NULL
            if completed is not None and completed <= send_at:
                status, attempts, reason = "cancelled", 0, "answered"
            elif self.subscription is None:
                status, reason = "failed", "no_subscription"
            else:
                status = "sent"
                duration = rng.randint(40, 400)
                tried = send_at + timedelta(seconds=rng.uniform(0.2, 2))
                sent_at = tried + timedelta(milliseconds=duration + rng.randint(5, 50))
                out.add(
                    "push_attempt",
                    str(reminder_id),
                    str(self.subscription),
                    tried.isoformat(),
                    "201",
                    NULL,
                    str(duration),
                )
                self.last_push = sent_at
                if completed is not None and completed - sent_at < timedelta(hours=1):
                    if rng.random() < 0.7:  # tapped the notification, then answered
                        opened = max(sent_at, completed - timedelta(seconds=rng.uniform(20, 60)))
                elif rng.random() < 0.05:  # tapped it and left it there
                    opened = min(sent_at + timedelta(seconds=rng.uniform(5, 600)), self.now)
            out.add(
                "reminder",
                str(reminder_id),
                self.id,
                str(due_id),
                planned.kind.value,
                send_at.isoformat(),
                day.closes.isoformat(),
                status,
                str(attempts),
                _ts(sent_at),
                _ts(opened),
                reason,
                self._planned(day),
            )

    def write_devices(self, out: _Out) -> None:
        """The devices, as the history left them: one in use, an older phone signed out."""
        rng = self.rng
        created = self.spec.created_at + timedelta(minutes=rng.uniform(1, 30))
        if self.replaced_device:
            replaced = created + (self.now - created) * rng.uniform(0.1, 0.9)
            out.add(
                "device",
                str(_uuid(rng)),
                self.id,
                _bytea(hashlib.sha256(rng.randbytes(32)).digest()),
                created.isoformat(),
                replaced.isoformat(),
                replaced.isoformat(),
            )
            created = replaced
        out.add(
            "device",
            str(self.device),
            self.id,
            _bytea(hashlib.sha256(rng.randbytes(32)).digest()),
            created.isoformat(),
            max(self.last_seen, created).isoformat(),
            NULL,
        )
        if self.subscription is not None:
            host = rng.choices([h for h, _ in PUSH_HOSTS], [w for _, w in PUSH_HOSTS])[0]
            subscribed = created + timedelta(seconds=rng.uniform(5, 120))
            out.add(
                "push_subscription",
                str(self.subscription),
                self.id,
                str(self.device),
                host + _b64url(rng.randbytes(96)),
                _b64url(b"\x04" + rng.randbytes(64)),
                _b64url(rng.randbytes(16)),
                subscribed.isoformat(),
                subscribed.isoformat(),
                _ts(self.last_push),
            )


def _scale(value: float) -> int:
    return max(0, min(10, round(value)))


def _poisson(rng: random.Random, mean: float) -> int:
    count, threshold, product = 0, math.exp(-mean), rng.random()
    while product > threshold:
        count += 1
        product *= rng.random()
    return count


def _simulate(
    specs: list[_PatientSpec], now: datetime, days: int, blocks: int, out_queue: Any
) -> None:
    """Worker process: simulate these patients day by day and send each block's COPY text."""
    # Millions of short-lived rows and no reference cycles: collection would only cost time.
    gc.disable()
    try:
        windows = _Windows(now, days)
        out = _Out()
        patients = [_Patient(spec, windows) for spec in specs]
        for patient in patients:
            patient.write_sessions(out)
        for block in range(blocks):
            for index in range(block * BLOCK_DAYS, (block + 1) * BLOCK_DAYS):
                for patient in patients:
                    patient.day(index, out)
            if block == blocks - 1:
                for patient in patients:
                    patient.write_devices(out)
            out_queue.put(("block", out.take()))
    except BaseException:
        out_queue.put(("error", traceback.format_exc()))


# --- the main process -----------------------------------------------------------------------


def _check_questionnaire() -> None:
    """The newest daily questionnaire must ask what _Patient answers: four required 0-10
    scales whose scores are the answers themselves."""
    sample = {"pain_now": 7, "pain_avg_24h": 6, "fatigue": 5, "sleep_quality": 4}
    if (
        validate_answers(DAILY, sample, "other")
        or score(DAILY, sample) != sample
        or DAILY.outcome != "pain_now"
    ):
        raise SeedError(f"daily v{DAILY.version} asks other items than this seeder answers")


def _check_scale(clinics: int, patients: int, big_clinic: int, days: int) -> None:
    if clinics < 1 or days < 1:
        raise SeedError("clinics and days must be at least 1")
    if not 0 < big_clinic <= patients:
        raise SeedError("big_clinic must be between 1 and patients")
    if clinics == 1 and big_clinic != patients:
        raise SeedError("with one clinic, big_clinic must equal patients")


def _clinic_sizes(rng: random.Random, clinics: int, patients: int, big_clinic: int) -> list[int]:
    """The big clinic first, the other patients over the other clinics unevenly."""
    rest = patients - big_clinic
    weights = [rng.uniform(0.5, 1.5) for _ in range(clinics - 1)]
    sizes = [math.floor(rest * w / sum(weights)) for w in weights]
    for index in range(rest - sum(sizes)):
        sizes[index % len(sizes)] += 1
    return [big_clinic, *sizes]


async def _create_clinics(
    conn: db.Connection, clinics: int, password: str, now: datetime
) -> list[tuple[uuid.UUID, uuid.UUID, str]]:
    """Clinics and one admin each, through the services: (clinic id, coordinator id, email)."""
    staff = []
    for index in range(clinics):
        clinic = await clinics_service.create_clinic(
            conn, f"Bench Infusion Clinic {index + 1:02d}", ZONES[index % len(ZONES)], now=now
        )
        coordinator = await clinics_service.create_coordinator(
            conn,
            clinic_id=clinic.id,
            email=f"admin{index + 1:02d}@dashboard-bench.invalid",
            display_name=f"Bench Coordinator {index + 1:02d}",
            role="admin",
            password=password,
            now=now,
        )
        staff.append((clinic.id, coordinator.id, coordinator.email))
    return staff


def _patients(
    rng: random.Random,
    seed: int,
    staff: list[tuple[uuid.UUID, uuid.UUID, str]],
    sizes: list[int],
    days: int,
    now: datetime,
) -> tuple[list[_PatientSpec], bytes]:
    """Every patient's settings, and the patient table's COPY text."""
    zones = [ZoneInfo(z) for z in ZONES]
    times = [t for t, _ in REMINDER_TIMES]
    time_weights = [w for _, w in REMINDER_TIMES]
    clinic_of = [index for index, size in enumerate(sizes) for _ in range(size)]
    rng.shuffle(clinic_of)  # clinics enrolled side by side, as in one shared database
    pseudonyms: set[str] = set()
    specs, lines = [], []
    for number, clinic in enumerate(clinic_of):
        clinic_id, coordinator_id, _ = staff[clinic]
        # Most patients live in their clinic's zone.
        zone = zones[clinic % len(zones)] if rng.random() < 0.75 else rng.choice(zones)
        reminder = rng.choices(times, time_weights)[0]
        quiet = rng.random() < 0.25
        enrolled = local_date(now, zone) - timedelta(days=days)
        created = local_instant(enrolled, clock(rng.randint(9, 16), rng.randrange(60)), zone)
        language = "es" if zone.key.startswith("America/") and rng.random() < 0.12 else "en"
        condition = rng.choices([c for c, _ in CONDITIONS], [w for _, w in CONDITIONS])[0]
        pseudonym = f"P-{rng.getrandbits(48):012X}"
        while pseudonym in pseudonyms:
            pseudonym = f"P-{rng.getrandbits(48):012X}"
        pseudonyms.add(pseudonym)
        name = f"{rng.choice(FIRST_NAMES)} {chr(65 + rng.randrange(26))}."
        patient_id = str(_uuid(rng))
        specs.append(
            _PatientSpec(
                patient_id,
                str(coordinator_id),
                zone.key,
                reminder,
                quiet,
                created,
                f"{seed}:{number}",
            )
        )
        fields = (
            patient_id,
            str(clinic_id),
            _text_field(name),
            zone.key,
            reminder.isoformat(),
            QUIET_HOURS.start.isoformat() if quiet else NULL,
            QUIET_HOURS.end.isoformat() if quiet else NULL,
            language,
            condition,
            "active",
            created.isoformat(),
            pseudonym,
            (now + HORIZON).isoformat(),  # planned just now: no planner replans them at once
        )
        lines.append("\t".join(fields) + "\n")
    return specs, "".join(lines).encode()


async def _without_bulk_indexes(conn: db.Connection) -> list[str]:
    """Drop the big tables' indexes and the constraints they back (and the foreign keys that
    rely on those), returning the statements that restore them all, in a valid order."""
    tables = list(BULK_TABLES)
    foreign = await conn.fetch(
        "select conrelid::regclass::text as tbl, conname, pg_get_constraintdef(oid) as def"
        " from pg_constraint where contype = 'f'"
        " and (conrelid = any($1::regclass[]) or confrelid = any($1::regclass[]))"
        " order by conname",
        tables,
    )
    keys = await conn.fetch(
        "select conrelid::regclass::text as tbl, conname, pg_get_constraintdef(oid) as def"
        " from pg_constraint where contype in ('p', 'u') and conrelid = any($1::regclass[])"
        " order by conname",
        tables,
    )
    indexes = await conn.fetch(
        "select i.indexrelid::regclass::text as name, pg_get_indexdef(i.indexrelid) as def"
        " from pg_index i where i.indrelid = any($1::regclass[])"
        " and not exists (select 1 from pg_constraint c"
        "                 where c.conindid = i.indexrelid and c.conrelid = i.indrelid)"
        " order by 1",
        tables,
    )
    for row in [*foreign, *keys]:
        await conn.execute(f'alter table {row["tbl"]} drop constraint "{row["conname"]}"')
    for row in indexes:
        await conn.execute(f"drop index {row['name']}")
    return [
        *(row["def"] for row in indexes),
        *(f'alter table {r["tbl"]} add constraint "{r["conname"]}" {r["def"]}' for r in keys),
        *(f'alter table {r["tbl"]} add constraint "{r["conname"]}" {r["def"]}' for r in foreign),
    ]


async def _copy(conn: db.Connection, table: str, data: bytes, columns: list[str]) -> None:
    # A file: asyncpg would take plain bytes for a file name.
    await conn.copy_to_table(table, source=io.BytesIO(data), columns=columns, freeze=True)


def _receive(out_queue: Any, process: Any) -> dict[str, bytes]:
    while True:
        try:
            kind, payload = out_queue.get(timeout=1.0)
        except queue.Empty:
            if not process.is_alive():
                raise SeedError("a worker process died without a word") from None
            continue
        if kind == "error":
            raise SeedError(f"a worker process failed:\n{payload}")
        result: dict[str, bytes] = payload
        return result


async def _load_histories(
    conn: db.Connection, specs: list[_PatientSpec], days: int, now: datetime
) -> None:
    """Run the workers and copy their blocks in time order as they come."""
    last_day = max(
        _Windows(now, days).last_index(ZoneInfo(zone)) for zone in {s.timezone for s in specs}
    )
    blocks = last_day // BLOCK_DAYS + 1
    # Forked before any thread exists, the workers share the specs without pickling and never
    # touch the connection they inherit.
    context = multiprocessing.get_context("fork")
    workers = []
    for index in range(WORKERS):
        out_queue = context.Queue(maxsize=2)
        process = context.Process(
            target=_simulate,
            args=(specs[index::WORKERS], now, days, blocks, out_queue),
            daemon=True,
        )
        process.start()
        workers.append((out_queue, process))
    try:
        for _ in range(blocks):
            for out_queue, process in workers:
                data = await asyncio.to_thread(_receive, out_queue, process)
                for table, columns in COLUMNS.items():
                    if table in data:
                        await _copy(conn, table, data[table], columns)
    finally:
        for _, process in workers:
            if process.is_alive():
                process.terminate()
            process.join()


async def _load(
    conn: db.Connection, specs: list[_PatientSpec], patient_rows: bytes, days: int, now: datetime
) -> None:
    """Bulk-load the patients and their histories, in the caller's transaction."""
    # Triggers would redo per row what the simulation already decided (completing windows,
    # raising alerts); the foreign keys are checked as a whole when they are restored.
    try:
        await conn.execute("set local session_replication_role = replica")
    except asyncpg.InsufficientPrivilegeError:
        raise SeedError(
            "seeding needs a superuser connection: it loads with triggers off"
        ) from None
    # Emptied in this transaction, the tables take COPY FREEZE: rows land frozen and
    # all-visible, so no vacuum has to pass over them during the benchmark.
    await conn.execute(f"truncate patient, {', '.join(COLUMNS)} cascade")
    restore = await _without_bulk_indexes(conn)
    await _copy(conn, "patient", patient_rows, PATIENT_COLUMNS)
    await _load_histories(conn, specs, days, now)
    await conn.execute("set local maintenance_work_mem = '1GB'")
    for statement in restore:
        await conn.execute(statement)


async def seed(
    dsn: str,
    *,
    clinics: int = 10,
    patients: int = 20_000,
    big_clinic: int = 2_000,
    days: int = 365,
    seed: int = 1,
    now: datetime | None = None,
) -> SeedResult:
    """Seed an empty database (migrated here first if need be) and ANALYZE it.

    ``now`` (default: the clock) is the moment the history leads up to. Given the same
    arguments the rows are the same, in the same physical order, except the ids and creation
    times of clinics and coordinators, which the service functions leave to PostgreSQL.
    Every clinic gets one admin; all share the returned password.
    """
    _check_scale(clinics, patients, big_clinic, days)
    _check_questionnaire()
    started = time.perf_counter()
    now = (now or datetime.now(UTC)).astimezone(UTC)
    rng = random.Random(seed)
    password = f"bench-{rng.getrandbits(64):016x}"
    conn = await db.connect(dsn, command_timeout=None)
    try:
        await db.migrate(conn)
        # All or nothing: a seed that fails leaves the database as migrated.
        async with conn.transaction():
            if await conn.fetchval("select exists (select 1 from clinic)"):
                raise SeedError("the database already holds clinics; seed a new, empty database")
            staff = await _create_clinics(conn, clinics, password, now)
            sizes = _clinic_sizes(rng, clinics, patients, big_clinic)
            specs, patient_rows = _patients(rng, seed, staff, sizes, days, now)
            await _load(conn, specs, patient_rows, days, now)
        await conn.execute("analyze")
        counts = {
            table: await conn.fetchval(f"select count(*) from {table}") for table in COUNTED_TABLES
        }
    finally:
        await conn.close()
    return SeedResult(staff[0][0], staff[0][2], password, counts, time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dsn", required=True, help="postgresql://... of an empty database")
    parser.add_argument("--clinics", type=int, default=10)
    parser.add_argument("--patients", type=int, default=20_000)
    parser.add_argument("--big-clinic", type=int, default=2_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    try:
        result = asyncio.run(
            seed(
                args.dsn,
                clinics=args.clinics,
                patients=args.patients,
                big_clinic=args.big_clinic,
                days=args.days,
                seed=args.seed,
            )
        )
    except SeedError as exc:
        sys.exit(f"dashboard_seed: {exc}")
    for table, count in result.counts.items():
        print(f"{table:<20} {count:>12,}")
    print(f"big clinic id        {result.big_clinic_id}")
    print(f"coordinator login    {result.coordinator_email} / {result.coordinator_password}")
    print(f"seeded in            {result.seconds:.1f} s")


if __name__ == "__main__":
    main()
