"""Alerts: what the coordinator sees and acknowledges, every read and action audited."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from server import audit
from server.alerts import store
from server.alerts.schemas import Alert, AlertList
from server.db import Connection
from server.errors import Conflict, Invalid, NotFound, check_text


async def list_alerts(
    conn: Connection,
    clinic_id: UUID,
    coordinator_id: UUID,
    status: str | None,
    limit: int,
    now: datetime,
) -> AlertList:
    async with conn.transaction():
        items = await store.list_alerts(conn, clinic_id, status, limit)
        await audit.by_coordinator(
            conn,
            coordinator_id,
            clinic_id,
            "alert.list",
            now,
            detail={"patient_ids": sorted({str(a.patient_id) for a in items})},
        )
    return AlertList(items)


async def acknowledge(
    conn: Connection,
    clinic_id: UUID,
    coordinator_id: UUID,
    alert_id: UUID,
    note: str,
    now: datetime,
) -> Alert:
    check_text("note", note)
    if not note.strip():
        raise Invalid.field("note", "must say what was done")
    async with conn.transaction():
        alert = await store.acknowledge(
            conn, alert_id, clinic_id, now, coordinator_id, note.strip()
        )
        if alert is None:
            status = await store.alert_status(conn, alert_id, clinic_id)
            if status is None:
                raise NotFound("no such alert")
            raise Conflict("this alert was already acknowledged")
        await audit.by_coordinator(
            conn,
            coordinator_id,
            clinic_id,
            "alert.acknowledge",
            now,
            patient_id=alert.patient_id,
            detail={"alert_id": str(alert.id), "kind": alert.kind},
        )
    return alert
