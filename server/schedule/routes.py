"""Coordinator HTTP for a patient's infusion sessions."""

from __future__ import annotations

from uuid import UUID

from litestar import Controller, get, patch, post

from server.deps import staff_request
from server.errors import errors_documented
from server.schedule import infusions
from server.schedule.schemas import Infusion, InfusionChange, InfusionList, NewInfusion
from server.web import AnyRequest


class InfusionController(Controller):
    path = "/api/coordinator/patients/{patient_id:uuid}/infusions"
    tags = ["coordinator"]
    security = [{"coordinator": []}]

    @get("/", summary="The patient's infusion sessions, in time order")
    async def list_infusions(self, request: AnyRequest, patient_id: UUID) -> InfusionList:
        async with staff_request(request) as staff:
            return await infusions.list_sessions(
                staff.conn, staff.who.clinic_id, staff.who.coordinator_id, patient_id, staff.now
            )

    @post(
        "/",
        status_code=201,
        summary="Schedule an infusion session; windows are re-planned",
        responses=errors_documented(409),
    )
    async def schedule_infusion(
        self, request: AnyRequest, patient_id: UUID, data: NewInfusion
    ) -> Infusion:
        async with staff_request(request) as staff:
            return await infusions.schedule_session(
                staff.conn,
                staff.who.clinic_id,
                staff.who.coordinator_id,
                patient_id,
                data,
                staff.now,
            )

    @patch(
        "/{session_id:uuid}",
        summary="Reschedule, complete or cancel a session; windows are re-planned",
        responses=errors_documented(409),
    )
    async def change_infusion(
        self, request: AnyRequest, patient_id: UUID, session_id: UUID, data: InfusionChange
    ) -> Infusion:
        async with staff_request(request) as staff:
            return await infusions.change_session(
                staff.conn,
                staff.who.clinic_id,
                staff.who.coordinator_id,
                patient_id,
                session_id,
                data,
                staff.now,
            )
