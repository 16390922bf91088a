"""SQL calls for tokens, devices, staff sign-in and sessions."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from server.auth.schemas import (
    AttemptCounted,
    CoordinatorPrincipal,
    PatientPrincipal,
    SignInAccount,
)
from server.db import Connection, Exec, One, Scalar

_device_principal = One("auth.device_principal", PatientPrincipal)
_coordinator_principal = One("auth.coordinator_principal", CoordinatorPrincipal)
_insert_device = Scalar("auth.insert_device", UUID)
_revoke_device = Scalar("auth.revoke_device", UUID)
_insert_coordinator_token = Scalar("auth.insert_coordinator_token", UUID)
_coordinator_for_sign_in = One("auth.coordinator_for_sign_in", SignInAccount)
_count_attempt = One("auth.count_attempt", AttemptCounted)
_record_sign_in = Exec("auth.record_sign_in")
_insert_session = Scalar("auth.insert_session", UUID)
_session_principal = One("auth.session_principal", CoordinatorPrincipal)
_end_session = Exec("auth.end_session")
_count_device_attempt = Scalar("auth.count_device_attempt", bool)
_device_signed_in = Exec("auth.device_signed_in")
_add_device = Exec("auth.add_device")


async def device_principal(
    conn: Connection, token_hash: bytes, now: datetime
) -> PatientPrincipal | None:
    return await _device_principal(conn, token_hash, now)


async def coordinator_principal(
    conn: Connection, token_hash: bytes, now: datetime
) -> CoordinatorPrincipal | None:
    return await _coordinator_principal(conn, token_hash, now)


async def insert_device(
    conn: Connection, patient_id: UUID, token_hash: bytes, now: datetime
) -> UUID:
    return await _insert_device.required(conn, patient_id, token_hash, now)


async def revoke_device(conn: Connection, device_id: UUID, now: datetime) -> UUID | None:
    """Revoke a device still in use; returns its patient, or None if it was not."""
    return await _revoke_device(conn, device_id, now)


async def insert_coordinator_token(
    conn: Connection, coordinator_id: UUID, token_hash: bytes, label: str
) -> UUID:
    return await _insert_coordinator_token.required(conn, coordinator_id, token_hash, label)


async def coordinator_for_sign_in(conn: Connection, email: str) -> SignInAccount | None:
    return await _coordinator_for_sign_in(conn, email)


async def count_attempt(
    conn: Connection, coordinator_id: UUID, now: datetime, lock_seconds: int, after: int
) -> bool:
    """Count one attempt; False when the account is locked (nothing counted)."""
    return await _count_attempt(conn, coordinator_id, now, lock_seconds, after) is not None


async def record_sign_in(conn: Connection, coordinator_id: UUID, new_hash: str | None) -> None:
    await _record_sign_in(conn, coordinator_id, new_hash)


async def insert_session(
    conn: Connection,
    id_hash: bytes,
    coordinator_id: UUID,
    csrf_token: str,
    now: datetime,
    client_addr: str | None,
) -> UUID:
    return await _insert_session.required(
        conn, id_hash, coordinator_id, csrf_token, now, client_addr
    )


async def session_principal(
    conn: Connection, id_hash: bytes, now: datetime, idle_seconds: int, absolute_seconds: int
) -> CoordinatorPrincipal | None:
    return await _session_principal(conn, id_hash, now, idle_seconds, absolute_seconds)


async def end_session(conn: Connection, id_hash: bytes, now: datetime) -> None:
    await _end_session(conn, id_hash, now)


async def count_device_attempt(
    conn: Connection, token_hash: bytes, coordinator_id: UUID, now: datetime, after: int
) -> bool:
    """Count one attempt on a known browser of this account; False when it is not one."""
    return bool(await _count_device_attempt(conn, token_hash, coordinator_id, now, after))


async def device_signed_in(conn: Connection, token_hash: bytes) -> None:
    await _device_signed_in(conn, token_hash)


async def add_device(
    conn: Connection, token_hash: bytes, coordinator_id: UUID, now: datetime, days: int
) -> None:
    await _add_device(conn, token_hash, coordinator_id, now, days)
