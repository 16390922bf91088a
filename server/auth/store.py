"""SQL calls for tokens and devices."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from server.auth.schemas import CoordinatorPrincipal, PatientPrincipal
from server.db import Connection, q, to_struct


async def device_principal(
    conn: Connection, token_hash: bytes, now: datetime
) -> PatientPrincipal | None:
    row = await conn.fetchrow(q("auth.device_principal"), token_hash, now)
    return None if row is None else to_struct(row, PatientPrincipal)


async def coordinator_principal(
    conn: Connection, token_hash: bytes, now: datetime
) -> CoordinatorPrincipal | None:
    row = await conn.fetchrow(q("auth.coordinator_principal"), token_hash, now)
    return None if row is None else to_struct(row, CoordinatorPrincipal)


async def insert_device(
    conn: Connection, patient_id: UUID, token_hash: bytes, now: datetime
) -> UUID:
    device_id: UUID = await conn.fetchval(q("auth.insert_device"), patient_id, token_hash, now)
    return device_id


async def revoke_device(conn: Connection, device_id: UUID, now: datetime) -> UUID | None:
    patient_id: UUID | None = await conn.fetchval(q("auth.revoke_device"), device_id, now)
    return patient_id


async def insert_coordinator_token(
    conn: Connection, coordinator_id: UUID, token_hash: bytes, label: str
) -> UUID:
    token_id: UUID = await conn.fetchval(
        q("auth.insert_coordinator_token"), coordinator_id, token_hash, label
    )
    return token_id


async def coordinator_for_sign_in(conn: Connection, email: str) -> asyncpg.Record | None:
    return await conn.fetchrow(q("auth.coordinator_for_sign_in"), email)


async def count_attempt(
    conn: Connection, coordinator_id: UUID, now: datetime, lock_seconds: int, after: int
) -> bool:
    """Count one attempt; False when the account is locked (nothing counted)."""
    row = await conn.fetchrow(q("auth.count_attempt"), coordinator_id, now, lock_seconds, after)
    return row is not None


async def record_sign_in(conn: Connection, coordinator_id: UUID, new_hash: str | None) -> None:
    await conn.execute(q("auth.record_sign_in"), coordinator_id, new_hash)


async def insert_session(
    conn: Connection,
    id_hash: bytes,
    coordinator_id: UUID,
    csrf_token: str,
    now: datetime,
    client_addr: str | None,
) -> UUID:
    session_id: UUID = await conn.fetchval(
        q("auth.insert_session"), id_hash, coordinator_id, csrf_token, now, client_addr
    )
    return session_id


async def session_principal(
    conn: Connection, id_hash: bytes, now: datetime, idle_seconds: int, absolute_seconds: int
) -> CoordinatorPrincipal | None:
    row = await conn.fetchrow(
        q("auth.session_principal"), id_hash, now, idle_seconds, absolute_seconds
    )
    return None if row is None else to_struct(row, CoordinatorPrincipal)


async def end_session(conn: Connection, id_hash: bytes, now: datetime) -> None:
    await conn.execute(q("auth.end_session"), id_hash, now)


async def count_device_attempt(
    conn: Connection, token_hash: bytes, coordinator_id: UUID, now: datetime, after: int
) -> bool:
    """Count one attempt on a known browser of this account; False when it is not one."""
    counted = await conn.fetchval(
        q("auth.count_device_attempt"), token_hash, coordinator_id, now, after
    )
    return bool(counted)


async def device_signed_in(conn: Connection, token_hash: bytes) -> None:
    await conn.execute(q("auth.device_signed_in"), token_hash)


async def add_device(
    conn: Connection, token_hash: bytes, coordinator_id: UUID, now: datetime, days: int
) -> None:
    await conn.execute(q("auth.add_device"), token_hash, coordinator_id, now, days)
