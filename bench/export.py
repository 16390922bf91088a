"""CSV export of 1,000,000 check-ins: rows/s and the server's memory while it streams.

Seeds a fresh database with N patients x M check-ins (SQL, triggers off), starts `checkin serve`,
downloads /api/coordinator/export.csv and prints rows/s, bytes/s and the server's resident memory
at idle and at its peak during the export (target: >= 50,000 rows/s, peak within 50 MB of idle).

    python bench/export.py [--patients 1000] [--per-patient 1000] [--workers 2]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import cluster_url  # noqa: E402
from server import db  # noqa: E402
from server.clinics import service as clinics  # noqa: E402
from tests.support import pg  # noqa: E402
from tests.support.live import ServerProcess, clean_env, free_port  # noqa: E402

# Bulk load: the per-row triggers (outcome, alerts) are skipped; the export reads rows only.
SEED: list[str] = [
    "set session_replication_role = replica",
    """
insert into patient (clinic_id, display_name, timezone, condition, status)
select $1, 'P' || g, (array['America/New_York','Europe/London','Asia/Kolkata'])[1 + g % 3],
       (array['crps','fibromyalgia','lyme'])[1 + g % 3]::patient_condition, 'active'
from generate_series(1, $2) g
""",
    """
insert into checkin (id, patient_id, questionnaire, questionnaire_version, answered_at,
                     received_at, answers, scores, content_hash)
select gen_random_uuid(), p.id, 'daily', 2, t, t + interval '1 minute',
       jsonb_build_object('pain_now', n % 11, 'pain_avg_24h', (n + 1) % 11,
                          'fatigue', (n + 2) % 11, 'sleep_quality', (n + 3) % 11),
       jsonb_build_object('pain_now', n % 11, 'pain_avg_24h', (n + 1) % 11,
                          'fatigue', (n + 2) % 11, 'sleep_quality', (n + 3) % 11,
                          'outcome', jsonb_build_object('metric', 'pain_now', 'value', n % 11,
                              'baseline', 6.5, 'change', n % 11 - 6.5, 'category',
                              'no_meaningful_change')),
       sha256(p.id::text::bytea || n::text::bytea)
from patient p
cross join lateral (
    select g as n, now() - make_interval(hours => g * 20) as t from generate_series(1, $2) g
) c
where p.clinic_id = $1
""",
    "set session_replication_role = origin",
    "analyze checkin",
]


def rss(process: psutil.Process) -> int:
    tree = [process, *process.children(recursive=True)]
    return sum(p.memory_info().rss for p in tree if p.is_running())


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=1000)
    parser.add_argument("--per-patient", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    cluster = cluster_url()
    name = pg.new_name("checkin_export")
    url = await pg.create_database(cluster, name)
    server: ServerProcess | None = None
    try:
        async with db.connection(url, command_timeout=None) as conn:
            await db.migrate(conn)
            from datetime import UTC, datetime

            now = datetime.now(UTC)
            clinic = await clinics.create_clinic(conn, "Export Clinic", "UTC", now=now)
            await clinics.create_coordinator(
                conn, clinic_id=clinic.id, email="export@bench.test", display_name="",
                role="admin", password="bench-password-long", now=now,  # noqa: S106
            )  # fmt: skip
            token = (
                await clinics.issue_api_token(conn, "export@bench.test", "bench", now=now)
            ).token
            started = time.perf_counter()
            await conn.execute(SEED[0])
            await conn.execute(SEED[1], clinic.id, args.patients)
            await conn.execute(SEED[2], clinic.id, args.per_patient)
            for statement in SEED[3:]:
                await conn.execute(statement)
            rows = await conn.fetchval("select count(*) from checkin")
            print(f"seeded {rows:,} check-ins in {time.perf_counter() - started:.1f} s", flush=True)

        port = free_port()
        server = ServerProcess(
            [sys.executable, "-m", "server", "serve"],
            clean_env(DATABASE_URL=url, PORT=str(port), WORKERS=str(args.workers),
                      LOG_LEVEL="warning"),
            port,
        )  # fmt: skip
        server.wait_healthy()
        process = psutil.Process(server.process.pid)
        await asyncio.sleep(1.0)
        idle = rss(process)
        peak = idle
        lines = 0
        size = 0
        started = time.perf_counter()
        async with (
            httpx.AsyncClient(base_url=server.url, timeout=600) as client,
            client.stream(
                "GET", "/api/coordinator/export.csv", headers={"Authorization": f"Bearer {token}"}
            ) as response,
        ):
            assert response.status_code == 200, response.status_code
            last_sample = 0.0
            async for chunk in response.aiter_bytes():
                lines += chunk.count(b"\n")
                size += len(chunk)
                now_t = time.perf_counter()
                if now_t - last_sample > 0.05:
                    peak = max(peak, rss(process))
                    last_sample = now_t
        elapsed = time.perf_counter() - started
        exported = lines - 1  # header
        print(
            f"exported {exported:,} rows ({size / 2**20:.0f} MiB) in {elapsed:.1f} s: "
            f"{exported / elapsed:,.0f} rows/s, {size / 2**20 / elapsed:.1f} MiB/s "
            "(target >= 50,000 rows/s)"
        )
        print(
            f"server RSS ({args.workers} worker(s) + supervisor): idle {idle / 2**20:.0f} MiB, "
            f"peak {peak / 2**20:.0f} MiB, +{(peak - idle) / 2**20:.0f} MiB (target <= +50 MB)"
        )
        assert exported == rows, f"exported {exported} of {rows} rows"
    finally:
        if server is not None:
            server.stop()
        await pg.drop_database(cluster, name)


if __name__ == "__main__":
    asyncio.run(main())
