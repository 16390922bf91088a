"""The dashboard's clinic-wide pages: the board with its live updates, the patients list and the
audit trail."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, get
from litestar.params import FromQuery, QueryParameter
from litestar.response import ServerSentEvent, Template
from litestar.response.sse import ServerSentEventMessage

from server.auth import actions
from server.auth.guards import session_principal, staff_of, staff_page
from server.coordinators import board
from server.coordinators.live import BoardHub
from server.coordinators.schemas import PatientFilter
from server.dashboard import convert, page
from server.deps import staff_request
from server.web import AnyRequest

HEARTBEAT_SECONDS = 15.0


def patient_filter(query: dict[str, str]) -> PatientFilter:
    """The list's filters from its form; an empty field means "any", and other parameters
    (such as ?done=) are not filters."""
    wanted: dict[str, Any] = {k: v for k, v in query.items() if v != ""}
    if "has_alert" in wanted:
        wanted["has_alert"] = wanted["has_alert"] in ("1", "on", "true")
    return convert(wanted, PatientFilter)


class BoardPages(Controller):
    path = "/"
    guards = [staff_page]

    @get("/board", guards=[actions.BOARD_VIEW])
    async def board(self, request: AnyRequest, done: FromQuery[str | None] = None) -> Template:
        async with staff_request(request) as staff:
            today = await board.board(
                staff.conn, staff.who.clinic_id, staff.who.coordinator_id, staff.now
            )
        return page("board.html", staff.who, board=today, now=staff.now, done=done)

    @get("/board/events", guards=[actions.BOARD_VIEW])
    async def board_events(self, request: AnyRequest) -> ServerSentEvent:
        who = staff_of(request)
        hub: BoardHub = request.app.state.board_hub

        async def events() -> AsyncGenerator[ServerSentEventMessage, None]:
            async with hub.subscribe(who.clinic_id) as queue:
                yield ServerSentEventMessage(event="ready", data="")
                while True:
                    try:
                        await asyncio.wait_for(queue.get(), timeout=HEARTBEAT_SECONDS)
                        changed = True
                    except TimeoutError:
                        changed = False
                    # The stream lives no longer than the session: signed out, expired or
                    # disabled, it ends (and the page's next read goes to the sign-in page).
                    if await session_principal(request) is None:
                        return
                    if changed:
                        # Only that something changed: the page then reads what it may see.
                        yield ServerSentEventMessage(event="changed", data="")
                    else:
                        yield ServerSentEventMessage(comment="keep-alive")

        return ServerSentEvent(events(), headers={"Cache-Control": "no-store"})

    @get("/patients", guards=[actions.PATIENTS_LIST])
    async def patients(self, request: AnyRequest) -> Template:
        filters = patient_filter(dict(request.query_params))
        async with staff_request(request) as staff:
            listing = await board.patients_page(
                staff.conn, staff.who.clinic_id, staff.who.coordinator_id, filters, staff.now
            )
        query = {k: v for k, v in request.query_params.items() if k != "page" and v != ""}
        return page(
            "patients.html",
            staff.who,
            listing=listing,
            filters=filters,
            query=query,
            now=staff.now,
            active="patients",
        )

    @get("/audit", guards=[actions.AUDIT_VIEW])
    async def audit_view(
        self,
        request: AnyRequest,
        patient: FromQuery[UUID | None] = None,
        staff_member: Annotated[
            UUID | None, QueryParameter(name="staff", description="one staff member's reads")
        ] = None,
        before: Annotated[
            int | None, QueryParameter(ge=1, le=2**62, description="events older than this id")
        ] = None,
    ) -> Template:
        async with staff_request(request) as staff:
            trail = await board.audit_trail(
                staff.conn,
                staff.who.clinic_id,
                staff.who.coordinator_id,
                patient,
                staff_member,
                before,
                staff.now,
            )
        return page(
            "audit.html",
            staff.who,
            trail=trail,
            patient=patient,
            staff_member=staff_member,
            active="audit",
        )
