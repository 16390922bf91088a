"""The Litestar application: routes, lifespan (pool), error handling, static patient app."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from asyncio import timeout as asyncio_timeout
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import msgspec
from litestar import Litestar, MediaType, Response, get, head
from litestar.datastructures import State
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from litestar.static_files import create_static_files_router

from server import db
from server.auth.cache import DeviceCache
from server.checkins.routes import CheckinController
from server.coordinators.routes import CoordinatorPatientController
from server.deps import DEPENDENCIES
from server.errors import EXCEPTION_HANDLERS, UnsupportedMediaType
from server.patients.routes import PatientController
from server.settings import Settings
from server.web import AnyRequest

log = logging.getLogger(__name__)

PWA_DIR = Path(__file__).resolve().parent.parent / "pwa"
POOL_CLOSE_TIMEOUT = 5.0


def utc_now() -> datetime:
    return datetime.now(UTC)


class Health(msgspec.Struct, frozen=True):
    status: str
    database: str


@get("/healthz", tags=["operations"], summary="200 when the database answers, 503 when not")
async def healthz(state: State) -> Response[Health]:
    if await db.ping(state.pool, limit=2.0):
        return Response(Health("ok", "up"), media_type=MediaType.JSON)
    return Response(Health("unavailable", "down"), status_code=503, media_type=MediaType.JSON)


@head("/healthz", include_in_schema=False)
async def healthz_head(state: State) -> Response[None]:
    return Response(None, status_code=200 if await db.ping(state.pool, limit=2.0) else 503)


JSON_METHODS = frozenset({"POST", "PUT", "PATCH"})


async def require_json(request: AnyRequest) -> None:
    """Bodies are JSON: anything else gets 415 before a handler sees it (this also keeps
    cross-site HTML forms, which cannot send JSON, from reaching the API)."""
    if request.method not in JSON_METHODS:
        return
    has_body = request.headers.get("content-length", "0") != "0" or (
        "transfer-encoding" in request.headers
    )
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if has_body and media_type != "application/json":
        raise UnsupportedMediaType("send the body as JSON, with Content-Type: application/json")


@get("/app/enroll", include_in_schema=False)
async def enroll_page() -> Response[bytes]:
    # The code travels in the URL fragment, which never reaches the server or its logs.
    return Response((PWA_DIR / "index.html").read_bytes(), media_type=MediaType.HTML)


def create_app(
    settings: Settings,
    database_url: str,
    clock: Callable[[], datetime] = utc_now,
) -> Litestar:
    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        app.state.pool = await db.create_pool(settings, database_url)
        app.state.device_cache = DeviceCache()
        listener = asyncio.create_task(app.state.device_cache.listen(database_url))
        try:
            yield
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
            try:
                async with asyncio_timeout(POOL_CLOSE_TIMEOUT):
                    await app.state.pool.close()
            except TimeoutError:
                app.state.pool.terminate()

    route_handlers: list[object] = [
        healthz,
        healthz_head,
        PatientController,
        CheckinController,
        CoordinatorPatientController,
    ]
    if (PWA_DIR / "index.html").exists():
        route_handlers += [
            enroll_page,
            create_static_files_router(
                path="/app", directories=[PWA_DIR], html_mode=True, include_in_schema=False
            ),
        ]

    return Litestar(
        route_handlers=route_handlers,  # type: ignore[arg-type]
        dependencies=DEPENDENCIES,
        exception_handlers=EXCEPTION_HANDLERS,
        before_request=require_json,
        lifespan=[lifespan],
        state=State({"settings": settings, "clock": clock}),
        request_max_body_size=settings.max_body_bytes,
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


def app_from_env() -> Litestar:
    """Factory for the ASGI worker processes: settings and database from the environment."""
    settings = Settings.from_env()
    if not settings.database_url:
        raise RuntimeError("DATABASE_URL is not set: start the server with `checkin serve`")
    return create_app(settings, settings.database_url)
