"""Who is asking: a patient's device or a coordinator.

Patients: handlers call ``authenticate_patient`` first (a plain call, not a Litestar dependency:
dependency resolution costs more than the lookup itself on the hot path, a cached token).
Staff: a Litestar guard on each controller signs the coordinator in (``staff_api`` for the JSON
API, ``staff_page`` for the dashboard's pages), checks the CSRF token of a change made with the
session cookie, and leaves the principal in the scope for ``staff_of``; each handler's own
guard, its action (``server.auth.actions``), then says whether this coordinator may.
"""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.handlers import BaseRouteHandler

from server.auth import sessions, store
from server.auth.cache import DeviceCache
from server.auth.schemas import CoordinatorPrincipal, PatientPrincipal
from server.auth.tokens import sha256
from server.errors import DomainError, Forbidden, Unauthorized
from server.web import AnyRequest

DEVICE_COOKIE = "checkin_device"
MAX_TOKEN_LENGTH = 256


def _bearer(request: AnyRequest) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def _usable(token: str | None) -> str | None:
    if token is None or len(token) > MAX_TOKEN_LENGTH:
        return None
    return token


async def authenticate_patient(request: AnyRequest) -> PatientPrincipal:
    token = _usable(_bearer(request) or request.cookies.get(DEVICE_COOKIE))
    if token is None:
        raise Unauthorized("this device is not enrolled: open your enrollment link again")
    token_hash = sha256(token)
    state = request.app.state
    cache: DeviceCache = state.device_cache
    principal = cache.get(token_hash)
    if principal is not None:
        return principal
    generation = cache.generation
    async with state.pool.acquire() as conn:
        principal = await store.device_principal(conn, token_hash, state.clock())
    if principal is None:
        raise Unauthorized("this device is no longer enrolled: ask your clinic for a new link")
    cache.put(token_hash, principal, generation)
    return principal


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"


class SignInRequired(DomainError):
    """A dashboard page without a signed-in session: answered with a redirect to the sign-in
    page (server/dashboard.py)."""

    status_code = 303
    code = "sign_in_required"


async def staff_api(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard of the coordinator JSON API: an API token (Authorization: Bearer) or the sign-in
    session cookie, whose changes carry the session's CSRF token (header X-CSRF-Token)."""
    request = _http(connection)
    if request.method == "OPTIONS":
        return  # which methods a path takes: nobody's data
    token = _usable(_bearer(request))
    state = request.app.state
    if token is not None:
        async with state.pool.acquire() as conn:
            principal = await store.coordinator_principal(conn, sha256(token), state.clock())
        if principal is None:
            raise Unauthorized("this API token is not valid or was revoked")
    else:
        principal = await session_principal(request)
        if principal is None:
            raise Unauthorized("sign in, or send an API token as Authorization: Bearer <token>")
        if not await _csrf_sent(request, principal):
            raise Forbidden("this change needs the page's CSRF token (X-CSRF-Token header)")
    connection.scope["user"] = principal


async def staff_page(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard of the dashboard's pages: the sign-in session cookie, whose forms carry the
    session's CSRF token (the same rule as the API's, the token in a form field)."""
    request = _http(connection)
    if request.method == "OPTIONS":
        return  # which methods a path takes: nobody's data
    principal = await session_principal(request)
    if principal is None:
        raise SignInRequired(request.url.path)
    if not await _csrf_sent(request, principal):
        raise Forbidden("this form has expired: go back, reload the page and try again")
    connection.scope["user"] = principal


def _http(connection: ASGIConnection[Any, Any, Any, Any]) -> AnyRequest:
    if not isinstance(connection, Request):
        raise TypeError("staff guards are for HTTP requests")
    return connection


async def _csrf_sent(request: AnyRequest, who: CoordinatorPrincipal) -> bool:
    """A reading request, or a change that carries the session's CSRF token: in the
    X-CSRF-Token header (scripts) or the csrf_token field (HTML forms; a JSON body has none).
    A cross-site page can send neither: it cannot set the header or read the token."""
    if request.method in SAFE_METHODS:
        return True
    given = request.headers.get(CSRF_HEADER)
    if given is None:
        given = (await request.form()).get(CSRF_FIELD)
    return sessions.csrf_matches(who.csrf_token, None if given is None else str(given))


def staff_of(connection: ASGIConnection[Any, Any, Any, Any]) -> CoordinatorPrincipal:
    """The coordinator that ``staff_api`` or ``staff_page`` signed in for this request."""
    principal = connection.scope.get("user")
    if not isinstance(principal, CoordinatorPrincipal):
        raise TypeError(f"{connection.url.path} is served without a staff guard")
    return principal


async def session_principal(request: AnyRequest) -> CoordinatorPrincipal | None:
    token = _usable(request.cookies.get(sessions.SESSION_COOKIE))
    if token is None:
        return None
    state = request.app.state
    async with state.pool.acquire() as conn:
        return await sessions.principal(conn, token, state.clock())
