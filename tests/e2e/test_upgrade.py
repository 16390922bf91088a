"""Phones that installed the app while its service worker was a classic script (pwa/sw.js, up to
OLD_VERSION) move to the module worker (pwa/worker.js), in real Chromium against the live
server. The server first serves the old app exactly as that commit shipped it; the phone
installs it and saves a check-in while the connection is down. Then the new version is
deployed, and the browser's update check finds the handover at the old worker's URL. And
the handover running a second time, and a new phone, which never loads it.

The old app's files are dated a month back, as on a server that has run it for a while: the
browser's HTTP cache then takes its modules as fresh for days, as a phone's does.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import tarfile
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect
from playwright.async_api import Error as PlaywrightError

from server import db
from server.patients.schemas import PatientCreated
from server.settings import Settings
from tests.e2e.test_outbox import (
    Answers,
    Link,
    SyncLog,
    close_app,
    deployable,  # noqa: F401 - the fixture: a server running from a copy of the code
    enrolled_phone,
    fire_sync,
    open_due_id,
    outbox_entries,
    post_from_page,
    put_entries,
    stored_times,
)
from tests.e2e.test_pwa import DAILY, patient_with_daily_due, phone, until_true
from tests.support.factories import checkin_body, daily_answers
from tests.support.live import ROOT, ServerProcess

OLD_VERSION = "3b42f91"  # the last commit whose pwa/sw.js was the app's worker, a classic one
# Its pwa/ as installed phones have it (`git archive --format=tar 3b42f91 pwa | gzip -9n`): kept
# in the tree, since CI may clone without history.
OLD_APP = Path(__file__).resolve().parent / "old_app" / f"pwa-{OLD_VERSION}.tar.gz"
MONTH = 30 * 24 * 3600
DAILY_ANSWERS = {"pain_now": 7, "pain_avg_24h": 6, "fatigue": 4, "sleep_quality": 3}  # DAILY's
# In a service worker: importScripts() with nothing to load is a no-op in a classic worker and
# a TypeError in a module worker.
WORKER_TYPE = (
    "(() => { try { importScripts(); return 'classic'; } catch (e) { return e.name; } })()"
)
MODULE = "TypeError"


def shell_cache(worker: Path) -> str:
    """The name of the cache the worker at ``worker`` fills."""
    version = re.search(r'^const VERSION = "([^"]+)";$', worker.read_text(), re.M)
    assert version is not None, worker
    return f"shell-{version.group(1)}"


def install_old_app(pwa: Path) -> str:
    """Serve OLD_VERSION's pwa/ from ``pwa``, each file a month older than that commit; the
    cache its worker fills."""
    shutil.rmtree(pwa)
    with tarfile.open(OLD_APP) as tar:
        tar.extractall(pwa.parent, filter="data")
    for path in pwa.rglob("*"):
        modified = path.stat().st_mtime - MONTH
        os.utime(path, (modified, modified))
    return shell_cache(pwa / "sw.js")


def deploy_new_app(pwa: Path) -> str:
    """Serve this repository's pwa/ from ``pwa``; the cache worker.js fills."""
    shutil.rmtree(pwa)
    shutil.copytree(ROOT / "pwa", pwa)
    return shell_cache(pwa / "worker.js")


class OldInstall(NamedTuple):
    url: str  # the app's origin, through `link`
    link: Link  # between the browser and the server, to cut and mend
    pwa: Path  # what the server serves under /app/
    cache: str  # the old worker's shell cache


@pytest.fixture
async def old_install(
    deployable: tuple[ServerProcess, Path],  # noqa: F811
) -> AsyncIterator[OldInstall]:
    """A server of its own serving the old app, reached through a link the test can cut (the
    browser's offline switch does not reliably reach service workers)."""
    served, pwa = deployable
    cache = install_old_app(pwa)
    link = Link("127.0.0.1", served.port)
    await link.mend()
    yield OldInstall(f"http://127.0.0.1:{link.port}", link, pwa, cache)
    await link.cut()


async def enrolled_in_old_app(
    browser: Browser, old: OldInstall, pool: db.Pool, settings: Settings
) -> tuple[BrowserContext, Page, PatientCreated, SyncLog]:
    """A phone that allows the app's reminders and enrolled in the old app, whose classic
    worker cached the shell and controls the page; with the log of its Background Syncs."""
    created = await patient_with_daily_due(pool, settings, display_name="Ana")
    # Granting permissions denies the others: Background Sync is listed with the reminders.
    context, page = await phone(browser, permissions=["notifications", "background-sync"])
    await page.goto(f"{old.url}/app/enroll#{created.enrollment_code}")
    await expect(page.get_by_role("status")).to_contain_text("Hello Ana")
    await until_true(page, "navigator.serviceWorker.controller?.scriptURL.endsWith('/app/sw.js')")
    assert await page.evaluate("caches.keys()") == [old.cache]
    assert await worker_type(context, f"{old.url}/app/sw.js") == "classic"
    return context, page, created, await SyncLog.start(context, page)


