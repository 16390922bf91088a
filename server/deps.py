"""The app's shared parts, read from ``State`` by handlers.

Not Litestar dependencies: resolving dependencies (a task group per batch) cost a fifth of a
check-in's CPU. Who is asking comes from ``server.auth.guards``: patients' handlers call it,
staff controllers carry its guards.
"""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime

import msgspec
from litestar.datastructures import State

from server import audit
from server.auth.guards import authenticate_patient, staff_of
from server.auth.schemas import CoordinatorPrincipal, PatientPrincipal
from server.db import Connection, Pool
from server.settings import Settings
from server.web import AnyRequest


def now_of(state: State) -> datetime:
    """The request's clock reading: the one place handlers learn the time."""
    now: datetime = state.clock()
    return now


def settings_of(state: State) -> Settings:
    settings: Settings = state.settings
    return settings


def pool_of(state: State) -> Pool:
    pool: Pool = state.pool
    return pool


def client_host(request: AnyRequest) -> str | None:
    return request.client.host if request.client else None


def client_address(request: AnyRequest) -> str:
    """The client's IP address as PostgreSQL's inet takes it, or "" when there is none."""
    host = client_host(request)
    try:
        return str(ipaddress.ip_address(host)) if host else ""
    except ValueError:
        return ""


class StaffRequest(msgspec.Struct, frozen=True):
    """A coordinator's request: who, a pooled connection, the time, the settings."""

    who: CoordinatorPrincipal
    conn: Connection
    now: datetime
    settings: Settings


@asynccontextmanager
async def staff_request(request: AnyRequest) -> AsyncIterator[StaffRequest]:
    """The coordinator the controller's guard signed in (server/auth/guards.py), and one pooled
    connection for the handler."""
    who = staff_of(request)
    state = request.app.state
    async with staff_connection(request) as conn:
        yield StaffRequest(who, conn, now_of(state), settings_of(state))


@asynccontextmanager
async def staff_connection(request: AnyRequest) -> AsyncIterator[Connection]:
    """A pooled connection whose audit events record where the staff request came from."""
    async with pool_of(request.app.state).acquire() as conn:
        await audit.set_client(conn, client_address(request))
        try:
            yield conn
        finally:
            await audit.set_client(conn, "")


class PatientRequest(msgspec.Struct, frozen=True):
    """A patient's request: whose device, a pooled connection, the time."""

    who: PatientPrincipal
    conn: Connection
    now: datetime


@asynccontextmanager
async def patient_request(request: AnyRequest) -> AsyncIterator[PatientRequest]:
    """Authenticate the device, then hold one pooled connection for the handler."""
    who = await authenticate_patient(request)
    state = request.app.state
    async with pool_of(state).acquire() as conn:
        yield PatientRequest(who, conn, now_of(state))
