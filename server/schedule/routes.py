"""Coordinator HTTP for a patient's infusion sessions."""

from __future__ import annotations

from uuid import UUID

from litestar import Controller, get, patch, post
from litestar.params import FromPath

from server.auth import actions
from server.auth.guards import staff_api
from server.deps import staff_request
from server.error_docs import errors_documented
from server.schedule import infusions
from server.schedule.schemas import Infusion, InfusionChange, InfusionList, NewInfusion
from server.web import AnyRequest


class InfusionController(Controller):
    path = "/api/coordinator/patients/{patient_id:uuid}/infusions"
    tags = ["coordinator"]
    security = [{"coordinator": []}]
    guards = [staff_api]

    @get(
        "/",
        summary="The patient's infusion sessions, in time order",
        guards=[actions.PATIENT_READ],
    )
    async def list_infusions(self, request: AnyRequest, patient_id: FromPath[UUID]) -> InfusionList:
        async with staff_request(request) as staff:
            return await infusions.list_sessions(
                staff.conn, staff.who.clinic_id, staff.who.coordinator_id, patient_id, staff.now
            )

    @post(
        "/",
        status_code=201,
        summary="Schedule an infusion session; windows are re-planned",
        responses=errors_documented(409),
        guards=[actions.INFUSION_SCHEDULE],
    )
    async def schedule_infusion(
        self, request: AnyRequest, patient_id: FromPath[UUID], data: NewInfusion
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
        guards=[actions.INFUSION_CHANGE],
    )
    async def change_infusion(
        self,
        request: AnyRequest,
        patient_id: FromPath[UUID],
        session_id: FromPath[UUID],
        data: InfusionChange,
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
