"""Coordinator JSON API for the clinic's alerts."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from litestar import Controller, get, post
from litestar.params import FromPath, FromQuery, QueryParameter

from server.alerts import service
from server.alerts.schemas import Acknowledge, Alert, AlertList
from server.auth import actions
from server.auth.guards import staff_api
from server.deps import staff_request
from server.error_docs import errors_documented
from server.web import AnyRequest


class AlertController(Controller):
    path = "/api/coordinator/alerts"
    tags = ["coordinator"]
    security = [{"coordinator": []}]
    guards = [staff_api]

    @get(
        "/",
        summary="The clinic's alerts, newest first (open ones by default)",
        guards=[actions.ALERTS_LIST],
    )
    async def list_alerts(
        self,
        request: AnyRequest,
        status: FromQuery[Literal["open", "acknowledged", "all"]] = "open",
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 100,
    ) -> AlertList:
        async with staff_request(request) as staff:
            return await service.list_alerts(
                staff.conn,
                staff.who.clinic_id,
                staff.who.coordinator_id,
                None if status == "all" else status,
                limit,
                staff.now,
            )

    @post(
        "/{alert_id:uuid}/acknowledge",
        status_code=200,
        summary="Acknowledge with a note",
        responses=errors_documented(409),
        guards=[actions.ALERT_ACKNOWLEDGE],
    )
    async def acknowledge(
        self, request: AnyRequest, alert_id: FromPath[UUID], data: Acknowledge
    ) -> Alert:
        async with staff_request(request) as staff:
            return await service.acknowledge(
                staff.conn,
                staff.who.clinic_id,
                staff.who.coordinator_id,
                alert_id,
                data.note,
                staff.now,
            )
