"""SQL calls of the metrics scrape."""

from __future__ import annotations

from datetime import datetime

from server.db import Connection, Many, Scalar
from server.observability.schemas import OpenAlerts

_oldest_due_reminder = Scalar("observability.oldest_due_reminder", datetime)
_open_alerts = Many("observability.open_alerts", OpenAlerts)


async def oldest_due_reminder(conn: Connection, now: datetime) -> datetime | None:
    return await _oldest_due_reminder(conn, now)


async def open_alerts(conn: Connection) -> list[OpenAlerts]:
    return await _open_alerts(conn)
