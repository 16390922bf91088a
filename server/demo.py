"""A demo clinic with synthetic patients and 60 days of plausible check-ins.

Trajectories follow what infusion clinics report: pain falls over an initial series of five
daily infusions, drifts back over the following weeks and falls again at each booster; some
patients respond well, some little, a few get worse. Adherence varies, with some misses.
"""

from __future__ import annotations

import random
import secrets
import uuid
from datetime import date, datetime, time, timedelta
from typing import Any

import msgspec

from server import audit
from server.checkins import store as checkin_store
from server.checkins.questionnaires import answer_flags, registry, score
from server.checkins.schemas import CheckinIn, NewCheckin
from server.checkins.service import content_hash
from server.checkins.writer import flags_literal
from server.clinics import service as clinics
from server.clinics import store as clinic_store
from server.db import Connection, Exec, Scalar
from server.errors import Conflict as CommandError
from server.patients import service as patients
from server.patients.schemas import NewPatient
from server.schedule.windows import Window, daily_window, zone
from server.settings import Settings

DEMO_CLINIC = "Demo Infusion Clinic"
DEMO_EMAIL = "coordinator@demo.invalid"
DEMO_TIMEZONE = "America/New_York"
DAYS = 60
PATIENTS = 40

FIRST_NAMES = [
    "Ana",
    "Ben",
    "Carla",
    "Dev",
    "Elena",
    "Farid",
    "Grace",
    "Hugo",
    "Iris",
    "Jonah",
    "Keiko",
    "Luis",
    "Maya",
    "Nadia",
    "Omar",
    "Priya",
    "Quinn",
    "Rosa",
    "Sam",
    "Tara",
    "Uma",
    "Victor",
    "Wen",
    "Ximena",
    "Yusuf",
    "Zoe",
    "Abel",
    "Bea",
    "Caleb",
    "Dana",
    "Eli",
    "Fatima",
    "Gus",
    "Hana",
    "Ivan",
    "June",
    "Kofi",
    "Lena",
    "Mateo",
    "Nora",
]
_lock = Exec("demo.lock")
_insert_session = Exec("demo.insert_session")
_insert_window = Exec("demo.insert_window")
_backdate_patient = Exec("demo.backdate_patient")
_first_patient = Scalar("demo.first_patient", uuid.UUID)
_patient_count = Scalar("demo.patient_count", int)
_acknowledge_old_alerts = Exec("demo.acknowledge_old_alerts")

CONDITIONS = ["crps", "fibromyalgia", "lyme"]
OTHER_ZONES = ["America/Chicago", "America/Denver", "America/Los_Angeles", "America/Phoenix"]


class DemoLogins(msgspec.Struct, frozen=True):
    seeded: bool
    clinic_id: uuid.UUID
    coordinator_email: str
    coordinator_password: str
    api_token: str
    patients: int
    enrollment_code: str
    enrollment_link: str


class DemoRefused(CommandError):
    """The database holds something other than the demo; nothing was changed."""


def describe(logins: DemoLogins) -> str:
    first = "seeded" if logins.seeded else "already seeded; fresh credentials issued"
    return (
        f"Demo clinic {first}: {logins.patients} synthetic patients, {DAYS} days of check-ins.\n"
        f"  coordinator login:  {logins.coordinator_email} / {logins.coordinator_password}"
        "  (the dashboard, /coordinator/)\n"
        f"  coordinator API:    Authorization: Bearer {logins.api_token}\n"
        f"  enroll a phone:     {logins.enrollment_link}  (code {logins.enrollment_code})"
    )


async def seed(conn: Connection, settings: Settings, *, now: datetime) -> DemoLogins:
    """Seed the demo into an empty database, or refresh the logins of an existing demo.

    All or nothing, in one transaction; concurrent runs queue on an advisory lock.
    """
    async with conn.transaction():
        await _lock(conn)
        if await clinic_store.count_clinics(conn) > 0:
            return await _refresh(conn, settings, now)
        return await _seed(conn, settings, now)


