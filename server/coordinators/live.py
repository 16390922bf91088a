"""Live boards: one LISTEN connection per server process fans PostgreSQL's board_changed
notifications out to that process's open boards (Server-Sent Events). Any process may write
the check-in or alert; every process hears of it.

Notifications are sent only for clinics with a board open somewhere (table board_watch, see
migration 0004): while this process serves boards of a clinic it renews that clinic's watch
every WATCH_RENEW seconds for WATCH_FOR seconds, and registers it before a new board's stream
starts, so nothing after "ready" is missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import timedelta
from uuid import UUID

import asyncpg

from server import db
from server.coordinators import store

log = logging.getLogger(__name__)

CHANNEL = "board_changed"
PROBE_EVERY = 30.0
EVERYONE = "*"  # after a reconnect: notifications may have been missed, every board re-reads
WATCH_FOR = timedelta(seconds=90)
WATCH_RENEW = 30.0


class BoardHub:
    def __init__(self, pool: db.Pool) -> None:
        self._pool = pool
        self._boards: dict[str, set[asyncio.Queue[str]]] = defaultdict(set)

    def publish(self, clinic: str) -> None:
        targets = (
            [q for boards in self._boards.values() for q in boards]
            if clinic == EVERYONE
            else list(self._boards.get(clinic, ()))
        )
        for queue in targets:
            if queue.empty():  # one pending "changed" is as good as many
                queue.put_nowait("changed")

    async def _watch(self, clinics: list[str]) -> None:
        async with self._pool.acquire() as conn:
            await store.watch_boards(conn, [UUID(c) for c in clinics], WATCH_FOR.total_seconds())

    @contextlib.asynccontextmanager
    async def subscribe(self, clinic_id: UUID) -> AsyncIterator[asyncio.Queue[str]]:
        queue: asyncio.Queue[str] = asyncio.Queue(maxsize=1)
        key = str(clinic_id)
        self._boards[key].add(queue)
        try:
            await self._watch([key])
            yield queue
        finally:
            self._boards[key].discard(queue)
            if not self._boards[key]:
                del self._boards[key]

    async def keep_watching(self) -> None:
        """Renew the watch of every clinic with a board open here, for as long as the server
        runs (a lapse only delays a board to its 5-minute re-read)."""
        while True:
            await asyncio.sleep(WATCH_RENEW)
            if self._boards:
                try:
                    await self._watch(list(self._boards))
                except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
                    log.warning("live boards: cannot renew the watch (%s)", type(exc).__name__)

    async def listen(self, dsn: str) -> None:
        """Hear board_changed for as long as the server runs; after a reconnect every open
        board re-reads, as notifications sent meanwhile are lost."""
        await db.listen_forever(
            dsn,
            CHANNEL,
            self.publish,
            on_listening=lambda: self.publish(EVERYONE),
            on_lost=lambda: None,
            what="live boards",
            probe_every=PROBE_EVERY,
        )
