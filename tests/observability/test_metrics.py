"""/metrics and the request logs of a real server with two worker processes, during check-ins
and a reminder wave: counters move, add up across both workers (and survive a worker that was
killed), label routes by template; JSON log lines parse and hold no patient data."""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import signal
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from server import db
from server.app import create_app
from server.settings import Settings
from tests.conftest import MakeDatabase
from tests.observability.workers import (
    Samples,
    connection_per_worker,
    scrape,
    value,
    workers_of,
)
from tests.security.test_hostile_text import VERBATIM
from tests.support import seed
from tests.support.clock import now
from tests.support.factories import checkin_body, client_ip, make_clinic, make_coordinator
from tests.support.fakepush import Behaviour, FakePushService
from tests.support.live import ServerProcess, free_port, push_settings, start_server

pytestmark = pytest.mark.slow

POOL_MAX = 7
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@dataclass
class Watched:
    server: ServerProcess
    metrics_port: int
    pool: db.Pool
    settings: Settings
    url: str


@pytest.fixture(scope="module")
async def watched(
    make_database: MakeDatabase, push_service: FakePushService
) -> AsyncIterator[Watched]:
    """`checkin serve` with two workers, /metrics on a port of its own, JSON request logs."""
    url = await make_database()
    metrics_port = free_port()
    server = start_server(
        url,
        workers=2,
        METRICS_PORT=str(metrics_port),
        LOG_FORMAT="json",
        ACCESS_LOG="true",
        DB_POOL_MAX_SIZE=str(POOL_MAX),
        **push_settings(push_service),
    )
    key = push_service.expected_vapid_key
    try:
        async with httpx.AsyncClient(base_url=server.url) as http:
            public_key = (await http.get("/api/push/public-key")).json()["public_key"]
        push_service.expected_vapid_key = public_key
        pool = await db.create_pool(Settings(), url)
        try:
            yield Watched(server, metrics_port, pool, Settings(public_url=server.url), url)
        finally:
            await pool.close()
    finally:
        server.stop()
        push_service.expected_vapid_key = key


