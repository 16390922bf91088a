"""Coordinator JSON API: the clinic's patients, their check-ins, and the clinic's export."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Response, get, patch, post
from litestar.datastructures import State
from litestar.params import FromPath, Parameter
from litestar.response import Stream

from server.auth import actions
from server.auth.guards import staff_api, staff_of
from server.checkins import service as checkins
from server.checkins.questionnaires import registry
from server.checkins.schemas import CheckinPage, Trend, TrendDays
from server.coordinators import export
from server.deps import now_of, pool_of, staff_request
from server.error_docs import errors_documented
from server.fhir import service as fhir
from server.pagination import Cursor
from server.patients import service as patients
from server.patients.schemas import (
    NewPatient,
    PatientCreated,
    PatientDetail,
    PatientPage,
    ProfilePatch,
)
from server.web import AnyRequest

PageSize = Parameter(default=50, ge=1, le=100)


class CoordinatorPatientController(Controller):
    path = "/api/coordinator/patients"
    tags = ["coordinator"]
    security = [{"coordinator": []}]
    guards = [staff_api]

    @get("/", summary="The clinic's patients, newest first", guards=[actions.PATIENTS_LIST])
    async def list_patients(
        self, request: AnyRequest, cursor: str | None = Cursor, limit: int = PageSize
    ) -> PatientPage:
        async with staff_request(request) as staff:
            return await patients.list_patients(
                staff.conn, staff.who.clinic_id, staff.who.coordinator_id, cursor, limit, staff.now
            )

    @post(
        "/",
        status_code=201,
        summary="Add a patient; returns a one-time enrollment code",
        guards=[actions.PATIENT_CREATE],
    )
    async def create_patient(self, request: AnyRequest, data: NewPatient) -> PatientCreated:
        async with staff_request(request) as staff:
            return await patients.create_patient(
                staff.conn,
                staff.settings,
                staff.who.clinic_id,
                data,
                actor_kind="coordinator",
                actor_id=staff.who.coordinator_id,
                now=staff.now,
            )

    @get(
        "/{patient_id:uuid}",
        summary="One patient: settings, adherence, latest scores",
        guards=[actions.PATIENT_READ],
    )
    async def patient_detail(
        self, request: AnyRequest, patient_id: FromPath[UUID]
    ) -> PatientDetail:
        async with staff_request(request) as staff:
            return await patients.patient_detail(
                staff.conn, staff.who.clinic_id, staff.who.coordinator_id, patient_id, staff.now
            )

    @patch(
        "/{patient_id:uuid}",
        summary="Change the patient's reminder settings (audited)",
        guards=[actions.PATIENT_SETTINGS],
    )
    async def update_patient(
        self, request: AnyRequest, patient_id: FromPath[UUID], data: ProfilePatch
    ) -> PatientDetail:
        async with staff_request(request) as staff:
            return await patients.update_settings_for_staff(
                staff.conn,
                staff.who.clinic_id,
                staff.who.coordinator_id,
                patient_id,
                data,
                staff.now,
            )

    @post(
        "/{patient_id:uuid}/discharge",
        status_code=200,
        summary="Discharge: phones stop, windows and reminders are withdrawn",
        responses=errors_documented(409),
        guards=[actions.PATIENT_DISCHARGE],
    )
    async def discharge(self, request: AnyRequest, patient_id: FromPath[UUID]) -> PatientDetail:
        async with staff_request(request) as staff:
            return await patients.discharge(
                staff.conn, staff.who.clinic_id, staff.who.coordinator_id, patient_id, staff.now
            )

    @post(
        "/{patient_id:uuid}/enrollment-code",
        status_code=201,
        summary="A new one-time enrollment code for an existing patient",
        guards=[actions.ENROLLMENT_CODE],
    )
    async def new_enrollment_code(
        self, request: AnyRequest, patient_id: FromPath[UUID]
    ) -> PatientCreated:
        async with staff_request(request) as staff:
            return await patients.new_code(
                staff.conn,
                staff.settings,
                staff.who.clinic_id,
                patient_id,
                actor_kind="coordinator",
                actor_id=staff.who.coordinator_id,
                now=staff.now,
            )

    @get(
        "/{patient_id:uuid}/checkins",
        summary="One patient's check-ins, newest first",
        guards=[actions.PATIENT_READ],
    )
    async def patient_checkins(
        self,
        request: AnyRequest,
        patient_id: FromPath[UUID],
        cursor: str | None = Cursor,
        limit: int = PageSize,
    ) -> CheckinPage:
        async with staff_request(request) as staff:
            return await checkins.history_for_staff(
                staff.conn,
                staff.who.clinic_id,
                staff.who.coordinator_id,
                patient_id,
                cursor,
                limit,
                staff.now,
            )

    @get(
        "/{patient_id:uuid}/trend",
        summary="Pain, fatigue and PEG-3 by day, infusions, change from baseline (audited)",
        guards=[actions.PATIENT_READ],
    )
    async def patient_trend(
        self,
        request: AnyRequest,
        patient_id: FromPath[UUID],
        days: int = TrendDays,
    ) -> Trend:
        async with staff_request(request) as staff:
            return await checkins.trend_for_staff(
                staff.conn,
                staff.who.clinic_id,
                staff.who.coordinator_id,
                patient_id,
                days,
                staff.now,
            )

    @get(
        "/{patient_id:uuid}/fhir",
        summary="The patient's record as a FHIR R4 Bundle",
        media_type="application/fhir+json",
        guards=[actions.PATIENT_READ],
    )
    async def patient_fhir(
        self, request: AnyRequest, patient_id: FromPath[UUID]
    ) -> Response[dict[str, Any]]:
        async with staff_request(request) as staff:
            bundle = await fhir.patient_bundle(
                staff.conn,
                staff.settings.origin,
                staff.who.clinic_id,
                staff.who.coordinator_id,
                patient_id,
                staff.now,
            )
        return Response(bundle, media_type="application/fhir+json")


class ExportController(Controller):
    path = "/api/coordinator"
    tags = ["coordinator"]
    security = [{"coordinator": []}]
    guards = [staff_api]

    @get(
        "/export.csv",
        summary="Every check-in of the clinic as CSV (pseudonymous, streamed)",
        media_type="text/csv",
        guards=[actions.EXPORT],
    )
    async def export_csv(self, state: State, request: AnyRequest) -> Stream:
        # The stream outlives the handler: it takes its own connection as it goes.
        who = staff_of(request)
        now = now_of(state)
        chunks = export.stream_csv(
            pool_of(state), registry(), who.clinic_id, who.coordinator_id, now
        )
        return Stream(
            chunks,
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="checkins-{now:%Y-%m-%d}.csv"',
                "Cache-Control": "no-store",
            },
        )
