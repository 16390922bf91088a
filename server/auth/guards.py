"""Who is asking: a patient's device or a coordinator. Dependencies for Litestar handlers."""

from __future__ import annotations

from datetime import datetime

from server.auth import store
from server.auth.schemas import CoordinatorPrincipal, PatientPrincipal
from server.auth.tokens import sha256
from server.db import Connection
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


async def provide_patient(request: AnyRequest, conn: Connection, now: datetime) -> PatientPrincipal:
    token = _usable(_bearer(request) or request.cookies.get(DEVICE_COOKIE))
    if token is None:
        raise Unauthorized("this device is not enrolled: open your enrollment link again")
    principal = await store.device_principal(conn, sha256(token), now)
    if principal is None:
        raise Unauthorized("this device is no longer enrolled: ask your clinic for a new link")
    return principal


async def provide_coordinator(
    request: AnyRequest, conn: Connection, now: datetime
) -> CoordinatorPrincipal:
    token = _usable(_bearer(request))
    if token is None:
        raise Unauthorized("sign in, or send an API token as Authorization: Bearer <token>")
    principal = await store.coordinator_principal(conn, sha256(token), now)
    if principal is None:
        raise Unauthorized("this API token is not valid or was revoked")
    return principal
