"""The coordinator dashboard: server-rendered pages under /coordinator/ (Jinja2), signed in with
a session cookie. Every form carries the session's CSRF token; every patient read is audited
by the services it calls."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlsplit
from uuid import UUID

import msgspec
from litestar import Controller, Response, get, post
from litestar.datastructures import Cookie
from litestar.response import Redirect, ServerSentEvent, Template
from litestar.response.sse import ServerSentEventMessage

from server.auth import sessions
from server.auth.guards import session_principal
from server.auth.schemas import CoordinatorPrincipal
from server.coordinators import service as coordinators
from server.coordinators.live import BoardHub
from server.db import Connection
from server.deps import client_address, now_of, pool_of, settings_of, staff_connection
from server.errors import DomainError, Forbidden
from server.reminders import service as reminders
from server.settings import Settings
from server.web import AnyRequest

SIGN_IN_CSRF_COOKIE = "checkin_sign_in"
HEARTBEAT_SECONDS = 15.0


class SignInRequired(DomainError):
    """Answered with a redirect to the sign-in page (server/errors.py)."""

    status_code = 303
    code = "sign_in_required"


class Page(msgspec.Struct, frozen=True):
    who: CoordinatorPrincipal
    conn: Connection
    now: datetime
    settings: Settings


@asynccontextmanager
async def staff_page(request: AnyRequest) -> AsyncIterator[Page]:
    """The signed-in coordinator and one pooled connection; audit events record the address."""
    who = await session_principal(request)
    if who is None:
        raise SignInRequired(request.url.path)
    state = request.app.state
    async with staff_connection(request) as conn:
        yield Page(who, conn, now_of(state), settings_of(state))


async def form_of(request: AnyRequest, who: CoordinatorPrincipal) -> dict[str, str]:
    """The posted form, once its CSRF token matches the session's."""
    form = await request.form()
    fields = {key: str(value) for key, value in form.items()}
    if not sessions.csrf_matches(who.csrf_token, fields.get("csrf_token")):
        raise Forbidden("this form has expired: go back, reload the page and try again")
    return fields


def page(name: str, who: CoordinatorPrincipal | None, **context: Any) -> Template:
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
            )
        if isinstance(outcome, sessions.Refused):
            return sign_in_page(request, form.get("next"), outcome, form.get("email", ""))
        return Redirect(
            safe_next(form.get("next")),
            cookies=[
                Cookie(
                    key=sessions.SESSION_COOKIE,
                    value=outcome.token,
                    path="/",
                    httponly=True,
                    samesite="strict",
                    secure=settings.secure_cookies,
                ),
                Cookie(key=SIGN_IN_CSRF_COOKIE, value="", path="/coordinator/", max_age=0),
            ],
        )

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
                    except TimeoutError:
                        yield ServerSentEventMessage(comment="keep-alive")
                        continue
                    # Only that something changed: the page then fetches what it may see.
                    yield ServerSentEventMessage(event="changed", data="")

        return ServerSentEvent(events(), headers={"Cache-Control": "no-store"})

    @post("/patients/{patient_id:uuid}/nudge")
    async def nudge(self, request: AnyRequest, patient_id: UUID) -> Redirect:
        async with staff_page(request) as staff:
            form = await form_of(request, staff.who)
            await reminders.nudge(
                staff.conn, staff.who.clinic_id, staff.who.coordinator_id, patient_id, staff.now
            )
        return Redirect(f"{safe_next(form.get('back'))}?done={quote('Reminder queued')}")

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
        return Redirect(f"{safe_next(form.get('back'))}?done={quote('Alert acknowledged')}")
