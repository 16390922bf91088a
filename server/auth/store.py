"""SQL calls for tokens and devices."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

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
