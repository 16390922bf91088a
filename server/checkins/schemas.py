from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar.params import Parameter
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


class TrendDay(msgspec.Struct, frozen=True):
    """A local day's means; a rating not asked that day is null."""

    date: date
    pain: float | None
    fatigue: float | None
    peg: float | None


class TrendInfusion(msgspec.Struct, frozen=True):
    at: datetime
    date: date
    status: str


class Outcome(msgspec.Struct, frozen=True):
    """Pain now against the patient's baseline, as scored with the newest daily check-in."""

    metric: str
    value: float
    baseline: float
    baseline_n: int
    baseline_kind: Annotated[
        str, Meta(description="before_first_infusion (the 14 days before it) or first_three")
    ]
    change: float
    change_pct: float | None
    category: str
    mean_3d: Annotated[float, Meta(description="mean of the last 3 days, the steadier figure")]
    category_3d: str
    answered_at: datetime


# The query parameter of both trend endpoints (the patient's and the staff view).
TrendDays = Parameter(default=90, ge=7, le=366, description="how many days back")


class Trend(msgspec.Struct, frozen=True):
    since: date
    until: date
    timezone: str
    days: list[TrendDay]
    infusions: list[TrendInfusion]
    outcome: Outcome | None


class NewCheckin(msgspec.Struct, array_like=True, frozen=True):
    """A check-in to store, in the order of the ``checkins.insert`` query's columns."""

    id: UUID
    patient_id: UUID
    due_id: UUID | None
    questionnaire: str
    version: int
    answered_at: datetime
    answers: dict[str, Any]
    scores: dict[str, Any]
    note: str | None
    content_hash: bytes
    received_at: datetime
    flags: str  # a PostgreSQL text[] literal, {} when none
    outcome_metric: str | None
    outcome_value: float | int | None
    clinic_id: UUID


class StoredCheckin(msgspec.Struct, frozen=True):
    """What storing a check-in gives back: its window and its scores with the outcome."""

    id: UUID
    due_id: UUID | None
    scores: dict[str, Any]


class ExistingCheckin(msgspec.Struct, frozen=True):
    """A stored check-in, with what tells a replay from a different check-in."""

    id: UUID
    patient_id: UUID
    due_id: UUID | None
    questionnaire: str
    questionnaire_version: int
    answered_at: datetime
    received_at: datetime
    answers: dict[str, Any]
    scores: dict[str, Any]
    note: str | None
    content_hash: bytes


class LatestOutcome(msgspec.Struct, frozen=True):
    answered_at: datetime
    outcome: dict[str, Any]
