"""A soak: check-ins at a steady rate, a reminder wave every minute and coordinators' boards
refreshed, for ten minutes, against one `checkin serve`.

Starts `checkin serve` (its worker processes each run a dispatcher) and the fake push service
(its own process, verifying 1 message in 100), seeds a clinic of patients who check in (60 days
of history each) with its coordinators, and one wave of reminders per minute. Then, minute by
minute: the minute's wave falls due; check-ins arrive at a fixed rate (open loop: each request
leaves at its scheduled time and its latency counts from then); every coordinator reloads the
board every few seconds. Prints for each minute the check-ins' and the boards' p50/p99 and
errors, the wave's reminders still unsettled at the minute's end, and the server's memory (all
its processes), then the verdict: errors, the spread of the p99s, memory at start and end.

    python bench/soak.py [--minutes 10] [--rate 200] [--wave 1000] [--coordinators 20]
                         [--refresh 10] [--patients 2000] [--workers 2]

Uses TEST_DATABASE_URL or DATABASE_URL (a maintenance URL of a cluster) when set, otherwise the
embedded PostgreSQL in .data/bench-pg.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import ingest, loadgen  # noqa: E402
from bench.common import cluster_url, subscribers  # noqa: E402
from bench.dashboard import sign_in  # noqa: E402
from bench.push_outage import steady, wave  # noqa: E402
from bench.reminder_wave import start_fake  # noqa: E402
from server import db  # noqa: E402
from server.clinics import service as clinics  # noqa: E402
from server.settings import Settings  # noqa: E402
from tests.support import pg, seed  # noqa: E402
from tests.support.live import ServerProcess, start_server  # noqa: E402

PASSWORD = secrets.token_urlsafe(16)


def rss_mib(server: ServerProcess) -> float:
    root = psutil.Process(server.process.pid)
    tree = [root, *root.children(recursive=True)]
    return sum(p.memory_info().rss for p in tree if p.is_running()) / 2**20


async def coordinators(url: str, count: int) -> list[str]:
    """Coordinators of the bench clinic (the one ingest.seed made); their emails."""
    now = datetime.now(UTC)
    emails = []
    async with db.connection(url) as conn:
        clinic_id = await conn.fetchval("select id from clinic where name = 'Bench Clinic'")
        for i in range(count):
            made = await clinics.create_coordinator(
                conn,
                clinic_id=clinic_id,
                email=f"soak{i}@clinic.test",
                display_name=f"Coordinator {i}",
                role="coordinator",
                password=PASSWORD,
                now=now,
            )
            emails.append(made.email)
    return emails


async def boards(
    clients: list[httpx.AsyncClient], every: float, until: float, seen: list[float | None]
) -> None:
    """Each signed-in coordinator reloads the board every ``every`` seconds (staggered) until
    ``until``; each reload's seconds go to ``seen`` (None for an error)."""

    async def coordinator(i: int, client: httpx.AsyncClient) -> None:
        await asyncio.sleep(every * i / len(clients))
        while time.perf_counter() < until:
            started = time.perf_counter()
            try:
                response = await client.get("/coordinator/board")
                ok = response.status_code == 200
            except httpx.HTTPError:
                ok = False
            seen.append(time.perf_counter() - started if ok else None)
            await asyncio.sleep(max(0.0, every - (time.perf_counter() - started)))

    await asyncio.gather(*(coordinator(i, c) for i, c in enumerate(clients)))


def board_columns(seen: list[float | None]) -> str:
    took = [t for t in seen if t is not None]
    errors = len(seen) - len(took)
    if not took:
        return f"{0:>6} {'-':>7} {'-':>7} {errors:>6}"
    result = loadgen.Result(1.0, took)
    return (
        f"{len(seen):>6} {result.percentile(50) * 1000:>5.1f}ms "
        f"{result.percentile(99) * 1000:>5.1f}ms {errors:>6}"
    )


