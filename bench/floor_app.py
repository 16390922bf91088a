"""The floor of our stack, for bench/ingest.py only: a bare Litestar app whose POST does one
asyncpg INSERT of the body it received. No auth, no validation, no idempotency, no audit."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from litestar import Litestar, Request, get, post
from litestar.datastructures import State

DDL = "create table floor_checkin (id uuid primary key, body jsonb not null)"


@post("/api/checkins", status_code=201)
async def insert(request: Request[Any, Any, Any], state: State) -> dict[str, str]:
    body = await request.body()
    row_id = await state.pool.fetchval(
        "insert into floor_checkin (id, body) values (gen_random_uuid(), $1::jsonb) returning id",
        body.decode(),
    )
    return {"id": str(row_id)}


@get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


async def _no_reset(conn: Any) -> None:
    return None


@asynccontextmanager
async def lifespan(app: Litestar) -> AsyncIterator[None]:
    # No per-release reset query either: the floor is one round trip per request.
    app.state.pool = await asyncpg.create_pool(
        os.environ["DATABASE_URL"], min_size=2, max_size=10, command_timeout=10, reset=_no_reset
    )
    try:
        yield
    finally:
        await app.state.pool.close()


def create() -> Litestar:
    return Litestar([insert, healthz], lifespan=[lifespan])
