"""The coordinator dashboard: server-rendered pages under /coordinator/ (Jinja2), signed in with
a session cookie. Every form carries the session's CSRF token; every patient read is audited
by the services it calls."""

from __future__ import annotations

import asyncio
import io
import secrets
from collections.abc import AsyncGenerator, AsyncIterator, Iterable
from contextlib import asynccontextmanager
from datetime import date, datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import urlsplit
from uuid import UUID
from zoneinfo import ZoneInfo

import msgspec
import segno
from litestar import Controller, Response, get, post
from litestar.datastructures import Cookie
from litestar.params import Parameter
from litestar.response import Redirect, ServerSentEvent, Template
from litestar.response.sse import ServerSentEventMessage
from markupsafe import Markup

from server.auth import sessions, throttle
from server.auth.guards import session_principal
from server.auth.schemas import CoordinatorPrincipal
from server.checkins import service as checkins
from server.checkins.schemas import Trend
from server.clinics import service as clinics
from server.clinics.schemas import NewStaff, ProtocolPatch
from server.coordinators import service as coordinators
from server.coordinators.live import BoardHub
from server.coordinators.schemas import PatientFilter
from server.deps import (
    StaffRequest,
    client_address,
    now_of,
    pool_of,
    settings_of,
    staff_connection,
)
from server.errors import DomainError, Forbidden, Invalid
from server.patients import service as patients
from server.patients.schemas import ProfilePatch
from server.reminders import service as reminders
from server.schedule import infusions as schedule
from server.schedule.schemas import InfusionChange, NewInfusion
from server.web import AnyRequest

T = TypeVar("T")
SIGN_IN_CSRF_COOKIE = "checkin_sign_in"
BEFORE_EVENT = Parameter(default=None, ge=1, le=2**62, description="events older than this id")
STAFF_FILTER = Parameter(query="staff", default=None, description="one staff member's reads")
HEARTBEAT_SECONDS = 15.0


class SignInRequired(DomainError):
    """Answered with a redirect to the sign-in page (server/errors.py)."""

    status_code = 303
    code = "sign_in_required"


@asynccontextmanager
async def staff_page(request: AnyRequest) -> AsyncIterator[StaffRequest]:
    """The signed-in coordinator and one pooled connection; audit events record the address."""
    who = await session_principal(request)
    if who is None:
        raise SignInRequired(request.url.path)
    state = request.app.state
    async with staff_connection(request) as conn:
        yield StaffRequest(who, conn, now_of(state), settings_of(state))


async def form_of(request: AnyRequest, who: CoordinatorPrincipal) -> dict[str, str]:
    """The posted form, once its CSRF token matches the session's."""
    form = await request.form()
    fields = {key: str(value) for key, value in form.items()}
    if not sessions.csrf_matches(who.csrf_token, fields.get("csrf_token")):
        raise Forbidden("this form has expired: go back, reload the page and try again")
    return fields


# What the page says after a change (?done=<code>): fixed words, so a link cannot make the
# dashboard say anything else.
DONE = {
    "nudged": "Reminder queued.",
    "acknowledged": "Alert acknowledged.",
    "scheduled": "Infusion scheduled.",
    "infusion": "Infusion updated.",
    "settings": "Settings saved.",
    "discharged": "Patient discharged.",
    "staff_added": "Coordinator added.",
    "staff": "Saved.",
    "protocol": "Protocol saved; every patient's plan follows it within a minute.",
}


def page(name: str, who: CoordinatorPrincipal | None, **context: Any) -> Template:
    context["done"] = DONE.get(context.get("done") or "")
    return Template(
        template_name=f"coordinator/{name}",
        context={"who": who, "csrf_token": who.csrf_token if who else None, **context},
    )


