"""The outbox (pwa/js/outbox.js) in real Chromium against the real server, sent by the page and
by the service worker's Background Sync, for each answer: 201 stored, 200 identical replay,
409 id already used, 422 invalid, 503 while the database is away, 401 for a disconnected
phone, no connection, and answers that are not the server's (a Wi-Fi sign-in page, a proxy).
And the module worker's update path.

The worker's runs are started the way the app starts them (the app's own code asks for a
Background Sync) from a page of the app's origin that is not the app, so no page code sends
alongside; the browser's later retries are fired through the DevTools protocol, and how each
sync ended is read from Chrome's Background Services record. Playwright's offline switch does
not reliably reach service workers (microsoft/playwright#2311), so "no connection" for the
worker is a cut TCP link between the browser and the server.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.async_api import Browser, BrowserContext, Page, Request, Route, expect

from server import db
from server.patients.schemas import PatientCreated
from server.settings import Settings
from tests.e2e.test_pwa import DAILY, patient_with_daily_due, phone, until_true
from tests.e2e.test_pwa_screens import check
from tests.support.clock import now
from tests.support.factories import checkin_body, daily_answers, new_code
from tests.support.fakepush import FakePushService
from tests.support.live import (
    ROOT,
    ServerProcess,
    clean_env,
    free_port,
    push_settings,
    start_server,
)

CONFLICT = "a different check-in was already stored with this id; a new check-in needs a new id"
IN_THE_FUTURE = "answered_at is in the future; check the phone's clock"

Sent = tuple[str, int, bool]  # check-in id, status (0: no answer), sent by the service worker


class Answers:
    """Every answer to POST /api/checkins in a browser context, in order."""

    def __init__(self, context: BrowserContext) -> None:
        self.seen: list[Sent] = []
        context.on("response", lambda response: self._record(response.request, response.status))
        context.on("requestfailed", lambda request: self._record(request, 0))

    def _record(self, request: Request, status: int) -> None:
        if request.method == "POST" and urlsplit(request.url).path == "/api/checkins":
            by_worker = request.service_worker is not None
            self.seen.append((request.post_data_json["id"], status, by_worker))

    async def until(self, count: int, within: float = 15.0) -> list[Sent]:
        deadline = asyncio.get_running_loop().time() + within
        while len(self.seen) < count:
            assert asyncio.get_running_loop().time() < deadline, self.seen
            await asyncio.sleep(0.05)
        return self.seen


class SyncLog:
    """How each of the app's Background Syncs ended, as Chrome's Background Services record
    them (through the DevTools protocol): "succeeded", or "failed" when the worker's handler
    rejected and the browser will fire it again later."""

    def __init__(self) -> None:
        self.ended: list[str] = []

    @classmethod
    async def start(cls, context: BrowserContext, page: Page) -> SyncLog:
        log = cls()
        cdp = await context.new_cdp_session(page)
        cdp.on("BackgroundService.backgroundServiceEventReceived", log._record)
        service = {"service": "backgroundSync"}
        await cdp.send("BackgroundService.startObserving", service)
        await cdp.send("BackgroundService.setRecording", {"shouldRecord": True, **service})
        return log

    def _record(self, received: dict[str, Any]) -> None:
        event = received["backgroundServiceEvent"]
        details = {item["key"]: item["value"] for item in event["eventMetadata"]}
        if event["eventName"] == "Sync completed":
            self.ended.append(details["Status"])
        elif event["eventName"] == "sync event failed":
            assert details["Failure Reason"] == "waitUntil rejected", details
            self.ended.append("failed")

    async def until(self, count: int, within: float = 15.0) -> list[str]:
        deadline = asyncio.get_running_loop().time() + within
        while len(self.ended) < count:
            assert asyncio.get_running_loop().time() < deadline, self.ended
            await asyncio.sleep(0.05)
        return self.ended


class Link:
    """A TCP hop the test can cut and mend. Cut, its open connections break and new ones are
    refused: to the client, the other end has gone away."""

    def __init__(self, host: str, port: int, socket_path: str | None = None) -> None:
        self.target = (host, port)
        self.socket_path = socket_path
        self.port = free_port()
        self.listener: asyncio.Server | None = None
        self.pipes: set[asyncio.StreamWriter] = set()

    async def mend(self) -> None:
        self.listener = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def cut(self) -> None:
        assert self.listener is not None
        self.listener.close()
        for writer in self.pipes:
            writer.transport.abort()
        self.pipes.clear()
        await self.listener.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            if self.socket_path:
                up_reader, up_writer = await asyncio.open_unix_connection(self.socket_path)
            else:
                up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self.pipes |= {writer, up_writer}
        await asyncio.gather(
            self._pump(reader, up_writer), self._pump(up_reader, writer), return_exceptions=True
        )

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            writer.transport.abort()
            self.pipes.discard(writer)


def database_link(database_url: str) -> tuple[Link, str]:
    """A link to the PostgreSQL of ``database_url`` (TCP or Unix socket), and the URL through it."""
    parts = urlsplit(database_url)
    port = parts.port or 5432
    socket_dir = parse_qs(parts.query).get("host", [""])[0]
    socket_path = f"{socket_dir}/.s.PGSQL.{port}" if socket_dir.startswith("/") else None
    link = Link(parts.hostname or "127.0.0.1", port, socket_path)
    user = f"{parts.username}@" if parts.username else ""
    return link, parts._replace(netloc=f"{user}127.0.0.1:{link.port}", query="").geturl()


class LinkedServer(NamedTuple):
    url: str  # the app's origin, through `web`
    web: Link  # between the browser and the server
    database: Link  # between the server and PostgreSQL


@pytest.fixture(scope="module")
async def linked_server(app_db: str, push_service: FakePushService) -> AsyncIterator[LinkedServer]:
    """A server of its own, with links the test can cut on either side (no dispatcher: the
    suite's server sends the reminders)."""
    database, database_url = database_link(app_db)
    await database.mend()
    started: ServerProcess = await asyncio.to_thread(
        start_server, database_url, DISPATCHER="false", **push_settings(push_service)
    )
    web = Link("127.0.0.1", started.port)
    await web.mend()
    yield LinkedServer(f"http://127.0.0.1:{web.port}", web, database)
    await web.cut()
    await asyncio.to_thread(started.stop)
    await database.cut()


@pytest.fixture
async def deployable(
    tmp_path: Path, app_db: str, push_service: FakePushService
) -> AsyncIterator[tuple[ServerProcess, Path]]:
    """A server running from a copy of the code, so the test can deploy a new version of the
    app (the copy's pwa/) under a phone that has the old one."""
    for folder in ("server", "sql", "pwa"):
        shutil.copytree(
            ROOT / folder, tmp_path / folder, ignore=shutil.ignore_patterns("__pycache__")
        )
    port = free_port()
    env = clean_env(
        DATABASE_URL=app_db,
        PORT=str(port),
        WORKERS="1",
        LOG_LEVEL="warning",
        DISPATCHER="false",
        **push_settings(push_service),
    )
    run_copy = (
        f"import runpy, sys; sys.path.insert(0, {str(tmp_path)!r});"
        " runpy.run_module('server', run_name='__main__', alter_sys=True)"
    )
    started = ServerProcess([sys.executable, "-c", run_copy, "serve"], env, port)
    try:
        await asyncio.to_thread(started.wait_healthy)
        yield started, tmp_path / "pwa"
    finally:
        await asyncio.to_thread(started.stop)


async def enrolled_phone(
    browser: Browser, base_url: str, pool: db.Pool, settings: Settings
) -> tuple[BrowserContext, Page, PatientCreated]:
    """A phone enrolled at ``base_url`` whose service worker controls the app, with the
    patient's daily check-in open."""
    created = await patient_with_daily_due(pool, settings, display_name="Ana")
    context, page = await phone(browser)
    await page.goto(f"{base_url}/app/enroll#{created.enrollment_code}")
    await expect(page.get_by_role("status")).to_contain_text("Hello Ana")
    await until_true(page, "navigator.serviceWorker.controller !== null")
    return context, page, created


async def close_app(page: Page, base_url: str) -> None:
    """Leave the app for a page of its origin that runs none of its code."""
    await page.goto(f"{base_url}/healthz")


async def outbox_entries(page: Page) -> list[dict[str, Any]]:
    """The outbox as IndexedDB holds it (from any page of the app's origin)."""
    entries: list[dict[str, Any]] = await page.evaluate(
        "import('/app/js/store.js').then(({ outbox }) => outbox.all())"
    )
    return entries


async def sync_tags(page: Page) -> list[str]:
    """The Background Syncs the browser still holds for the app (one that failed stays, to
    be fired again later)."""
    tags: list[str] = await page.evaluate(
        "navigator.serviceWorker.getRegistration('/app/').then((r) => r.sync.getTags())"
    )
    return tags


async def put_entries(page: Page, bodies: list[dict[str, Any]]) -> None:
    """Entries as the app's enqueue saves them, oldest first, without asking for a sync."""
    await page.evaluate(
        """async (bodies) => {
        const { outbox } = await import('/app/js/store.js');
        const start = new Date().getTime();
        for (const [index, body] of bodies.entries()) {
            const saved_at = new Date(start + index).toISOString();
            await outbox.put({ id: body.id, body, state: 'pending', saved_at });
        }
    }""",
        bodies,
    )


async def ask_for_sync(page: Page) -> None:
    """What the app does after saving a check-in: ask the browser for a Background Sync."""
    await page.evaluate("import('/app/js/outbox.js').then((m) => m.requestBackgroundSync())")


async def fire_sync(context: BrowserContext, page: Page, base_url: str) -> None:
    """Fire the app's "outbox" sync now, as the browser does when it tries again."""
    cdp = await context.new_cdp_session(page)
    registrations: list[dict[str, Any]] = []
    cdp.on(
        "ServiceWorker.workerRegistrationUpdated",
        lambda e: registrations.extend(e["registrations"]),
    )
    await cdp.send("ServiceWorker.enable")
    deadline = asyncio.get_running_loop().time() + 10
    while not (found := [r for r in registrations if r["scopeURL"] == f"{base_url}/app/"]):
        assert asyncio.get_running_loop().time() < deadline, registrations
        await asyncio.sleep(0.05)
    await cdp.send(
        "ServiceWorker.dispatchSyncEvent",
        {
            "origin": base_url,
            "registrationId": found[0]["registrationId"],
            "tag": "outbox",
            "lastChance": False,
        },
    )


async def post_from_page(page: Page, body: dict[str, Any]) -> int:
    status: int = await page.evaluate(
        """async (body) => (await fetch('/api/checkins', {method: 'POST',
            headers: {'Content-Type': 'application/json'}, body: JSON.stringify(body)})).status""",
        body,
    )
    return status


async def open_due_id(pool: db.Pool, patient_id: uuid.UUID) -> uuid.UUID:
    due_id: uuid.UUID = await pool.fetchval(
        "select id from checkin_due where patient_id = $1 and status = 'open'", patient_id
    )
    return due_id


async def stored_times(pool: db.Pool, checkin_id: str) -> int:
    count: int = await pool.fetchval(
        "select count(*) from checkin where id = $1", uuid.UUID(checkin_id)
    )
    return count


class FourAnswers:
    """One check-in for each answer the server settles at once, oldest first: new (201),
    already stored (200), its id stored with other answers (409), answered "tomorrow" by a
    phone whose clock is wrong (422)."""

    def __init__(self, due_id: uuid.UUID) -> None:
        tomorrow = (now() + timedelta(days=1)).isoformat()
        self.fresh = checkin_body(pain=7, due_id=str(due_id))
        self.replay = checkin_body(pain=2)
        self.taken = checkin_body(pain=3)
        self.conflict = self.taken | {"answers": daily_answers(pain=9)}
        self.invalid = checkin_body(answered_at=tomorrow, due_id=str(due_id))
        self.in_outbox = [self.fresh, self.replay, self.conflict, self.invalid]

    async def store_earlier(self, page: Page) -> None:
        """The replay was sent before (its answer never came back); the taken id is another
        check-in's."""
        for body in (self.replay, self.taken):
            assert await post_from_page(page, body) == 201

    def answers(self, by_worker: bool) -> list[Sent]:
        statuses = (201, 200, 409, 422)
        return [(b["id"], s, by_worker) for b, s in zip(self.in_outbox, statuses, strict=True)]

    async def assert_settled(self, page: Page, pool: db.Pool, patient_id: uuid.UUID) -> None:
        """Stored ones gone from the outbox, refused ones kept with the server's words, and
        the server holding each check-in once, the one it had first unchanged."""
        left = {e["id"]: (e["state"], e["problem"]) for e in await outbox_entries(page)}
        assert left == {
            self.conflict["id"]: ("rejected", CONFLICT),
            self.invalid["id"]: ("rejected", IN_THE_FUTURE),
        }
        rows = await pool.fetch(
            "select id::text, answers from checkin where patient_id = $1", patient_id
        )
        assert {r["id"]: r["answers"]["pain_now"] for r in rows} == {
            self.fresh["id"]: 7,
            self.replay["id"]: 2,
            self.taken["id"]: 3,
        }


@pytest.mark.dated  # answers filed under the window open now
async def test_page_removes_what_the_server_stored_and_keeps_what_it_refused(
    browser: Browser, server: ServerProcess, pool: db.Pool, settings: Settings
) -> None:
    context, page, created = await enrolled_phone(browser, server.url, pool, settings)
    four = FourAnswers(await open_due_id(pool, created.patient_id))
    await four.store_earlier(page)
    answers = Answers(context)
    await put_entries(page, four.in_outbox)

    await page.evaluate("dispatchEvent(new Event('online'))")
    # Oldest first, each answered once, a refusal holding up nothing behind it.
    assert await answers.until(4) == four.answers(by_worker=False)
    await four.assert_settled(page, pool, created.patient_id)
    line = page.locator("#outbox")
    await expect(line.locator(".error")).to_have_count(2)
    await expect(line).to_contain_text(f"A check-in could not be stored by the clinic: {CONFLICT}")
    await expect(line).to_contain_text(IN_THE_FUTURE)
    assert await sync_tags(page) == []  # nothing left for the worker

    # Refusals stay on the phone until the patient dismisses them.
    for left in (1, 0):
        await line.get_by_role("button", name="Dismiss").first.click()
        await expect(line.locator(".error")).to_have_count(left)
    assert await outbox_entries(page) == []
    await context.close()


@pytest.mark.dated  # answers filed under the window open now
async def test_refused_checkin_leaves_its_window_to_answer_again(
    browser: Browser, server: ServerProcess, pool: db.Pool, settings: Settings
) -> None:
    context, page, created = await enrolled_phone(browser, server.url, pool, settings)
    tomorrow = (now() + timedelta(days=1)).isoformat()
    due_id = str(await open_due_id(pool, created.patient_id))
    await put_entries(page, [checkin_body(answered_at=tomorrow, due_id=due_id)])
    await page.evaluate("dispatchEvent(new Event('online'))")
    line = page.locator("#outbox")
    await expect(line).to_contain_text(IN_THE_FUTURE)

    # Opened again, the app offers the window the clinic has no answer for, beside the refusal.
    await page.reload()
    await expect(page.get_by_role("heading", name=DAILY[0][0])).to_be_focused()
    await expect(line).to_contain_text(IN_THE_FUTURE)
    await check(page, "en", "refused-and-offered-again")
    # Answered again, the new check-in is stored and replaces the refusal.
    for question, value in DAILY:
        group = page.get_by_role("group", name=question)
        await group.get_by_role("button", name=str(value), exact=True).click()
    await page.get_by_role("button", name="Send", exact=True).click()
    await expect(page.get_by_role("status")).to_contain_text("Your check-in is saved.")
    await expect(line.locator(".error")).to_have_count(0)
    assert await outbox_entries(page) == []
    row = await pool.fetchrow(
        "select due_id::text, answers from checkin where patient_id = $1", created.patient_id
    )
    assert row["due_id"] == due_id
    assert row["answers"] == {"pain_now": 7, "pain_avg_24h": 6, "fatigue": 4, "sleep_quality": 3}
    await context.close()


async def test_answers_that_are_not_the_clinics_verdict_leave_the_checkin_waiting(
    browser: Browser, server: ServerProcess, pool: db.Pool, settings: Settings
) -> None:
    """A Wi-Fi sign-in page answering for the server, a proxy's refusal, a request to slow
    down: none of them is the server storing or refusing the check-in."""
    context, page, _ = await enrolled_phone(browser, server.url, pool, settings)
    body = checkin_body()
    syncs = await SyncLog.start(context, page)
    answers = Answers(context)
    waiting = page.locator("#outbox .waiting")
    stand_ins = [
        {"status": 200, "content_type": "text/html", "body": "<h1>Sign in to the Wi-Fi</h1>"},
        {"status": 403, "content_type": "text/html", "body": "<h1>Blocked by the proxy</h1>"},
        {
            "status": 429,
            "headers": {"Retry-After": "1"},
            "json": {"error": "too_many_requests", "message": "slow down"},
        },
    ]

    async def stand_in(route: Route) -> None:
        if route.request.method == "POST" and stand_ins:
            await route.fulfill(**stand_ins.pop(0))
        else:
            await route.fallback()

    await context.route("**/api/checkins", stand_in)
    await put_entries(page, [body])
    await page.evaluate("dispatchEvent(new Event('online'))")
    # Kept; the worker, asked to take over, gets the proxy's refusal and leaves the sync to
    # the browser's next try.
    assert await answers.until(2) == [(body["id"], 200, False), (body["id"], 403, True)]
    assert await syncs.until(1) == ["failed"]
    await expect(waiting).to_have_text("1 check-in(s) waiting to send.")
    assert [e["state"] for e in await outbox_entries(page)] == ["pending"]

    # 429 with Retry-After: the page tries again by itself a second later, and the server
    # stores it.
    await page.evaluate("dispatchEvent(new Event('online'))")
    assert (await answers.until(4))[2:] == [(body["id"], 429, False), (body["id"], 201, False)]
    await expect(page.locator("#outbox")).to_have_text("All check-ins sent.")
    assert await stored_times(pool, body["id"]) == 1
    await context.close()


@pytest.mark.dated  # answers filed under the window open now
async def test_service_worker_sends_the_outbox_with_the_app_closed(
    browser: Browser, server: ServerProcess, pool: db.Pool, settings: Settings
) -> None:
    context, page, created = await enrolled_phone(browser, server.url, pool, settings)
    four = FourAnswers(await open_due_id(pool, created.patient_id))
    await four.store_earlier(page)
    await close_app(page, server.url)
    syncs = await SyncLog.start(context, page)
    answers = Answers(context)
    await put_entries(page, four.in_outbox)

    await ask_for_sync(page)
    assert await answers.until(4) == four.answers(by_worker=True)
    # Nothing left to send: the sync ended well, and the browser will not fire it again.
    assert await syncs.until(1) == ["succeeded"]
    await four.assert_settled(page, pool, created.patient_id)
    assert await sync_tags(page) == []
    # The app, opened again, shows what the clinic refused, in the server's words.
    await page.goto(f"{server.url}/app/")
    line = page.locator("#outbox")
    await expect(line.locator(".error")).to_have_count(2)
    await expect(line).to_contain_text(CONFLICT)
    await expect(line).to_contain_text(IN_THE_FUTURE)
    await context.close()


@pytest.mark.slow
async def test_page_keeps_the_checkin_while_the_database_is_away_and_sends_it_after_retry_after(
    browser: Browser, linked_server: LinkedServer, pool: db.Pool, settings: Settings
) -> None:
    context, page, created = await enrolled_phone(browser, linked_server.url, pool, settings)
    body = checkin_body(due_id=str(await open_due_id(pool, created.patient_id)))
    answers = Answers(context)
    await put_entries(page, [body])
    await linked_server.database.cut()
    try:
        await page.evaluate("dispatchEvent(new Event('online'))")
        # Kept; and the page asks for a Background Sync, so that the worker takes over should
        # the app close (it finds the database away too, and the browser will try again).
        assert await answers.until(2) == [(body["id"], 503, False), (body["id"], 503, True)]
        await expect(page.locator("#outbox")).to_contain_text("1 check-in(s) waiting to send.")
        assert [e["state"] for e in await outbox_entries(page)] == ["pending"]
        assert await sync_tags(page) == ["outbox"]
    finally:
        await linked_server.database.mend()
    # No reload, no `online` event: the page tries again once Retry-After has passed.
    await expect(page.locator("#outbox")).to_contain_text("All check-ins sent.", timeout=20_000)
    # 201, or 200 if the server stored it on a try whose answer broke off with the link.
    assert answers.seen[-1] in {(body["id"], 201, False), (body["id"], 200, False)}
    assert await outbox_entries(page) == []
    assert await stored_times(pool, body["id"]) == 1
    await context.close()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("cut", "answer"),
    [("web", 0), ("database", 503)],
    ids=["no-connection", "database-away"],
)
async def test_service_worker_keeps_the_checkin_out_of_reach_and_leaves_the_sync_to_retry(
    browser: Browser,
    linked_server: LinkedServer,
    pool: db.Pool,
    settings: Settings,
    cut: str,
    answer: int,
) -> None:
    context, page, created = await enrolled_phone(browser, linked_server.url, pool, settings)
    body = checkin_body(due_id=str(await open_due_id(pool, created.patient_id)))
    await close_app(page, linked_server.url)
    syncs = await SyncLog.start(context, page)
    answers = Answers(context)
    await put_entries(page, [body])
    await page.evaluate("import('/app/js/outbox.js')")  # loaded while the server answers
    link: Link = getattr(linked_server, cut)
    await link.cut()
    try:
        await ask_for_sync(page)
        # Kept, and the worker's handler rejected: the browser fires the sync again later.
        assert await syncs.until(1) == ["failed"]
        assert answers.seen == [(body["id"], answer, True)]
        assert [e["state"] for e in await outbox_entries(page)] == ["pending"]
        assert await sync_tags(page) == ["outbox"]
    finally:
        await link.mend()

    # The browser's next try (five minutes on) is fired now through the DevTools protocol.
    await fire_sync(context, page, linked_server.url)
    # 201, or 200 if the server stored it on a try whose answer broke off with the link.
    assert (await answers.until(2))[1] in {(body["id"], 201, True), (body["id"], 200, True)}
    await until_true(
        page,
        "import('/app/js/store.js').then(({ outbox }) => outbox.all())"
        ".then((entries) => entries.length === 0)",
    )
    assert await stored_times(pool, body["id"]) == 1
    await context.close()


