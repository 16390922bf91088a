"""Readiness: may this process be sent traffic?"""

from __future__ import annotations

import asyncio

import asyncpg

from server import db
from server.observability.schemas import Readiness

# A probe answers within this long, whatever the database does.
READY_LIMIT = 2.0


async def readiness(pool: db.Pool) -> Readiness:
    """Ready when the database answers and has every migration of this code, no more, no
    other. The dispatcher is not asked: a replica with DISPATCHER=false serves all the same,
    and a stuck dispatcher shows in the metrics, not by taking replicas out of service."""
    try:
        async with asyncio.timeout(READY_LIMIT), pool.acquire() as conn:
            pending = await db.pending_migrations(conn)
    except db.DatabaseError as exc:
        return Readiness("not_ready", "up", "mismatch", detail=str(exc))
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
        return Readiness("not_ready", "down", "unknown")
    if pending:
        names = [f"{m.version:04d}_{m.name}" for m in pending]
        return Readiness("not_ready", "up", "pending", pending=names)
    return Readiness("ready", "up", "current")
