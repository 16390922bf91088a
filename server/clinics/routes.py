"""Coordinator HTTP for the clinic itself: its check-in and reminder protocol."""

from __future__ import annotations

from litestar import Controller, get, patch

from server.auth import actions
from server.auth.guards import staff_api
from server.clinics import service
from server.clinics.schemas import Protocol, ProtocolChanged, ProtocolPatch
from server.deps import staff_request
from server.web import AnyRequest


class ClinicController(Controller):
    path = "/api/coordinator/clinic"
    tags = ["coordinator"]
    security = [{"coordinator": []}]
    guards = [staff_api]

    @get(
        "/protocol",
        summary="How the clinic times check-in windows and reminders",
        guards=[actions.PROTOCOL_READ],
    )
    async def protocol(self, request: AnyRequest) -> Protocol:
        async with staff_request(request) as staff:
            return await service.get_protocol(staff.conn, staff.who.clinic_id)

    @patch(
        "/protocol",
        summary="Change the protocol (admins); every patient's plan is redone within a minute",
        guards=[actions.PROTOCOL_CHANGE],
    )
    async def change_protocol(self, request: AnyRequest, data: ProtocolPatch) -> ProtocolChanged:
        async with staff_request(request) as staff:
            return await service.change_protocol(
                staff.conn, staff.who.clinic_id, staff.who, data, staff.now
            )
