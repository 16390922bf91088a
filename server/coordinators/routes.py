"""Coordinator JSON API: the clinic's patients, their check-ins, alerts and exports."""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

from litestar import Controller, Response, get, patch, post
from litestar.datastructures import State
from litestar.params import Parameter
from litestar.response import Stream

from server.auth.guards import authenticate_coordinator
from server.checkins import service as checkins
from server.checkins.questionnaires import registry
from server.checkins.schemas import CheckinPage, Trend, TrendDays
from server.coordinators import export
from server.coordinators import service as alerts
from server.coordinators.schemas import Acknowledge, Alert, AlertList
from server.deps import now_of, pool_of, staff_request
from server.errors import errors_documented
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

    @get("/", summary="The clinic's patients, newest first")
    async def list_patients(
        self, request: AnyRequest, cursor: str | None = Cursor, limit: int = PageSize
    ) -> PatientPage:
        async with staff_request(request) as staff:
            return await patients.list_patients(
                staff.conn, staff.who.clinic_id, staff.who.coordinator_id, cursor, limit, staff.now
            )

    @post("/", status_code=201, summary="Add a patient; returns a one-time enrollment code")
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

    @get("/{patient_id:uuid}", summary="One patient: settings, adherence, latest scores")
    async def patient_detail(self, request: AnyRequest, patient_id: UUID) -> PatientDetail:
        async with staff_request(request) as staff:
            return await patients.patient_detail(
                staff.conn, staff.who.clinic_id, staff.who.coordinator_id, patient_id, staff.now
            )

    @patch("/{patient_id:uuid}", summary="Change the patient's reminder settings (audited)")
    async def update_patient(
        self, request: AnyRequest, patient_id: UUID, data: ProfilePatch
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
    )
    async def discharge(self, request: AnyRequest, patient_id: UUID) -> PatientDetail:
        async with staff_request(request) as staff:
            return await patients.discharge(
                staff.conn, staff.who.clinic_id, staff.who.coordinator_id, patient_id, staff.now
            )

    @post(
        "/{patient_id:uuid}/enrollment-code",
        status_code=201,
        summary="A new one-time enrollment code for an existing patient",
    )
    async def new_enrollment_code(self, request: AnyRequest, patient_id: UUID) -> PatientCreated:
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

    @get("/{patient_id:uuid}/checkins", summary="One patient's check-ins, newest first")
    async def patient_checkins(
        self,
        request: AnyRequest,
        patient_id: UUID,
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
    )
    async def patient_trend(
        self,
        request: AnyRequest,
        patient_id: UUID,
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
    )
    async def patient_fhir(self, request: AnyRequest, patient_id: UUID) -> Response[dict[str, Any]]:
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


class AlertController(Controller):
    path = "/api/coordinator/alerts"
    tags = ["coordinator"]
    security = [{"coordinator": []}]

    @get("/", summary="The clinic's alerts, newest first (open ones by default)")
    async def list_alerts(
        self,
        request: AnyRequest,
        status: Literal["open", "acknowledged", "all"] = "open",
        limit: int = Parameter(default=100, ge=1, le=500),
    ) -> AlertList:
        async with staff_request(request) as staff:
            return await alerts.list_alerts(
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
    )
    async def acknowledge(self, request: AnyRequest, alert_id: UUID, data: Acknowledge) -> Alert:
        async with staff_request(request) as staff:
            return await alerts.acknowledge(
                staff.conn,
                staff.who.clinic_id,
                staff.who.coordinator_id,
                alert_id,
                data.note,
                staff.now,
            )


class ExportController(Controller):
    path = "/api/coordinator"
    tags = ["coordinator"]
    security = [{"coordinator": []}]

    @get(
        "/export.csv",
        summary="Every check-in of the clinic as CSV (pseudonymous, streamed)",
        media_type="text/csv",
    )
    async def export_csv(self, state: State, request: AnyRequest) -> Stream:
        # The stream outlives the handler: it takes its own connection as it goes.
        who = await authenticate_coordinator(request)
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
