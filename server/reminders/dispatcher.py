"""The reminder dispatcher: claims due reminders, sends them, records what happened.

Runs in every server process (and alone as ``checkin dispatch``). Processes share the work
through the database: a batch is claimed with ``FOR UPDATE SKIP LOCKED`` and leased; a process
that dies mid-batch leaves its lease to run out, and the batch is claimed again (so at most
that batch can reach a phone twice; one Topic per patient lets the push service collapse
them). Sends that could not start well before the lease ends are left for the next claim.
Between batches it sleeps until the next reminder is due, woken early by NOTIFY when one is
queued sooner. Once a minute it also marks closed windows missed and extends short plans.
Nothing a database, a push service or a subscription does stops the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import random
import socket
from collections.abc import Callable
from datetime import datetime, time, timedelta
from uuid import UUID

import asyncpg
import msgspec

from server.db import Pool, to_struct
from server.reminders import store
from server.reminders.schemas import PushPayload
from server.reminders.sender import Outcome, PushSender
from server.schedule import service as schedule
from server.schedule.plan import QuietHours, after_quiet_hours, in_quiet_hours
from server.schedule.windows import zone
from server.settings import Settings

log = logging.getLogger(__name__)

CHANNEL = "checkin_reminders"
HOUSEKEEPING_EVERY = timedelta(seconds=60)
MAX_SLEEP = 60.0
# When due work is locked by another process, look again after this long, not at once.
BUSY_RETRY = 0.1
MAX_BACKOFF = timedelta(hours=1)
MAX_TTL = 28 * 24 * 3600
# A send that could not start before its lease ended is claimed again after this long.
NOT_SENT_RETRY = 1.0
# Planning shares the loop with sending: at most this long per housekeeping pass.
PLANNING_BUDGET = 10.0
# One Topic and one notification tag for all of a patient's reminders: a newer one replaces
# an older one still waiting at the push service or on the lock screen (the app shows
# everything that is due).
TOPIC = "checkin"
TAG = "checkin"
DB_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)

WORDING = {
    "en": {
        "opening": ("Time for your check-in", "It takes under a minute."),
        "nudge": ("Your check-in is still open", "A minute now helps your care team."),
        "manual": ("Your care team asks for a check-in", "Open the app when you have a minute."),
    },
    "es": {
        "opening": ("Es hora de su registro", "Tarda menos de un minuto."),
        "nudge": ("Su registro sigue abierto", "Un minuto ahora ayuda a su equipo de atención."),
        "manual": (
            "Su equipo de atención le pide un registro",
            "Abra la aplicación cuando tenga un minuto.",
        ),
    },
}


class Claimed(msgspec.Struct, frozen=True):
    """A reminder this process holds, with what decides whether and when it goes."""

    id: UUID
    patient_id: UUID
    due_id: UUID | None
    kind: str
    expires_at: datetime
    attempts: int
    patient_status: str
    reminders_paused_until: datetime | None
    language: str
    timezone: str
    quiet_start: time | None
    quiet_end: time | None
    window_status: str | None

    @property
    def quiet(self) -> QuietHours | None:
        if self.quiet_start is None or self.quiet_end is None:
            return None
        return QuietHours(self.quiet_start, self.quiet_end)


class Subscription(msgspec.Struct, frozen=True):
    id: UUID
    patient_id: UUID
    endpoint: str
    p256dh: str
    auth: str


class Tried(msgspec.Struct, frozen=True):
    subscription: Subscription
    at: datetime
    outcome: Outcome


# (reminder id, status, next attempt, sent at, reason) as store.finish writes them.
Settled = tuple[UUID, str, datetime | None, datetime | None, str | None]


def payload_for(reminder: Claimed) -> PushPayload:
    title, body = WORDING.get(reminder.language, WORDING["en"])[reminder.kind]
    return PushPayload(
        type="checkin_reminder",
        reminder_id=reminder.id,
        due_id=reminder.due_id,
        title=title,
        body=body,
        url=f"/app/#checkin/{reminder.due_id}" if reminder.due_id else "/app/",
        tag=TAG,
    )


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
        self._stopping = False
        self._semaphore = asyncio.Semaphore(settings.push_concurrency)

    # --- the loop --------------------------------------------------------------------------

    async def run(self, dsn: str) -> None:
        """Dispatch until ``stop()`` (after the batch in flight) or cancellation."""
        listener = asyncio.create_task(self._listen(dsn))
        failures = 0
        try:
            while not self._stopping:
                try:
                    claimed = await self.work()
                    if self._stopping:
                        break
                    await self._sleep_until_due(busy=claimed == 0)
                    failures = 0
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # the loop outlives every failure; say which kind
                    failures += 1
                    kind = "database unavailable" if isinstance(exc, DB_ERRORS) else "failed"
                    log.warning("dispatcher: %s (%s)", kind, type(exc).__name__)
                    delay = min(30.0, 0.5 * 2 ** min(failures, 6)) * self.rng.uniform(0.5, 1.0)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), delay)
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener

    def stop(self) -> None:
        """Finish the batch in flight, then return from ``run``."""
        self._stopping = True
        self._wake.set()

    async def work(self) -> int:
        """Housekeeping when it is time, then every batch that is due now."""
        now = self.clock()
        if self._housekeeping_at is None or now >= self._housekeeping_at:
            # Set first: a NOTIFY asking for another pass during this one must not be lost.
            self._housekeeping_at = now + HOUSEKEEPING_EVERY
            await self._housekeeping(now)
        total = 0
        while not self._stopping:
            count = await self.dispatch_batch(self.clock())
            total += count
            if count < self.settings.push_batch_size:
                break
        return total

    async def _housekeeping(self, now: datetime) -> None:
        # A failure here is logged and leaves sending untouched.
        try:
            missed = await schedule.mark_missed(self.pool, now)
            planned = await schedule.extend_plans(self.pool, now, budget=PLANNING_BUDGET)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("dispatcher: housekeeping failed (%s)", type(exc).__name__)
            return
        if missed or planned:
            log.info("dispatcher: %d windows missed, %d plans extended", missed, planned)

    async def _sleep_until_due(self, *, busy: bool) -> None:
        self._wake.clear()
        self._wake_at = math.inf  # a NOTIFY from now on may cut the sleep short
        async with self.pool.acquire() as conn:
            next_at = await store.next_attempt(conn)
        now = self.clock().timestamp()
        wake = now + MAX_SLEEP
        if next_at is not None:
            wake = min(wake, next_at.timestamp())
        if self._housekeeping_at is not None:
            wake = min(wake, self._housekeeping_at.timestamp())
        if busy:
            # Due work we could not claim is held by another process: not a reason to spin.
            wake = max(wake, now + BUSY_RETRY)
        self._wake_at = wake
        timeout = wake - now
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
        # A send must be able to finish before the lease runs out, or another process may
        # claim and send the reminder too.
        last_start = lease_until - timedelta(seconds=self.settings.push_timeout_seconds)
        settled: list[Settled] = []
        sendable: list[Claimed] = []
        subscriptions: dict[UUID, list[Subscription]] = {}
        async with self.pool.acquire() as conn:
            rows = await store.claim(
                conn, now, self.settings.push_batch_size, lease_until, self.worker
            )
            if not rows:
                return 0
            for reminder in (to_struct(row, Claimed) for row in rows):
                verdict = self._verdict(reminder, now)
                if verdict is None:
                    sendable.append(reminder)
                else:
                    settled.append(verdict)
            if sendable:
                patients = list({r.patient_id for r in sendable})
                for row in await store.subscriptions_of(conn, patients):
                    sub = to_struct(row, Subscription)
                    subscriptions.setdefault(sub.patient_id, []).append(sub)

        jobs = []
        for reminder in sendable:
            subs = subscriptions.get(reminder.patient_id, [])
            if not subs:
                settled.append((reminder.id, "failed", None, None, "no_subscription"))
                continue
            data = msgspec.json.encode(payload_for(reminder))
            ttl = min(MAX_TTL, max(0, int((reminder.expires_at - now).total_seconds())))
            jobs.append(
                (reminder, asyncio.gather(*(self._send(s, data, ttl, last_start) for s in subs)))
            )
        results = await asyncio.gather(*(job for _, job in jobs))

        attempts: list[tuple[UUID, UUID, datetime, int | None, str | None, int]] = []
        gone: list[tuple[UUID, str]] = []
        worked: list[UUID] = []
        done_at = self.clock()
        for (reminder, _), tried in zip(jobs, results, strict=True):
            for t in tried:
                if t.outcome.error == "not_sent":
                    continue  # never left this process: nothing to record
                attempts.append(
                    (reminder.id, t.subscription.id, t.at, t.outcome.status_code,
                     t.outcome.error, t.outcome.duration_ms)
                )  # fmt: skip
                if t.outcome.gone:
                    gone.append((t.subscription.id, t.subscription.endpoint))
                elif t.outcome.accepted:
                    worked.append(t.subscription.id)
            settled.append(self._settle(reminder, [t.outcome for t in tried], done_at))

        async with self.pool.acquire() as conn, conn.transaction():
            await store.record_attempts(conn, attempts)
            await store.drop_subscriptions(conn, gone)
            await store.subscriptions_worked(conn, worked, done_at)
            await store.finish(conn, self.worker, settled)
        return len(rows)

    def _verdict(self, reminder: Claimed, now: datetime) -> Settled | None:
        """How a claimed reminder is settled without sending, or None to send it now."""
        rid = reminder.id
        if reminder.patient_status != "active":
            return (rid, "cancelled", None, None, "patient_not_active")
        paused = reminder.reminders_paused_until
        if paused is not None and paused > now:
            return (rid, "cancelled", None, None, "paused")
        if reminder.window_status == "completed":
            return (rid, "cancelled", None, None, "answered")
        if reminder.window_status == "cancelled":
            return (rid, "cancelled", None, None, "window_cancelled")
        if reminder.window_status == "missed" or reminder.expires_at <= now:
            return (rid, "expired", None, None, "window_closed")
        quiet = reminder.quiet
        tz = zone(reminder.timezone)
        if quiet is not None and in_quiet_hours(now, quiet, tz):
            # Due again (a retry, a lease that ran out) while the patient sleeps: wait.
            after = after_quiet_hours(now, quiet, tz)
            if after >= reminder.expires_at:
                return (rid, "expired", None, None, "quiet_hours")
            return (rid, "pending", after, None, "quiet_hours")
        return None

    async def _send(self, sub: Subscription, data: bytes, ttl: int, last_start: datetime) -> Tried:
        async with self._semaphore:
            at = self.clock()
            if at > last_start:
                return Tried(sub, at, Outcome(error="not_sent"))
            outcome = await self.sender.send(
                sub.endpoint, sub.p256dh, sub.auth, data, ttl=ttl, topic=TOPIC,
                now=at.timestamp(),
            )  # fmt: skip
        return Tried(sub, at, outcome)

    def _settle(self, reminder: Claimed, outcomes: list[Outcome], now: datetime) -> Settled:
        rid = reminder.id
        if any(o.accepted for o in outcomes):
            return (rid, "sent", None, now, None)
        if all(o.gone for o in outcomes):
            return (rid, "failed", None, None, "subscription_gone")
        retry = [o for o in outcomes if o.retryable]
        tried = [o for o in outcomes if o.error != "not_sent"]
        last = describe(tried[-1]) if tried else "not sent before the lease ended"
        if not retry:
            refused = next(o for o in outcomes if not o.gone)
            return (rid, "failed", None, None, f"refused: {describe(refused)}")
        if tried and reminder.attempts >= self.settings.push_max_attempts:
            return (rid, "failed", None, None, f"gave up after {reminder.attempts}: {last}")
        doublings = min(max(reminder.attempts - 1, 0), 30)
        base = self.settings.push_retry_base_seconds * 2**doublings
        delay = min(MAX_BACKOFF.total_seconds(), base) * self.rng.uniform(0.5, 1.0)
        if not tried:
            delay = NOT_SENT_RETRY  # nothing went out: claim it again soon
        asked = max((o.retry_after or 0.0) for o in retry)
        next_at = now + timedelta(seconds=max(delay, asked))
        quiet = reminder.quiet
        if quiet is not None:
            next_at = after_quiet_hours(next_at, quiet, zone(reminder.timezone))
        if next_at >= reminder.expires_at:
            return (rid, "expired", None, None, f"window_closed: {last}")
        return (rid, "pending", next_at, None, last)
