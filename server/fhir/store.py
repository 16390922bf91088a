"""SQL calls for the FHIR export."""

from __future__ import annotations

from uuid import UUID

import asyncpg

from server.db import Connection, q


async def patient(conn: Connection, patient_id: UUID, clinic_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(q("fhir.patient"), patient_id, clinic_id)


async def checkins(conn: Connection, patient_id: UUID) -> list[asyncpg.Record]:
    return await conn.fetch(q("fhir.checkins"), patient_id)
