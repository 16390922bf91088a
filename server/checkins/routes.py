"""Patient-side HTTP for check-ins."""

from __future__ import annotations

from litestar import Controller, Response, get, post
from litestar.params import Parameter

from server.auth.guards import authenticate_patient
from server.checkins import service
from server.checkins.schemas import CheckinIn, CheckinOut, CheckinPage, DueList, Trend, TrendDays
from server.deps import now_of, patient_request, pool_of
from server.error_docs import errors_documented
from server.pagination import Cursor
from server.web import AnyRequest


class CheckinController(Controller):
    path = "/api/checkins"
    tags = ["patient"]
    security = [{"device": []}]

    @get("/due", summary="Check-ins open now, each with its questionnaire")
    async def due(self, request: AnyRequest) -> DueList:
        async with patient_request(request) as patient:
            return await service.due(patient.conn, patient.who.patient_id, patient.now)

    @post(
        "/",
        summary="Submit a check-in (201 stored, 200 identical replay, 409 id reused)",
        status_code=201,
        responses=errors_documented(409),
    )
    async def submit(self, request: AnyRequest, data: CheckinIn) -> Response[CheckinOut]:
        # No pooled connection held here: the writer stores check-ins in batches.
        who = await authenticate_patient(request)
        state = request.app.state
        submitted = await service.submit(
            pool_of(state), state.checkin_writer, who, data, now_of(state)
        )
        return Response(submitted.checkin, status_code=201 if submitted.created else 200)

    @get("/", summary="This patient's check-ins, newest first")
    async def history(
        self,
        request: AnyRequest,
        cursor: str | None = Cursor,
        limit: int = Parameter(default=20, ge=1, le=100),
    ) -> CheckinPage:
        async with patient_request(request) as patient:
            return await service.history(patient.conn, patient.who.patient_id, cursor, limit)

    @get(
        "/trend",
        summary="This patient's pain and fatigue by day, infusion days, change from baseline",
    )
    async def trend(
        self,
        request: AnyRequest,
        days: int = TrendDays,
    ) -> Trend:
        async with patient_request(request) as patient:
            return await service.trend(patient.conn, patient.who.patient_id, days, patient.now)
