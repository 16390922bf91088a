"""Check-in ingest measured from outside with wrk (C, so the load costs little CPU), against the
floor of our stack, in rounds that alternate the two.

Seeds N enrolled patients with 60 days of history each (bench/ingest.py's seed), starts
`checkin serve` with /metrics on (METRICS_PORT, so the workers record in prometheus-client's
multiprocess mode) and bench/floor_app.py (one INSERT per POST), then runs
`wrk -t2 -c64 --latency -s bench/wrk_checkins.lua` against each in turn. Prints each round's
requests/s and p50/p90/p99, the medians over the rounds and their ratios, and whether every
201 is a stored row.

    python bench/wrk_ingest.py [--patients 1000] [--connections 64] [--threads 2]
                               [--duration 20] [--rounds 3] [--workers 2] [--no-metrics]

Needs Debian's wrk. Uses TEST_DATABASE_URL or DATABASE_URL (a maintenance URL of a cluster)
when set, otherwise the embedded PostgreSQL in .data/bench-pg.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import floor_app  # noqa: E402
from bench.common import cluster_url  # noqa: E402
from bench.ingest import CpuMeter, open_windows, seed, start  # noqa: E402
from server import db  # noqa: E402
from tests.support import pg  # noqa: E402
from tests.support.live import ServerProcess, clean_env, free_port  # noqa: E402

SCRIPT = ROOT / "bench" / "wrk_checkins.lua"


def wrk(url: str, tokens: Path, args: argparse.Namespace) -> dict[str, float]:
    out = subprocess.run(
        ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{args.duration}s", "--latency",
         "-s", str(SCRIPT), url, "--", str(tokens)],
        capture_output=True, text=True, check=True, timeout=args.duration + 60,
    ).stdout  # fmt: skip
    line = next(line for line in out.splitlines() if line.startswith("WRK "))
    figures: dict[str, float] = json.loads(line[4:])
    figures["rps"] = figures["requests"] / (figures["duration_us"] / 1e6)
    return figures


def describe(name: str, runs: list[dict[str, float]]) -> dict[str, float]:
    keys = ("rps", "p50_us", "p90_us", "p99_us")
    median = {k: statistics.median(r[k] for r in runs) for k in keys}
    rounds = ", ".join(f"{r['rps']:.0f}" for r in runs)
    p99s = ", ".join(f"{r['p99_us'] / 1000:.1f}" for r in runs)
    failed = sum(r["non_2xx"] + r["socket_errors"] for r in runs)
    print(
        f"{name:<28} {median['rps']:7.0f} req/s (rounds {rounds}); "
        f"p50 {median['p50_us'] / 1000:.1f} ms, p90 {median['p90_us'] / 1000:.1f} ms, "
        f"p99 {median['p99_us'] / 1000:.1f} ms (rounds {p99s}); failed {failed:.0f}"
    )
    return median


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=1000)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--duration", type=int, default=20, help="seconds per round and server")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--no-metrics", action="store_true", help="serve no /metrics")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (apt-get install wrk)")

    cluster = cluster_url()
    name, floor_name = pg.new_name("checkin_wrk"), pg.new_name("checkin_wrk_floor")
    url = await pg.create_database(cluster, name)
    floor_url = await pg.create_database(cluster, floor_name)
    servers: list[ServerProcess] = []
    folder = Path(tempfile.mkdtemp(prefix="checkin-wrk-"))
    try:
        async with db.connection(url) as conn:
            await db.migrate(conn)
        tokens = await seed(url, args.patients)
        token_file = folder / "tokens.txt"
        token_file.write_text("\n".join(tokens) + "\n")
        metrics = {} if args.no_metrics else {"METRICS_PORT": str(free_port())}
        port = free_port()
        server = start(
            [sys.executable, "-m", "server", "serve"],
            clean_env(DATABASE_URL=url, PORT=str(port), WORKERS=str(args.workers),
                      LOG_LEVEL="warning", **metrics),
            port,
        )  # fmt: skip
        servers.append(server)
        await open_windows(server.url, tokens)
        async with db.connection(floor_url) as conn:
            await conn.execute(floor_app.DDL)
        port = free_port()
        floor = start(
            [sys.executable, "-m", "uvicorn", "bench.floor_app:create", "--factory",
             "--port", str(port), "--workers", str(args.workers), "--loop", "uvloop",
             "--http", "httptools", "--no-access-log", "--log-level", "warning"],
            clean_env(DATABASE_URL=floor_url, LOG_LEVEL="warning"),
            port,
        )  # fmt: skip
        servers.append(floor)
        async with db.connection(url) as conn:
            before = await conn.fetchval("select count(*) from checkin")
        print(
            f"wrk -t{args.threads} -c{args.connections}, {args.duration} s x {args.rounds} "
            f"rounds each, {args.patients} patients, {args.workers} server processes, "
            f"metrics {'off' if args.no_metrics else 'on (multiprocess)'}",
            flush=True,
        )
        real_runs, floor_runs = [], []
        real_cpu, floor_cpu = CpuMeter(server), CpuMeter(floor)
        for _ in range(args.rounds):
            with real_cpu.measure():
                real_runs.append(await asyncio.to_thread(wrk, server.url, token_file, args))
            with floor_cpu.measure():
                floor_runs.append(await asyncio.to_thread(wrk, floor.url, token_file, args))
        async with db.connection(url) as conn:
            stored = await conn.fetchval("select count(*) from checkin") - before
        created = sum(r["requests"] - r["non_2xx"] for r in real_runs)
        real = describe("POST /api/checkins", real_runs)
        print(real_cpu.line(int(sum(r["requests"] for r in real_runs))))
        # wrk counts the answers that came within its time; the requests still in flight
        # then (at most one per connection) are stored too.
        in_flight = args.connections * args.rounds
        fits = created <= stored <= created + in_flight
        verdict = "consistent" if fits else "MISMATCH"
        print(f"{'':<28} stored rows {stored}, 2xx answers {created:.0f} (+ at most "
              f"{in_flight} in flight at the ends): {verdict}")  # fmt: skip
        bare = describe("floor (one INSERT)", floor_runs)
        print(floor_cpu.line(int(sum(r["requests"] for r in floor_runs))))
        print(
            f"real / floor (medians): throughput {real['rps'] / bare['rps']:.2f}x, "
            f"p99 {real['p99_us'] / bare['p99_us']:.2f}x (goal <= 1.10x at >= 1.00x throughput)"
        )
    finally:
        for process in servers:
            process.stop()
        shutil.rmtree(folder, ignore_errors=True)
        await pg.drop_database(cluster, name)
        await pg.drop_database(cluster, floor_name)


if __name__ == "__main__":
    asyncio.run(main())
