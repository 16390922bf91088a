"""A patient's record as one FHIR R4 Bundle (audited)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from server import audit
from server.checkins.questionnaires import Questionnaire, registry
from server.db import Connection
from server.errors import NotFound
from server.fhir import mapping, store


async def patient_bundle(
    conn: Connection,
    origin: str,
    clinic_id: UUID,
    coordinator_id: UUID,
    patient_id: UUID,
    now: datetime,
) -> dict[str, Any]:
    async with conn.transaction():
        person = await store.patient(conn, patient_id, clinic_id)
        if person is None:
            raise NotFound("no such patient")
        rows = await store.checkins(conn, patient_id)
        await audit.by_coordinator(
            conn,
            coordinator_id,
            clinic_id,
            "patient.fhir_export",
            now,
            patient_id=patient_id,
            detail={"checkins": len(rows)},
        )
    questionnaires = registry()
    resources = [
        mapping.patient(origin, person.id, person.pseudonym, person.display_name, person.language)
    ]
    used: dict[tuple[str, int], Questionnaire] = {}
    responses: list[dict[str, Any]] = []
    for row in rows:
        definition = questionnaires.get(row.questionnaire, row.questionnaire_version)
        if definition is None:
            continue  # a questionnaire file removed since; its answers stay in the database
        used[(definition.code, definition.version)] = definition
        responses.append(
            mapping.questionnaire_response(
                origin, definition, row.id, patient_id, row.answered_at, row.answers
            )
        )
        responses.extend(
            mapping.observations(definition, row.id, patient_id, row.answered_at, row.scores)
        )
    resources += [
        mapping.questionnaire(origin, q, current=questionnaires.get(q.code) is q)
        for q in used.values()
    ]
    resources += responses
    return mapping.bundle(origin, resources, now)
