"""Check-in ingest under load, against the floor of our stack.

Starts `checkin serve` on a fresh database with N enrolled patients whose daily window is open,
then C connections post check-ins for D seconds (each a new id, from a random patient). The same
load generator runs against bench/floor_app.py (one INSERT per POST) with the same number of
server processes, alternating with the real server in rounds so both see the same machine.
Prints requests/s, p50/p95/p99, errors, CPU per request, memory, and whether every 201 is a
stored row.

    python bench/ingest.py [--patients 2000] [--concurrency 64] [--duration 30] [--workers 2]
                           [--rounds 3]

Uses TEST_DATABASE_URL or DATABASE_URL (a maintenance URL of a cluster) when set, otherwise the
embedded PostgreSQL in .data/bench-pg.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import msgspec
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import floor_app, loadgen  # noqa: E402
from bench.common import cluster_url  # noqa: E402
from server import db  # noqa: E402
from server.auth import store as auth_store  # noqa: E402
from server.auth.tokens import new_token  # noqa: E402
from server.clinics import service as clinics  # noqa: E402
from server.patients import service as patients  # noqa: E402
from server.patients.schemas import NewPatient  # noqa: E402
from server.settings import Settings  # noqa: E402
from tests.support import pg  # noqa: E402
from tests.support.live import ServerProcess, clean_env, free_port  # noqa: E402

ZONES = ["America/New_York", "Europe/London", "Asia/Kolkata", "Australia/Lord_Howe"]


async def seed(url: str, count: int) -> list[str]:
    """N enrolled patients whose daily window is open now; returns their device tokens."""
    now = datetime.now(UTC)
    tokens: list[str] = []
    async with db.connection(url) as conn:
        clinic = await clinics.create_clinic(conn, "Bench Clinic", "UTC", now=now)
        for i in range(count):
            zone = ZONES[i % len(ZONES)]
            local = now.astimezone(ZoneInfo(zone)) - timedelta(hours=1)
            new = NewPatient(display_name=f"P{i}", timezone=zone, reminder_time=f"{local:%H:%M}")
            created = await patients.create_patient(
                conn, Settings(), clinic.id, new, actor_kind="operator", actor_id=None, now=now
            )
            token, token_hash = new_token()
            await auth_store.insert_device(conn, created.patient_id, token_hash, now)
            tokens.append(token)
        await conn.execute(
            "update patient set status = 'active', created_at = now() - interval '61 days'"
        )
        # What a clinic's database holds: 60 days of daily check-ins each, half the patients
        # with an infusion series under way, so scoring reads real histories. Loaded in bulk,
        # without the per-row triggers.
        await conn.execute("set session_replication_role = replica")
        await conn.execute(HISTORY)
        await conn.execute("set session_replication_role = origin")
        await conn.execute("analyze")
    return tokens


HISTORY = """
insert into infusion_session (patient_id, scheduled_at, status)
select id, now() - interval '20 days', 'completed' from patient where random() < 0.5;
insert into checkin (id, patient_id, questionnaire, questionnaire_version, answered_at,
                     received_at, answers, scores, content_hash, outcome_metric, outcome_value)
select gen_random_uuid(), p.id, 'daily', 2, t, t,
       jsonb_build_object('pain_now', pain, 'pain_avg_24h', pain, 'fatigue', 4, 'sleep_quality', 5),
       jsonb_build_object('pain_now', pain, 'pain_avg_24h', pain, 'fatigue', 4, 'sleep_quality', 5),
       sha256(p.id::text::bytea || g::text::bytea), 'pain_now', pain
from patient p
cross join generate_series(1, 60) g
cross join lateral (select now() - make_interval(days => g) as t,
                           3 + (hashtext(p.id::text) & 3) + (g % 3) as pain) v
"""


class CpuMeter:
    """CPU seconds used by a server's processes, by PostgreSQL and by this load generator,
    summed over the measured stretches, and the server's memory at the end."""

    def __init__(self, server: ServerProcess) -> None:
        self.server = psutil.Process(server.process.pid)
        self.used = [0.0, 0.0, 0.0]
        self.rss = 0

    def _sample(self) -> tuple[list[float], int]:
        def cpu(p: psutil.Process) -> float:
            try:
                t = p.cpu_times()
            except psutil.Error:
                return 0.0
            return float(t.user + t.system)

        tree = [self.server, *self.server.children(recursive=True)]
        rss = sum(p.memory_info().rss for p in tree if p.is_running())
        postgres = [p for p in psutil.process_iter(["name"]) if p.info["name"] == "postgres"]
        return [
            sum(cpu(p) for p in tree),
            sum(cpu(p) for p in postgres),
            cpu(psutil.Process()),
        ], rss

    @contextlib.contextmanager
    def measure(self) -> Iterator[None]:
        start, _ = self._sample()
        yield
        end, self.rss = self._sample()
        self.used = [u + (e - s) for u, s, e in zip(self.used, start, end, strict=True)]

    def line(self, requests: int) -> str:
        server, postgres, load = (u / max(requests, 1) * 1e6 for u in self.used)
        return (
            f"{'':<28} CPU per request: server {server:.0f} us, PostgreSQL {postgres:.0f} us, "
            f"load generator {load:.0f} us; server RSS {self.rss / 2**20:.0f} MiB"
        )


