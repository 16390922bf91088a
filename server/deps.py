"""Per-request dependencies shared by every domain's routes."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime

from litestar.datastructures import State
from litestar.di import Provide

from server.auth.guards import provide_coordinator, provide_patient
from server.db import Connection
from server.settings import Settings
from server.web import AnyRequest


def provide_now(state: State) -> datetime:
    now: datetime = state.clock()
    return now


def provide_settings(state: State) -> Settings:
    settings: Settings = state.settings
    return settings


async def provide_conn(state: State) -> AsyncGenerator[Connection, None]:
    """One pooled connection for the whole request (the auth lookup included)."""
    async with state.pool.acquire() as conn:
        yield conn


def client_host(request: AnyRequest) -> str | None:
    return request.client.host if request.client else None


DEPENDENCIES = {
    "now": Provide(provide_now, sync_to_thread=False),
    "settings": Provide(provide_settings, sync_to_thread=False),
    "conn": Provide(provide_conn),
    "patient": Provide(provide_patient),
    "coordinator": Provide(provide_coordinator),
}
