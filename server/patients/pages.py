"""The dashboard's patient page, and what a coordinator changes from it: the patient's settings,
a discharge, a new enrollment code sheet."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from litestar import Controller, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from server.auth import actions
from server.auth.guards import staff_page
from server.checkins import service as checkins
from server.coordinators.charts import chart
from server.dashboard import convert, form_of, page
from server.deps import staff_request
from server.errors import Invalid
from server.patients import service
from server.patients.qr import qr_svg
from server.patients.schemas import ProfilePatch
from server.reminders import service as reminders
from server.schedule import infusions
from server.web import AnyRequest


def settings_patch(form: dict[str, str], now: datetime) -> ProfilePatch:
    """The patient settings form as a change: empty quiet hours clear them, a pause of N days
    runs from now (0 resumes reminders)."""
    wanted: dict[str, Any] = {
        "reminder_time": form.get("reminder_time", ""),
        "language": form.get("language", ""),
        "timezone": form.get("timezone", ""),
    }
    wanted = {k: v for k, v in wanted.items() if v}
    start, end = form.get("quiet_start", ""), form.get("quiet_end", "")
    wanted["quiet_hours"] = {"start": start, "end": end} if start or end else None
    pause = form.get("pause_days", "")
    if pause:
        if not pause.isdigit() or int(pause) > 180:
            raise Invalid.field("pause_days", "must be a number of days from 0 to 180")
        days = int(pause)
        wanted["reminders_paused_until"] = (
            (now + timedelta(days=days)).isoformat() if days else None
        )
    return convert(wanted, ProfilePatch)


class PatientPages(Controller):
    path = "/patients/{patient_id:uuid}"
    guards = [staff_page]

    @get("/", guards=[actions.PATIENT_READ])
    async def patient(
        self, request: AnyRequest, patient_id: FromPath[UUID], done: FromQuery[str | None] = None
    ) -> Template:
        async with staff_request(request) as staff:
            ids = (staff.who.clinic_id, staff.who.coordinator_id, patient_id)
            detail = await service.patient_detail(staff.conn, *ids, staff.now)
            trend = await checkins.trend_for_staff(staff.conn, *ids, 180, staff.now)
            history = await checkins.history_for_staff(staff.conn, *ids, None, 30, staff.now)
            sessions = await infusions.list_sessions(staff.conn, *ids, staff.now)
            windows = await reminders.windows(staff.conn, *ids, None, 20, staff.now)
            after_infusions = await infusions.side_effects(staff.conn, *ids, staff.now)
        return page(
            "patient.html",
            staff.who,
            patient=detail,
            trend=trend,
            chart=chart(trend),
            history=history,
            infusions=sessions,
            windows=windows,
            after_infusions=after_infusions,
            now=staff.now,
            done=done,
            active="patients",
        )

    @post("/settings", guards=[actions.PATIENT_SETTINGS])
    async def patient_settings(self, request: AnyRequest, patient_id: FromPath[UUID]) -> Redirect:
        form = await form_of(request)
        async with staff_request(request) as staff:
            await service.update_settings_for_staff(
                staff.conn,
                staff.who.clinic_id,
                staff.who.coordinator_id,
                patient_id,
                settings_patch(form, staff.now),
                staff.now,
            )
        return Redirect(f"/coordinator/patients/{patient_id}?done=settings")

    @post("/discharge", guards=[actions.PATIENT_DISCHARGE])
    async def discharge(self, request: AnyRequest, patient_id: FromPath[UUID]) -> Redirect:
        form = await form_of(request)
        if form.get("confirm") != "yes":
            raise Invalid.field("confirm", "tick the box to confirm the discharge")
        async with staff_request(request) as staff:
            await service.discharge(
                staff.conn, staff.who.clinic_id, staff.who.coordinator_id, patient_id, staff.now
            )
        return Redirect(f"/coordinator/patients/{patient_id}?done=discharged")

    @post("/enrollment-code", guards=[actions.ENROLLMENT_CODE])
    async def enrollment_code(self, request: AnyRequest, patient_id: FromPath[UUID]) -> Template:
        async with staff_request(request) as staff:
            created = await service.new_code(
                staff.conn,
                staff.settings,
                staff.who.clinic_id,
                patient_id,
                actor_kind="coordinator",
                actor_id=staff.who.coordinator_id,
                now=staff.now,
            )
        return page(
            "enrollment.html",
            staff.who,
            created=created,
            qr=qr_svg(created.enrollment_link),
            active="patients",
        )
