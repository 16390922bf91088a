"""Readiness for load balancers and orchestrators (liveness is /healthz, in server/app.py)."""

from __future__ import annotations

from litestar import MediaType, Response, get
from litestar.datastructures import State
from litestar.openapi import ResponseSpec

from server.observability import service
from server.observability.schemas import Readiness


@get(
    "/readyz",
    tags=["operations"],
    summary="200 when this replica may take traffic: the database answers and is migrated",
    description=(
        "503 while the database does not answer, has migrations pending, or has migrations "
        "this code does not know. The reminder dispatcher is not part of readiness: its "
        "health is a metric (checkin_dispatcher_last_pass_timestamp_seconds, "
        "checkin_reminder_dispatch_lag_seconds)."
    ),
    responses={503: ResponseSpec(Readiness, description="Not ready; the body says why")},
)
async def readyz(state: State) -> Response[Readiness]:
    readiness = await service.readiness(state.pool)
    status_code = 200 if readiness.status == "ready" else 503
    return Response(readiness, status_code=status_code, media_type=MediaType.JSON)
