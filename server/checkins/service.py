"""Check-in submission: validation, scoring, idempotency and the window it answers."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, time, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import msgspec

from server import audit
from server.auth.schemas import PatientPrincipal
from server.checkins import store
from server.checkins.questionnaires import (
    answer_flags,
    localized,
    registry,
    score,
    validate_answers,
)
from server.checkins.schemas import (
    CheckinIn,
    CheckinOut,
    CheckinPage,
    DueCheckin,
    DueList,
    NewCheckin,
    Outcome,
    Trend,
)
from server.checkins.writer import CheckinWriter, flags_literal
from server.db import Connection, Pool
from server.errors import Conflict, FieldError, Invalid, NotFound, check_text
from server.pagination import decode_cursor, encode_cursor
from server.patients import store as patient_store
from server.schedule import service as schedule

# Phones' clocks drift; an answer a few minutes "from the future" is still a real answer.
CLOCK_SKEW = timedelta(minutes=10)
# A phone may hold an unsent check-in for a long time offline, but not for more than a year.
MAX_AGE = timedelta(days=365)

_hash_encoder = msgspec.json.Encoder(order="sorted")


class _Content(msgspec.Struct, array_like=True):
    questionnaire: str
    due_id: UUID | None
    answered_at: datetime
    answers: dict[str, Any]
    note: str | None


def content_hash(body: CheckinIn) -> bytes:
    """What makes two submissions of one id "the same": everything the phone sent."""
    content = _Content(
        body.questionnaire, body.due_id, body.answered_at.astimezone(UTC), body.answers, body.note
    )
    return hashlib.sha256(_hash_encoder.encode(content)).digest()


class Submitted(msgspec.Struct, frozen=True):
    checkin: CheckinOut
    created: bool


async def submit(
    pool: Pool, writer: CheckinWriter, patient: PatientPrincipal, body: CheckinIn, now: datetime
) -> Submitted:
    """Store a check-in once (with those arriving together, see writer.py). Returns
    created=False for an identical replay."""
    questionnaires = registry()
    questionnaire = questionnaires.get(body.questionnaire, body.questionnaire_version)
    if questionnaire is None:
        if questionnaires.get(body.questionnaire) is not None:
            raise Invalid.field("questionnaire_version", "is not a version of this questionnaire")
        known = ", ".join(sorted(questionnaires.current))
        raise Invalid.field("questionnaire", f"is not known; one of: {known}")
    check_text("note", body.note)
    errors = validate_answers(questionnaire, body.answers, patient.condition)
    # Compare years first: converting a date near year 1 to UTC can overflow.
    if body.answered_at.year < now.year - 1 or body.answered_at < now - MAX_AGE:
        errors.append(FieldError("answered_at", "is more than a year ago"))
    elif body.answered_at > now + CLOCK_SKEW:
        errors.append(FieldError("answered_at", "is in the future; check the phone's clock"))
    if errors:
        raise Invalid("; ".join(f"{e.field} {e.message}" for e in errors), errors)
    note = (body.note.strip() if body.note else None) or None
    digest = content_hash(body)
    scores = score(questionnaire, body.answers)
    row = await writer.store(
        NewCheckin(
            id=body.id,
            patient_id=patient.patient_id,
            due_id=body.due_id,
            questionnaire=questionnaire.code,
            version=questionnaire.version,
            answered_at=body.answered_at,
            answers=body.answers,
            scores=scores,
            note=note,
            content_hash=digest,
            received_at=now,
            flags=flags_literal(answer_flags(questionnaire, body.answers)),
            outcome_metric=questionnaire.outcome if questionnaire.outcome in scores else None,
            outcome_value=scores.get(questionnaire.outcome),
            clinic_id=patient.clinic_id,
        )
    )
    if row is not None:
        stored = CheckinOut(
            id=body.id,
            due_id=row.due_id,
            questionnaire=questionnaire.code,
            questionnaire_version=questionnaire.version,
            answered_at=body.answered_at.astimezone(UTC),
            received_at=now,
            answers=body.answers,
            scores=row.scores,
            note=note,
        )
        return Submitted(stored, created=True)
    async with pool.acquire() as conn:
        existing = await store.get_existing(conn, body.id)
    if (
        existing is None
        or existing.patient_id != patient.patient_id
        or existing.content_hash != digest
    ):
        raise Conflict(
            "a different check-in was already stored with this id; a new check-in needs a new id"
        )
    return Submitted(msgspec.convert(msgspec.structs.asdict(existing), CheckinOut), created=False)


async def history(
    conn: Connection, patient_id: UUID, cursor: str | None, limit: int
) -> CheckinPage:
    before, before_id = decode_cursor(cursor)
    rows = await store.history(conn, patient_id, before, before_id, limit + 1)
    items = rows[:limit]
    next_cursor = encode_cursor(items[-1].answered_at, items[-1].id) if len(rows) > limit else None
    return CheckinPage(items, next_cursor)


async def due(conn: Connection, patient_id: UUID, now: datetime) -> DueList:
    async with conn.transaction():
        patient = await patient_store.schedule_settings(conn, patient_id)
        if patient is None:
            return DueList([])
        language = patient.language
        await schedule.ensure_planned(conn, patient_id, patient.planned_until, now)
        rows = await schedule.open_windows(conn, patient_id, now)
        next_opens_at = await schedule.next_opening(conn, patient_id, now)
    questionnaires = registry()
    items = []
    for row in rows:
        questionnaire = questionnaires.get(row.questionnaire)
        if questionnaire is not None:
            items.append(
                DueCheckin(
                    id=row.id,
                    opens_at=row.opens_at,
                    closes_at=row.closes_at,
                    questionnaire=localized(questionnaire, language, patient.condition),
                )
            )
    return DueList(items, next_opens_at)


async def history_for_staff(
    conn: Connection,
    clinic_id: UUID,
    coordinator_id: UUID,
    patient_id: UUID,
    cursor: str | None,
    limit: int,
    now: datetime,
) -> CheckinPage:
    async with conn.transaction():
        if not await patient_store.exists_in_clinic(conn, patient_id, clinic_id):
            raise NotFound("no such patient")
        page = await history(conn, patient_id, cursor, limit)
        await audit.by_coordinator(
            conn,
            coordinator_id,
            clinic_id,
            "checkin.list",
            now,
            patient_id=patient_id,
            detail={"count": len(page.items)},
        )
    return page


async def trend(conn: Connection, patient_id: UUID, days: int, now: datetime) -> Trend:
    """Pain, fatigue and PEG-3 by local day over the last `days` days, the infusions among
    them, and the newest change of pain from baseline."""
    settings = await patient_store.schedule_settings(conn, patient_id)
    if settings is None:
        raise NotFound("no such patient")
    zone = ZoneInfo(settings.timezone)
    until = now.astimezone(zone).date()
    since = until - timedelta(days=days - 1)
    start = datetime.combine(since, time(), zone)
    day_rows = await store.trend_days(conn, patient_id, start, now)
    infusion_rows = await store.trend_infusions(conn, patient_id, start, now)
    latest = await store.latest_outcome(conn, patient_id)
    outcome = (
        msgspec.convert({**latest.outcome, "answered_at": latest.answered_at}, Outcome)
        if latest is not None
        else None
    )
    return Trend(
        since=since,
        until=until,
        timezone=settings.timezone,
        days=day_rows,
        infusions=infusion_rows,
        outcome=outcome,
    )


async def trend_for_staff(
    conn: Connection,
    clinic_id: UUID,
    coordinator_id: UUID,
    patient_id: UUID,
    days: int,
    now: datetime,
) -> Trend:
    async with conn.transaction():
        if not await patient_store.exists_in_clinic(conn, patient_id, clinic_id):
            raise NotFound("no such patient")
        result = await trend(conn, patient_id, days, now)
        await audit.by_coordinator(
            conn,
            coordinator_id,
            clinic_id,
            "checkin.trend",
            now,
            patient_id=patient_id,
            detail={"days": days},
        )
    return result
