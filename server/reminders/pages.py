"""The dashboard's "remind now" button."""

from __future__ import annotations

from uuid import UUID

from litestar import Controller, post
from litestar.params import FromPath
from litestar.response import Redirect

from server.auth import actions
from server.auth.guards import staff_page
from server.dashboard import form_of, safe_next
from server.deps import staff_request
from server.reminders import service
from server.web import AnyRequest


class ReminderPages(Controller):
    path = "/patients/{patient_id:uuid}"
    guards = [staff_page]

    @post("/nudge", guards=[actions.NUDGE])
    async def nudge(self, request: AnyRequest, patient_id: FromPath[UUID]) -> Redirect:
        form = await form_of(request)
        async with staff_request(request) as staff:
            await service.nudge(
                staff.conn, staff.who.clinic_id, staff.who.coordinator_id, patient_id, staff.now
            )
        return Redirect(f"{safe_next(form.get('back'))}?done=nudged")