async def _until(
    read: Callable[[], Samples], holds: Callable[[Samples], bool], within: float = 15.0
) -> Samples:
    """Scrape until ``holds``, at most ``within`` seconds; the last scrape either way."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        samples = await asyncio.to_thread(read)
        if holds(samples) or asyncio.get_running_loop().time() > deadline:
            return samples
        await asyncio.sleep(0.2)


def _route_templates() -> set[str]:
    app = create_app(Settings(), "postgresql://127.0.0.1:1/unused")
    return {route.path_format for route in app.routes}


async def test_metrics_are_not_served_on_the_public_port(watched: Watched) -> None:
    async with httpx.AsyncClient(base_url=watched.server.url) as http:
        for path in ("/metrics", "/metrics/", "/api/metrics"):
            response = await http.get(path, headers={"Authorization": "Bearer anything"})
            assert response.status_code == 404
            assert "checkin_" not in response.text and "# TYPE" not in response.text
    served = await asyncio.to_thread(scrape, watched.metrics_port)
    assert value(served, "checkin_database_up") == 1


async def test_requests_are_counted_by_every_worker_and_added_up(watched: Watched) -> None:
    server = watched.server
    pinned = await asyncio.to_thread(connection_per_worker, server.process.pid, server.port)
    assert len(pinned) == 2
    try:
        before = await asyncio.to_thread(scrape, watched.metrics_port)
        for connection in pinned.values():
            for _ in range(5):
                assert connection.get("/healthz") == 200
    finally:
        for connection in pinned.values():
            connection.close()
    healthz = {"route": "/healthz", "method": "GET", "status": "200"}
    after = await asyncio.to_thread(scrape, watched.metrics_port)
    # Five from each worker: a scrape that read one worker's files would say 5.
    assert value(after, "checkin_http_requests_total", **healthz) == (
        value(before, "checkin_http_requests_total", **healthz) + 10
    )
    count = "checkin_http_request_duration_seconds_count"
    assert value(after, count, route="/healthz", method="GET") == (
        value(before, count, route="/healthz", method="GET") + 10
    )
    # Each worker's pool, summed over the live workers.
    assert value(after, "checkin_db_pool_max_connections") == 2 * POOL_MAX
    in_use = value(after, "checkin_db_pool_connections", state="in_use")
    idle = value(after, "checkin_db_pool_connections", state="idle")
    assert in_use >= 0 and 2 <= in_use + idle <= 2 * POOL_MAX

    # A worker killed outright: uvicorn starts another; the dead one's requests stay counted,
    # its pool no longer is.
    killed = next(iter(pinned))
    os.kill(killed, signal.SIGKILL)
    deadline = asyncio.get_running_loop().time() + 30
    while killed in (current := workers_of(server.process.pid)) or len(current) < 2:
        assert asyncio.get_running_loop().time() < deadline, current
        await asyncio.sleep(0.2)
    # Both serve again (so the new one has opened its pool).
    for connection in (
        await asyncio.to_thread(connection_per_worker, server.process.pid, server.port)
    ).values():
        connection.close()
    later = await asyncio.to_thread(scrape, watched.metrics_port)
    assert value(later, "checkin_db_pool_max_connections") == 2 * POOL_MAX
    assert value(later, "checkin_http_requests_total", **healthz) == value(
        after, "checkin_http_requests_total", **healthz
    )


async def test_checkins_and_a_reminder_wave_move_their_counters(
    watched: Watched, push_service: FakePushService
) -> None:
    before = await asyncio.to_thread(scrape, watched.metrics_port)
    clinic = await make_clinic(watched.pool)
    staff = {"Authorization": f"Bearer {await make_coordinator(watched.pool, clinic.id)}"}
    async with httpx.AsyncClient(base_url=watched.server.url, timeout=20.0) as http:
        patient_ids = []
        for n in range(3):
            created = await http.post(
                "/api/coordinator/patients",
                json={"display_name": f"Wave {n}", "timezone": "Europe/London"},
                headers=staff,
            )
            assert created.status_code == 201, created.text
            patient_ids.append(created.json()["patient_id"])
            enrolled = await http.post(
                "/api/enroll",
                json={"code": created.json()["enrollment_code"]},
                headers={"X-Forwarded-For": client_ip()},
            )
            assert enrolled.status_code == 201, enrolled.text
            device = {"Authorization": f"Bearer {enrolled.json()['device_token']}"}
            first = checkin_body()
            for body in (first, checkin_body(), first):  # the third is a replay
                stored = await http.post("/api/checkins", json=body, headers=device)
                assert stored.status_code in (200, 201), stored.text
            detail = await http.get(f"/api/coordinator/patients/{patient_ids[-1]}", headers=staff)
            assert detail.status_code == 200
        assert (
            await http.get(f"/api/coordinator/patients/{uuid.uuid4()}", headers=staff)
        ).status_code == 404
        assert (await http.get("/no/such/page")).status_code == 404

    # Alerts open, by severity: one urgent, one that needs attention.
    for kind in ("severe_side_effect", "missed_twice"):
        await watched.pool.execute(
            "insert into alert (patient_id, kind, raised_at) values ($1, $2::alert_kind, $3)",
            uuid.UUID(patient_ids[0]), kind, now(),
        )  # fmt: skip

    # The wave: 30 reminders due now, 5 of them to subscriptions the push service says are gone.
    subscribers = [push_service.new_subscriber() for _ in range(30)]
    for gone in subscribers[:5]:
        push_service.script([Behaviour(status=410)], gone)
    async with watched.pool.acquire() as conn:
        ids = await seed.due_reminders(conn, [s.subscription_info() for s in subscribers], now())

    def reminders(samples: Samples, state: str) -> float:
        return value(samples, "checkin_reminders_total", state=state, channel="web_push") - value(
            before, "checkin_reminders_total", state=state, channel="web_push"
        )

    after = await _until(
        lambda: scrape(watched.metrics_port),
        lambda s: reminders(s, "sent") + reminders(s, "failed") >= 30,
        within=60,
    )
    statuses = dict(
        await watched.pool.fetch(
            "select status::text, count(*) from reminder where id = any($1::uuid[])"
            " group by status",
            ids,
        )
    )
    assert statuses == {"sent": 25, "failed": 5}
    assert reminders(after, "sent") == 25 and reminders(after, "failed") == 5

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    send = "checkin_reminder_send_duration_seconds_count"
    assert delta(send, channel="web_push", result="accepted") == 25
    assert delta(send, channel="web_push", result="gone") == 5
    assert value(after, "checkin_dispatcher_last_pass_timestamp_seconds") > 0

    assert delta("checkin_checkins_stored_total") == 6
    # Posted one after another, each check-in (the replays too) is a statement of its own.
    assert delta("checkin_checkin_batch_size_count") == 9
    assert delta("checkin_checkin_batch_size_sum") == 9
    posted = {"route": "/api/checkins", "method": "POST"}
    assert delta("checkin_http_requests_total", **posted, status="201") == 6
    assert delta("checkin_http_requests_total", **posted, status="200") == 3

    assert delta("checkin_alerts_open", severity="urgent") == 1
    assert delta("checkin_alerts_open", severity="attention") == 1
    assert value(after, "checkin_reminder_dispatch_lag_seconds") >= 0

    # Routes are labelled by template, never by a path with ids in it.
    routes = {
        dict(labels)["route"] for (name, labels) in after if name == "checkin_http_requests_total"
    }
    assert "/api/coordinator/patients/{patient_id}" in routes
    assert {"/api/checkins", "/api/enroll", "unmatched"} <= routes
    assert routes <= _route_templates() | {"unmatched"}
    assert not any(UUID_RE.search(route) or "?" in route for route in routes)
    detail = {"route": "/api/coordinator/patients/{patient_id}", "method": "GET"}
    assert delta("checkin_http_requests_total", **detail, status="200") == 3
    assert delta("checkin_http_requests_total", **detail, status="404") == 1


async def test_json_logs_parse_and_hold_no_patient_data(watched: Watched) -> None:
    marker = secrets.token_hex(6)
    name = f"Canaryname{marker}"
    note = f"Canarynote{marker} {VERBATIM['sql']}"
    query = f"canaryquery{marker}"
    wrong_token = f"canarytoken{marker}"
    clinic = await make_clinic(watched.pool)
    staff_token = await make_coordinator(watched.pool, clinic.id)
    staff = {"Authorization": f"Bearer {staff_token}"}
    async with httpx.AsyncClient(base_url=watched.server.url, timeout=20.0) as http:
        created = await http.post(
            "/api/coordinator/patients",
            json={"display_name": f"{name} {VERBATIM['rtl_override']}", "timezone": "Europe/Paris"},
            headers=staff,
        )
        assert created.status_code == 201, created.text
        code = created.json()["enrollment_code"]
        wrong_code = await http.post(
            "/api/enroll", json={"code": f"WRONG{marker}"}, headers={"X-Forwarded-For": client_ip()}
        )
        assert wrong_code.status_code in (400, 404, 422)
        enrolled = await http.post(
            "/api/enroll", json={"code": code}, headers={"X-Forwarded-For": client_ip()}
        )
        assert enrolled.status_code == 201, enrolled.text
        device_token = enrolled.json()["device_token"]
        device = {"Authorization": f"Bearer {device_token}"}
        stored = await http.post(
            "/api/checkins",
            json=checkin_body(note=note),
            headers=device | {"X-Request-ID": f"obs-{marker}"},
        )
        assert stored.status_code == 201, stored.text
        assert stored.headers["x-request-id"] == f"obs-{marker}"
        for path in (
            f"/api/checkins?cursor={query}",
            f"/api/coordinator/patients?search={query}&name={name}",
            f"/no/such/{query}?token={wrong_token}",
        ):
            await http.get(path, headers=staff if "coordinator" in path else device)
        refused = await http.get("/api/me", headers={"Authorization": f"Bearer {wrong_token}"})
        assert refused.status_code == 401
        cookie = await http.get("/api/me", headers={"Cookie": f"checkin_device={wrong_token}"})
        assert cookie.status_code == 401
        odd = await http.get("/healthz", headers={"X-Request-ID": f"not sane {marker}"})
        assert re.fullmatch(r"[0-9a-f]{32}", odd.headers["x-request-id"])

    await asyncio.sleep(0.5)  # the workers' last lines reach the log
    output = watched.server.output()
    lines = [json.loads(line) for line in output.splitlines() if line.strip()]
    assert all(isinstance(line, dict) and {"level", "logger", "message", "time"} <= line.keys()
               for line in lines)  # fmt: skip
    requests = [line for line in lines if line["logger"] == "server.access"]
    [mine] = [line for line in requests if line["request_id"] == f"obs-{marker}"]
    assert {k: mine[k] for k in ("method", "route", "status")} == {
        "method": "POST", "route": "/api/checkins", "status": 201,
    }  # fmt: skip
    assert isinstance(mine["duration_ms"], float | int) and mine["duration_ms"] >= 0
    assert all(
        {"request_id", "method", "route", "status", "duration_ms"} <= r.keys() for r in requests
    )
    assert not any(r["request_id"].startswith("not sane") for r in requests)

    # (the marker alone is in the request id the test chose, which is logged)
    canaries = [name, note, query, wrong_token, f"WRONG{marker}", code, device_token,
                staff_token, *VERBATIM.values()]  # fmt: skip
    decoded = [_strings(line) for line in lines]
    for canary in canaries:
        assert canary not in output
        assert json.dumps(canary)[1:-1] not in output
        assert not any(canary in text for texts in decoded for text in texts), canary


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []
