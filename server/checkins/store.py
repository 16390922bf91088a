"""SQL calls for check-ins."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec

from server.checkins.schemas import (
    CheckinOut,
    ExistingCheckin,
    LatestOutcome,
    NewCheckin,
    StoredCheckin,
    TrendDay,
    TrendInfusion,
)
from server.db import Connection, Many, One

_insert = Many("checkins.insert", StoredCheckin)
_get_existing = One("checkins.get_existing", ExistingCheckin)
_history = Many("checkins.history", CheckinOut)
_trend_days = Many("checkins.trend_days", TrendDay)
_trend_infusions = Many("checkins.trend_infusions", TrendInfusion)
_latest_outcome = One("checkins.latest_outcome", LatestOutcome)


def _columns(rows: list[NewCheckin]) -> list[list[Any]]:
    """The insert's 15 array parameters, one element per check-in."""
    return [
        list(column) for column in zip(*(msgspec.structs.astuple(r) for r in rows), strict=True)
    ]


async def insert(conn: Connection, rows: list[NewCheckin]) -> list[StoredCheckin]:
    """Store check-ins in one statement; one whose id exists already gives nothing back."""
    return await _insert(conn, *_columns(rows))


async def insert_one(conn: Connection, row: NewCheckin) -> StoredCheckin | None:
    """Store one check-in, or None if its id exists."""
    stored = await insert(conn, [row])
    return stored[0] if stored else None


async def insert_in_order(conn: Connection, rows: list[NewCheckin]) -> None:
    """Store check-ins one after another (pipelined), each scored against those before it."""
    await _insert.each(conn, [_columns([row]) for row in rows])


async def get_existing(conn: Connection, id_: UUID) -> ExistingCheckin | None:
    return await _get_existing(conn, id_)


async def history(
    conn: Connection, patient_id: UUID, before: datetime | None, before_id: UUID | None, limit: int
) -> list[CheckinOut]:
    return await _history(conn, patient_id, before, before_id, limit)


async def latest(conn: Connection, patient_id: UUID) -> CheckinOut | None:
    newest = await _history(conn, patient_id, None, None, 1)
    return newest[0] if newest else None


async def trend_days(
    conn: Connection, patient_id: UUID, since: datetime, until: datetime
) -> list[TrendDay]:
    return await _trend_days(conn, patient_id, since, until)


async def trend_infusions(
    conn: Connection, patient_id: UUID, since: datetime, until: datetime
) -> list[TrendInfusion]:
    return await _trend_infusions(conn, patient_id, since, until)


async def latest_outcome(conn: Connection, patient_id: UUID) -> LatestOutcome | None:
    return await _latest_outcome(conn, patient_id)
