"""The server's Prometheus metrics, recorded where things happen.

Each worker process of ``checkin serve`` records into prometheus-client's multiprocess files
(PROMETHEUS_MULTIPROC_DIR, made fresh at each start by server/observability/exporter.py), and
the exporter adds them up at scrape time. What the database knows (dispatcher lag, alerts
open) is read there too, once per scrape, not by the workers.

A request costs one dictionary lookup for its labelled series and three value writes.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.multiprocess import mark_process_dead

from server.db import Pool

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# The route label of a request no route matched (404, 405): never its raw path.
UNMATCHED = "unmatched"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
POOL_SAMPLE_SECONDS = 5.0

HTTP_REQUESTS = Counter(
    "checkin_http_requests",
    "HTTP requests answered, by route template, method and status",
    ["route", "method", "status"],
)
HTTP_DURATION = Histogram(
    "checkin_http_request_duration_seconds",
    "Time from a request's arrival to the end of its response, by route template and method",
    ["route", "method"],
    buckets=(0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
CHECKINS_STORED = Counter(
    "checkin_checkins_stored", "Check-ins stored (a replayed check-in is not stored again)"
)
CHECKIN_BATCH = Histogram(
    "checkin_checkin_batch_size",
    "Check-ins the writer sent to PostgreSQL in one statement",
    buckets=(1, 2, 4, 8, 16, 32, 64),
)
REMINDERS = Counter(
    "checkin_reminders",
    "Reminders the dispatcher settled, by the state it left them in (pending: to be retried)",
    ["state", "channel"],
)
REMINDER_SEND = Histogram(
    "checkin_reminder_send_duration_seconds",
    "Time to hand one reminder to its channel (encryption included), by channel and result",
    ["channel", "result"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
DISPATCHER_LAST_PASS = Gauge(
    "checkin_dispatcher_last_pass_timestamp_seconds",
    "When a dispatcher of this server last finished a pass without error (Unix time)",
    multiprocess_mode="livemax",
)
POOL_CONNECTIONS = Gauge(
    "checkin_db_pool_connections",
    "Connections of the server processes' database pools, in use or idle",
    ["state"],
    multiprocess_mode="livesum",
)
POOL_MAX = Gauge(
    "checkin_db_pool_max_connections",
    "The most connections the server processes' pools may open",
    multiprocess_mode="livesum",
)

_series: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}


def record_request(route: str, method: str, status: int, seconds: float) -> None:
    series = _series.get((route, method, status))
    if series is None:
        series = (
            HTTP_REQUESTS.labels(route, method, str(status)),
            HTTP_DURATION.labels(route, method),
        )
        _series[(route, method, status)] = series
    series[0].inc()
    series[1].observe(seconds)


async def watch_pool(pool: Pool) -> None:
    """Keep this process's pool gauges current until cancelled."""
    POOL_MAX.set(pool.get_max_size())
    while True:
        idle = pool.get_idle_size()
        POOL_CONNECTIONS.labels("in_use").set(pool.get_size() - idle)
        POOL_CONNECTIONS.labels("idle").set(idle)
        await asyncio.sleep(POOL_SAMPLE_SECONDS)


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


def forget_process(pid: int) -> None:
    """Drop a worker's live gauges (its pool, its dispatcher's last pass) from the sums; its
    counters stay, so totals never go backwards."""
    directory = multiprocess_dir()
    if directory is not None:
        mark_process_dead(pid, directory)  # type: ignore[no-untyped-call]


def forget_dead_workers(directory: str) -> None:
    """A worker that was killed could not forget itself: forget it now."""
    for path in Path(directory).glob("gauge_live*_*.db"):
        pid = int(path.stem.rsplit("_", 1)[1])
        if not _alive(pid):
            mark_process_dead(pid, directory)  # type: ignore[no-untyped-call]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a child that exited but was not yet reaped is no worker either
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc here: believe kill()
    return stat.rsplit(")", 1)[1].split()[0] != "Z"
