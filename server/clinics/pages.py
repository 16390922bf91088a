"""The dashboard's clinic pages: its staff (admins) and its check-in protocol (coordinators read
it, admins change it)."""

from __future__ import annotations

from uuid import UUID

from litestar import Controller, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from server.auth import actions
from server.auth.guards import staff_page
from server.clinics import service
from server.clinics.schemas import NewStaff, ProtocolPatch
from server.dashboard import form_of, form_struct, page
from server.deps import staff_request
from server.web import AnyRequest


class ClinicPages(Controller):
    path = "/"
    guards = [staff_page]

    @get("/staff", guards=[actions.STAFF_MANAGE])
    async def staff(self, request: AnyRequest, done: FromQuery[str | None] = None) -> Template:
        async with staff_request(request) as staff:
            members = await service.list_staff(staff.conn, staff.who.clinic_id)
        return page("staff.html", staff.who, members=members, done=done, active="staff")

    @post("/staff", guards=[actions.STAFF_MANAGE])
    async def add_staff(self, request: AnyRequest) -> Redirect:
        form = await form_of(request)
        new = form_struct(form, NewStaff, ("email", "display_name", "role", "password"))
        async with staff_request(request) as staff:
            await service.add_staff(staff.conn, staff.who, new, staff.now)
        return Redirect("/coordinator/staff?done=staff_added")

    @post("/staff/{coordinator_id:uuid}", guards=[actions.STAFF_MANAGE])
    async def change_staff(self, request: AnyRequest, coordinator_id: FromPath[UUID]) -> Redirect:
        form = await form_of(request)
        async with staff_request(request) as staff:
            await service.change_staff(
                staff.conn, staff.who, coordinator_id, form.get("action", ""), staff.now
            )
        return Redirect("/coordinator/staff?done=staff")

    @get("/protocol", guards=[actions.PROTOCOL_READ])
    async def protocol(self, request: AnyRequest, done: FromQuery[str | None] = None) -> Template:
        async with staff_request(request) as staff:
            current = await service.get_protocol(staff.conn, staff.who.clinic_id)
        return page("protocol.html", staff.who, protocol=current, done=done, active="protocol")

    @post("/protocol", guards=[actions.PROTOCOL_CHANGE])
    async def change_protocol(self, request: AnyRequest) -> Redirect:
        form = await form_of(request)
        patch = form_struct(form, ProtocolPatch, ProtocolPatch.__struct_fields__)
        async with staff_request(request) as staff:
            changed = await service.change_protocol(
                staff.conn, staff.who.clinic_id, staff.who, patch, staff.now
            )
        return Redirect(
            f"/coordinator/protocol?done=protocol&replanned={changed.patients_to_replan}"
        )
