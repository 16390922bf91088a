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
from datetime import datetime, timedelta
from uuid import UUID

import asyncpg
import msgspec

from server import db
from server.db import Pool
from server.observability import metrics
from server.reminders import store
from server.reminders.schemas import Claimed, PushPayload, Settlement, Subscription
from server.reminders.sender import Outcome, PushSender
from server.schedule import service as schedule
from server.schedule.plan import after_quiet_hours, in_quiet_hours
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


class Tried(msgspec.Struct, frozen=True):
    subscription: Subscription
    at: datetime
    outcome: Outcome


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
                    metrics.DISPATCHER_LAST_PASS.set_to_current_time()
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

    def _on_notify(self, payload: str) -> None:
        if payload == "replan":  # a clinic's protocol changed: redo its plans now
            self._housekeeping_at = None
            self._wake.set()
            return
        try:
            due = float(payload)
        except ValueError:
            due = 0.0
        if due < self._wake_at:
            self._wake.set()

    async def _listen(self, dsn: str) -> None:
        await db.listen_forever(
            dsn,
            CHANNEL,
            self._on_notify,
            on_listening=self._wake.set,  # anything queued while we were not listening
            on_lost=lambda: None,
            what="dispatcher",
        )

    # --- one batch -------------------------------------------------------------------------

    async def dispatch_batch(self, now: datetime) -> int:
        """Claim, send and settle one batch; returns how many reminders were claimed."""
        lease_until = now + timedelta(seconds=self.settings.push_lease_seconds)
        # A send must be able to finish before the lease runs out, or another process may
        # claim and send the reminder too.
        last_start = lease_until - timedelta(seconds=self.settings.push_timeout_seconds)
        settled: list[Settlement] = []
        sendable: list[Claimed] = []
        subscriptions: dict[UUID, list[Subscription]] = {}
        async with self.pool.acquire() as conn:
            claimed = await store.claim(
                conn, now, self.settings.push_batch_size, lease_until, self.worker
            )
            if not claimed:
                return 0
            for reminder in claimed:
                without_sending = verdict(reminder, now)
                if without_sending is None:
                    sendable.append(reminder)
                else:
                    settled.append(without_sending)
            if sendable:
                patients = list({r.patient_id for r in sendable})
                for sub in await store.subscriptions_of(conn, patients):
                    subscriptions.setdefault(sub.patient_id, []).append(sub)

        jobs = []
        for reminder in sendable:
            subs = subscriptions.get(reminder.patient_id, [])
            if not subs:
                settled.append(Settlement(reminder.id, "failed", reason="no_subscription"))
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
            settled.append(
                settle(reminder, [t.outcome for t in tried], done_at, self.settings, self.rng)
            )

        async with self.pool.acquire() as conn, conn.transaction():
            await store.record_attempts(conn, attempts)
            await store.drop_subscriptions(conn, gone)
            await store.subscriptions_worked(conn, worked, done_at)
            await store.finish(conn, self.worker, settled)
        for settlement in settled:
            metrics.REMINDERS.labels(settlement.status, self.sender.channel).inc()
        return len(claimed)

    async def _send(self, sub: Subscription, data: bytes, ttl: int, last_start: datetime) -> Tried:
        async with self._semaphore:
            at = self.clock()
            if at > last_start:
                return Tried(sub, at, Outcome(error="not_sent"))
            outcome = await self.sender.send(
                sub.endpoint, sub.p256dh, sub.auth, data, ttl=ttl, topic=TOPIC,
                now=at.timestamp(),
            )  # fmt: skip
        metrics.REMINDER_SEND.labels(self.sender.channel, outcome.result).observe(
            outcome.duration_ms / 1000
        )
        return Tried(sub, at, outcome)


def verdict(reminder: Claimed, now: datetime) -> Settlement | None:
    """How a claimed reminder is settled without sending, or None to send it now."""
    rid = reminder.id
    if reminder.patient_status != "active":
        return Settlement(rid, "cancelled", reason="patient_not_active")
    paused = reminder.reminders_paused_until
    if paused is not None and paused > now:
        return Settlement(rid, "cancelled", reason="paused")
    if reminder.window_status == "completed":
        return Settlement(rid, "cancelled", reason="answered")
    if reminder.window_status == "cancelled":
        return Settlement(rid, "cancelled", reason="window_cancelled")
    if reminder.window_status == "missed" or reminder.expires_at <= now:
        return Settlement(rid, "expired", reason="window_closed")
    quiet = reminder.quiet
    tz = zone(reminder.timezone)
    if quiet is not None and in_quiet_hours(now, quiet, tz):
        # Due again (a retry, a lease that ran out) while the patient sleeps: wait.
        after = after_quiet_hours(now, quiet, tz)
        if after >= reminder.expires_at:
            return Settlement(rid, "expired", reason="quiet_hours")
        return Settlement(rid, "pending", next_attempt_at=after, reason="quiet_hours")
    return None


def settle(
    reminder: Claimed,
    outcomes: list[Outcome],
    now: datetime,
    settings: Settings,
    rng: random.Random,
) -> Settlement:
    """What becomes of a reminder after its sends: sent if any push service took it, failed
    when every subscription is gone or refused it, else tried again later with backoff (and
    Retry-After), never after its window closes nor during the patient's quiet hours."""
    rid = reminder.id
    if any(o.accepted for o in outcomes):
        return Settlement(rid, "sent", sent_at=now)
    if all(o.gone for o in outcomes):
        return Settlement(rid, "failed", reason="subscription_gone")
    retry = [o for o in outcomes if o.retryable]
    tried = [o for o in outcomes if o.error != "not_sent"]
    last = describe(tried[-1]) if tried else "not sent before the lease ended"
    if not retry:
        refused = next(o for o in outcomes if not o.gone)
        return Settlement(rid, "failed", reason=f"refused: {describe(refused)}")
    if tried and reminder.attempts >= settings.push_max_attempts:
        return Settlement(rid, "failed", reason=f"gave up after {reminder.attempts}: {last}")
    doublings = min(max(reminder.attempts - 1, 0), 30)
    base = settings.push_retry_base_seconds * 2**doublings
    delay = min(MAX_BACKOFF.total_seconds(), base) * rng.uniform(0.5, 1.0)
    if not tried:
        delay = NOT_SENT_RETRY  # nothing went out: claim it again soon
    asked = max((o.retry_after or 0.0) for o in retry)
    next_at = now + timedelta(seconds=max(delay, asked))
    quiet = reminder.quiet
    if quiet is not None:
        next_at = after_quiet_hours(next_at, quiet, zone(reminder.timezone))
    if next_at >= reminder.expires_at:
        return Settlement(rid, "expired", reason=f"window_closed: {last}")
    return Settlement(rid, "pending", next_attempt_at=next_at, reason=last)
