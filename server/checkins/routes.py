"""Patient-side HTTP for check-ins."""

from __future__ import annotations

from litestar import Controller, Response, get, post
from litestar.datastructures import State
from litestar.params import Parameter

from server.auth.guards import authenticate_patient
from server.checkins import service
from server.checkins.schemas import CheckinIn, CheckinOut, CheckinPage, DueList
from server.deps import now_of, pool_of
from server.web import AnyRequest


class CheckinController(Controller):
    path = "/api/checkins"
    tags = ["patient"]
    security = [{"device": []}]

    @get("/due", summary="Check-ins open now, each with its questionnaire")
    async def due(
        self,
        state: State,
        request: AnyRequest,
    ) -> DueList:
        patient = await authenticate_patient(request)
        pool = pool_of(state)
        now = now_of(state)
        async with pool.acquire() as conn:
            return await service.due(conn, patient.patient_id, now)

    @post(
        "/",
        summary="Submit a check-in (201 stored, 200 identical replay, 409 id reused)",
        status_code=201,
    )
    async def submit(
        self,
        state: State,
        data: CheckinIn,
        request: AnyRequest,
    ) -> Response[CheckinOut]:
        patient = await authenticate_patient(request)
        pool = pool_of(state)
        now = now_of(state)
        async with pool.acquire() as conn:
            submitted = await service.submit(conn, patient, data, now)
        return Response(submitted.checkin, status_code=201 if submitted.created else 200)

    @get("/", summary="This patient's check-ins, newest first")
    async def history(
        self,
        state: State,
        request: AnyRequest,
        cursor: str | None = Parameter(default=None, max_length=200),
        limit: int = Parameter(default=20, ge=1, le=100),
    ) -> CheckinPage:
        patient = await authenticate_patient(request)
        pool = pool_of(state)
        async with pool.acquire() as conn:
            return await service.history(conn, patient.patient_id, cursor, limit)
