"""The app's shared parts, read from ``State`` by handlers.

Not Litestar dependencies: resolving dependencies (a task group per batch) cost a fifth of a
check-in's CPU. Who is asking comes from ``server.auth.guards``.
"""

from __future__ import annotations

from datetime import datetime

from litestar.datastructures import State

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
