"""Clinics and coordinator accounts (operator commands and, later, admin pages)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from server import audit
from server.auth import store as auth_store
from server.auth.schemas import CoordinatorPrincipal
from server.auth.tokens import hash_password, new_token
from server.clinics import store
from server.clinics.schemas import (
    ApiToken,
    Clinic,
    Coordinator,
    NewStaff,
    Protocol,
    ProtocolChanged,
    ProtocolPatch,
    StaffMember,
)
from server.db import Connection
from server.errors import Conflict, Invalid, NotFound, check_text
from server.schedule.windows import is_valid_zone

MIN_PASSWORD_LENGTH = 12


async def create_clinic(conn: Connection, name: str, timezone: str, *, now: datetime) -> Clinic:
    check_text("name", name)
    if not name.strip():
        raise Invalid.field("name", "must not be blank")
    if not is_valid_zone(timezone):
        raise Invalid.field("timezone", "must be an IANA time zone like Europe/London")
    async with conn.transaction():
        clinic = await store.insert_clinic(conn, name.strip(), timezone)
        await audit.record(
            conn,
            actor_kind="operator",
            actor_id=None,
            clinic_id=clinic.id,
            patient_id=None,
            action="clinic.create",
            now=now,
        )
    return clinic


async def get_clinic(conn: Connection, clinic_id: UUID) -> Clinic:
    clinic = await store.get_clinic(conn, clinic_id)
    if clinic is None:
        raise NotFound(f"no clinic has the id {clinic_id}")
    return clinic


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise Invalid.field("password", f"must be at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > 1024:
        raise Invalid.field("password", "must be at most 1024 characters")


async def create_coordinator(
    conn: Connection,
    *,
    clinic_id: UUID,
    email: str,
    display_name: str,
    role: str,
    password: str,
    now: datetime,
    by: CoordinatorPrincipal | None = None,
) -> Coordinator:
    """A new coordinator; ``by`` is the admin who added them (else the operator, on the CLI)."""
    check_password(password)
    check_text("email", email)
    check_text("name", display_name)
    await get_clinic(conn, clinic_id)
    async with conn.transaction():
        created = await store.insert_coordinator(
            conn,
            clinic_id,
            email.strip().lower(),
            display_name.strip(),
            role,
            hash_password(password),
        )
        await audit.record(
            conn,
            actor_kind="coordinator" if by else "operator",
            actor_id=by.coordinator_id if by else None,
            clinic_id=clinic_id,
            patient_id=None,
            action="coordinator.create",
            now=now,
            detail={"coordinator_id": str(created.id), "role": role},
        )
    return created


async def set_password(conn: Connection, coordinator_id: UUID, password: str) -> None:
    check_password(password)
    await store.set_password(conn, coordinator_id, hash_password(password))


async def issue_api_token(conn: Connection, email: str, label: str, *, now: datetime) -> ApiToken:
    coordinator = await store.coordinator_by_email(conn, email.strip().lower())
    if coordinator is None:
        raise NotFound(f"no active coordinator has the email {email.strip().lower()}")
    token, token_hash = new_token()
    async with conn.transaction():
        token_id = await auth_store.insert_coordinator_token(
            conn, coordinator.id, token_hash, label
        )
        await audit.record(
            conn,
            actor_kind="operator",
            actor_id=None,
            clinic_id=coordinator.clinic_id,
            patient_id=None,
            action="coordinator.token_issue",
            now=now,
            detail={"coordinator_id": str(coordinator.id), "token_id": str(token_id)},
        )
    return ApiToken(coordinator.id, coordinator.email, token_id, token)


async def get_protocol(conn: Connection, clinic_id: UUID) -> Protocol:
    protocol = await store.protocol(conn, clinic_id)
    if protocol is None:
        raise NotFound("no such clinic")
    return protocol


async def change_protocol(
    conn: Connection,
    clinic_id: UUID,
    who: CoordinatorPrincipal,
    patch: ProtocolPatch,
    now: datetime,
) -> ProtocolChanged:
    """Every active patient's plan is redone in the background within a minute (windows not
    yet open follow; opened and answered ones stay). Who may: server/auth/actions.py."""
    values = {
        name: value
        for name in ProtocolPatch.__struct_fields__
        if isinstance(value := getattr(patch, name), int)
    }
    async with conn.transaction():
        changed = await store.update_protocol(conn, clinic_id, values)
        if changed is None:
            raise NotFound("no such clinic")
        stale = await store.plans_stale(conn, clinic_id)
        await audit.by_coordinator(
            conn, who.coordinator_id, clinic_id, "clinic.protocol", now, detail=values
        )
        await store.wake_planner(conn)
    return ProtocolChanged(changed, stale)


async def list_staff(conn: Connection, clinic_id: UUID) -> list[StaffMember]:
    return await store.staff(conn, clinic_id)


async def add_staff(
    conn: Connection, who: CoordinatorPrincipal, new: NewStaff, now: datetime
) -> Coordinator:
    """An admin adds a coordinator or admin of their own clinic, with a first password."""
    return await create_coordinator(
        conn,
        clinic_id=who.clinic_id,
        email=new.email,
        display_name=new.display_name,
        role=new.role,
        password=new.password,
        now=now,
        by=who,
    )


async def change_staff(
    conn: Connection,
    who: CoordinatorPrincipal,
    coordinator_id: UUID,
    action: str,
    now: datetime,
) -> None:
    """Disable (sessions end at once), enable, or change the role of a colleague. Nobody
    changes their own account this way, so a clinic never loses its last admin by accident."""
    if coordinator_id == who.coordinator_id:
        raise Conflict("you cannot disable or demote yourself; ask another admin")
    async with conn.transaction():
        if action in ("disable", "enable"):
            found = await store.set_disabled(
                conn, coordinator_id, who.clinic_id, action == "disable", now
            )
            if found and action == "disable":
                await store.end_sessions(conn, coordinator_id, now)
                await store.forget_devices(conn, coordinator_id)
        elif action in ("coordinator", "admin"):
            found = await store.set_role(conn, coordinator_id, who.clinic_id, action)
        else:
            raise Invalid.field("action", "must be disable, enable, coordinator or admin")
        if not found:
            raise NotFound("no such coordinator")
        await audit.by_coordinator(
            conn,
            who.coordinator_id,
            who.clinic_id,
            f"coordinator.{action}",
            now,
            detail={"coordinator_id": str(coordinator_id)},
        )
