"""The Litestar application: routes, lifespan (pool, push, dispatcher), errors, patient app."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
from asyncio import timeout as asyncio_timeout
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import msgspec
from litestar import Litestar, MediaType, Response, Router, get, head
from litestar.contrib.jinja import JinjaTemplateEngine
from litestar.datastructures import State
from litestar.enums import ScopeType
from litestar.openapi import OpenAPIConfig, ResponseSpec
from litestar.openapi.spec import Components, SecurityScheme
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig
from litestar.types import (
    ASGIApp,
    HTTPResponseBodyEvent,
    HTTPResponseStartEvent,
    Receive,
    Scope,
    Send,
)

from server import db
from server.alerts.pages import AlertPages
from server.alerts.routes import AlertController
from server.auth.cache import DeviceCache
from server.auth.pages import SignInPages
from server.checkins.questionnaires import install_registry
from server.checkins.routes import CheckinController
from server.checkins.writer import CheckinWriter
from server.clinics.pages import ClinicPages
from server.clinics.routes import ClinicController
from server.clock import Clock, server_clock
from server.coordinators.filters import FILTERS
from server.coordinators.live import BoardHub
from server.coordinators.pages import BoardPages
from server.coordinators.routes import CoordinatorPatientController, ExportController
from server.dashboard import PAGE_EXCEPTION_HANDLERS
from server.error_docs import document_errors
from server.errors import DATABASE_UNAVAILABLE
from server.headers import security_headers
from server.http_errors import EXCEPTION_HANDLERS, ErrorBody
from server.logs import ConnectionErrorsInOneLine
from server.observability import metrics
from server.observability.requests import ObservedRequests
from server.observability.routes import readyz
from server.openapi import allow_route_methods, describe_bodies_exactly
from server.patients.pages import PatientPages
from server.patients.routes import PatientController
from server.reminders.pages import ReminderPages
from server.reminders.routes import CoordinatorReminderController, PushController
from server.reminders.runtime import push_runtime
from server.schedule.pages import InfusionPages
from server.schedule.routes import InfusionController
from server.settings import Settings

log = logging.getLogger(__name__)

PWA_DIR = Path(__file__).resolve().parent.parent / "pwa"
TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
DASHBOARD_STATIC = Path(__file__).resolve().parent / "coordinators" / "static"
POOL_CLOSE_TIMEOUT = 5.0


class Health(msgspec.Struct, frozen=True):
    status: str
    database: str


@get(
    "/healthz",
    tags=["operations"],
    summary="200 when the database answers, 503 when not",
    responses={503: ResponseSpec(Health, description="The database does not answer")},
)
async def healthz(state: State) -> Response[Health]:
    if await db.ping(state.pool, limit=2.0):
        return Response(Health("ok", "up"), media_type=MediaType.JSON)
    return Response(Health("unavailable", "down"), status_code=503, media_type=MediaType.JSON)


@head("/healthz", include_in_schema=False)
async def healthz_head(state: State) -> Response[None]:
    return Response(None, status_code=200 if await db.ping(state.pool, limit=2.0) else 503)


JSON_METHODS = frozenset({"POST", "PUT", "PATCH"})
_UNSUPPORTED = msgspec.json.encode(
    ErrorBody(
        "unsupported_media_type", "send the body as JSON, with Content-Type: application/json"
    )
)


class RequireJson:
    """The JSON API's bodies are JSON: anything else gets 415 before the handler (this also
    keeps cross-site HTML forms, which cannot send JSON, away from the API; the dashboard's
    pages take forms, CSRF-checked). Plain ASGI: it reads the raw header list instead of
    building a request, since it runs on every API request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == ScopeType.HTTP and scope["method"] in JSON_METHODS:
            media_type, has_body = b"", False
            for name, value in scope["headers"]:
                if name == b"content-type":
                    media_type = value.split(b";", 1)[0].strip().lower()
                elif name == b"content-length":
                    has_body = value.strip() != b"0"
                elif name == b"transfer-encoding":
                    has_body = True
            if has_body and media_type != b"application/json":
                start: HTTPResponseStartEvent = {
                    "type": "http.response.start",
                    "status": 415,
                    "headers": [(b"content-type", b"application/json")],
                }
                body: HTTPResponseBodyEvent = {
                    "type": "http.response.body",
                    "body": _UNSUPPORTED,
                    "more_body": False,
                }
                await send(start)
                await send(body)
                return
        await self.app(scope, receive, send)


@get("/app/enroll", include_in_schema=False)
async def enroll_page() -> Response[bytes]:
    # The code travels in the URL fragment, which never reaches the server or its logs.
    return Response((PWA_DIR / "index.html").read_bytes(), media_type=MediaType.HTML)


