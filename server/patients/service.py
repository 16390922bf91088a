"""Enrollment, profiles and devices: the rules, and the transactions that keep them."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from uuid import UUID

import msgspec
from msgspec import UNSET

from server import audit
from server.audit import ActorKind
from server.auth import store as auth_store
from server.auth import throttle
from server.auth.tokens import new_enrollment_code, new_token, normalize_code, sha256
from server.checkins import store as checkin_store
from server.db import Connection, Pool
from server.errors import BadRequest, Conflict, Invalid, NotFound, TooManyRequests, check_text
from server.pagination import decode_cursor, encode_cursor
from server.patients import store
from server.patients.schemas import (
    EnrollResponse,
    NewPatient,
    PatientCreated,
    PatientDetail,
    PatientPage,
    Profile,
    ProfilePatch,
    ProfileRow,
    QuietHours,
)
from server.schedule import service as schedule
from server.schedule.windows import is_valid_zone
from server.settings import Settings

ENROLL_FAILED = (
    "That code did not work. Check it against the one your clinic gave you; "
    "codes can be used once and expire after two weeks. Your clinic can send a new one."
)
MAX_PAUSE = timedelta(days=180)


def check_zone(name: str, field: str = "timezone") -> None:
    if not is_valid_zone(name):
        raise Invalid.field(
            field, "must be an IANA time zone like Europe/London or America/New_York"
        )


def parse_clock(value: str) -> time:
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def enrollment_link(settings: Settings, code: str) -> str:
    return f"{settings.origin}/app/enroll#{code}"


async def create_patient(
    conn: Connection,
    settings: Settings,
    clinic_id: UUID,
    new: NewPatient,
    *,
    actor_kind: ActorKind,
    actor_id: UUID | None,
    now: datetime,
) -> PatientCreated:
    check_zone(new.timezone)
    check_text("display_name", new.display_name)
    if not new.display_name.strip():
        raise Invalid.field("display_name", "must not be blank")
    async with conn.transaction():
        patient_id = await store.insert_patient(
            conn,
            clinic_id,
            new.display_name.strip(),
            new.timezone,
            new.condition,
            new.language,
            parse_clock(new.reminder_time),
        )
        created = await _issue_code(conn, settings, clinic_id, patient_id, actor_id, now)
        await audit.record(
            conn,
            actor_kind=actor_kind,
            actor_id=actor_id,
            clinic_id=clinic_id,
            patient_id=patient_id,
            action="patient.create",
            now=now,
        )
    return created


async def _issue_code(
    conn: Connection,
    settings: Settings,
    clinic_id: UUID,
    patient_id: UUID,
    created_by: UUID | None,
    now: datetime,
) -> PatientCreated:
    code, code_hash = new_enrollment_code()
    expires_at = now + timedelta(days=settings.enroll_code_ttl_days)
    # One outstanding code per patient: a new one voids any older code not yet used.
    await store.revoke_codes(conn, patient_id, now)
    await store.insert_code(conn, patient_id, code_hash, created_by, now, expires_at)
    return PatientCreated(patient_id, clinic_id, code, enrollment_link(settings, code), expires_at)


async def new_code(
    conn: Connection,
    settings: Settings,
    clinic_id: UUID,
    patient_id: UUID,
    *,
    actor_kind: ActorKind,
    actor_id: UUID | None,
    now: datetime,
) -> PatientCreated:
    """Another enrollment code for an existing patient (a new phone, a lost link)."""
    async with conn.transaction():
        if not await store.exists_in_clinic(conn, patient_id, clinic_id):
            raise NotFound("no such patient")
        created = await _issue_code(conn, settings, clinic_id, patient_id, actor_id, now)
        await audit.record(
            conn,
            actor_kind=actor_kind,
            actor_id=actor_id,
            clinic_id=clinic_id,
            patient_id=patient_id,
            action="patient.enrollment_code",
            now=now,
        )
    return created


def _quiet_hours(start: str | None, end: str | None) -> QuietHours | None:
    return QuietHours(start, end) if start is not None and end is not None else None


def _profile(row: ProfileRow) -> Profile:
    return Profile(
        patient_id=row.patient_id,
        display_name=row.display_name,
        clinic_name=row.clinic_name,
        timezone=row.timezone,
        reminder_time=row.reminder_time,
        quiet_hours=_quiet_hours(row.quiet_start, row.quiet_end),
        language=row.language,
        reminders_paused_until=row.reminders_paused_until,
        next_infusion=row.next_infusion,
    )


async def enroll(
    pool: Pool, settings: Settings, typed_code: str, client: str, now: datetime
) -> EnrollResponse:
    limit = throttle.Limit(
        settings.enroll_throttle_window_seconds,
        settings.enroll_max_failures_per_client,
        settings.enroll_max_failures_global,
    )
    async with pool.acquire() as conn:
        verdict = await throttle.attempt(conn, "enroll", client, limit, now)
        if not verdict.allowed:
            minutes = max(1, round(verdict.retry_after / 60))
            raise TooManyRequests(
                f"Too many codes were tried. Please wait about {minutes} minute"
                f"{'s' if minutes != 1 else ''} and try again.",
                verdict.retry_after,
            )
        normalized = normalize_code(typed_code)
        if normalized is None:
            raise BadRequest(ENROLL_FAILED)
        async with conn.transaction():
            patient_id = await store.redeem_code(conn, sha256(normalized), now)
            if patient_id is None:
                raise BadRequest(ENROLL_FAILED)
            token, token_hash = new_token()
            device_id = await auth_store.insert_device(conn, patient_id, token_hash, now)
            await store.activate(conn, patient_id)
            await schedule.replan(conn, patient_id, now)
            row = await store.profile(conn, patient_id, now)
            assert row is not None
            await audit.by_patient(
                conn,
                patient_id,
                "device.enroll",
                now,
                detail={"device_id": str(device_id)},
            )
        await throttle.refund(conn, verdict)
    return EnrollResponse(patient_id, token, _profile(row))


async def get_profile(conn: Connection, patient_id: UUID, now: datetime) -> Profile:
    row = await store.profile(conn, patient_id, now)
    if row is None:
        raise NotFound("no such patient")
    return _profile(row)


async def update_profile(
    conn: Connection, patient_id: UUID, patch: ProfilePatch, now: datetime
) -> Profile:
    timezone: str | None = None
    if isinstance(patch.timezone, str):
        check_zone(patch.timezone)
        timezone = patch.timezone
    reminder = parse_clock(patch.reminder_time) if isinstance(patch.reminder_time, str) else None
    set_quiet = patch.quiet_hours is not UNSET
    quiet_start = quiet_end = None
    if isinstance(patch.quiet_hours, QuietHours):
        if patch.quiet_hours.start == patch.quiet_hours.end:
            raise Invalid.field("quiet_hours", "start and end must differ")
        quiet_start = parse_clock(patch.quiet_hours.start)
        quiet_end = parse_clock(patch.quiet_hours.end)
    set_pause = patch.reminders_paused_until is not UNSET
    paused_until = (
        patch.reminders_paused_until if isinstance(patch.reminders_paused_until, datetime) else None
    )
    if paused_until is not None:
        # Compare years first: converting a date near year 1 to UTC can overflow.
        if paused_until.year < now.year or paused_until <= now:
            raise Invalid.field(
                "reminders_paused_until", "must be in the future; send null to resume reminders"
            )
        if paused_until - now > MAX_PAUSE:
            raise Invalid.field("reminders_paused_until", "can be at most 180 days ahead")
    language = patch.language if isinstance(patch.language, str) else None
    async with conn.transaction():
        await store.update_profile(
            conn,
            patient_id,
            timezone=timezone,
            reminder_time=reminder,
            set_quiet=set_quiet,
            quiet_start=quiet_start,
            quiet_end=quiet_end,
            language=language,
            set_pause=set_pause,
            paused_until=paused_until,
        )
        if timezone is not None or reminder is not None or set_quiet:
            # Windows not yet open and waiting reminders follow the new settings at once.
            await schedule.replan(conn, patient_id, now)
        return await get_profile(conn, patient_id, now)


async def logout(conn: Connection, device_id: UUID, now: datetime) -> None:
    async with conn.transaction():
        patient_id = await auth_store.revoke_device(conn, device_id, now)
        if patient_id is not None:
            await audit.by_patient(
                conn,
                patient_id,
                "device.logout",
                now,
                detail={"device_id": str(device_id)},
            )


async def list_patients(
    conn: Connection,
    clinic_id: UUID,
    coordinator_id: UUID,
    cursor: str | None,
    limit: int,
    now: datetime,
) -> PatientPage:
    before, before_id = decode_cursor(cursor)
    async with conn.transaction():
        rows = await store.list_for_clinic(conn, clinic_id, before, before_id, limit + 1)
        items = rows[:limit]
        await audit.by_coordinator(
            conn,
            coordinator_id,
            clinic_id,
            "patient.list",
            now,
            detail={"patient_ids": [str(item.patient_id) for item in items]},
        )
    next_cursor = (
        encode_cursor(items[-1].created_at, items[-1].patient_id) if len(rows) > limit else None
    )
    return PatientPage(items, next_cursor)


async def patient_detail(
    conn: Connection, clinic_id: UUID, coordinator_id: UUID, patient_id: UUID, now: datetime
) -> PatientDetail:
    async with conn.transaction():
        row = await store.detail_for_clinic(conn, patient_id, clinic_id, now)
        if row is None:
            raise NotFound("no such patient")
        latest = await checkin_store.latest(conn, patient_id)
        await audit.by_coordinator(
            conn,
            coordinator_id,
            clinic_id,
            "patient.read",
            now,
            patient_id=patient_id,
        )
    completed, missed = row.windows_completed_30d, row.windows_missed_30d
    return PatientDetail(
        patient_id=row.patient_id,
        display_name=row.display_name,
        condition=row.condition,
        status=row.status,
        timezone=row.timezone,
        reminder_time=row.reminder_time,
        language=row.language,
        created_at=row.created_at,
        reminders_paused_until=row.reminders_paused_until,
        quiet_hours=_quiet_hours(row.quiet_start, row.quiet_end),
        windows_completed_30d=completed,
        windows_missed_30d=missed,
        adherence_30d=round(completed / (completed + missed), 3) if completed + missed else None,
        last_infusion=row.last_infusion,
        next_infusion=row.next_infusion,
        latest_scores=latest.scores if latest else None,
        latest_checkin_at=latest.answered_at if latest else None,
    )


async def update_settings_for_staff(
    conn: Connection,
    clinic_id: UUID,
    coordinator_id: UUID,
    patient_id: UUID,
    patch: ProfilePatch,
    now: datetime,
) -> PatientDetail:
    """A coordinator changes the patient's reminder time, quiet hours, language, time zone or
    pause (as the patient can in the app); audited with the fields changed."""
    async with conn.transaction():
        if not await store.exists_in_clinic(conn, patient_id, clinic_id):
            raise NotFound("no such patient")
        await update_profile(conn, patient_id, patch, now)
        changed = sorted(k for k, v in msgspec.structs.asdict(patch).items() if v is not UNSET)
        await audit.by_coordinator(
            conn,
            coordinator_id,
            clinic_id,
            "patient.settings",
            now,
            patient_id=patient_id,
            detail={"fields": changed},
        )
    return await patient_detail(conn, clinic_id, coordinator_id, patient_id, now)


async def discharge(
    conn: Connection, clinic_id: UUID, coordinator_id: UUID, patient_id: UUID, now: datetime
) -> PatientDetail:
    """The patient leaves the programme: their phones stop working at once in every process,
    open windows are cancelled, future ones and waiting reminders withdrawn."""
    async with conn.transaction():
        if not await store.discharge(conn, patient_id, clinic_id):
            if not await store.exists_in_clinic(conn, patient_id, clinic_id):
                raise NotFound("no such patient")
            raise Conflict("the patient was already discharged")
        await schedule.replan(conn, patient_id, now)
        await audit.by_coordinator(
            conn, coordinator_id, clinic_id, "patient.discharge", now, patient_id=patient_id
        )
    return await patient_detail(conn, clinic_id, coordinator_id, patient_id, now)
