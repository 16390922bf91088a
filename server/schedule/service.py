"""Keeps a patient's due windows in the database in step with their local settings."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

import asyncpg

from server.db import Connection
from server.schedule import store
from server.schedule.windows import daily_windows_around, zone


async def open_windows(
    conn: Connection, settings: asyncpg.Record, now: datetime
) -> list[asyncpg.Record]:
    """The patient's windows open at ``now``, creating the ones their settings call for.

    ``settings`` is the patient's row from ``patients.schedule_settings``.
    """
    patient_id: UUID = settings["id"]
    windows = daily_windows_around(
        now,
        settings["reminder_time"],
        zone(settings["timezone"]),
        timedelta(minutes=settings["daily_window_minutes"]),
    )
    # Nothing was due before the patient joined the clinic.
    windows = [w for w in windows if w.closes_at > settings["created_at"]]
    await store.ensure_windows(conn, patient_id, windows)
    return await store.open_windows(conn, patient_id, now)
