"""Check-in latency while a reminder wave meets a misbehaving push service.

Starts `checkin serve` (its worker processes each run a dispatcher) and the fake push service
(its own process, verifying 1 message in 100), seeds patients who check in and two waves of
reminders, then posts check-ins at a steady rate (open loop: each request leaves at its
scheduled time, and its latency counts from then) three times:

1. no reminders going out (for reference);
2. the push service healthy while the first wave is sent;
3. the push service misbehaving while the second wave falls due: it hangs (the dispatcher's
   timeout), then answers 500/502/503, then a 429 storm (Retry-After in seconds, as an
   HTTP-date, or none; some connections dropped), then recovers.

Prints p50/p95/p99 and errors of each, the ratio of the outage's p99 to the healthy wave's
(target: within 20%), then what the dispatchers did with the second wave: attempts by answer
and final states with their reasons.

    python bench/push_outage.py [--rate 200] [--duration 24] [--wave 5000] [--workers 2]

The outage lasts seconds, not minutes: the server gets PUSH_RETRY_BASE_SECONDS=1 and
PUSH_TIMEOUT_SECONDS=2 unless PUSH_* settings in the environment say otherwise. Uses
TEST_DATABASE_URL or DATABASE_URL (a maintenance URL of a cluster) when set, otherwise the
embedded PostgreSQL in .data/bench-pg.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import ingest, loadgen  # noqa: E402
from bench.common import cluster_url, push_settings_from_env, subscribers  # noqa: E402
from bench.reminder_wave import start_fake, stats  # noqa: E402
from server import db  # noqa: E402
from server.settings import Settings  # noqa: E402
from tests.support import pg, seed  # noqa: E402
from tests.support.live import ServerProcess, start_server  # noqa: E402

# (seconds from the start of the outage, the push service's default answer as /_control/default
# takes it); the last phase is the recovery.
OUTAGE = [
    (0.0, {"hang": True}),
    (6.0, [{"status": 500}, {"status": 502}, {"status": 503}]),
    (12.0, [
        {"status": 429, "retry_after": 5},
        {"status": 429, "retry_after_date": 5},
        {"status": 429},
        {"close": True},
    ]),
    (18.0, {}),
]  # fmt: skip


async def steady(
    base_url: str, make: loadgen.Callable[[], loadgen.Request], rate: float, duration: float
) -> loadgen.Result:
    """Requests at a fixed rate whatever the answers take (open loop)."""
    result = loadgen.Result(duration)
    connector = aiohttp.TCPConnector(limit=512)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(base_url, connector=connector, timeout=timeout) as session:

        async def one(at: float) -> None:
            path, body, headers = make()
            try:
                async with session.post(path, data=body, headers=headers) as response:
                    await response.read()
                    status = response.status
            except (aiohttp.ClientError, TimeoutError) as exc:
                result.errors[type(exc).__name__] += 1
                return
            result.latencies.append(time.perf_counter() - at)
            result.statuses[status] += 1
            result.total += 1
            result.created_total += status == 201

        start = time.perf_counter()
        tasks = []
        for i in range(int(rate * duration)):
            at = start + i / rate
            delay = at - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(at)))
        await asyncio.gather(*tasks)
    return result


async def wave(url: str, ids: list[Any]) -> None:
    """Make the wave's reminders due now."""
    async with db.connection(url) as conn:
        await conn.execute(
            "update reminder set send_at = now(), next_attempt_at = now(),"
            " expires_at = now() + interval '6 hours' where id = any($1::uuid[])",
            ids,
        )


async def outage(origin: str, started: asyncio.Event) -> None:
    async with httpx.AsyncClient(base_url=origin, timeout=10) as client:
        begin = time.perf_counter()
        for at, default in OUTAGE:
            await asyncio.sleep(max(0.0, begin + at - time.perf_counter()))
            (await client.post("/_control/default", json=default)).raise_for_status()
            started.set()


async def settled(url: str, ids: list[Any], within: float) -> float:
    began = time.perf_counter()
    while time.perf_counter() - began < within:
        async with db.connection(url) as conn:
            waiting = await conn.fetchval(
                "select count(*) from reminder where id = any($1::uuid[])"
                " and status in ('pending', 'sending')",
                ids,
            )
        if waiting == 0:
            break
        await asyncio.sleep(0.5)
    return time.perf_counter() - began