def start(args: list[str], env: dict[str, str], port: int) -> ServerProcess:
    server = ServerProcess(args, env, port)
    server.wait_healthy()
    return server


async def open_windows(base_url: str, tokens: list[str]) -> None:
    import aiohttp

    async with aiohttp.ClientSession(base_url) as session:
        for token in tokens:
            async with session.get(
                "/api/checkins/due", headers={"Authorization": f"Bearer {token}"}
            ) as response:
                assert response.status == 200, await response.text()


def checkin_requests(tokens: list[str]) -> loadgen.Callable[[], loadgen.Request]:
    encoder = msgspec.json.Encoder()
    headers = [{"Authorization": f"Bearer {t}", "Content-Type": "application/json"} for t in tokens]

    def make() -> loadgen.Request:
        body = {
            "id": str(uuid.uuid4()),
            "answered_at": datetime.now(UTC).isoformat(),
            "answers": {
                "pain_now": random.randint(0, 10),
                "pain_avg_24h": random.randint(0, 10),
                "fatigue": random.randint(0, 10),
                "sleep_quality": random.randint(0, 10),
            },
        }
        return "/api/checkins", encoder.encode(body), random.choice(headers)

    return make


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--workers", type=int, default=Settings().workers)
    parser.add_argument("--rounds", type=int, default=3, help="alternations of real and floor")
    parser.add_argument("--skip-floor", action="store_true")
    parser.add_argument("--no-metrics", action="store_true", help="serve no /metrics")
    args = parser.parse_args()

    cluster = cluster_url()
    name = pg.new_name("checkin_bench")
    url = await pg.create_database(cluster, name)
    floor_name = pg.new_name("checkin_floor")
    floor_url = await pg.create_database(cluster, floor_name)
    servers: list[ServerProcess] = []
    try:
        async with db.connection(url) as conn:
            await db.migrate(conn)
        tokens = await seed(url, args.patients)
        print(
            f"{args.patients} patients, concurrency {args.concurrency}, {args.duration:.0f} s, "
            f"{args.workers} server process(es), {os.cpu_count()} CPUs, "
            f"metrics {'off' if args.no_metrics else 'on'}",
            flush=True,
        )

        port = free_port()
        # Metrics on, as in production: the workers record in multiprocess mode.
        metrics = {} if args.no_metrics else {"METRICS_PORT": str(free_port())}
        env = clean_env(
            DATABASE_URL=url, PORT=str(port), WORKERS=str(args.workers), LOG_LEVEL="warning",
            **metrics,
        )  # fmt: skip
        server = start([sys.executable, "-m", "server", "serve"], env, port)
        servers.append(server)
        await open_windows(server.url, tokens)
        async with db.connection(url) as conn:
            seeded = await conn.fetchval("select count(*) from checkin")
        floor = None
        if not args.skip_floor:
            async with db.connection(floor_url) as conn:
                await conn.execute(floor_app.DDL)
            port = free_port()
            floor = start(
                [
                    sys.executable, "-m", "uvicorn", "bench.floor_app:create", "--factory",
                    "--port", str(port), "--workers", str(args.workers), "--loop", "uvloop",
                    "--http", "httptools", "--no-access-log", "--log-level", "warning",
                ],
                clean_env(DATABASE_URL=floor_url, LOG_LEVEL="warning"),
                port,
            )  # fmt: skip
            servers.append(floor)

        # Alternate the two in rounds, so drift in what else the machine is doing
        # weighs on both alike. Only one of them is under load at any time.
        real_cpu, floor_cpu = CpuMeter(server), CpuMeter(floor) if floor else None
        real = floor_result = None
        stretch = args.duration / args.rounds
        for round_ in range(args.rounds):
            warmup = 2.0 if round_ == 0 else 0.5
            with real_cpu.measure():
                part = await loadgen.run(
                    server.url, checkin_requests(tokens), args.concurrency, stretch, warmup
                )
            real = part if real is None else real.merge(part)
            if floor and floor_cpu:
                with floor_cpu.measure():
                    part = await loadgen.run(
                        floor.url, checkin_requests(tokens), args.concurrency, stretch, warmup
                    )
                floor_result = part if floor_result is None else floor_result.merge(part)
        assert real is not None

        async with db.connection(url) as conn:
            stored = await conn.fetchval("select count(*) from checkin") - seeded
            completed = await conn.fetchval(
                "select count(*) from checkin_due where status = 'completed'"
            )
        lost = real.created_total - stored
        print(real.line("POST /api/checkins"))
        print(real_cpu.line(real.total))
        print(
            f"{'':<28} stored rows {stored} = 201 answers {real.created_total}: "
            f"{'yes' if lost == 0 else f'NO ({lost:+d})'}; windows completed {completed}"
        )
        if floor_result is None or floor_cpu is None:
            return
        print(floor_result.line("floor (one INSERT)"))
        print(floor_cpu.line(floor_result.total))
        ratio = (real.ok / real.duration) / (floor_result.ok / floor_result.duration)
        p99 = real.percentile(99) / floor_result.percentile(99)
        print(
            f"real / floor: throughput {ratio:.0%} (target >= 70%), "
            f"p99 {p99:.2f}x (target <= 1.5x), errors {real.failed}, lost {lost}"
        )
    finally:
        for server in servers:
            server.stop()
        await pg.drop_database(cluster, name)
        await pg.drop_database(cluster, floor_name)


if __name__ == "__main__":
    asyncio.run(main())
