"""The dashboard's sign-in and sign-out pages."""

from __future__ import annotations

import secrets
from typing import Any

from litestar import Controller, Response, get, post
from litestar.datastructures import Cookie
from litestar.params import FromQuery
from litestar.response import Redirect, Template

from server.auth import actions, sessions, throttle
from server.auth.guards import staff_page
from server.dashboard import form_of, page, safe_next
from server.deps import client_address, now_of, pool_of, settings_of, staff_request
from server.errors import Forbidden
from server.web import AnyRequest

SIGN_IN_CSRF_COOKIE = "checkin_sign_in"


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


class SignInPages(Controller):
    path = "/"

    @get("/")
    async def home(self) -> Redirect:
        return Redirect("/coordinator/board")

    @get("/sign-in")
    async def sign_in_form(
        self, request: AnyRequest, next: FromQuery[str | None] = None
    ) -> Template:
        return sign_in_page(request, next)

    @post("/sign-in")
    async def sign_in(self, request: AnyRequest) -> Response[Any]:
        # Not signed in yet, so no session token: the form's own token, also in a cookie.
        form = await form_of(request)
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

    @post("/sign-out", guards=[staff_page, actions.SIGN_OUT])
    async def sign_out(self, request: AnyRequest) -> Redirect:
        async with staff_request(request) as staff:
            token = request.cookies.get(sessions.SESSION_COOKIE, "")
            await sessions.sign_out(staff.conn, token, staff.now)
        return Redirect(
            "/coordinator/sign-in",
            cookies=[Cookie(key=sessions.SESSION_COOKIE, value="", path="/", max_age=0)],
        )
