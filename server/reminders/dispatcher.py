"""The reminder dispatcher: claims due reminders, sends them, records what happened.

Runs in every server process (and alone as ``checkin dispatch``). Processes share the work
through the database: a batch is claimed with ``FOR UPDATE SKIP LOCKED`` and leased; a process
that dies mid-batch leaves its lease to run out, and the batch is claimed again (so at most
that batch can reach a phone twice; a Topic per window lets the push service collapse them).
Between batches it sleeps until the next reminder is due, woken early by NOTIFY when one is
queued sooner. Once a minute it also marks closed windows missed and extends short plans.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import random
import socket
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from uuid import UUID

import asyncpg
import msgspec

from server.db import Pool
from server.reminders import store
from server.reminders.schemas import PushPayload
from server.reminders.sender import Outcome, PushSender, origin_of
from server.schedule import service as schedule
from server.settings import Settings

log = logging.getLogger(__name__)

CHANNEL = "checkin_reminders"
HOUSEKEEPING_EVERY = timedelta(seconds=60)
MAX_SLEEP = 60.0
MAX_BACKOFF = timedelta(hours=1)
MAX_TTL = 28 * 24 * 3600
# Planning shares the loop with sending: at most this long per housekeeping pass.
PLANNING_BUDGET = 10.0
DB_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)

WORDING = {
    "en": {
        "opening": ("Time for your check-in", "It takes under a minute."),
        "nudge": ("Your check-in is still open", "A minute now helps your care team."),
        "manual": ("Your care team asks for a check-in", "Open the app when you have a minute."),
    },
    "es": {
        "opening": ("Es hora de tu registro", "Tarda menos de un minuto."),
        "nudge": ("Tu registro sigue abierto", "Un minuto ahora ayuda a tu equipo de cuidado."),
        "manual": (
            "Tu equipo de cuidado te pide un registro",
            "Abre la aplicación cuando tengas un minuto.",
        ),
    },
}

Settled = tuple[UUID, str, datetime | None, datetime | None, str | None]
Attempt = tuple[UUID, UUID | None, datetime, int | None, str | None, int]


def payload_for(row: asyncpg.Record) -> PushPayload:
    title, body = WORDING.get(row["language"], WORDING["en"])[row["kind"]]
    due_id: UUID | None = row["due_id"]
    return PushPayload(
        type="checkin_reminder",
        reminder_id=row["id"],
        due_id=due_id,
        title=title,
        body=body,
        url=f"/app/#checkin/{due_id}" if due_id else "/app/",
        tag=f"checkin-{due_id}" if due_id else "checkin",
    )


def topic_for(due_id: UUID | None) -> str:
    """Repeats for one window replace each other at the push service while the phone is off."""
    return due_id.hex if due_id else "checkin-nudge"


def describe(outcome: Outcome) -> str:
    if outcome.status_code is not None:
        return f"push service answered {outcome.status_code}"
    return outcome.error or "unknown"


class Dispatcher:
    def __init__(
        self,
        pool: Pool,
        settings: Settings,
        sender: PushSender,
        clock: Callable[[], datetime],
        *,
        worker: str | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.pool = pool
        self.settings = settings
        self.sender = sender
        self.clock = clock
        self.worker = worker or f"{socket.gethostname()}:{os.getpid()}:{os.urandom(3).hex()}"
        self.rng = rng or random.Random()  # noqa: S311 (jitter, not secrecy)
        self._wake = asyncio.Event()
        self._wake_at = math.inf
        self._housekeeping_at: datetime | None = None
        self._cooldown: dict[str, float] = {}  # push service origin -> epoch it asked us to wait
        self._semaphore = asyncio.Semaphore(settings.push_concurrency)

    # --- the loop --------------------------------------------------------------------------

    async def run(self, dsn: str) -> None:
        """Dispatch until cancelled; database outages are waited out, never fatal."""
        listener = asyncio.create_task(self._listen(dsn))
        failures = 0
        try:
            while True:
                try:
                    await self.work()
                    await self._sleep_until_due()
                    failures = 0
                except DB_ERRORS as exc:
                    failures += 1
                    delay = min(30.0, 0.5 * 2**failures)
                    log.warning("dispatcher: database unavailable (%s)", type(exc).__name__)
                    await asyncio.sleep(delay * self.rng.uniform(0.5, 1.0))
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener

    async def work(self) -> int:
        """Housekeeping when it is time, then every batch that is due now."""
        now = self.clock()
        if self._housekeeping_at is None or now >= self._housekeeping_at:
            missed = await schedule.mark_missed(self.pool, now)
            planned = await schedule.extend_plans(self.pool, now, budget=PLANNING_BUDGET)
            if missed or planned:
                log.info("dispatcher: %d windows missed, %d plans extended", missed, planned)
            self._housekeeping_at = now + HOUSEKEEPING_EVERY
        total = 0
        while True:
            count = await self.dispatch_batch(self.clock())
            total += count
            if count < self.settings.push_batch_size:
                return total

    async def _sleep_until_due(self) -> None:
        self._wake.clear()
        self._wake_at = math.inf  # a NOTIFY from now on may cut the sleep short
        async with self.pool.acquire() as conn:
            next_at = await store.next_attempt(conn)
        now = self.clock()
        wake = now.timestamp() + MAX_SLEEP
        if next_at is not None:
            wake = min(wake, next_at.timestamp())
        if self._housekeeping_at is not None:
            wake = min(wake, self._housekeeping_at.timestamp())
        self._wake_at = wake
        timeout = wake - now.timestamp()
        if timeout > 0 and not self._wake.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    def _on_notify(self, _conn: object, _pid: int, _channel: str, payload: object) -> None:
        if payload == "replan":  # a clinic's protocol changed: redo its plans now
            self._housekeeping_at = None
            self._wake.set()
            return
        try:
            due = float(str(payload))
        except ValueError:
            due = 0.0
        if due < self._wake_at:
            self._wake.set()

    async def _listen(self, dsn: str) -> None:
        while True:
            conn: asyncpg.Connection[asyncpg.Record] | None = None
            try:
                conn = await asyncpg.connect(dsn, timeout=10)
                lost = asyncio.Event()
                conn.add_termination_listener(lambda _c, event=lost: event.set())
                await conn.add_listener(CHANNEL, self._on_notify)
                self._wake.set()  # anything queued while we were not listening
                while not lost.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(lost.wait(), timeout=20)
                    if not lost.is_set():
                        await conn.fetchval("select 1", timeout=5)
            except DB_ERRORS as exc:
                log.warning("dispatcher: cannot listen (%s)", type(exc).__name__)
            finally:
                if conn is not None and not conn.is_closed():
                    with contextlib.suppress(Exception):
                        await conn.close(timeout=2)
            await asyncio.sleep(1.0)

    # --- one batch -------------------------------------------------------------------------

    async def dispatch_batch(self, now: datetime) -> int:
        """Claim, send and settle one batch; returns how many reminders were claimed."""
        lease_until = now + timedelta(seconds=self.settings.push_lease_seconds)
        async with self.pool.acquire() as conn:
            rows = await store.claim(
                conn, now, self.settings.push_batch_size, lease_until, self.worker
            )
            if not rows:
                return 0
            settled: list[Settled] = []
            sendable = []
            for row in rows:
                verdict = self._verdict(row, now)
                if verdict is None:
                    sendable.append(row)
                else:
                    settled.append((row["id"], verdict[0], None, None, verdict[1]))
            subscriptions: dict[UUID, list[asyncpg.Record]] = {}
            if sendable:
                patients = list({row["patient_id"] for row in sendable})
                for sub in await store.subscriptions_of(conn, patients):
                    subscriptions.setdefault(sub["patient_id"], []).append(sub)

        jobs = []
        for row in sendable:
            subs = subscriptions.get(row["patient_id"], [])
            if not subs:
                settled.append((row["id"], "failed", None, None, "no_subscription"))
                continue
            data = msgspec.json.encode(payload_for(row))
            ttl = min(MAX_TTL, max(0, int((row["expires_at"] - now).total_seconds())))
            topic = topic_for(row["due_id"])
            jobs.append((row, [(sub, self._send(sub, data, ttl, topic)) for sub in subs]))

        attempts: list[Attempt] = []
        gone: list[UUID] = []
        worked: list[UUID] = []
        results = await asyncio.gather(
            *(asyncio.gather(*(send for _, send in pairs)) for _, pairs in jobs)
        )
        done_at = self.clock()
        for (row, pairs), outcomes in zip(jobs, results, strict=True):
            for (sub, _), outcome in zip(pairs, outcomes, strict=True):
                attempts.append(
                    (row["id"], sub["id"], done_at, outcome.status_code, outcome.error,
                     outcome.duration_ms)
                )  # fmt: skip
                if outcome.gone:
                    gone.append(sub["id"])
                elif outcome.accepted:
                    worked.append(sub["id"])
            settled.append(self._settle(row, outcomes, done_at))

        async with self.pool.acquire() as conn, conn.transaction():
            await store.record_attempts(conn, attempts)
            await store.drop_subscriptions(conn, gone)
            await store.subscriptions_worked(conn, worked, done_at)
            await store.finish(conn, self.worker, settled)
        return len(rows)

    def _verdict(self, row: asyncpg.Record, now: datetime) -> tuple[str, str] | None:
        """Why a claimed reminder must not go out any more, or None to send it."""
        if row["patient_status"] != "active":
            return ("cancelled", "patient_not_active")
        paused = row["reminders_paused_until"]
        if paused is not None and paused > now:
            return ("cancelled", "paused")
        window = row["window_status"]
        if window == "completed":
            return ("cancelled", "answered")
        if window == "cancelled":
            return ("cancelled", "window_cancelled")
        if window == "missed" or row["expires_at"] <= now:
            return ("expired", "window_closed")
        return None

    async def _send(self, sub: asyncpg.Record, data: bytes, ttl: int, topic: str) -> Outcome:
        endpoint: str = sub["endpoint"]
        origin = origin_of(endpoint)
        wall = time.time()
        cooling = self._cooldown.get(origin, 0.0) - wall
        if cooling > 0:
            return Outcome(error="cooldown", retry_after=cooling)
        async with self._semaphore:
            outcome = await self.sender.send(
                endpoint, sub["p256dh"], sub["auth"], data, ttl=ttl, topic=topic, now=wall
            )
        if outcome.status_code == 429:
            # The whole service asked us to slow down, not just this subscription.
            wait = outcome.retry_after if outcome.retry_after is not None else 60.0
            self._cooldown[origin] = max(self._cooldown.get(origin, 0.0), wall + wait)
        return outcome

    def _settle(self, row: asyncpg.Record, outcomes: list[Outcome], now: datetime) -> Settled:
        reminder_id: UUID = row["id"]
        if any(o.accepted for o in outcomes):
            return (reminder_id, "sent", None, now, None)
        if all(o.gone for o in outcomes):
            return (reminder_id, "failed", None, None, "subscription_gone")
        retry = [o for o in outcomes if o.retryable or o.error == "cooldown"]
        last = describe(outcomes[-1])
        if not retry:
            refused = next(o for o in outcomes if not o.gone)
            return (reminder_id, "failed", None, None, f"refused: {describe(refused)}")
        if row["attempts"] >= self.settings.push_max_attempts:
            return (reminder_id, "failed", None, None, f"gave up after {row['attempts']}: {last}")
        base = self.settings.push_retry_base_seconds * 2 ** (row["attempts"] - 1)
        delay = min(MAX_BACKOFF.total_seconds(), base) * self.rng.uniform(0.5, 1.0)
        asked = max((o.retry_after or 0.0) for o in retry)
        next_at = now + timedelta(seconds=max(delay, min(asked, MAX_BACKOFF.total_seconds())))
        if next_at >= row["expires_at"]:
            return (reminder_id, "expired", None, None, f"window_closed: {last}")
        return (reminder_id, "pending", next_at, None, last)
