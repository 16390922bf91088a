"""Dashboard pages at clinic scale: the board, the patients list and a patient page.

Seeds 20,000 patients in 10 clinics with a year of daily check-ins (about 7 million rows, with
COPY: bench/dashboard_seed.py), starts `checkin serve`, signs in as a coordinator of the
2,000-patient clinic and times each page (sequential requests on loopback, after a warm-up),
then prints the query plans of the statements behind them. Target: p95 under 100 ms per page.

    python bench/dashboard.py [--patients 20000] [--requests 60] [--keep NAME | --reuse NAME]

--keep leaves the seeded database for another run; --reuse NAME times an existing one.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import cluster_url  # noqa: E402
from bench.dashboard_seed import seed  # noqa: E402
from server import db  # noqa: E402
from server.coordinators.board import BOARD_ROWS  # noqa: E402
from server.db import q  # noqa: E402
from tests.support import pg  # noqa: E402
from tests.support.live import ServerProcess, clean_env, free_port  # noqa: E402

BENCH_PASSWORD = "bench-dashboard-password"  # noqa: S105 - a throwaway database


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def sign_in(client: httpx.AsyncClient, email: str, password: str) -> None:
    form = await client.get("/coordinator/sign-in")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token, "no sign-in form"
    answer = await client.post(
        "/coordinator/sign-in",
        data={"csrf_token": token.group(1), "email": email, "password": password},
    )
    assert answer.status_code == 302, answer.text[:500]


async def timed(client: httpx.AsyncClient, paths: list[str], requests: int) -> list[float]:
    for path in paths[:5]:  # warm-up: caches, prepared statements, templates
        await client.get(path)
    took = []
    for i in range(requests):
        path = paths[i % len(paths)]
        started = time.perf_counter()
        response = await client.get(path)
        took.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (path, response.status_code)
    return took


def report(name: str, took: list[float]) -> None:
    print(
        f"{name:<34} n={len(took):>3}  p50 {statistics.median(took):6.1f} ms  "
        f"p95 {percentile(took, 95):6.1f} ms  p99 {percentile(took, 99):6.1f} ms  "
        f"max {max(took):6.1f} ms  {'OK' if percentile(took, 95) < 100 else 'OVER'}"
    )


async def plans(url: str, clinic_id: Any, patient_id: Any) -> None:
    now = datetime.now(UTC)
    statements: list[tuple[str, str, tuple[Any, ...]]] = [
        ("board", q("board.board"), (clinic_id, now, BOARD_ROWS)),
        (
            "patients list (name order, page 1)",
            q("board.patients_page"),
            (clinic_id, None, None, None, None, False, "name", 50, 0, now),
        ),
        (
            "patients list (adherence < 50%, by adherence)",
            q("board.patients_page"),
            (clinic_id, None, None, None, 50, False, "adherence", 50, 0, now),
        ),
        ("patient page: trend by day (180 days)", q("checkins.trend_days"),
         (patient_id, now.replace(year=now.year - 1), now)),
        ("patient page: check-ins (30)", q("checkins.history"), (patient_id, None, None, 31)),
        ("patient page: detail", q("patients.detail_for_clinic"), (patient_id, clinic_id, now)),
    ]  # fmt: skip
    async with db.connection(url) as conn:
        for name, sql, args in statements:
            rows = await conn.fetch(f"explain (analyze, buffers, costs off) {sql}", *args)
            print(f"\n--- plan: {name}")
            for row in rows:
                print(row[0])


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=20_000)
    parser.add_argument("--clinics", type=int, default=10)
    parser.add_argument("--big-clinic", type=int, default=2_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--keep", metavar="NAME", help="seed into NAME and keep it")
    parser.add_argument("--reuse", metavar="NAME", help="time an already seeded database")
    parser.add_argument("--no-plans", action="store_true")
    args = parser.parse_args()
    cluster = cluster_url()
    name = args.reuse or args.keep or pg.new_name("checkin_dashboard")
    url = pg.with_database(cluster, name)
    if not args.reuse:
        await pg.create_database(cluster, name)
        async with db.connection(url, command_timeout=None) as conn:
            await db.migrate(conn)
        seeded = await seed(
            url,
            clinics=args.clinics,
            patients=args.patients,
            big_clinic=args.big_clinic,
            days=args.days,
        )
        print(f"seeded in {seeded.seconds:.0f} s: " + ", ".join(
            f"{table} {count:,}" for table, count in seeded.counts.items()
        ))  # fmt: skip
    server: ServerProcess | None = None
    try:
        async with db.connection(url) as conn:
            # The clinic the seeder made with exactly --big-clinic patients (the others vary).
            clinic_id = await conn.fetchval(
                "select clinic_id from patient group by clinic_id"
                " order by abs(count(*) - $1), count(*) desc limit 1",
                args.big_clinic,
            )
            size = await conn.fetchval(
                "select count(*) from patient where clinic_id = $1", clinic_id
            )
            rows = await conn.fetchval("select count(*) from checkin")
            email = f"bench-{str(clinic_id)[:8]}@dashboard.test"  # one per clinic timed
            if not await conn.fetchval("select 1 from coordinator where email = $1", email):
                from server.clinics import service as clinics

                await clinics.create_coordinator(
                    conn, clinic_id=clinic_id, email=email, display_name="Bench",
                    role="admin", password=BENCH_PASSWORD, now=datetime.now(UTC),
                )  # fmt: skip
            sample = [
                r["id"]
                for r in await conn.fetch(
                    "select id from patient where clinic_id = $1 and status = 'active'"
                    " order by id limit 20",
                    clinic_id,
                )
            ]
        print(f"database {name}: {rows:,} check-ins; timing the clinic of {size:,} patients")
        port = free_port()
        server = ServerProcess(
            [sys.executable, "-m", "server", "serve"],
            clean_env(DATABASE_URL=url, PORT=str(port), WORKERS=str(args.workers),
                      LOG_LEVEL="warning", DISPATCHER="false"),
            port,
        )  # fmt: skip
        server.wait_healthy(timeout=120)
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
            await sign_in(client, email, BENCH_PASSWORD)
            board = await timed(client, ["/coordinator/board"], args.requests)
            listing = await timed(client, ["/coordinator/patients"], args.requests)
            filtered = await timed(
                client,
                ["/coordinator/patients?adherence_below=50&sort=adherence"],
                args.requests,
            )
            patient = await timed(
                client, [f"/coordinator/patients/{p}" for p in sample], args.requests
            )
        print(f"\n{args.workers} server processes, sequential requests on loopback:")
        report("board", board)
        report("patients list", listing)
        report("patients list, adherence < 50%", filtered)
        report("patient page (20 patients)", patient)
        if not args.no_plans:
            await plans(url, clinic_id, sample[0])
    finally:
        if server is not None:
            server.stop()
        if not (args.keep or args.reuse):
            await pg.drop_database(cluster, name)


if __name__ == "__main__":
    asyncio.run(main())