async def answer_while_offline(page: Page, old: OldInstall, syncs: SyncLog) -> str:
    """Answer the due check-in in the old app with the connection down: the old page and the
    old worker's Background Sync both fail to send it, and it waits in the old outbox. The
    check-in's id."""
    tried = len(syncs.ended)
    await old.link.cut()
    try:
        for question, value in DAILY:
            group = page.get_by_role("group", name=question)
            await group.get_by_role("button", name=str(value), exact=True).click()
        await page.get_by_role("button", name="Send", exact=True).click()
        await expect(page.get_by_role("status")).to_contain_text("Saved on this phone.")
        # The browser will fire the sync again, minutes later.
        assert (await syncs.until(tried + 1))[tried:] == ["failed"]
    finally:
        await old.link.mend()
    waiting = [e for e in await outbox_entries(page) if e["state"] == "pending"]
    assert [e["body"]["answers"] for e in waiting] == [DAILY_ANSWERS]
    return str(waiting[0]["id"])


async def registration(page: Page) -> dict[str, Any]:
    found: dict[str, Any] = await page.evaluate(
        """navigator.serviceWorker.getRegistration('/app/').then((r) => ({
            active: r.active?.scriptURL, waiting: r.waiting?.scriptURL ?? null,
            installing: r.installing?.scriptURL ?? null, updateViaCache: r.updateViaCache}))"""
    )
    return found


async def check_for_update(page: Page) -> None:
    """The browser's update check of the app's worker (it runs one when the app opens, and
    after a reminder a day after the last), from ``page``, which is not the app."""
    failed = await page.evaluate(
        "navigator.serviceWorker.getRegistration('/app/').then((r) => r.update())"
        ".then(() => null, (error) => String(error))"
    )
    assert failed is None


async def worker_type(context: BrowserContext, url: str) -> str:
    """How the running service worker at ``url`` was loaded: "classic", or MODULE."""
    deadline = asyncio.get_running_loop().time() + 10
    while not (running := [w for w in context.service_workers if w.url == url]):
        assert asyncio.get_running_loop().time() < deadline, context.service_workers
        await asyncio.sleep(0.05)
    kind: str = await running[-1].evaluate(WORKER_TYPE)  # the newest at that URL
    return kind


