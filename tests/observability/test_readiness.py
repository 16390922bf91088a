"""/readyz: ready when the database answers and is migrated; not ready with a migration
pending or the database gone; a replica without a dispatcher stays ready, and its dispatch
lag shows in the metrics instead."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest

from server import db
from server.app import create_app
from server.settings import Settings
from tests.conftest import MakeDatabase
from tests.observability.workers import scrape, value
from tests.support import pg
from tests.support.clock import now
from tests.support.cluster import Cluster
from tests.support.live import free_port, start_server

pytestmark = pytest.mark.slow


async def _ready(http: httpx.AsyncClient, status: int, within: float = 20.0) -> httpx.Response:
    """/readyz once it answers ``status`` (at most ``within`` seconds); the last answer."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        response = await http.get("/readyz")
        if response.status_code == status or asyncio.get_running_loop().time() > deadline:
            return response
        await asyncio.sleep(0.2)


async def test_ready_when_migrated_not_with_a_migration_pending(
    make_database: MakeDatabase,
) -> None:
    url = await make_database()
    server = start_server(url, workers=2)
    latest = db.load_migrations()[-1]
    try:
        async with (
            httpx.AsyncClient(base_url=server.url, timeout=10.0) as http,
            db.connection(url) as conn,
        ):
            ready = await http.get("/readyz")
            assert ready.status_code == 200
            assert ready.json() == {"status": "ready", "database": "up", "migrations": "current"}
            # The database left one migration behind, as when new code meets an old database.
            row = await conn.fetchrow(
                "delete from schema_migration where version = $1 returning *", latest.version
            )
            pending = await http.get("/readyz")
            assert pending.status_code == 503
            assert pending.json() == {
                "status": "not_ready",
                "database": "up",
                "migrations": "pending",
                "pending": [f"{latest.version:04d}_{latest.name}"],
            }
            assert (await http.get("/healthz")).status_code == 200  # alive all the same
            await conn.execute(
                "insert into schema_migration (version, name, checksum, applied_at)"
                " values ($1, $2, $3, $4)",
                *row.values(),
            )
            assert (await http.get("/readyz")).status_code == 200
            # A migration this code does not know: newer code migrated the database.
            await conn.execute(
                "insert into schema_migration (version, name, checksum) values (9999, 'x', 'x')"
            )
            ahead = await http.get("/readyz")
            assert ahead.status_code == 503
            assert ahead.json()["migrations"] == "mismatch" and "9999" in ahead.json()["detail"]
            await conn.execute("delete from schema_migration where version = 9999")
    finally:
        server.stop()


@pytest.fixture
async def cluster_db() -> AsyncIterator[tuple[Cluster, str]]:
    cluster = Cluster("checkin-ready")
    try:
        cluster.start()
        url = await pg.create_database(cluster.url, "checkin")
        async with db.connection(url) as conn:
            await db.migrate(conn)
        yield cluster, url
    finally:
        cluster.remove()


async def test_not_ready_while_the_database_is_unreachable(
    cluster_db: tuple[Cluster, str],
) -> None:
    cluster, url = cluster_db
    server = start_server(url, DB_COMMAND_TIMEOUT="2")
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=10.0) as http:
            assert (await http.get("/readyz")).status_code == 200
            await asyncio.to_thread(cluster.stop, "fast")
            down = await _ready(http, 503)
            assert down.status_code == 503
            assert down.json() == {
                "status": "not_ready",
                "database": "down",
                "migrations": "unknown",
            }
            await asyncio.to_thread(cluster.start)
            assert (await _ready(http, 200)).status_code == 200
    finally:
        server.stop()


async def test_a_replica_without_dispatcher_is_ready_and_its_lag_is_a_metric(
    make_database: MakeDatabase,
) -> None:
    url = await make_database()
    metrics_port = free_port()
    server = start_server(url, DISPATCHER="false", METRICS_PORT=str(metrics_port))
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=10.0) as http:
            assert (await http.get("/readyz")).status_code == 200
            calm = await asyncio.to_thread(scrape, metrics_port)
            assert value(calm, "checkin_reminder_dispatch_lag_seconds") == 0
            assert value(calm, "checkin_migrations_pending") == 0
            # No dispatcher in this replica: never a pass.
            assert value(calm, "checkin_dispatcher_last_pass_timestamp_seconds") == 0
            async with db.connection(url) as conn:
                patient = await conn.fetchval(
                    "with c as (insert into clinic (name, timezone) values ('Lag', 'UTC')"
                    " returning id) insert into patient (clinic_id, display_name, timezone, status)"
                    " select id, 'Lag', 'UTC', 'active' from c returning id"
                )
                await conn.execute(
                    "insert into reminder (patient_id, kind, send_at, expires_at, next_attempt_at)"
                    " values ($1, 'manual', $2, $3, $2)",
                    patient, now() - timedelta(minutes=10), now() + timedelta(hours=1),
                )  # fmt: skip
            lagging = await asyncio.to_thread(scrape, metrics_port)
            # Ten minutes, by the server's clock (under --instant it started a moment after
            # the test's).
            assert 570 <= value(lagging, "checkin_reminder_dispatch_lag_seconds") < 660
            assert (await http.get("/readyz")).status_code == 200
    finally:
        server.stop()


def test_readyz_is_documented_beside_healthz() -> None:
    app = create_app(Settings(), "postgresql://127.0.0.1:1/unused")
    paths = app.openapi_schema.to_schema()["paths"]
    ready = paths["/readyz"]["get"]
    assert ready["tags"] == paths["/healthz"]["get"]["tags"] == ["operations"]
    assert {"200", "503"} <= ready["responses"].keys()
