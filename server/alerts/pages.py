"""The dashboard's acknowledgement of an alert, from the board or the patient page."""

from __future__ import annotations

from uuid import UUID

from litestar import Controller, post
from litestar.params import FromPath
from litestar.response import Redirect

from server.alerts import service
from server.auth import actions
from server.auth.guards import staff_page
from server.dashboard import form_of, safe_next
from server.deps import staff_request
from server.web import AnyRequest


class AlertPages(Controller):
    path = "/alerts"
    guards = [staff_page]

    @post("/{alert_id:uuid}/acknowledge", guards=[actions.ALERT_ACKNOWLEDGE])
    async def acknowledge(self, request: AnyRequest, alert_id: FromPath[UUID]) -> Redirect:
        form = await form_of(request)
        async with staff_request(request) as staff:
            await service.acknowledge(
                staff.conn,
                staff.who.clinic_id,
                staff.who.coordinator_id,
                alert_id,
                form.get("note", ""),
                staff.now,
            )
        return Redirect(f"{safe_next(form.get('back'))}?done=acknowledged")