async def until_true_across_reloads(page: Page, expression: str, within: float = 15.0) -> None:
    """Like until_true, for a page the service worker reloads meanwhile."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        try:
            if await page.evaluate(expression):
                return
        except PlaywrightError:  # evaluated while the page was being replaced
            pass
        assert asyncio.get_running_loop().time() < deadline, f"still false: {expression}"
        await asyncio.sleep(0.05)


async def on_worker_js(page: Page, base_url: str, new_cache: str) -> None:
    """The app page runs the new version, under worker.js as a module worker and its shell
    cache alone, and asks the patient nothing."""
    await until_true_across_reloads(
        page, "navigator.serviceWorker.controller?.scriptURL.endsWith('/app/worker.js')"
    )
    assert await registration(page) == {
        "active": f"{base_url}/app/worker.js",
        "waiting": None,
        "installing": None,
        "updateViaCache": "none",
    }
    assert await worker_type(page.context, f"{base_url}/app/worker.js") == MODULE
    await until_true(page, f"caches.keys().then((keys) => keys.join() === '{new_cache}')")
    await expect(page.locator("#update")).to_be_hidden()


async def shown_reminder(
    context: BrowserContext, page: Page, base_url: str, reminder: dict[str, Any]
) -> Any:
    """Deliver ``reminder`` to the app's worker as the push service would, and read the
    notification it shows. Headless Chromium now and then loses a notification a worker has
    shown (showNotification resolves, and getNotifications() finds nothing, in the worker
    too): such a reminder is delivered again, up to three times in all."""
    cdp = await context.new_cdp_session(page)
    found: list[dict[str, Any]] = []
    cdp.on("ServiceWorker.workerRegistrationUpdated", lambda e: found.extend(e["registrations"]))
    await cdp.send("ServiceWorker.enable")
    deadline = asyncio.get_running_loop().time() + 10
    while not (app := [r for r in found if r["scopeURL"] == f"{base_url}/app/"]):
        assert asyncio.get_running_loop().time() < deadline, found
        await asyncio.sleep(0.05)
    push = {"origin": base_url, "registrationId": app[0]["registrationId"]}
    for _ in range(3):
        await cdp.send("ServiceWorker.deliverPushMessage", push | {"data": json.dumps(reminder)})
        try:
            return await until_true(
                page,
                """navigator.serviceWorker.getRegistration('/app/')
                    .then((r) => r.getNotifications({tag: 'checkin'}))
                    .then(([n]) => n && {title: n.title, body: n.body, data: n.data})""",
                within=3.0,
            )
        except AssertionError:
            pass
    raise AssertionError("the worker showed no notification for three reminders")


@pytest.mark.slow
async def test_open_old_app_is_reloaded_into_the_new_version_and_sends_what_waited(
    browser: Browser, old_install: OldInstall, pool: db.Pool, settings: Settings
) -> None:
    old = old_install
    context, page, _, syncs = await enrolled_in_old_app(browser, old, pool, settings)
    # A second tab of the app, hard-reloaded: that bypasses the worker, so no worker controls it.
    tab = await context.new_page()
    await tab.goto(f"{old.url}/app/")
    await (await context.new_cdp_session(tab)).send("Page.reload", {"ignoreCache": True})
    await expect(tab.get_by_role("status")).to_contain_text("Hello Ana")
    assert await tab.evaluate("navigator.serviceWorker.controller") is None
    await tab.evaluate("window.beforeTheHandover = true")
    # A check-in the old worker refused for good (its id was taken by other answers), kept as
    # the old worker kept refusals: with the HTTP status, not the server's words.
    other = await context.new_page()
    await other.goto(f"{old.url}/healthz")
    taken = checkin_body(pain=3)
    assert await post_from_page(other, taken) == 201
    conflict = taken | {"answers": daily_answers(pain=9)}
    await other.evaluate(
        "(body) => import('/app/js/outbox.js').then((m) => m.enqueue(body))", conflict
    )
    assert await syncs.until(1) == ["succeeded"]
    waiting_id = await answer_while_offline(page, old, syncs)
    # Kept as every old version kept entries: saved_at an ISO string in UTC (the new outbox
    # sorts by it), and this refusal's problem the bare HTTP status.
    [kept] = [e for e in await outbox_entries(page) if e["state"] == "rejected"]
    assert datetime.fromisoformat(kept.pop("saved_at")).tzinfo == UTC
    assert kept == {"id": conflict["id"], "body": conflict, "state": "rejected", "problem": 409}

    new_cache = deploy_new_app(old.pwa)
    assert new_cache != old.cache
    # The HTTP cache still takes the old modules as fresh: a page loaded through it would be
    # the old app again, registering sw.js again.
    cached = await other.evaluate("fetch('/app/js/update.js').then((r) => r.text())")
    assert 'register("/app/sw.js", { scope: "/app/" })' in cached
    answers = Answers(context)
    loaded: list[str] = []
    page.on("load", lambda loaded_page: loaded.append(loaded_page.url))
    await check_for_update(other)

    # The open app, reloaded once by the handover, is the new version: it registered worker.js
    # (which took over with no second reload), and sent what the old app had saved, once. The
    # tab no worker controlled is reloaded too.
    assert await answers.until(1) == [(waiting_id, 201, False)]
    await on_worker_js(page, old.url, new_cache)
    assert loaded == [f"{old.url}/app/"]
    await until_true_across_reloads(tab, "window.beforeTheHandover === undefined")
    await on_worker_js(tab, old.url, new_cache)
    assert answers.seen == [(waiting_id, 201, False)]
    assert await stored_times(pool, waiting_id) == 1
    row = await pool.fetchrow("select answers from checkin where id = $1::uuid", waiting_id)
    assert row["answers"] == DAILY_ANSWERS
    # The old worker's refusal reads as one: kept, shown, and dismissed by the patient.
    assert [e["id"] for e in await outbox_entries(page)] == [conflict["id"]]
    refusal = page.locator("#outbox .error")
    await expect(refusal).to_have_text("A check-in could not be stored by the clinic: 409 Dismiss")
    await refusal.get_by_role("button", name="Dismiss").click()
    await expect(refusal).to_have_count(0)
    assert await outbox_entries(page) == []
    assert await stored_times(pool, conflict["id"]) == 1  # the first answers, unchanged

    # A new check-in, sent by worker.js's Background Sync, fired as the browser fires it (the
    # old worker's retry of its offline try is due minutes on). Saved from the app's page: a
    # page outside the app would load the app's modules through the HTTP cache, the old ones.
    body = checkin_body(pain=2)
    await put_entries(page, [body])
    await fire_sync(context, page, old.url)
    assert (await answers.until(2))[1:] == [(body["id"], 201, True)]
    assert await stored_times(pool, body["id"]) == 1
    await context.close()


@pytest.mark.slow
async def test_closed_old_app_gets_the_handover_and_opens_as_the_new_version(
    browser: Browser, old_install: OldInstall, pool: db.Pool, settings: Settings
) -> None:
    """The update check runs with no page of the app open (after a reminder, say): the
    handover takes the old worker's place, keeps what it carried, and the next time the
    patient opens the app, the page comes from the network and registers worker.js."""
    old = old_install
    context, page, created, syncs = await enrolled_in_old_app(browser, old, pool, settings)
    waiting_id = await answer_while_offline(page, old, syncs)
    await close_app(page, old.url)
    new_cache = deploy_new_app(old.pwa)
    answers = Answers(context)
    await check_for_update(page)

    # The handover replaced the old worker at the same URL: nothing left installing or waiting.
    await until_true(
        page,
        "navigator.serviceWorker.getRegistration('/app/')"
        ".then((r) => !r.installing && !r.waiting && r.active.state === 'activated')",
    )
    assert await registration(page) == {
        "active": f"{old.url}/app/sw.js",
        "waiting": None,
        "installing": None,
        "updateViaCache": "imports",  # the old registration's, until worker.js replaces it
    }
    assert await worker_type(context, f"{old.url}/app/sw.js") == "classic"
    await until_true(page, "caches.keys().then((keys) => keys.length === 0)")
    assert [e["id"] for e in await outbox_entries(page)] == [waiting_id]
    # Reminders still show, and their tap is handled (Chromium cannot tap one from automation).
    due_id = await open_due_id(pool, created.patient_id)
    reminder = {"title": "Time for your check-in", "body": "It takes a minute.",
                "url": f"/app/#checkin/{due_id}", "reminder_id": None}  # fmt: skip
    shown = await shown_reminder(context, page, old.url, reminder)
    assert shown == {
        "title": reminder["title"],
        "body": reminder["body"],
        "data": {"url": reminder["url"], "reminder_id": None},
    }
    handover = [w for w in context.service_workers if w.url == f"{old.url}/app/sw.js"][-1]
    assert await handover.evaluate("typeof openFromNotification") == "function"
    assert answers.seen == []

    # The patient opens the app: the new version, which sends the check-in once.
    await page.goto(f"{old.url}/app/")
    await expect(page.locator("#outbox .done")).to_have_text("All check-ins sent.")
    await on_worker_js(page, old.url, new_cache)
    assert answers.seen == [(waiting_id, 201, False)]
    assert await stored_times(pool, waiting_id) == 1
    assert await outbox_entries(page) == []
    await context.close()


async def test_handover_running_again_leaves_the_phone_on_worker_js(
    browser: Browser, server: ServerProcess, pool: db.Pool, settings: Settings
) -> None:
    """Should a page of the old app somewhere register sw.js again after worker.js took over,
    the handover runs again: the app is reloaded, registers worker.js again, and loses
    nothing."""
    context, page, _ = await enrolled_phone(browser, server.url, pool, settings)
    new_cache = shell_cache(ROOT / "pwa" / "worker.js")
    await on_worker_js(page, server.url, new_cache)
    other = await context.new_page()
    await other.goto(f"{server.url}/healthz")
    body = checkin_body()
    await put_entries(other, [body])  # saved, not yet sent
    answers = Answers(context)
    for _ in range(2):
        await page.evaluate("window.beforeTheHandover = true")
        await other.evaluate(
            "navigator.serviceWorker.register('/app/sw.js', {scope: '/app/'}).then(() => null)"
        )
        await until_true_across_reloads(page, "window.beforeTheHandover === undefined")
        await on_worker_js(page, server.url, new_cache)
    assert answers.seen == [(body["id"], 201, False)]
    assert await stored_times(pool, body["id"]) == 1
    assert await outbox_entries(page) == []
    await context.close()


async def test_new_phone_registers_worker_js_and_never_sw_js(
    browser: Browser, server: ServerProcess
) -> None:
    context, page = await phone(browser)
    requested: list[str] = []
    context.on("request", lambda request: requested.append(urlsplit(request.url).path))
    await page.goto(f"{server.url}/app/")
    await expect(page.get_by_label("Your code from the clinic")).to_be_visible()
    await on_worker_js(page, server.url, shell_cache(ROOT / "pwa" / "worker.js"))
    assert {"/app/worker.js", "/app/worker-reminders.js"} <= set(requested)
    assert "/app/sw.js" not in requested
    await context.close()
