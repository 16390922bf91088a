"""SQL calls for clinics and coordinator accounts."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from uuid import UUID

from server.clinics.schemas import Clinic, Coordinator, Protocol, StaffMember
from server.db import Connection, Exec, Many, One, Scalar

_insert = One("clinics.insert", Clinic)
_get = One("clinics.get", Clinic)
_count = Scalar("clinics.count", int)
_insert_coordinator = One("clinics.insert_coordinator", Coordinator)
_coordinator_by_email = One("clinics.coordinator_by_email", Coordinator)
_set_password = Exec("clinics.set_password")
_forget_devices = Exec("clinics.forget_devices")
_protocol = One("clinics.protocol", Protocol)
_update_protocol = One("clinics.update_protocol", Protocol)
_plans_stale = Scalar("clinics.plans_stale", int)
_wake_planner = Exec("clinics.wake_planner")
_staff = Many("clinics.staff", StaffMember)
_set_disabled = Scalar("clinics.set_disabled", UUID)
_set_role = Scalar("clinics.set_role", UUID)
_end_sessions = Exec("clinics.end_sessions")


async def insert_clinic(conn: Connection, name: str, timezone: str) -> Clinic:
    clinic = await _insert(conn, name, timezone)
    assert clinic is not None  # an insert returns its row
    return clinic


async def get_clinic(conn: Connection, clinic_id: UUID) -> Clinic | None:
    return await _get(conn, clinic_id)


async def count_clinics(conn: Connection) -> int:
    return await _count.required(conn)


async def insert_coordinator(
    conn: Connection, clinic_id: UUID, email: str, display_name: str, role: str, password_hash: str
) -> Coordinator:
    coordinator = await _insert_coordinator(
        conn, clinic_id, email, display_name, role, password_hash
    )
    assert coordinator is not None  # an insert returns its row
    return coordinator


async def coordinator_by_email(conn: Connection, email: str) -> Coordinator | None:
    return await _coordinator_by_email(conn, email)


async def set_password(conn: Connection, coordinator_id: UUID, password_hash: str) -> None:
    await _set_password(conn, coordinator_id, password_hash)
    await forget_devices(conn, coordinator_id)


async def forget_devices(conn: Connection, coordinator_id: UUID) -> None:
    await _forget_devices(conn, coordinator_id)


async def protocol(conn: Connection, clinic_id: UUID) -> Protocol | None:
    return await _protocol(conn, clinic_id)


async def update_protocol(
    conn: Connection, clinic_id: UUID, values: Mapping[str, int]
) -> Protocol | None:
    return await _update_protocol(
        conn,
        clinic_id,
        values.get("daily_window_minutes"),
        values.get("nudge_after_minutes"),
        values.get("post_infusion_days"),
        values.get("weekly_weekday"),
        values.get("weekly_window_minutes"),
    )


async def plans_stale(conn: Connection, clinic_id: UUID) -> int:
    """Mark the clinic's active patients' plans to be redone; how many."""
    return await _plans_stale.required(conn, clinic_id)


async def wake_planner(conn: Connection) -> None:
    await _wake_planner(conn)


async def staff(conn: Connection, clinic_id: UUID) -> list[StaffMember]:
    return await _staff(conn, clinic_id)


async def set_disabled(
    conn: Connection, coordinator_id: UUID, clinic_id: UUID, disabled: bool, now: datetime
) -> bool:
    return await _set_disabled(conn, coordinator_id, clinic_id, disabled, now) is not None


async def set_role(conn: Connection, coordinator_id: UUID, clinic_id: UUID, role: str) -> bool:
    return await _set_role(conn, coordinator_id, clinic_id, role) is not None


async def end_sessions(conn: Connection, coordinator_id: UUID, now: datetime) -> None:
    await _end_sessions(conn, coordinator_id, now)
