"""SQL calls for due windows."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from server.db import Connection, q
from server.schedule.windows import Window


async def ensure_windows(conn: Connection, patient_id: UUID, windows: list[Window]) -> None:
    by_questionnaire: dict[str, list[Window]] = {}
    for window in windows:
        by_questionnaire.setdefault(window.questionnaire, []).append(window)
    for questionnaire, group in by_questionnaire.items():
        await conn.execute(
            q("schedule.ensure_windows"),
            patient_id,
            questionnaire,
            [w.local_date for w in group],
            [w.opens_at for w in group],
            [w.closes_at for w in group],
        )


async def open_windows(conn: Connection, patient_id: UUID, now: datetime) -> list[asyncpg.Record]:
    return await conn.fetch(q("schedule.open_windows"), patient_id, now)


async def drop_unopened_windows(conn: Connection, patient_id: UUID, now: datetime) -> None:
    await conn.execute(q("schedule.drop_unopened_windows"), patient_id, now)
