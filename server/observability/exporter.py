"""``/metrics`` on its own port (METRICS_PORT), never on the public one.

``checkin serve`` runs it in its own process, beside uvicorn's workers: each worker records
into a file of prometheus-client's multiprocess mode, in a folder made fresh for this start
and removed at its end, and a scrape adds up every worker's files (a worker that died has its
live gauges dropped first; its counters stay, so totals never go backwards). With one worker,
the server runs in this process and its own registry is served.

What the database knows is read at scrape time, over one short-lived connection: how long
the longest-waiting due reminder has waited (dispatcher lag) and the alerts open by severity.
Read there, not kept by the dispatchers, lag keeps growing when every dispatcher is stuck or
gone (a gauge kept by a stuck dispatcher would freeze instead), and it is seen from any
replica, also when the dispatcher runs as ``checkin dispatch`` or nowhere.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import NamedTuple

import asyncpg
from prometheus_client import REGISTRY, CollectorRegistry, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from server import db
from server.alerts.severity import SEVERITIES, SEVERITY, Severity
from server.observability import metrics, store
from server.settings import Settings

# A scrape's database reads take at most this long (Prometheus waits 10 s by default).
SCRAPE_DB_LIMIT = 3.0


class Reading(NamedTuple):
    dispatch_lag: float
    alerts_open: dict[Severity, int]
    pending_migrations: int


class ExporterError(Exception):
    """The metrics port cannot be served; the message names the setting."""


class WorkerFiles(MultiProcessCollector):
    """Every worker's metrics added up, once dead workers' live gauges are dropped."""

    def __init__(self, registry: CollectorRegistry, directory: str) -> None:
        super().__init__(registry, path=directory)  # type: ignore[no-untyped-call]
        self.directory = directory

    def collect(self) -> Iterable[Metric]:
        metrics.forget_dead_workers(self.directory)
        files: Iterable[Metric] = super().collect()  # type: ignore[no-untyped-call]
        return files


class DatabaseCollector(Collector):
    def __init__(self, dsn: str, clock: Callable[[], datetime]) -> None:
        self.dsn = dsn
        self.clock = clock

    def describe(self) -> Iterable[Metric]:
        # Nothing up front: the registry would otherwise collect (read the database) to learn
        # the names when this is registered.
        return []

    def collect(self) -> Iterable[Metric]:
        up = GaugeMetricFamily(
            "checkin_database_up", "1 when the database answered this scrape's reads"
        )
        try:
            reading = asyncio.run(self._read())
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield GaugeMetricFamily(
            "checkin_migrations_pending",
            "Migrations of this code the database lacks (-1: it has some this code does not "
            "know); the server is not ready unless 0",
            value=reading.pending_migrations,
        )
        yield GaugeMetricFamily(
            "checkin_reminder_dispatch_lag_seconds",
            "How long the longest-waiting due reminder has waited for a dispatcher",
            value=reading.dispatch_lag,
        )
        by_severity = GaugeMetricFamily(
            "checkin_alerts_open", "Open alerts, by severity", labels=["severity"]
        )
        for severity, count in reading.alerts_open.items():
            by_severity.add_metric([severity], count)
        yield by_severity

    async def _read(self) -> Reading:
        async with asyncio.timeout(SCRAPE_DB_LIMIT):
            conn = await asyncpg.connect(
                self.dsn, server_settings={"application_name": "checkin-metrics"}
            )
            try:
                now = self.clock()
                try:
                    pending = len(await db.pending_migrations(conn))
                except db.DatabaseError:  # migrations this code does not know: not ready either
                    pending = -1
                oldest = await store.oldest_due_reminder(conn, now)
                open_alerts = await store.open_alerts(conn)
            finally:
                await conn.close(timeout=1)
        alerts = dict.fromkeys(SEVERITIES, 0)
        for row in open_alerts:
            alerts[SEVERITY[row.kind]] += row.open
        lag = max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0
        return Reading(lag, alerts, pending)


@contextmanager
def serving(
    settings: Settings, dsn: str, clock: Callable[[], datetime], *, processes: int
) -> Iterator[None]:
    """Serve /metrics on METRICS_PORT (if set) while the block runs. With several processes
    (uvicorn's workers, started inside the block) they record into a fresh multiprocess
    folder; with one, it is this process."""
    os.environ.pop(metrics.MULTIPROC_ENV, None)  # only ever the folder made here
    if settings.metrics_port is None:
        yield
        return
    directory = None
    registry = REGISTRY  # one worker: the server runs in this process
    if processes > 1:
        directory = tempfile.mkdtemp(prefix="checkin-metrics-")
        os.environ[metrics.MULTIPROC_ENV] = directory
        registry = CollectorRegistry()
        WorkerFiles(registry, directory)
    collector = DatabaseCollector(dsn, clock)
    registry.register(collector)
    try:
        try:
            server, thread = start_http_server(
                settings.metrics_port, addr=settings.metrics_host, registry=registry
            )
        except OSError as exc:
            raise ExporterError(
                f"METRICS_HOST:METRICS_PORT {settings.metrics_host}:{settings.metrics_port} "
                f"cannot be served: {exc.strerror or exc}"
            ) from None
        try:
            yield
        finally:
            server.shutdown()
            server.server_close()
            thread.join(5)
    finally:
        registry.unregister(collector)
        if directory is not None:
            os.environ.pop(metrics.MULTIPROC_ENV, None)
            shutil.rmtree(directory, ignore_errors=True)
