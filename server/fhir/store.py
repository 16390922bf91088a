"""SQL calls for the FHIR export."""

from __future__ import annotations

from uuid import UUID

from server.db import Connection, Many, One
from server.fhir.schemas import FhirCheckin, FhirPatient

_patient = One("fhir.patient", FhirPatient)
_checkins = Many("fhir.checkins", FhirCheckin)


async def patient(conn: Connection, patient_id: UUID, clinic_id: UUID) -> FhirPatient | None:
    return await _patient(conn, patient_id, clinic_id)


async def checkins(conn: Connection, patient_id: UUID) -> list[FhirCheckin]:
    return await _checkins(conn, patient_id)
