"""Rows the FHIR export reads."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec


class FhirPatient(msgspec.Struct, frozen=True):
    id: UUID
    pseudonym: str
    display_name: str
    language: str


class FhirCheckin(msgspec.Struct, frozen=True):
    id: UUID
    questionnaire: str
    questionnaire_version: int
    answered_at: datetime
    answers: dict[str, Any]
    scores: dict[str, Any]
