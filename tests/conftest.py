from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import httpx
import pytest

from server import db
from server.settings import Settings
from tests import pg
from tests.fakepush import FakePushService
from tests.live import ServerProcess, push_settings, start_server

MakeDatabase = Callable[[], Awaitable[str]]


@pytest.fixture(scope="session")
def pg_url() -> str:
    return pg.server_url()


@pytest.fixture(scope="session")
async def template(pg_url: str) -> AsyncIterator[str]:
    name = await pg.migrated_template(pg_url)
    yield name
    await pg.drop_database(pg_url, name)


@pytest.fixture(scope="session")
async def make_database(pg_url: str, template: str) -> AsyncIterator[MakeDatabase]:
    """Fresh databases cloned from the migrated template; all dropped at the end."""
    created: list[str] = []

    async def make() -> str:
        name = pg.new_name("checkin_test")
        created.append(name)
        return await pg.create_database(pg_url, name, template=template)

    yield make
    for name in created:
        await pg.drop_database(pg_url, name)


@pytest.fixture(scope="session")
async def app_db(make_database: MakeDatabase) -> str:
    return await make_database()


@pytest.fixture(scope="session")
def push_service() -> Iterator[FakePushService]:
    """A push service on 127.0.0.1 that verifies VAPID and decrypts every message."""
    with FakePushService() as service:
        yield service


@pytest.fixture(scope="session")
def server(app_db: str, push_service: FakePushService) -> Iterator[ServerProcess]:
    process = start_server(app_db, **push_settings(push_service))
    # The server made its VAPID key on first start: from now on the push service accepts
    # only messages signed with it.
    push_service.expected_vapid_key = httpx.get(f"{process.url}/api/push/public-key").json()[
        "public_key"
    ]
    yield process
    process.stop()


@pytest.fixture
def push(push_service: FakePushService) -> Iterator[FakePushService]:
    """The suite's push service, with no scripted answers left over from another test."""
    key = push_service.expected_vapid_key
    push_service.set_default(None)
    yield push_service
    push_service.set_default(None)
    push_service.expected_vapid_key = key


@pytest.fixture(scope="session")
def settings(server: ServerProcess) -> Settings:
    """Settings as the live server sees them (for building the same links)."""
    return Settings(public_url=server.url)


@pytest.fixture(scope="session")
async def pool(app_db: str, settings: Settings) -> AsyncIterator[db.Pool]:
    created = await db.create_pool(settings, app_db)
    yield created
    await created.close()


@pytest.fixture(scope="session")
async def http(server: ServerProcess) -> AsyncIterator[httpx.AsyncClient]:
    """One client for the suite that keeps no cookies, so no test rides on another's device."""

    async def forget_cookies(_: httpx.Response) -> None:
        client.cookies.clear()

    async with httpx.AsyncClient(
        base_url=server.url, timeout=20.0, event_hooks={"response": [forget_cookies]}
    ) as client:
        yield client
