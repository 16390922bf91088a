"""SQL calls for alerts."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from server.alerts.schemas import Alert
from server.db import Connection, Many, One, Scalar

_list_alerts = Many("alerts.list_for_clinic", Alert)
_acknowledge = One("alerts.acknowledge", Alert)
_alert_status = Scalar("alerts.status_in_clinic", str)


async def list_alerts(
    conn: Connection, clinic_id: UUID, status: str | None, limit: int
) -> list[Alert]:
    return await _list_alerts(conn, clinic_id, status, limit)


async def acknowledge(
    conn: Connection, alert_id: UUID, clinic_id: UUID, now: datetime, by: UUID, note: str
) -> Alert | None:
    """Acknowledge an open alert of the clinic; None when there is no such open alert."""
    return await _acknowledge(conn, alert_id, clinic_id, now, by, note)


async def alert_status(conn: Connection, alert_id: UUID, clinic_id: UUID) -> str | None:
    return await _alert_status(conn, alert_id, clinic_id)