async def test_disconnected_phone_keeps_its_checkins_until_it_is_connected_again(
    browser: Browser, server: ServerProcess, pool: db.Pool, settings: Settings
) -> None:
    context, page, created = await enrolled_phone(browser, server.url, pool, settings)
    bodies = [checkin_body(pain=4), checkin_body(pain=5)]
    await close_app(page, server.url)
    await pool.execute(
        "update device set revoked_at = $2 where patient_id = $1", created.patient_id, now()
    )
    syncs = await SyncLog.start(context, page)
    answers = Answers(context)
    await put_entries(page, bodies)
    await ask_for_sync(page)
    # The worker's first try answers 401: it stops there (every other would too) and ends the
    # sync well, as trying again cannot help before the patient connects the phone again.
    assert await syncs.until(1) == ["succeeded"]
    assert answers.seen == [(bodies[0]["id"], 401, True)]
    assert await sync_tags(page) == []
    assert [e["state"] for e in await outbox_entries(page)] == ["pending", "pending"]

    # The app shows what waits on the connect form; with a new code from the clinic, the
    # page sends both.
    await page.goto(f"{server.url}/app/")
    await expect(page.locator("#outbox")).to_contain_text("2 check-in(s) waiting to send.")
    await check(page, "en", "connect-with-checkins-waiting")
    code = (await new_code(pool, settings, created.clinic_id, created.patient_id)).enrollment_code
    await page.get_by_label("Your code from the clinic").fill(code)
    await page.get_by_role("button", name="Connect this phone").click()
    await expect(page.locator("#outbox")).to_contain_text("All check-ins sent.")
    assert answers.seen[1:] == [(b["id"], 201, False) for b in bodies]
    assert await outbox_entries(page) == []
    await context.close()