def safe_next(target: str | None) -> str:
    """Only a path on this site (no scheme, no host, no protocol-relative //)."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return "/coordinator/board"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/coordinator/"):
        return "/coordinator/board"
    return target


def sign_in_page(
    request: AnyRequest,
    next_page: str | None,
    refused: sessions.Refused | None = None,
    email: str = "",
) -> Template:
    """The sign-in form with a fresh token, also in a cookie: the post must bring both."""
    token = secrets.token_urlsafe(32)
    response = page(
        "sign_in.html",
        None,
        sign_in_token=token,
        next=safe_next(next_page),
        error=refused.message if refused else None,
        email=email,
    )
    if refused is not None:
        response.status_code = refused.status_code
        if refused.retry_after is not None:
            response.headers["Retry-After"] = str(refused.retry_after)
    response.cookies.append(
        Cookie(
            key=SIGN_IN_CSRF_COOKIE,
            value=token,
            path="/coordinator/",
            httponly=True,
            samesite="strict",
            secure=settings_of(request.app.state).secure_cookies,
        )
    )
    return response


class DashboardController(Controller):
    path = "/coordinator"
    include_in_schema = False

    @get("/")
    async def home(self) -> Redirect:
        return Redirect("/coordinator/board")

    @get("/sign-in")
    async def sign_in_form(self, request: AnyRequest, next: str | None = None) -> Template:
        return sign_in_page(request, next)

    @post("/sign-in")
    async def sign_in(self, request: AnyRequest) -> Response[Any]:
        form = {key: str(value) for key, value in (await request.form()).items()}
        expected = request.cookies.get(SIGN_IN_CSRF_COOKIE)
        if not sessions.csrf_matches(expected, form.get("csrf_token")):
            raise Forbidden("the sign-in form has expired: reload the page and try again")
        state = request.app.state
        settings = settings_of(state)
        async with pool_of(state).acquire() as conn:
            outcome = await sessions.sign_in(
                conn,
                form.get("email", ""),
                form.get("password", ""),
                client_address(request) or None,
                now_of(state),
                throttle.Limit(
                    sessions.SIGN_IN_WINDOW_SECONDS,
                    settings.sign_in_max_failures_per_client,
                    settings.sign_in_max_failures_global,
                ),
                request.cookies.get(sessions.DEVICE_COOKIE),
            )
        if isinstance(outcome, sessions.Refused):
            return sign_in_page(request, form.get("next"), outcome, form.get("email", ""))
        cookies = [
            Cookie(
                key=sessions.SESSION_COOKIE,
                value=outcome.token,
                path="/",
                httponly=True,
                samesite="strict",
                secure=settings.secure_cookies,
            ),
            Cookie(key=SIGN_IN_CSRF_COOKIE, value="", path="/coordinator/", max_age=0),
        ]
        if outcome.device_token:  # a browser new to the account
            cookies.append(
                Cookie(
                    key=sessions.DEVICE_COOKIE,
                    value=outcome.device_token,
                    path="/coordinator/sign-in",
                    max_age=sessions.KNOWN_DEVICE_DAYS * 86400,
                    httponly=True,
                    samesite="strict",
                    secure=settings.secure_cookies,
                )
            )
        return Redirect(safe_next(form.get("next")), cookies=cookies)

    @post("/sign-out")
    async def sign_out(self, request: AnyRequest) -> Redirect:
        async with staff_page(request) as staff:
            await form_of(request, staff.who)
            token = request.cookies.get(sessions.SESSION_COOKIE, "")
            await sessions.sign_out(staff.conn, token, staff.now)
        return Redirect(
            "/coordinator/sign-in",
            cookies=[Cookie(key=sessions.SESSION_COOKIE, value="", path="/", max_age=0)],
        )

    @get("/board")
    async def board(self, request: AnyRequest, done: str | None = None) -> Template:
        async with staff_page(request) as staff:
            board = await coordinators.board(
                staff.conn, staff.who.clinic_id, staff.who.coordinator_id, staff.now
            )
        return page("board.html", staff.who, board=board, now=staff.now, done=done)

    @get("/board/events")
    async def board_events(self, request: AnyRequest) -> ServerSentEvent:
        who = await session_principal(request)
        if who is None:
            raise SignInRequired(request.url.path)
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

    @post("/patients/{patient_id:uuid}/nudge")
    async def nudge(self, request: AnyRequest, patient_id: UUID) -> Redirect:
        async with staff_page(request) as staff:
            form = await form_of(request, staff.who)
            await reminders.nudge(
                staff.conn, staff.who.clinic_id, staff.who.coordinator_id, patient_id, staff.now
            )
        return Redirect(f"{safe_next(form.get('back'))}?done=nudged")

    @post("/alerts/{alert_id:uuid}/acknowledge")
    async def acknowledge(self, request: AnyRequest, alert_id: UUID) -> Redirect:
        async with staff_page(request) as staff:
            form = await form_of(request, staff.who)
            await coordinators.acknowledge(
                staff.conn,
                staff.who.clinic_id,
                staff.who.coordinator_id,
                alert_id,
                form.get("note", ""),
                staff.now,
            )
        return Redirect(f"{safe_next(form.get('back'))}?done=acknowledged")

    @get("/patients")
    async def patients(self, request: AnyRequest) -> Template:
        filters = patient_filter(dict(request.query_params))
        async with staff_page(request) as staff:
            listing = await coordinators.patients_page(
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

    @get("/patients/{patient_id:uuid}")
    async def patient(
        self, request: AnyRequest, patient_id: UUID, done: str | None = None
    ) -> Template:
        async with staff_page(request) as staff:
            ids = (staff.who.clinic_id, staff.who.coordinator_id, patient_id)
            detail = await patients.patient_detail(staff.conn, *ids, staff.now)
            trend = await checkins.trend_for_staff(staff.conn, *ids, 180, staff.now)
            history = await checkins.history_for_staff(staff.conn, *ids, None, 30, staff.now)
            infusions = await schedule.list_sessions(staff.conn, *ids, staff.now)
            windows = await reminders.windows(staff.conn, *ids, None, 20, staff.now)
            after_infusions = await schedule.side_effects(staff.conn, *ids, staff.now)
        tz = staff.who.clinic_timezone
        return page(
            "patient.html",
            staff.who,
            patient=detail,
            trend=trend,
            chart=chart(trend, tz),
            history=history,
            infusions=infusions,
            windows=windows,
            after_infusions=after_infusions,
            now=staff.now,
            done=done,
            active="patients",
        )

    @post("/patients/{patient_id:uuid}/infusions")
    async def add_infusion(self, request: AnyRequest, patient_id: UUID) -> Redirect:
        async with staff_page(request) as staff:
            form = await form_of(request, staff.who)
            at = local_time(form.get("scheduled_at", ""), staff.who.clinic_timezone)
            await schedule.schedule_session(
                staff.conn,
                staff.who.clinic_id,
                staff.who.coordinator_id,
                patient_id,
                NewInfusion(scheduled_at=at),
                staff.now,
            )
        return Redirect(f"/coordinator/patients/{patient_id}?done=scheduled")

    @post("/patients/{patient_id:uuid}/infusions/{session_id:uuid}")
    async def change_infusion(
        self, request: AnyRequest, patient_id: UUID, session_id: UUID
    ) -> Redirect:
        async with staff_page(request) as staff:
            form = await form_of(request, staff.who)
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
            await schedule.change_session(
                staff.conn,
                staff.who.clinic_id,
                staff.who.coordinator_id,
                patient_id,
                session_id,
                change,
                staff.now,
            )
        return Redirect(f"/coordinator/patients/{patient_id}?done=infusion")

    @post("/patients/{patient_id:uuid}/settings")
    async def patient_settings(self, request: AnyRequest, patient_id: UUID) -> Redirect:
        async with staff_page(request) as staff:
            form = await form_of(request, staff.who)
            await patients.update_settings_for_staff(
                staff.conn,
                staff.who.clinic_id,
                staff.who.coordinator_id,
                patient_id,
                settings_patch(form, staff.now),
                staff.now,
            )
        return Redirect(f"/coordinator/patients/{patient_id}?done=settings")

    @post("/patients/{patient_id:uuid}/discharge")
    async def discharge(self, request: AnyRequest, patient_id: UUID) -> Redirect:
        async with staff_page(request) as staff:
            form = await form_of(request, staff.who)
            if form.get("confirm") != "yes":
                raise Invalid.field("confirm", "tick the box to confirm the discharge")
            await patients.discharge(
                staff.conn, staff.who.clinic_id, staff.who.coordinator_id, patient_id, staff.now
            )
        return Redirect(f"/coordinator/patients/{patient_id}?done=discharged")

    @post("/patients/{patient_id:uuid}/enrollment-code")
    async def enrollment_code(self, request: AnyRequest, patient_id: UUID) -> Template:
        async with staff_page(request) as staff:
            await form_of(request, staff.who)
            created = await patients.new_code(
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

    @get("/staff")
    async def staff(self, request: AnyRequest, done: str | None = None) -> Template:
        async with staff_page(request) as staff:
            members = await clinics.list_staff(staff.conn, staff.who)
        return page("staff.html", staff.who, members=members, done=done, active="staff")

    @post("/staff")
    async def add_staff(self, request: AnyRequest) -> Redirect:
        async with staff_page(request) as staff:
            form = await form_of(request, staff.who)
            new = form_struct(form, NewStaff, ("email", "display_name", "role", "password"))
            await clinics.add_staff(staff.conn, staff.who, new, staff.now)
        return Redirect("/coordinator/staff?done=staff_added")

    @post("/staff/{coordinator_id:uuid}")
    async def change_staff(self, request: AnyRequest, coordinator_id: UUID) -> Redirect:
        async with staff_page(request) as staff:
            form = await form_of(request, staff.who)
            await clinics.change_staff(
                staff.conn, staff.who, coordinator_id, form.get("action", ""), staff.now
            )
        return Redirect("/coordinator/staff?done=staff")

    @get("/protocol")
    async def protocol(self, request: AnyRequest, done: str | None = None) -> Template:
        async with staff_page(request) as staff:
            if staff.who.role != "admin":
                raise Forbidden("only the clinic's admins change its protocol")
            current = await clinics.get_protocol(staff.conn, staff.who.clinic_id)
        return page("protocol.html", staff.who, protocol=current, done=done, active="protocol")

    @post("/protocol")
    async def change_protocol(self, request: AnyRequest) -> Redirect:
        async with staff_page(request) as staff:
            form = await form_of(request, staff.who)
            patch = form_struct(form, ProtocolPatch, ProtocolPatch.__struct_fields__)
            changed = await clinics.change_protocol(
                staff.conn, staff.who.clinic_id, staff.who, patch, staff.now
            )
        return Redirect(
            f"/coordinator/protocol?done=protocol&replanned={changed.patients_to_replan}"
        )

    @get("/audit")
    async def audit_view(
        self,
        request: AnyRequest,
        patient: UUID | None = None,
        staff_member: UUID | None = STAFF_FILTER,
        before: int | None = BEFORE_EVENT,
    ) -> Template:
        async with staff_page(request) as staff:
            if staff.who.role != "admin":
                raise Forbidden("only the clinic's admins see the audit trail")
            trail = await coordinators.audit_trail(
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


def chart(trend: Trend, tz: str) -> dict[str, Any]:
    """The patient page's SVG chart as coordinates: pain, fatigue and PEG-3 by day on 0-10, the
    infusion days, and the baseline band (from the baseline down to 30% better, the line of a
    meaningful improvement)."""
    width, height, left, right, top, bottom = 720, 240, 32, 12, 12, 28
    # From the first answer or infusion in the range, so a new patient's weeks fill the width.
    dates = [d.date for d in trend.days] + [i.date for i in trend.infusions]
    first, last = (min(dates) if dates else trend.since), trend.until
    span = max(1, (last - first).days)

    def x(day: date) -> float:
        return round(left + (day - first).days / span * (width - left - right), 1)

    def y(value: float) -> float:
        return round(top + (1 - value / 10) * (height - top - bottom), 1)

    series = []
    for key, label, colour, dash, gap in SERIES:
        # A line only between answers at most `gap` days apart: missed days are not drawn as if
        # answered. An answer alone between gaps is a dot.
        runs: list[list[tuple[float, float]]] = []
        previous: date | None = None
        for day_ in trend.days:
            value = getattr(day_, key)
            if value is None:
                continue
            if previous is None or (day_.date - previous).days > gap:
                runs.append([])
            runs[-1].append((x(day_.date), y(value)))
            previous = day_.date
        series.append({"key": key, "label": label, "colour": colour, "dash": dash, "runs": runs})
    band = None
    if trend.outcome is not None:
        base = trend.outcome.baseline
        band = {"y1": y(base), "y2": y(base * 0.7), "baseline": base}
    return {
        "width": width,
        "height": height,
        "left": left,
        "right": width - right,
        "bottom": height - bottom,
        "ticks": [{"value": v, "y": y(v)} for v in (0, 5, 10)],
        "series": series,
        "infusions": [
            {"x": x(i.date), "date": i.date, "status": i.status} for i in trend.infusions
        ],
        "band": band,
        "first": first,
        "last": last,
    }


SERIES = [  # key, label, colour, dash, longest gap (days) still joined by a line
    ("pain", "Pain now", "#a4161a", "", 1),
    ("fatigue", "Fatigue", "#1d4e89", "6 4", 1),
    ("peg", "PEG-3 (weekly)", "#6b3fa0", "2 3", 8),
]


def patient_filter(query: dict[str, str]) -> PatientFilter:
    """The list's filters from its form; an empty field means "any", and other parameters
    (such as ?done=) are not filters."""
    wanted: dict[str, Any] = {k: v for k, v in query.items() if v != ""}
    if "has_alert" in wanted:
        wanted["has_alert"] = wanted["has_alert"] in ("1", "on", "true")
    return convert(wanted, PatientFilter)


def form_struct(form: dict[str, str], type_: type[T], fields: Iterable[str]) -> T:
    """Named fields of a posted form as a Struct; an empty field is left out."""
    return convert({name: form[name] for name in fields if form.get(name, "") != ""}, type_)


def convert(wanted: dict[str, Any], type_: type[T]) -> T:
    """Form values as a Struct, or a 422 naming the field that is wrong."""
    try:
        return msgspec.convert(wanted, type_, strict=False)
    except msgspec.ValidationError as exc:
        field = str(exc).rpartition("$.")[2].rstrip("`").split(".")[0].split("[")[0] or "form"
        raise Invalid.field(field, "is missing or not valid") from None


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


def local_time(text: str, tz: str) -> datetime:
    """A datetime-local field ("2026-12-01T09:30") as that wall-clock time in the clinic."""
    try:
        naive = datetime.fromisoformat(text)
    except ValueError:
        raise Invalid.field("scheduled_at", "must be a date and time") from None
    if naive.tzinfo is not None:
        return naive
    return naive.replace(tzinfo=ZoneInfo(tz))


def qr_svg(link: str) -> Markup:
    """The enrollment link as a QR code, drawn on the server (segno: a pure-Python encoder)."""
    buffer = io.BytesIO()
    segno.make(link, error="m").save(
        buffer, kind="svg", scale=4, border=2, xmldecl=False, title="Enrollment QR code"
    )
    # segno's own SVG of our own link: markup we made, not text from anyone.
    return Markup(buffer.getvalue().decode())  # noqa: S704
