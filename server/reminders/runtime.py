"""Starting and stopping the push side of a process: VAPID key, sender, dispatcher."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime

import msgspec

from server.db import Pool
from server.reminders.dispatcher import Dispatcher
from server.reminders.sender import PushSender
from server.reminders.vapid import VapidSigner, load_or_create
from server.settings import Settings


class PushRuntime(msgspec.Struct):
    public_key: str
    sender: PushSender
    dispatcher: Dispatcher | None


@asynccontextmanager
async def push_runtime(
    pool: Pool,
    settings: Settings,
    dsn: str,
    clock: Callable[[], datetime],
    *,
    dispatch: bool,
) -> AsyncIterator[PushRuntime]:
    """The VAPID key loaded (or made once for every process), a sender, and if asked, a
    dispatcher running in the background until the block ends."""
    async with pool.acquire() as conn:
        vapid = await load_or_create(conn, settings)
    signer = VapidSigner(vapid, settings.push_subject)
    async with PushSender(
        signer, settings.push_timeout_seconds, settings.push_concurrency
    ) as sender:
        dispatcher = Dispatcher(pool, settings, sender, clock) if dispatch else None
        task = asyncio.create_task(dispatcher.run(dsn)) if dispatcher else None
        try:
            yield PushRuntime(signer.public_key, sender, dispatcher)
        finally:
            if dispatcher is not None and task is not None:
                # Let the batch in flight settle (a restart then repeats nothing); a batch
                # that cannot finish in time is left to its lease.
                dispatcher.stop()
                with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                    await asyncio.wait_for(task, settings.push_lease_seconds)
