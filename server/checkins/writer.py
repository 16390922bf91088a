"""Check-ins that arrive together are stored together.

Each check-in costs PostgreSQL about 400 us of CPU when stored on its own, and most of that
is the statement and its commit, not the row: stored 16 to a statement, a check-in costs
about 120 us (bench/ingest.py has the figures). So each server process sends the check-ins
waiting to be stored as one statement (sql/queries/checkins.sql, ``insert``), with nothing
added to a request's wait: the first check-in goes at once, those that arrive while it is
being stored go together next. Under light load every batch holds one check-in.

What does not change:
- a check-in is answered only after its batch has committed: a 201 means it is stored;
- each check-in is scored against everything its patient had stored before it: a batch holds
  at most one check-in per patient (a second one waits for the next batch), so two check-ins
  of one patient are scored in the order they arrived, as if sent one after the other;
- one bad check-in does not fail the others: when a batch is refused, its check-ins are stored
  one by one, and each request gets its own answer or error;
- a phone that gave up waiting: its check-in is still stored (its retry then gets 200).
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any
from uuid import UUID

import asyncpg

from server.checkins import store as checkins_store
from server.checkins.schemas import NewCheckin, StoredCheckin
from server.db import Connection, Pool
from server.observability import metrics

MAX_BATCH = 64
# Batches in flight per process: one being stored while the next one fills.
MAX_FLUSHERS = 2


# What one check-in of a batch can cause, so that storing them one by one tells which: a
# constraint or a value PostgreSQL refuses, a trigger's refusal, a deadlock; a value asyncpg
# cannot encode (ValueError, TypeError) fails before anything is sent.
ROW_ERRORS: tuple[type[Exception], ...] = (
    asyncpg.IntegrityConstraintViolationError,
    asyncpg.DataError,
    asyncpg.RaiseError,
    asyncpg.TransactionRollbackError,
    ValueError,
    TypeError,
)


# A check-in handed to the writer, and the request's answer to come.
Waiting = tuple[NewCheckin, asyncio.Future[StoredCheckin | None]]


def flags_literal(flags: list[str]) -> str:
    """Flags are item codes and fixed words, never quotes or commas (checked here anyway)."""
    for flag in flags:
        if not flag or not flag.replace("_", "").isalnum():
            raise ValueError(f"not a flag: {flag!r}")
    return "{" + ",".join(flags) + "}"


def _consume(future: asyncio.Future[Any]) -> None:
    """Nobody waits for this result any more; read it so asyncio does not log it as lost."""
    if not future.cancelled():
        future.exception()


class CheckinWriter:
    """Stores check-ins for one server process, batching those that arrive together."""

    def __init__(self, pool: Pool) -> None:
        self._pool = pool
        self._waiting: deque[Waiting] = deque()
        self._flushers = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._in_flight: set[UUID] = set()  # patients and check-in ids in a batch being stored
        self.statements = 0  # batches sent, for tests and the curious

    async def store(self, row: NewCheckin) -> StoredCheckin | None:
        """(id, due_id, scores) once stored, or None when a check-in with this id exists."""
        future: asyncio.Future[StoredCheckin | None] = asyncio.get_running_loop().create_future()
        self._waiting.append((row, future))
        if self._flushers < MAX_FLUSHERS:
            self._flushers += 1
            task = asyncio.create_task(self._flush())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        try:
            # A cancelled request (the phone gave up) must not cancel the batch it is in.
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            future.add_done_callback(_consume)
            raise

    async def drain(self) -> None:
        """Wait until every check-in handed over so far is stored (or refused)."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def _next_batch(self) -> list[Waiting]:
        """At most one check-in per patient and per id, counting the batches being stored (a
        duplicate row the statement skips would look stored to both, and a patient's second
        check-in must see the first); the rest wait, in order, for a later batch."""
        batch: list[Waiting] = []
        later: list[Waiting] = []
        while self._waiting and len(batch) < MAX_BATCH:
            item = self._waiting.popleft()
            row = item[0]
            if row.patient_id in self._in_flight or row.id in self._in_flight:
                later.append(item)
            else:
                self._in_flight.update((row.patient_id, row.id))
                batch.append(item)
        self._waiting.extendleft(reversed(later))
        return batch

    async def _flush(self) -> None:
        # The flusher that stored a batch looks again afterwards, so a check-in held back
        # for one in that batch is never left waiting without a flusher.
        try:
            while batch := self._next_batch():
                try:
                    await self._store(batch)
                finally:
                    for row, future in batch:
                        self._in_flight.difference_update((row.patient_id, row.id))
                        if not future.done():  # only if storing itself broke: never hang
                            future.set_exception(RuntimeError("the check-in was not stored"))
        finally:
            self._flushers -= 1

    async def _store(self, batch: list[Waiting]) -> None:
        rows = [row for row, _ in batch]
        self.statements += 1
        metrics.CHECKIN_BATCH.observe(len(batch))
        try:
            async with self._pool.acquire() as conn:
                try:
                    stored = await checkins_store.insert(conn, rows)
                except ROW_ERRORS:
                    # One check-in the database refuses (a window of another patient, say)
                    # fails the whole statement: store them one by one instead. Not when the
                    # connection broke: that is every check-in's answer (503).
                    if len(batch) == 1 or conn.is_closed():
                        raise
                    await self._store_each(conn, batch)
                    return
        except Exception as exc:  # the database is unreachable, or the one check-in refused
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        by_id = {record.id: record for record in stored}
        metrics.CHECKINS_STORED.inc(len(stored))
        for row, future in batch:
            if not future.done():
                future.set_result(by_id.get(row.id))

    @staticmethod
    async def _store_each(conn: Connection, batch: list[Waiting]) -> None:
        for row, future in batch:
            try:
                result = await checkins_store.insert_one(conn, row)
            except Exception as exc:
                if not future.done():
                    future.set_exception(exc)
            else:
                if result is not None:
                    metrics.CHECKINS_STORED.inc()
                if not future.done():
                    future.set_result(result)
