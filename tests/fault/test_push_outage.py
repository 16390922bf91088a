"""A push service misbehaving for a while: timeouts, 5xx, a 429 storm, dropped connections.

A real `checkin serve` (two worker processes, each with its dispatcher) sends reminders to the
fake push service while it goes through an outage in phases, then recovers. The outage lasts
seconds, not minutes: the server is configured with a short backoff base, timeout and attempt
limit, and each phase ends when the dispatcher has met it (read from PostgreSQL), not after a
fixed time. What is checked comes from the reminder and push_attempt rows and from what the
push service saw:

- every attempt is spaced at least as the backoff promises (base doubling per attempt, jittered
  down to half at most) and at least as long as the Retry-After the service asked for;
- no reminder is tried more than PUSH_MAX_ATTEMPTS times, and the service saw exactly the
  attempts that were recorded;
- every reminder ends sent (once, after the recovery), failed with the reason (the last answer)
  or expired with the window; none is left pending or sending;
- check-ins and /healthz are answered normally all along.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

import httpx
import pytest

from server import db
from server.settings import Settings
from tests.conftest import MakeDatabase
from tests.fault.waits import until
from tests.support import seed
from tests.support.factories import checkin_body, enrolled_patient, make_clinic, now
from tests.support.fakepush import Behaviour, FakePushService, Request, Subscriber
from tests.support.live import ServerProcess, push_settings, start_server

pytestmark = pytest.mark.slow

BASE = 0.5  # PUSH_RETRY_BASE_SECONDS
TIMEOUT = 1.0  # PUSH_TIMEOUT_SECONDS
MAX_ATTEMPTS = 5  # PUSH_MAX_ATTEMPTS
RETRY_AFTER = 3  # what the 429 storm asks for, in seconds or as an HTTP-date
FINAL = {"sent", "failed", "expired", "cancelled"}

HANG = Behaviour(hang=True)
SERVER_ERRORS = [Behaviour(500), Behaviour(502), Behaviour(503)]
STORM = [
    Behaviour(429, retry_after=RETRY_AFTER),
    Behaviour(429, retry_after_date=RETRY_AFTER),
    Behaviour(429),
    Behaviour(close=True),
]


@pytest.fixture
def outage_server(
    make_database: MakeDatabase, push: FakePushService
) -> Iterator[Callable[[], Awaitable[tuple[str, ServerProcess]]]]:
    started: list[ServerProcess] = []

    async def start() -> tuple[str, ServerProcess]:
        url = await make_database()
        push.expected_vapid_key = None  # a fresh database makes a VAPID key of its own
        server = await asyncio.to_thread(
            start_server,
            url,
            workers=2,
            **push_settings(
                push,
                PUSH_RETRY_BASE_SECONDS=str(BASE),
                PUSH_TIMEOUT_SECONDS=str(TIMEOUT),
                PUSH_MAX_ATTEMPTS=str(MAX_ATTEMPTS),
                PUSH_LEASE_SECONDS="10",
            ),
        )
        started.append(server)
        return url, server

    yield start
    for server in started:
        server.stop()


class Group:
    """Reminders seeded together, one subscriber (one patient) each."""

    def __init__(self, subscribers: list[Subscriber], ids: list[uuid.UUID]) -> None:
        self.subscribers = subscribers
        self.ids = ids
        self.token_of = {i: s.token for i, s in zip(ids, subscribers, strict=True)}


async def due_now(pool: db.Pool, push: FakePushService, count: int) -> Group:
    subscribers = [push.new_subscriber() for _ in range(count)]
    async with pool.acquire() as conn:
        ids = await seed.due_reminders(conn, [s.subscription_info() for s in subscribers], now())
    return Group(subscribers, ids)


async def every_one_has(pool: db.Pool, ids: list[uuid.UUID], where: str) -> bool:
    """Every reminder has an attempt matching ``where`` (SQL on push_attempt a)."""
    got = await pool.fetchval(
        f"select count(distinct a.reminder_id) from push_attempt a"
        f" where a.reminder_id = any($1::uuid[]) and ({where})",
        ids,
    )
    return bool(got == len(ids))


async def all_final(pool: db.Pool, ids: list[uuid.UUID]) -> bool:
    waiting = await pool.fetchval(
        "select count(*) from reminder where id = any($1::uuid[])"
        " and status in ('pending', 'sending')",
        ids,
    )
    return bool(waiting == 0)


class Traffic:
    """Patients checking in and a load balancer probing /healthz while the outage lasts."""

    def __init__(self, http: httpx.AsyncClient, patients: list[dict[str, str]]) -> None:
        self.http = http
        self.patients = patients
        self.checkins: collections.Counter[int] = collections.Counter()
        self.health: collections.Counter[int] = collections.Counter()
        self.errors: list[str] = []

    async def run(self, stop: asyncio.Event) -> None:
        for auth in itertools.cycle(self.patients):
            if stop.is_set():
                return
            try:
                posted = await self.http.post("/api/checkins", json=checkin_body(), headers=auth)
                self.checkins[posted.status_code] += 1
                self.health[(await self.http.get("/healthz")).status_code] += 1
            except httpx.HTTPError as exc:
                self.errors.append(type(exc).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.05)


def least_wait(attempt: int, request: Request, at: datetime) -> float:
    """The shortest wait the dispatcher promises after its ``attempt``-th try (1-based) that the
    push service answered as ``request`` records: the backoff jittered down to half, or the
    Retry-After asked for if longer."""
    wait = BASE * 2 ** (attempt - 1) * 0.5
    header = request.retry_after
    if request.answer == 429 and header is not None:
        if header.isdigit():
            asked = float(header)
        else:
            asked = parsedate_to_datetime(header).timestamp() - at.timestamp()
        wait = max(wait, asked)
    return wait


def describe(request: Request) -> str:
    """The reason the dispatcher records for this answer."""
    if request.answer == "hang":
        return "timeout"
    if request.answer == "close":
        return "connection"
    return f"push service answered {request.answer}"


async def test_an_outage_is_backed_off_and_every_reminder_ends_settled(
    outage_server: Callable[[], Awaitable[tuple[str, ServerProcess]]],
    push: FakePushService,
) -> None:
    push.set_default(HANG)  # down before the first reminder goes out
    url, server = await outage_server()
    settings = Settings(public_url=server.url)
    pool = await db.create_pool(settings, url)
    stop = asyncio.Event()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=20.0) as http:
            clinic = await make_clinic(pool, "UTC")
            patients = []
            for _ in range(4):
                _, auth = await enrolled_patient(pool, settings, http, clinic.id, timezone="UTC")
                patients.append(auth)
            traffic = Traffic(http, patients)
            load = asyncio.create_task(traffic.run(stop))

            # Reminders due now that will give up during the outage, and some whose window
            # closes during it.
            early = await due_now(pool, push, 100)
            closing = await due_now(pool, push, 20)
            await pool.execute(
                "with r as (update reminder set expires_at = $2 where id = any($1::uuid[])"
                " returning due_id) update checkin_due set closes_at = $2"
                " where id in (select due_id from r)",
                closing.ids, now() + timedelta(seconds=4),
            )  # fmt: skip

            await until(
                lambda: every_one_has(pool, early.ids, "a.error = 'timeout'"),
                "every early reminder timed out once",
            )
            push.set_default(SERVER_ERRORS)
            await until(
                lambda: every_one_has(pool, early.ids, "a.status_code >= 500"),
                "every early reminder got a 5xx",
            )
            push.set_default(STORM)
            await until(lambda: all_final(pool, early.ids + closing.ids), "early ones settled")
            # A new wave falls due in the middle of the storm; it outlasts the outage. Answers
            # are dealt in turn across all requests, so dropped connections could use up a late
            # reminder's five attempts by chance: the storm it meets is 429s only.
            push.set_default(STORM[:3])
            late = await due_now(pool, push, 60)
            await until(
                lambda: every_one_has(pool, late.ids, "a.status_code = 429"),
                "every late reminder got a 429",
            )
            push.set_default(None)
            await until(lambda: all_final(pool, late.ids), "late ones settled")

            stop.set()
            await load

        groups = {"early": early, "closing": closing, "late": late}
        rows = {
            name: await pool.fetch(
                "select id, status::text as status, attempts, final_reason, next_attempt_at,"
                " sent_at from reminder where id = any($1::uuid[])",
                group.ids,
            )
            for name, group in groups.items()
        }
        attempts = collections.defaultdict(list)
        for a in await pool.fetch(
            "select reminder_id, at, status_code, error from push_attempt"
            " where reminder_id = any($1::uuid[]) order by at, id",
            early.ids + closing.ids + late.ids,
        ):
            attempts[a["reminder_id"]].append(a)
        delivered = collections.Counter(
            d.json["reminder_id"] for d in push.deliveries if isinstance(d.json, dict)
        )

        for name, group in groups.items():
            for row in rows[name]:
                rid = row["id"]
                tried = attempts[rid]
                requests = push.requests_for(group.token_of[rid])
                context = (name, dict(row), [dict(a) for a in tried], requests)
                # The push service saw exactly the attempts recorded, never more than allowed
                # (a claim that finds the window closed settles it without sending).
                assert len(tried) == len(requests), context
                unsent = 1 if row["status"] == "expired" else 0
                assert row["attempts"] - len(tried) in {0, unsent}, context
                assert len(tried) <= MAX_ATTEMPTS, context
                assert tried or name == "closing", context  # closing ones may expire unsent
                for k, (a, request) in enumerate(zip(tried, requests, strict=True), start=1):
                    if request.answer in ("hang", "close"):
                        assert a["status_code"] is None and a["error"] == describe(request)
                    else:
                        assert a["status_code"] == request.answer, context
                    if k < len(tried):
                        gap = (tried[k]["at"] - a["at"]).total_seconds()
                        assert gap >= least_wait(k, request, a["at"]), (k, gap, context)
                assert row["status"] in FINAL and row["next_attempt_at"] is None, context
                sends = delivered[str(rid)]
                if name == "early":
                    assert row["status"] == "failed", context
                    assert len(tried) == MAX_ATTEMPTS, context
                    reason = f"gave up after {MAX_ATTEMPTS}: {describe(requests[-1])}"
                    assert row["final_reason"] == reason, context
                    assert sends == 0
                elif name == "closing":
                    assert row["status"] == "expired", context
                    assert row["final_reason"].startswith("window_closed"), context
                    assert sends == 0
                else:
                    assert row["status"] == "sent", context
                    assert [r.answer for r in requests[:-1]].count(201) == 0, context
                    assert requests[-1].answer == 201 and sends == 1, context
                    assert tried[-1]["at"] <= row["sent_at"], context

        # Every phase of the outage was met by the early reminders.
        seen = collections.Counter(r.answer for g in groups.values() for s in g.subscribers
                                   for r in push.requests_for(s))  # fmt: skip
        assert {"hang", "close", 429, 500, 502, 503, 201} <= set(seen), seen
        assert not push.rejected  # every request was signed and encrypted correctly

        # The rest of the server answered as usual all along.
        assert traffic.errors == [] and set(traffic.checkins) == {201}, traffic.checkins
        assert set(traffic.health) == {200}, traffic.health
        assert sum(traffic.checkins.values()) >= 20
        # Nothing stuck anywhere, and the dispatchers are still running.
        stuck = await pool.fetchval("select count(*) from reminder where status = 'sending'")
        assert stuck == 0
        assert server.process.poll() is None
        assert "dispatcher: failed" not in server.output(), server.output()
    finally:
        stop.set()
        push.set_default(None)
        await pool.close()