async def unsettled(url: str, ids: list[Any]) -> int:
    async with db.connection(url) as conn:
        count: int = await conn.fetchval(
            "select count(*) from reminder where id = any($1::uuid[])"
            " and status in ('pending', 'sending')",
            ids,
        )
    return count


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=int, default=10)
    parser.add_argument("--rate", type=float, default=200.0, help="check-ins per second")
    parser.add_argument("--wave", type=int, default=1000, help="reminders per minute")
    parser.add_argument("--coordinators", type=int, default=20)
    parser.add_argument("--refresh", type=float, default=10.0, help="seconds between reloads")
    parser.add_argument("--patients", type=int, default=2000, help="patients checking in")
    parser.add_argument("--workers", type=int, default=Settings().workers)
    args = parser.parse_args()

    cluster = cluster_url()
    url = await pg.create_database(cluster, pg.new_name("checkin_soak"))
    fake, origin = start_fake(100)
    server: ServerProcess | None = None
    try:
        async with db.connection(url) as conn:
            await db.migrate(conn)
        tokens = await ingest.seed(url, args.patients)
        emails = await coordinators(url, args.coordinators)
        subscriptions = await subscribers(origin, args.minutes * args.wave, wait=300)
        later = datetime.now(UTC) + timedelta(hours=1)
        waves = []
        async with db.connection(url) as conn:
            for minute in range(args.minutes):
                part = subscriptions[minute * args.wave : (minute + 1) * args.wave]
                waves.append(await seed.due_reminders(conn, part, later))
            await conn.execute("analyze")

        server = start_server(url, workers=args.workers, PUSH_ALLOWED_ORIGINS=origin)
        await ingest.open_windows(server.url, tokens)
        make = ingest.checkin_requests(tokens)
        await steady(server.url, make, args.rate, 5.0)  # warm-up
        start_rss = rss_mib(server)
        print(
            f"{args.minutes} minutes: check-ins at {args.rate:.0f}/s from {args.patients} "
            f"patients, a wave of {args.wave} reminders every minute, {args.coordinators} "
            f"coordinators reloading the board every {args.refresh:.0f} s; "
            f"{args.workers} server process(es), {os.cpu_count()} CPUs; "
            f"server RSS at start {start_rss:.0f} MiB",
            flush=True,
        )
        print(
            f"{'minute':>6} {'check-ins/s':>11} {'p50':>7} {'p99':>7} {'errors':>6}   "
            f"{'boards':>6} {'p50':>7} {'p99':>7} {'errors':>6}   {'unsettled':>9} {'RSS MiB':>8}"
        )
        # Signed in before the clock starts: a sign-in's Argon2 check is meant to be slow.
        staff = [httpx.AsyncClient(base_url=server.url, timeout=30) for _ in emails]
        for client, email in zip(staff, emails, strict=True):
            await sign_in(client, email, PASSWORD)
        end = time.perf_counter() + args.minutes * 60.0
        seen: list[float | None] = []
        board_task = asyncio.create_task(boards(staff, args.refresh, end, seen))
        minutes: list[tuple[loadgen.Result, float]] = []
        board_p99s: list[float] = []
        for minute in range(args.minutes):
            first = len(seen)
            await wave(url, waves[minute])
            checkins = await steady(server.url, make, args.rate, 60.0)
            left = await unsettled(url, waves[minute])
            rss = rss_mib(server)
            minutes.append((checkins, rss))
            this_minute = seen[first:]
            took = [t for t in this_minute if t is not None]
            if took:
                board_p99s.append(loadgen.Result(1.0, took).percentile(99) * 1000)
            print(
                f"{minute + 1:>6} {checkins.ok / 60:>11.0f} "
                f"{checkins.percentile(50) * 1000:>5.1f}ms "
                f"{checkins.percentile(99) * 1000:>5.1f}ms {checkins.failed:>6}   "
                f"{board_columns(this_minute)}   {left:>9} {rss:>8.0f}",
                flush=True,
            )
        await board_task
        for client in staff:
            await client.aclose()
        board_errors = sum(1 for t in seen if t is None)
        total_errors = sum(m.failed for m, _ in minutes) + board_errors
        p99s = [m.percentile(99) * 1000 for m, _ in minutes]
        left = sum([await unsettled(url, ids) for ids in waves])
        print(
            f"check-ins {sum(m.ok for m, _ in minutes)}, board reloads {len(seen)}, errors "
            f"{total_errors}; p99 per minute: check-ins {min(p99s):.1f}-{max(p99s):.1f} ms, "
            f"boards {min(board_p99s, default=0):.1f}-{max(board_p99s, default=0):.1f} ms; "
            f"reminders unsettled at the end {left}; "
            f"server RSS {start_rss:.0f} MiB at start, {minutes[-1][1]:.0f} MiB at the end"
        )
    finally:
        if server is not None:
            server.stop()
        fake.terminate()
        fake.wait(timeout=10)
        await pg.drop_database(cluster, url.rsplit("/", 1)[1])


if __name__ == "__main__":
    asyncio.run(main())
