"""Live boards: one LISTEN connection per server process fans PostgreSQL's board_changed
notifications out to that process's open boards (Server-Sent Events). Any process may write
the check-in or alert; every process hears of it."""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import AsyncIterator
from uuid import UUID

from server import db

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