def create_app(
    settings: Settings,
    database_url: str,
    clock: Clock | None = None,
) -> Litestar:
    clock = clock or server_clock(settings.test_clock)
    install_registry(settings.extra_questionnaire_dir)
    pool_log = logging.getLogger("asyncpg.pool")
    if not any(isinstance(f, ConnectionErrorsInOneLine) for f in pool_log.filters):
        pool_log.addFilter(ConnectionErrorsInOneLine(DATABASE_UNAVAILABLE))

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        app.state.pool = await db.create_pool(settings, database_url)
        app.state.device_cache = DeviceCache()
        app.state.checkin_writer = CheckinWriter(app.state.pool)
        app.state.board_hub = BoardHub(app.state.pool)
        listener = asyncio.create_task(app.state.device_cache.listen(database_url))
        board_listener = asyncio.create_task(app.state.board_hub.listen(database_url))
        board_watch = asyncio.create_task(app.state.board_hub.keep_watching())
        pool_watch = asyncio.create_task(metrics.watch_pool(app.state.pool))
        try:
            async with push_runtime(
                app.state.pool, settings, database_url, clock, dispatch=settings.dispatcher
            ) as push:
                app.state.vapid_public_key = push.public_key
                # What is loaded by now lives as long as the process: keep the collector from
                # walking it on every full collection (bench/ingest.py: a thinner p99 tail).
                gc.collect()
                gc.freeze()
                yield
        finally:
            try:
                # Check-ins already handed to the writer are stored (or refused) before the
                # pool closes; a database that stopped answering does not hold shutdown.
                async with asyncio_timeout(POOL_CLOSE_TIMEOUT):
                    await app.state.checkin_writer.drain()
            except TimeoutError:
                log.warning("shutting down with check-ins still being stored")
            for task in (listener, board_listener, board_watch, pool_watch):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            try:
                async with asyncio_timeout(POOL_CLOSE_TIMEOUT):
                    await app.state.pool.close()
            except TimeoutError:
                app.state.pool.terminate()
            metrics.forget_process(os.getpid())

    api = Router(
        "/",
        route_handlers=[
            PatientController,
            CheckinController,
            CoordinatorPatientController,
            AlertController,
            ExportController,
            InfusionController,
            ClinicController,
            PushController,
            CoordinatorReminderController,
        ],
        middleware=[RequireJson],
    )
    # Each domain's pages; errors on them are answered in HTML.
    dashboard = Router(
        "/coordinator",
        route_handlers=[
            SignInPages,
            BoardPages,
            PatientPages,
            ReminderPages,
            AlertPages,
            InfusionPages,
            ClinicPages,
        ],
        exception_handlers=PAGE_EXCEPTION_HANDLERS,
        include_in_schema=False,
    )
    route_handlers: list[object] = [
        healthz,
        healthz_head,
        readyz,
        api,
        dashboard,
        create_static_files_router(
            path="/coordinator/static", directories=[DASHBOARD_STATIC], include_in_schema=False
        ),
    ]
    if (PWA_DIR / "index.html").exists():
        route_handlers += [
            enroll_page,
            create_static_files_router(
                path="/app", directories=[PWA_DIR], html_mode=True, include_in_schema=False
            ),
        ]

    app = Litestar(
        route_handlers=route_handlers,  # type: ignore[arg-type]
        exception_handlers=EXCEPTION_HANDLERS,
        before_send=[security_headers(settings.secure_cookies), allow_route_methods],
        template_config=TemplateConfig(
            directory=TEMPLATES_DIR,
            engine=JinjaTemplateEngine,
            engine_callback=lambda engine: engine.engine.filters.update(FILTERS),
        ),
        lifespan=[lifespan],
        state=State({"settings": settings, "clock": clock}),
        request_max_body_size=settings.max_body_bytes,
        # Logging is configured once per process by `checkin serve` (text or JSON lines, see
        # server/observability/logconfig.py); Litestar's own setup would replace it.
        logging_config=None,
        openapi_config=OpenAPIConfig(
            title="Infusion Check-in",
            version="1",
            path="/schema",
            components=Components(
                security_schemes={
                    "device": SecurityScheme(
                        type="http", scheme="bearer", description="patient device token"
                    ),
                    "coordinator": SecurityScheme(
                        type="http", scheme="bearer", description="coordinator API token"
                    ),
                }
            ),
        ),
        debug=False,
    )
    document_errors(app)
    describe_bodies_exactly(app)
    # Outermost, around routing and error handling: it sees every response as it went out.
    app.asgi_handler = ObservedRequests(app.asgi_handler, log_requests=settings.access_log)
    return app


def app_from_env() -> Litestar:
    """Factory for the ASGI worker processes: settings and database from the environment."""
    settings = Settings.from_env()
    if not settings.database_url:
        raise RuntimeError("DATABASE_URL is not set: start the server with `checkin serve`")
    return create_app(settings, settings.database_url)
