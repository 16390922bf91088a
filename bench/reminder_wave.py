"""A wave of reminders all due in the same minute, through the real dispatcher.

Seeds N patients with one push subscription each (on the fake push service, run as its own
process and verifying and decrypting 1 message in 100), starts `checkin serve` (its default
worker processes each run a dispatcher), then makes every reminder due at once. Prints
messages/s, the time until the push service accepted the last one, CPU per message, and the
same wave sent by a plain loop of `pywebpush.webpush()` for comparison.

    python bench/reminder_wave.py [--patients 10000] [--workers 2] [--loop-sample 2000]

PUSH_* settings in the environment (PUSH_BATCH_SIZE, PUSH_CONCURRENCY, ...) are handed to the
server, to try other values. Uses TEST_DATABASE_URL or DATABASE_URL (a maintenance URL of a
cluster) when set, otherwise the embedded PostgreSQL in .data/bench-pg.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from py_vapid import Vapid02  # noqa: E402
from pywebpush import webpush  # noqa: E402

from bench.common import cluster_url, push_settings_from_env, subscribers  # noqa: E402
from server import db  # noqa: E402
from server.settings import Settings  # noqa: E402
from tests.support import pg, seed  # noqa: E402
from tests.support.live import ServerProcess, start_server  # noqa: E402


def cpu_of(processes: list[psutil.Process]) -> float:
    total = 0.0
    for p in processes:
        try:
            t = p.cpu_times()
        except psutil.Error:
            continue
        total += t.user + t.system
    return total


def postgres_processes() -> list[psutil.Process]:
    return [p for p in psutil.process_iter(["name"]) if p.info["name"] == "postgres"]


def start_fake(verify_every: int) -> tuple[subprocess.Popen[str], str]:
    command = [sys.executable, "-m", "tests.support.fakepush", "--port", "0"]
    process = subprocess.Popen(
        [*command, "--verify-every", str(verify_every)], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    if not line.startswith("READY "):
        process.kill()
        raise RuntimeError(f"fake push service did not start: {line!r}")
    return process, line.split(" ", 1)[1]


def stats(origin: str) -> dict[str, Any]:
    result: dict[str, Any] = httpx.get(f"{origin}/_control/stats").json()
    return result


def plain_loop(subscriptions: list[dict[str, Any]], origin: str) -> tuple[float, float]:
    """The same messages sent one by one with pywebpush.webpush(); (messages/s, CPU us/msg)."""
    vapid = Vapid02()
    vapid.generate_keys()
    me = psutil.Process()
    payload = json.dumps({"type": "checkin_reminder", "title": "Time for your check-in"})
    httpx.post(f"{origin}/_control/reset")
    cpu0, t0 = cpu_of([me]), time.perf_counter()
    for sub in subscriptions:
        webpush(
            subscription_info=sub,
            data=payload,
            vapid_private_key=vapid,
            vapid_claims={"sub": "mailto:bench@example.org"},  # a fresh dict: it is written to
            ttl=3600,
            headers={"Urgency": "high"},
            timeout=10,
        )
    elapsed = time.perf_counter() - t0
    cpu = cpu_of([me]) - cpu0
    accepted = stats(origin)["accepted"]
    assert accepted == len(subscriptions), f"plain loop: {accepted} of {len(subscriptions)}"
    return len(subscriptions) / elapsed, cpu / len(subscriptions) * 1e6


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=Settings().workers)
    parser.add_argument("--verify-every", type=int, default=100)
    parser.add_argument(
        "--loop-sample", type=int, default=0, help="send only this many with the plain loop"
    )
    args = parser.parse_args()

    cluster = cluster_url()
    url = await pg.create_database(cluster, pg.new_name("checkin_wave"))
    fake, origin = start_fake(args.verify_every)
    server: ServerProcess | None = None
    try:
        async with db.connection(url) as conn:
            await db.migrate(conn)
        subscriptions = await subscribers(origin, args.patients, wait=120)
        later = datetime.now(UTC) + timedelta(hours=1)
        async with db.connection(url) as conn:
            ids = await seed.due_reminders(conn, subscriptions, later)
            await conn.execute("analyze")

        server = start_server(
            url, workers=args.workers, PUSH_ALLOWED_ORIGINS=origin, **push_settings_from_env()
        )
        await asyncio.sleep(1.0)  # dispatchers listening
        tree = psutil.Process(server.process.pid)
        server_procs = [tree, *tree.children(recursive=True)]
        await asyncio.to_thread(httpx.post, f"{origin}/_control/reset")
        fake_proc = [psutil.Process(fake.pid)]
        cpu_server, cpu_pg, cpu_fake = (
            cpu_of(server_procs),
            cpu_of(postgres_processes()),
            cpu_of(fake_proc),
        )

        async with db.connection(url) as conn:
            wave_at = time.time()
            await conn.execute(
                "update reminder set send_at = now(), next_attempt_at = now(),"
                " expires_at = now() + interval '6 hours'"
            )
        while (done := await asyncio.to_thread(stats, origin))["accepted"] < len(ids):
            if time.time() - wave_at > 300:
                raise RuntimeError(f"wave not accepted after 300 s: {done}")
            await asyncio.sleep(0.05)
        used_server = cpu_of(server_procs) - cpu_server
        used_pg = cpu_of(postgres_processes()) - cpu_pg
        used_fake = cpu_of(fake_proc) - cpu_fake
        await asyncio.sleep(0.5)
        async with db.connection(url) as conn:
            sent = await conn.fetchval("select count(*) from reminder where status = 'sent'")
            attempts = await conn.fetchval("select count(*) from push_attempt")
        elapsed = done["last_at"] - wave_at
        n = len(ids)
        print(
            f"{n} reminders due at once, {args.workers} server process(es) dispatching, "
            f"{os.cpu_count()} CPUs; fake push service verifying 1 in {args.verify_every}"
        )
        print(
            f"  dispatcher:  last accepted after {elapsed:.2f} s (first after "
            f"{done['first_at'] - wave_at:.2f} s): {n / elapsed:.0f} messages/s"
        )
        print(
            f"               CPU per message: server {used_server / n * 1e6:.0f} us, PostgreSQL "
            f"{used_pg / n * 1e6:.0f} us (push service {used_fake / n * 1e6:.0f} us)"
        )
        print(
            f"               stored as sent {sent}, attempts recorded {attempts}, "
            f"accepted {done['accepted']}, verified {done['verified']}, rejected {done['rejected']}"
        )
        sample = subscriptions[: args.loop_sample] if args.loop_sample else subscriptions
        rate, cpu = await asyncio.to_thread(plain_loop, sample, origin)
        print(
            f"  plain loop of pywebpush.webpush(), {len(sample)} messages: {rate:.0f} messages/s, "
            f"CPU {cpu:.0f} us per message; the whole wave would take {n / rate:.1f} s"
        )
        print(f"  dispatcher / plain loop: {n / elapsed / rate:.1f}x")
    finally:
        if server is not None:
            server.stop()
        fake.terminate()
        fake.wait(timeout=10)
        await pg.drop_database(cluster, url.rsplit("/", 1)[1])


if __name__ == "__main__":
    asyncio.run(main())
