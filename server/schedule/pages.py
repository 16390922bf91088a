"""The dashboard's infusion schedule forms on the patient page."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID
from zoneinfo import ZoneInfo

from litestar import Controller, post
from litestar.params import FromPath
from litestar.response import Redirect

from server.auth import actions
from server.auth.guards import staff_page
from server.dashboard import form_of
from server.deps import staff_request
from server.errors import Invalid
from server.schedule import infusions
from server.schedule.schemas import InfusionChange, NewInfusion
from server.schedule.windows import local_instant
from server.web import AnyRequest


def local_time(text: str, tz: str) -> datetime:
    """A datetime-local field ("2026-12-01T09:30") as that wall-clock time in the clinic: a time
    the clocks skip moves forward, one they show twice is the first (server/schedule/windows.py)."""
    try:
        wall = datetime.fromisoformat(text)
    except ValueError:
        raise Invalid.field("scheduled_at", "must be a date and time") from None
    if wall.tzinfo is not None:
        return wall
    return local_instant(wall.date(), wall.time(), ZoneInfo(tz))


class InfusionPages(Controller):
    path = "/patients/{patient_id:uuid}/infusions"
    guards = [staff_page]

    @post("/", guards=[actions.INFUSION_SCHEDULE])
    async def add_infusion(self, request: AnyRequest, patient_id: FromPath[UUID]) -> Redirect:
        form = await form_of(request)
        async with staff_request(request) as staff:
            at = local_time(form.get("scheduled_at", ""), staff.who.clinic_timezone)
            await infusions.schedule_session(
                staff.conn,
                staff.who.clinic_id,
                staff.who.coordinator_id,
                patient_id,
                NewInfusion(scheduled_at=at),
                staff.now,
            )
        return Redirect(f"/coordinator/patients/{patient_id}?done=scheduled")

    @post("/{session_id:uuid}", guards=[actions.INFUSION_CHANGE])
    async def change_infusion(
        self, request: AnyRequest, patient_id: FromPath[UUID], session_id: FromPath[UUID]
    ) -> Redirect:
        form = await form_of(request)
        async with staff_request(request) as staff:
            action = form.get("action")
            if action == "reschedule":
                at = local_time(form.get("scheduled_at", ""), staff.who.clinic_timezone)
                change = InfusionChange(scheduled_at=at)
            elif action == "completed":
                change = InfusionChange(status="completed")
            elif action == "cancelled":
                change = InfusionChange(status="cancelled")
            else:
                raise Invalid.field("action", "must be reschedule, completed or cancelled")
            await infusions.change_session(
                staff.conn,
                staff.who.clinic_id,
                staff.who.coordinator_id,
                patient_id,
                session_id,
                change,
                staff.now,
            )
        return Redirect(f"/coordinator/patients/{patient_id}?done=infusion")
