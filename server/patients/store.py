"""SQL calls for patients, enrollment codes and profiles."""

from __future__ import annotations

from datetime import datetime, time
from uuid import UUID

from server.db import Connection, Exec, Many, One, Scalar
from server.patients.schemas import DetailRow, PatientSummary, ProfileRow, ScheduleSettings

_insert = Scalar("patients.insert", UUID)
_insert_code = Exec("patients.insert_code")
_revoke_codes = Exec("patients.revoke_codes")
_redeem_code = Scalar("patients.redeem_code", UUID)
_activate = Exec("patients.activate")
_profile = One("patients.profile", ProfileRow)
_update_profile = Exec("patients.update_profile")
_schedule_settings = One("patients.schedule_settings", ScheduleSettings)
_list_for_clinic = Many("patients.list_for_clinic", PatientSummary)
_detail_for_clinic = One("patients.detail_for_clinic", DetailRow)
_exists_in_clinic = Scalar("patients.exists_in_clinic", bool)
_discharge = Scalar("patients.discharge", UUID)


async def insert_patient(
    conn: Connection,
    clinic_id: UUID,
    display_name: str,
    timezone: str,
    condition: str,
    language: str,
    reminder_time: time,
) -> UUID:
    return await _insert.required(
        conn, clinic_id, display_name, timezone, condition, language, reminder_time
    )


async def insert_code(
    conn: Connection,
    patient_id: UUID,
    code_hash: bytes,
    created_by: UUID | None,
    now: datetime,
    expires_at: datetime,
) -> None:
    await _insert_code(conn, patient_id, code_hash, created_by, now, expires_at)


async def revoke_codes(conn: Connection, patient_id: UUID, now: datetime) -> None:
    await _revoke_codes(conn, patient_id, now)


async def redeem_code(conn: Connection, code_hash: bytes, now: datetime) -> UUID | None:
    """The patient of a code still valid, used up by this call; None otherwise."""
    return await _redeem_code(conn, code_hash, now)


async def activate(conn: Connection, patient_id: UUID) -> None:
    await _activate(conn, patient_id)


async def profile(conn: Connection, patient_id: UUID, now: datetime) -> ProfileRow | None:
    return await _profile(conn, patient_id, now)


async def update_profile(
    conn: Connection,
    patient_id: UUID,
    *,
    timezone: str | None,
    reminder_time: time | None,
    set_quiet: bool,
    quiet_start: time | None,
    quiet_end: time | None,
    language: str | None,
    set_pause: bool,
    paused_until: datetime | None,
) -> None:
    await _update_profile(
        conn,
        patient_id,
        timezone,
        reminder_time,
        set_quiet,
        quiet_start,
        quiet_end,
        language,
        set_pause,
        paused_until,
    )


async def list_for_clinic(
    conn: Connection, clinic_id: UUID, before: datetime | None, before_id: UUID | None, limit: int
) -> list[PatientSummary]:
    return await _list_for_clinic(conn, clinic_id, before, before_id, limit)


async def detail_for_clinic(
    conn: Connection, patient_id: UUID, clinic_id: UUID, now: datetime
) -> DetailRow | None:
    return await _detail_for_clinic(conn, patient_id, clinic_id, now)


async def exists_in_clinic(conn: Connection, patient_id: UUID, clinic_id: UUID) -> bool:
    return await _exists_in_clinic.required(conn, patient_id, clinic_id)


async def schedule_settings(conn: Connection, patient_id: UUID) -> ScheduleSettings | None:
    return await _schedule_settings(conn, patient_id)


async def discharge(conn: Connection, patient_id: UUID, clinic_id: UUID) -> bool:
    """Discharge a patient not yet discharged; False when there was none to discharge."""
    return await _discharge(conn, patient_id, clinic_id) is not None
