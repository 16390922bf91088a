"""Live boards: one LISTEN connection per server process fans PostgreSQL's board_changed
notifications out to that process's open boards (Server-Sent Events). Any process may write
the check-in or alert; every process hears of it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import AsyncIterator
from uuid import UUID

import asyncpg

log = logging.getLogger(__name__)

CHANNEL = "board_changed"
PROBE_EVERY = 30.0
EVERYONE = "*"  # after a reconnect: notifications may have been missed, every board re-reads


class BoardHub:
    def __init__(self) -> None:
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

    @contextlib.asynccontextmanager
    async def subscribe(self, clinic_id: UUID) -> AsyncIterator[asyncio.Queue[str]]:
        queue: asyncio.Queue[str] = asyncio.Queue(maxsize=1)
        key = str(clinic_id)
        self._boards[key].add(queue)
        try:
            yield queue
        finally:
            self._boards[key].discard(queue)
            if not self._boards[key]:
                del self._boards[key]

    def _on_notify(self, _conn: object, _pid: int, _channel: str, payload: object) -> None:
        self.publish(str(payload))

    async def listen(self, dsn: str, retry_every: float = 1.0) -> None:
        """Keep the LISTEN connection for as long as the server runs; reconnect on loss."""
        while True:
            conn: asyncpg.Connection[asyncpg.Record] | None = None
            try:
                conn = await asyncpg.connect(dsn, timeout=10)
                lost = asyncio.Event()
                conn.add_termination_listener(lambda _c, event=lost: event.set())
                await conn.add_listener(CHANNEL, self._on_notify)
                self.publish(EVERYONE)
                while not lost.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(lost.wait(), timeout=PROBE_EVERY)
                    if not lost.is_set():
                        await conn.fetchval("select 1", timeout=5)
                log.warning("live boards: listening connection lost; reconnecting")
            except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
                log.warning("live boards: cannot listen (%s); retrying", type(exc).__name__)
            finally:
                if conn is not None and not conn.is_closed():
                    with contextlib.suppress(Exception):
                        await conn.close(timeout=2)
            await asyncio.sleep(retry_every)