async def report(url: str, ids: list[Any]) -> None:
    async with db.connection(url) as conn:
        answers = await conn.fetch(
            "select coalesce(status_code::text, error) as answer, count(*) from push_attempt"
            " where reminder_id = any($1::uuid[]) group by 1 order by 2 desc",
            ids,
        )
        per = await conn.fetchrow(
            "select max(attempts) as most, avg(attempts)::float as mean from reminder"
            " where id = any($1::uuid[])",
            ids,
        )
        states = await conn.fetch(
            "select status::text as status, coalesce(final_reason, '') as reason, count(*)"
            " from reminder where id = any($1::uuid[]) group by 1, 2 order by 3 desc",
            ids,
        )
    total = sum(a["count"] for a in answers)
    print(
        f"  outage wave: {total} attempts ("
        + ", ".join(f"{a['answer']} {a['count']}" for a in answers)
        + f"); per reminder mean {per['mean']:.2f}, most {per['most']}"
    )
    print(
        "  final states: "
        + "; ".join(
            f"{s['status']}{' (' + s['reason'] + ')' if s['reason'] else ''} {s['count']}"
            for s in states
        )
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=200.0, help="check-ins per second")
    parser.add_argument("--duration", type=float, default=24.0, help="seconds of load per run")
    parser.add_argument("--wave", type=int, default=5000, help="reminders per wave")
    parser.add_argument("--patients", type=int, default=500, help="patients checking in")
    parser.add_argument("--workers", type=int, default=Settings().workers)
    args = parser.parse_args()

    cluster = cluster_url()
    url = await pg.create_database(cluster, pg.new_name("checkin_outage"))
    fake, origin = start_fake(100)
    server: ServerProcess | None = None
    try:
        async with db.connection(url) as conn:
            await db.migrate(conn)
        tokens = await ingest.seed(url, args.patients)
        subscriptions = await subscribers(origin, 2 * args.wave, wait=120)
        later = datetime.now(UTC) + timedelta(hours=1)
        async with db.connection(url) as conn:
            healthy_ids = await seed.due_reminders(conn, subscriptions[: args.wave], later)
            outage_ids = await seed.due_reminders(conn, subscriptions[args.wave :], later)
            await conn.execute("analyze")

        server = start_server(
            url,
            workers=args.workers,
            PUSH_ALLOWED_ORIGINS=origin,
            **({"PUSH_RETRY_BASE_SECONDS": "1", "PUSH_TIMEOUT_SECONDS": "2"}
               | push_settings_from_env()),
        )  # fmt: skip
        await ingest.open_windows(server.url, tokens)
        make = ingest.checkin_requests(tokens)
        await steady(server.url, make, args.rate, 3.0)  # warm-up
        print(
            f"check-ins at {args.rate:.0f}/s for {args.duration:.0f} s each, waves of {args.wave} "
            f"reminders, {args.workers} server process(es), {os.cpu_count()} CPUs"
        )

        quiet = await steady(server.url, make, args.rate, args.duration)
        print(quiet.line("no reminders"))

        load = asyncio.create_task(steady(server.url, make, args.rate, args.duration))
        await asyncio.sleep(2.0)
        await wave(url, healthy_ids)
        healthy = await load
        print(healthy.line("healthy push, wave"))

        # Down before the wave falls due; the load starts with it.
        async with httpx.AsyncClient(base_url=origin, timeout=10) as client:
            (await client.post("/_control/default", json={"hang": True})).raise_for_status()
            (await client.post("/_control/reset")).raise_for_status()
        started = asyncio.Event()
        phases = asyncio.create_task(outage(origin, started))
        await started.wait()
        load = asyncio.create_task(steady(server.url, make, args.rate, args.duration))
        await wave(url, outage_ids)
        failing = await load
        await phases
        print(failing.line("misbehaving push, wave"))
        ratio = failing.percentile(99) / healthy.percentile(99)
        verdict = "within" if ratio <= 1.2 else "NOT within"
        print(f"  p99 outage / p99 healthy wave: {ratio:.2f} ({verdict} 20%)")

        took = await settled(url, outage_ids, within=300.0)
        print(
            f"  outage wave settled {took:.1f} s after the load ended; "
            f"push service: {stats(origin)}"
        )
        await report(url, outage_ids)
        async with db.connection(url) as conn:
            stuck = await conn.fetchval("select count(*) from reminder where status = 'sending'")
        print(f"  reminders left sending: {stuck}; server alive: {server.process.poll() is None}")
    finally:
        if server is not None:
            server.stop()
        fake.terminate()
        fake.wait(timeout=10)
        await pg.drop_database(cluster, url.rsplit("/", 1)[1])


if __name__ == "__main__":
    asyncio.run(main())