@pytest.mark.slow
async def test_new_version_takes_over_when_the_patient_reloads_and_still_sends(
    browser: Browser, deployable: tuple[ServerProcess, Path], pool: db.Pool, settings: Settings
) -> None:
    """The module worker's update path: a deploy changes worker.js and a module it imports; the
    browser installs the new worker, the app offers to reload (never swapping code under a
    check-in), and after the tap the new worker serves the new shell and sends the outbox."""
    served, pwa = deployable
    context, page, _ = await enrolled_phone(browser, served.url, pool, settings)
    old_caches = await page.evaluate("caches.keys()")
    registration = await page.evaluate(
        "navigator.serviceWorker.getRegistration('/app/').then((r) => r.updateViaCache)"
    )
    assert registration == "none"

    worker = pwa / "worker.js"
    version = re.search(r'^const VERSION = "([^"]+)";$', worker.read_text(), re.M)
    assert version is not None
    new_version = f"{version.group(1)}-next"
    worker.write_text(worker.read_text().replace(version.group(1), new_version))
    outbox_module = pwa / "js" / "outbox.js"
    outbox_module.write_text(outbox_module.read_text() + 'export const release = "next";\n')

    await page.evaluate(
        "navigator.serviceWorker.getRegistration('/app/').then((r) => r.update()).then(() => null)"
    )
    banner = page.locator("#update")
    await expect(banner).to_contain_text("A new version is ready")
    async with page.expect_navigation():  # the new worker takes over, the app reloads
        await banner.get_by_role("button", name="reload").click()
    await expect(page.locator("#status")).to_contain_text("Hello Ana")
    await expect(banner).to_be_hidden()
    await until_true(page, f"caches.keys().then((keys) => keys.join() === 'shell-{new_version}')")
    assert old_caches == [f"shell-{version.group(1)}"]
    assert await page.evaluate("import('/app/js/outbox.js').then((m) => m.release)") == "next"

    body = checkin_body()
    await close_app(page, served.url)
    answers = Answers(context)
    await put_entries(page, [body])
    await ask_for_sync(page)
    assert await answers.until(1) == [(body["id"], 201, True)]
    await context.close()