async def _seed(conn: Connection, settings: Settings, now: datetime) -> DemoLogins:
    rng = random.Random(20261126)  # same demo every time
    password = _password()
    clinic = await clinics.create_clinic(conn, DEMO_CLINIC, DEMO_TIMEZONE, now=now)
    coordinator = await clinics.create_coordinator(
        conn,
        clinic_id=clinic.id,
        email=DEMO_EMAIL,
        display_name="Demo Coordinator",
        role="admin",
        password=password,
        now=now,
    )
    token = await clinics.issue_api_token(conn, coordinator.email, "demo", now=now)
    start = (now - timedelta(days=DAYS)).astimezone(zone(DEMO_TIMEZONE)).date()
    invite = None
    for index, name in enumerate(FIRST_NAMES[:PATIENTS]):
        timezone = DEMO_TIMEZONE if index % 5 else rng.choice(OTHER_ZONES)
        new = NewPatient(
            display_name=name,
            timezone=timezone,
            condition=CONDITIONS[index % 3],  # type: ignore[arg-type]
            language="es" if index % 7 == 3 else "en",
            reminder_time=rng.choice(["08:00", "09:30", "12:00", "18:00", "19:00", "20:30"]),
        )
        created = await patients.create_patient(
            conn, settings, clinic.id, new, actor_kind="operator", actor_id=None, now=now
        )
        if index == 0:
            invite = created  # left un-enrolled so its link works
            continue
        await _history(conn, rng, clinic.id, created.patient_id, new, start, now)
    await _acknowledge_old_alerts(conn, clinic.id, coordinator.id, now)
    assert invite is not None
    return DemoLogins(
        True,
        clinic.id,
        coordinator.email,
        password,
        token.token,
        PATIENTS,
        invite.enrollment_code,
        invite.enrollment_link,
    )


async def _refresh(conn: Connection, settings: Settings, now: datetime) -> DemoLogins:
    demo = await clinic_store.coordinator_by_email(conn, DEMO_EMAIL)
    clinic_count = await clinic_store.count_clinics(conn)
    if demo is None or clinic_count != 1:
        raise DemoRefused(
            "this database already holds clinics that are not the demo; "
            "the demo seeds only into an empty database (point DATABASE_URL at a new one)"
        )
    password = _password()
    await clinics.set_password(conn, demo.id, password)
    token = await clinics.issue_api_token(conn, DEMO_EMAIL, "demo", now=now)
    patient_id = await _first_patient.required(conn, demo.clinic_id)
    code = await patients.new_code(
        conn,
        settings,
        demo.clinic_id,
        patient_id,
        actor_kind="operator",
        actor_id=None,
        now=now,
    )
    count = await _patient_count.required(conn, demo.clinic_id)
    return DemoLogins(
        False,
        demo.clinic_id,
        DEMO_EMAIL,
        password,
        token.token,
        count,
        code.enrollment_code,
        code.enrollment_link,
    )


SIDE_EFFECTS = {
    "dissociation": 0.3,
    "dizziness": 0.2,
    "nausea_vomiting": 0.15,
    "headache": 0.15,
    "vivid_dreams": 0.1,
    "bladder": 0.03,
}
CRPS_REGIONS = ["left_hand", "right_hand", "left_foot", "right_foot", "left_arm", "right_leg"]


def _side_effects(rng: random.Random) -> dict[str, Any]:
    chosen = [effect for effect, chance in SIDE_EFFECTS.items() if rng.random() < chance]
    if not chosen:
        return {"side_effects": ["none"]}
    answers: dict[str, Any] = {"side_effects": chosen}
    for effect in chosen:
        answers[f"severity_{effect}"] = rng.choices(
            ["mild", "moderate", "severe"], weights=[70, 26, 4]
        )[0]
    return answers


def _pgic(improvement: float) -> str:
    if improvement > 2.5:
        return "much_improved"
    if improvement > 1:
        return "minimally_improved"
    if improvement > -0.5:
        return "no_change"
    if improvement > -1.5:
        return "minimally_worse"
    return "much_worse"


def _password() -> str:
    return "demo-" + secrets.token_urlsafe(12)


