"""Patient-side HTTP for check-ins."""

from __future__ import annotations

from datetime import datetime

from litestar import Controller, Response, get, post
from litestar.params import Parameter

from server.auth.schemas import PatientPrincipal
from server.checkins import service
from server.checkins.schemas import CheckinIn, CheckinOut, CheckinPage, DueList
from server.db import Connection


class CheckinController(Controller):
    path = "/api/checkins"
    tags = ["patient"]

    @get("/due", summary="Check-ins open now, each with its questionnaire")
    async def due(self, patient: PatientPrincipal, conn: Connection, now: datetime) -> DueList:
        return await service.due(conn, patient.patient_id, now)

    @post(
        "/",
        summary="Submit a check-in (201 stored, 200 identical replay, 409 id reused)",
        status_code=201,
    )
    async def submit(
        self, data: CheckinIn, patient: PatientPrincipal, conn: Connection, now: datetime
    ) -> Response[CheckinOut]:
        submitted = await service.submit(conn, patient.patient_id, data, now)
        return Response(submitted.checkin, status_code=201 if submitted.created else 200)

    @get("/", summary="This patient's check-ins, newest first")
    async def history(
        self,
        patient: PatientPrincipal,
        conn: Connection,
        cursor: str | None = Parameter(default=None, max_length=200),
        limit: int = Parameter(default=20, ge=1, le=100),
    ) -> CheckinPage:
        return await service.history(conn, patient.patient_id, cursor, limit)
