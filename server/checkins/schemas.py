from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import msgspec
from msgspec import Meta

from server.checkins.questionnaires import QuestionnaireOut

ItemCode = Annotated[str, Meta(min_length=1, max_length=64)]


class CheckinIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    id: Annotated[UUID, Meta(description="made by the phone; replaying the same id is harmless")]
    answered_at: Annotated[datetime, Meta(tz=True, description="when the patient finished")]
    answers: Annotated[dict[ItemCode, Any], Meta(max_length=50)]
    due_id: UUID | None = None
    questionnaire: Annotated[str, Meta(min_length=1, max_length=64)] = "daily"
    questionnaire_version: (
        Annotated[int, Meta(ge=1, description="the version shown; default the newest")] | None
    ) = None
    note: Annotated[str, Meta(max_length=2000)] | None = None


class CheckinOut(msgspec.Struct, frozen=True):
    id: UUID
    due_id: UUID | None
    questionnaire: str
    questionnaire_version: int
    answered_at: datetime
    received_at: datetime
    answers: dict[str, Any]
    scores: dict[str, Any]
    note: str | None


class CheckinPage(msgspec.Struct, frozen=True):
    items: list[CheckinOut]
    next_cursor: str | None


class DueCheckin(msgspec.Struct, frozen=True):
    id: UUID
    opens_at: datetime
    closes_at: datetime
    questionnaire: QuestionnaireOut


class DueList(msgspec.Struct, frozen=True):
    items: list[DueCheckin]
    # When the next planned window opens (for "your next check-in is ..."), if one is planned.
    next_opens_at: datetime | None = None
