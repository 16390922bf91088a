from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import httpx
import pytest

from server import db
from server.settings import Settings
from tests.support import clock, leftovers, pg
from tests.support.fakepush import FakePushService
from tests.support.live import ServerProcess, push_settings, start_server

MakeDatabase = Callable[[], Awaitable[str]]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--instant",
        default=None,
        help="run at this instant: one of "
        + ", ".join(clock.INSTANTS)
        + ", or an ISO 8601 instant with an offset (tests/support/clock.py)",
    )


def pytest_configure(config: pytest.Config) -> None:
    value = config.getoption("--instant")
    if value:
        try:
            instant = clock.parse(value)
        except ValueError as exc:
            raise pytest.UsageError(str(exc)) from None
        clock.travel(instant)


_session: dict[str, object] = {}


def pytest_sessionstart(session: pytest.Session) -> None:
    leftovers.mark()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail a run that leaves a process or a database behind (every fixture is torn down by
    now). The suite's embedded PostgreSQL is shared by runs and stops with the last one."""
    problems = [
        f"process left running: {p}" for p in leftovers.processes_left(pg.embedded_data_dir())
    ]
    url = _session.get("pg_url")
    if isinstance(url, str):
        problems += [f"database left behind: {d}" for d in leftovers.databases_left(url)]
    if problems:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_sep("=", "left behind", red=True)
            for line in problems:
                reporter.write_line(line)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_report_header(config: pytest.Config) -> str:
    instant = clock.current()
    if instant is None:
        return "clock: real time"
    return f"clock: {instant.name} = {instant.at.isoformat()} ({instant.why}); TZ={instant.zone}"


@pytest.fixture(scope="session")
def pg_url() -> str:
    url = pg.server_url()
    _session["pg_url"] = url
    return url


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
