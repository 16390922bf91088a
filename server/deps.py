"""Per-request context: who is asking (dependencies) and the app's shared parts (from state).

Only the principal is a Litestar dependency. Everything else is read from ``State``: each extra
dependency costs a task group per request in Litestar's resolver, a fifth of a check-in's CPU.
"""

from __future__ import annotations

from datetime import datetime

from litestar.datastructures import State
from litestar.di import Provide

from server.auth.guards import provide_coordinator, provide_patient
from server.db import Pool
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


DEPENDENCIES = {
    "patient": Provide(provide_patient),
    "coordinator": Provide(provide_coordinator),
}
