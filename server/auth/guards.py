"""Who is asking: a patient's device or a coordinator. Handlers call these first.

Plain calls, not Litestar dependencies: dependency resolution costs more than the lookup
itself on the hot path (a cached token).
"""

from __future__ import annotations

from server.auth import sessions, store
from server.auth.cache import DeviceCache
from server.auth.schemas import CoordinatorPrincipal, PatientPrincipal
from server.auth.tokens import sha256
from server.errors import Forbidden, Unauthorized
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


async def authenticate_coordinator(request: AnyRequest) -> CoordinatorPrincipal:
    """An API token (Authorization: Bearer) or the sign-in session cookie. A change made with
    the cookie must also carry the session's CSRF token (header X-CSRF-Token; the HTML forms
    send it as a field, checked by their handlers)."""
    token = _usable(_bearer(request))
    state = request.app.state
    if token is not None:
        async with state.pool.acquire() as conn:
            principal = await store.coordinator_principal(conn, sha256(token), state.clock())
        if principal is None:
            raise Unauthorized("this API token is not valid or was revoked")
        return principal
    principal = await session_principal(request)
    if principal is None:
        raise Unauthorized("sign in, or send an API token as Authorization: Bearer <token>")
    changes = request.method not in SAFE_METHODS and request.url.path.startswith("/api/")
    if changes and not sessions.csrf_matches(
        principal.csrf_token, request.headers.get(CSRF_HEADER)
    ):
        raise Forbidden("this change needs the page's CSRF token (X-CSRF-Token header)")
    return principal


async def session_principal(request: AnyRequest) -> CoordinatorPrincipal | None:
    token = _usable(request.cookies.get(sessions.SESSION_COOKIE))
    if token is None:
        return None
    state = request.app.state
    async with state.pool.acquire() as conn:
        return await sessions.principal(conn, token, state.clock())
