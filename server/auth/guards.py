"""Who is asking: a patient's device or a coordinator. Handlers call these first.

Plain calls, not Litestar dependencies: dependency resolution costs more than the lookup
itself on the hot path (a cached token).
"""

from __future__ import annotations

from server.auth import store
from server.auth.cache import DeviceCache
from server.auth.schemas import CoordinatorPrincipal, PatientPrincipal
from server.auth.tokens import sha256
from server.errors import Unauthorized
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


async def authenticate_coordinator(request: AnyRequest) -> CoordinatorPrincipal:
    token = _usable(_bearer(request))
    if token is None:
        raise Unauthorized("sign in, or send an API token as Authorization: Bearer <token>")
    state = request.app.state
    async with state.pool.acquire() as conn:
        principal = await store.coordinator_principal(conn, sha256(token), state.clock())
    if principal is None:
        raise Unauthorized("this API token is not valid or was revoked")
    return principal