async def _history(
    conn: Connection,
    rng: random.Random,
    clinic_id: uuid.UUID,
    patient_id: uuid.UUID,
    patient: NewPatient,
    start: date,
    now: datetime,
) -> None:
    tz = zone(patient.timezone)
    hours, minutes = (int(part) for part in patient.reminder_time.split(":"))
    reminder = time(hours, minutes)
    length = timedelta(hours=12)
    first_infusion = rng.randint(3, 18)
    infusion_days = [first_infusion + i for i in range(5)]
    booster = infusion_days[-1] + rng.randint(21, 35)
    while booster < DAYS + 30:
        infusion_days.append(booster)
        booster += rng.randint(21, 42)
    base_pain = rng.uniform(5.5, 8.5)
    responsiveness = rng.choice([1.4, 1.1, 0.8, 0.4, 0.0, -0.3])
    adherence = rng.uniform(0.6, 0.98)
    streak_miss_from = DAYS - 2 if rng.random() < 0.12 else None
    clinic_hour = time(9, 30)

    sessions: list[tuple[Any, ...]] = []
    for day in infusion_days:
        at = daily_window(start + timedelta(days=day), clinic_hour, tz, length).opens_at
        status = "completed" if at < now else "scheduled"
        sessions.append((uuid.uuid4(), patient_id, at, status, now, now))
    await _insert_session.each(conn, sessions)

    questionnaires = registry()
    windows: list[tuple[Any, ...]] = []
    checkins: list[NewCheckin] = []

    def file(code: str, day: int, window: Window, answers: dict[str, Any] | None) -> None:
        """One window of ``code`` on ``day``: answered with ``answers``, or missed."""
        due_id = uuid.uuid4()
        if answers is None:
            windows.append((due_id, patient_id, code, window.local_date, window.opens_at,
                            window.closes_at, "missed", None, window.opens_at))  # fmt: skip
            return
        questionnaire = questionnaires.get(code)
        assert questionnaire is not None
        answered = window.opens_at + timedelta(minutes=rng.randint(2, 300))
        received = answered + timedelta(seconds=rng.randint(1, 90))
        body = CheckinIn(
            id=uuid.uuid4(), answered_at=answered, answers=answers, due_id=due_id,
            questionnaire=code, questionnaire_version=questionnaire.version,
        )  # fmt: skip
        scores = score(questionnaire, answers)
        windows.append((due_id, patient_id, code, window.local_date, window.opens_at,
                        window.closes_at, "completed", received, window.opens_at))  # fmt: skip
        checkins.append(NewCheckin(body.id, patient_id, due_id, code, questionnaire.version,
                                   answered, answers, scores, None, content_hash(body),
                                   received, flags_literal(answer_flags(questionnaire, answers)),
                                   questionnaire.outcome, scores.get(questionnaire.outcome),
                                   clinic_id))  # fmt: skip

    def clamp(value: float) -> int:
        return round(max(0.0, min(10.0, value)))

    week_pain: list[int] = []
    for day in range(DAYS + 1):
        window = daily_window(start + timedelta(days=day), reminder, tz, length)
        if window.closes_at > now:
            break  # today's window stays for the app to create and the patient to answer
        relief = sum(
            responsiveness * (0.93 ** (day - infusion))
            for infusion in infusion_days
            if infusion <= day
        )
        pain = clamp(base_pain - relief + rng.gauss(0, 0.8))
        fatigue = clamp(pain * 0.7 + rng.uniform(0, 3))
        missed = rng.random() > adherence or (
            streak_miss_from is not None and day >= streak_miss_from
        )
        after_infusion = any(0 < day - infusion <= 3 for infusion in infusion_days)
        code = "post_infusion" if after_infusion else "daily"
        answers: dict[str, Any] | None = None
        if not missed:
            week_pain.append(pain)
            answers = {
                "pain_now": pain,
                "pain_avg_24h": clamp(pain + rng.choice([-1, 0, 0, 1])),
                "fatigue": fatigue,
                "sleep_quality": clamp(10 - fatigue * 0.6 + rng.gauss(0, 1)),
            }
            if after_infusion:
                answers |= _side_effects(rng)
        file(code, day, window, answers)
        if day % 7 == 6:
            weekly = None
            if week_pain and rng.random() < adherence:
                mean = sum(week_pain) / len(week_pain)
                weekly = {
                    "peg_pain": clamp(mean),
                    "peg_enjoyment": clamp(mean + rng.gauss(0, 1)),
                    "peg_activity": clamp(mean + rng.gauss(0.5, 1)),
                    "pgic": _pgic(base_pain - mean),
                }
                if patient.condition == "crps":
                    weekly["body_regions"] = rng.sample(CRPS_REGIONS, rng.randint(1, 2))
            file("weekly", day, window, weekly)
            week_pain = []
    async with conn.transaction():
        await _backdate_patient(
            conn,
            patient_id,
            datetime.combine(start, time(12), tz) - timedelta(days=1),
        )
        await _insert_window.each(conn, windows)
        await checkin_store.insert_in_order(conn, checkins)
        await audit.record(
            conn,
            actor_kind="system",
            actor_id=None,
            clinic_id=None,
            patient_id=patient_id,
            action="demo.seed",
            now=now,
            detail={"checkins": len(checkins), "windows": len(windows)},
        )
