"""Coordinator JSON API: the clinic's patients, their check-ins, enrollment codes."""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

from litestar import Controller, Response, get, post
from litestar.datastructures import State
from litestar.params import Parameter
from litestar.response import Stream

from server.auth.guards import authenticate_coordinator
from server.checkins import service as checkins
from server.checkins.questionnaires import registry
from server.checkins.schemas import CheckinPage
from server.coordinators import export
from server.coordinators import service as alerts
from server.coordinators.schemas import Acknowledge, Alert, AlertList
from server.deps import now_of, pool_of, settings_of
from server.fhir import service as fhir
from server.patients import service as patients
from server.patients.schemas import NewPatient, PatientCreated, PatientDetail, PatientPage
from server.web import AnyRequest

Cursor = Parameter(default=None, max_length=200)


class CoordinatorPatientController(Controller):
    path = "/api/coordinator/patients"
    tags = ["coordinator"]
    security = [{"coordinator": []}]

    @get("/", summary="The clinic's patients, newest first")
    async def list_patients(
        self,
        state: State,
        request: AnyRequest,
        cursor: str | None = Cursor,
        limit: int = Parameter(default=50, ge=1, le=100),
    ) -> PatientPage:
        coordinator = await authenticate_coordinator(request)
        pool = pool_of(state)
        now = now_of(state)
        async with pool.acquire() as conn:
            return await patients.list_patients(
                conn, coordinator.clinic_id, coordinator.coordinator_id, cursor, limit, now
            )

    @post(
        "/", status_code=201, summary="Add a patient; returns a one-time enrollment code and link"
    )
    async def create_patient(
        self,
        state: State,
        data: NewPatient,
        request: AnyRequest,
    ) -> PatientCreated:
        coordinator = await authenticate_coordinator(request)
        pool = pool_of(state)
        now = now_of(state)
        settings = settings_of(state)
        async with pool.acquire() as conn:
            return await patients.create_patient(
                conn,
                settings,
                coordinator.clinic_id,
                data,
                actor_kind="coordinator",
                actor_id=coordinator.coordinator_id,
                now=now,
            )

    @get("/{patient_id:uuid}", summary="One patient: settings, adherence, latest scores")
    async def patient_detail(
        self,
        state: State,
        patient_id: UUID,
        request: AnyRequest,
    ) -> PatientDetail:
        coordinator = await authenticate_coordinator(request)
        pool = pool_of(state)
        now = now_of(state)
        async with pool.acquire() as conn:
            return await patients.patient_detail(
                conn, coordinator.clinic_id, coordinator.coordinator_id, patient_id, now
            )

    @post(
        "/{patient_id:uuid}/enrollment-code",
        status_code=201,
        summary="A new one-time enrollment code for an existing patient",
    )
    async def new_enrollment_code(
        self,
        state: State,
        patient_id: UUID,
        request: AnyRequest,
    ) -> PatientCreated:
        coordinator = await authenticate_coordinator(request)
        pool = pool_of(state)
        now = now_of(state)
        settings = settings_of(state)
        async with pool.acquire() as conn:
            return await patients.new_code(
                conn,
                settings,
                coordinator.clinic_id,
                patient_id,
                actor_kind="coordinator",
                actor_id=coordinator.coordinator_id,
                now=now,
            )

    @get("/{patient_id:uuid}/checkins", summary="One patient's check-ins, newest first")
    async def patient_checkins(
        self,
        state: State,
        patient_id: UUID,
        request: AnyRequest,
        cursor: str | None = Cursor,
        limit: int = Parameter(default=50, ge=1, le=100),
    ) -> CheckinPage:
        coordinator = await authenticate_coordinator(request)
        pool = pool_of(state)
        now = now_of(state)
        async with pool.acquire() as conn:
            return await checkins.history_for_staff(
                conn,
                coordinator.clinic_id,
                coordinator.coordinator_id,
                patient_id,
                cursor,
                limit,
                now,
            )

    @get(
        "/{patient_id:uuid}/fhir",
        summary="The patient's record as a FHIR R4 Bundle",
        media_type="application/fhir+json",
    )
    async def patient_fhir(
        self, state: State, request: AnyRequest, patient_id: UUID
    ) -> Response[dict[str, Any]]:
        coordinator = await authenticate_coordinator(request)
        pool = pool_of(state)
        now = now_of(state)
        async with pool.acquire() as conn:
            bundle = await fhir.patient_bundle(
                conn,
                settings_of(state).origin,
                coordinator.clinic_id,
                coordinator.coordinator_id,
                patient_id,
                now,
            )
        return Response(bundle, media_type="application/fhir+json")


class AlertController(Controller):
    path = "/api/coordinator/alerts"
    tags = ["coordinator"]
    security = [{"coordinator": []}]

    @get("/", summary="The clinic's alerts, newest first (open ones by default)")
    async def list_alerts(
        self,
        state: State,
        request: AnyRequest,
        status: Literal["open", "acknowledged", "all"] = "open",
        limit: int = Parameter(default=100, ge=1, le=500),
    ) -> AlertList:
        coordinator = await authenticate_coordinator(request)
        pool = pool_of(state)
        now = now_of(state)
        async with pool.acquire() as conn:
            return await alerts.list_alerts(
                conn,
                coordinator.clinic_id,
                coordinator.coordinator_id,
                None if status == "all" else status,
                limit,
                now,
            )

    @post("/{alert_id:uuid}/acknowledge", status_code=200, summary="Acknowledge with a note")
    async def acknowledge(
        self, state: State, request: AnyRequest, alert_id: UUID, data: Acknowledge
    ) -> Alert:
        coordinator = await authenticate_coordinator(request)
        pool = pool_of(state)
        now = now_of(state)
        async with pool.acquire() as conn:
            return await alerts.acknowledge(
                conn, coordinator.clinic_id, coordinator.coordinator_id, alert_id, data.note, now
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
        coordinator = await authenticate_coordinator(request)
        now = now_of(state)
        chunks = export.stream_csv(
            pool_of(state), registry(), coordinator.clinic_id, coordinator.coordinator_id, now
        )
        return Stream(
            chunks,
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="checkins-{now:%Y-%m-%d}.csv"',
                "Cache-Control": "no-store",
            },
        )
