"""The installable, offline-safe patient app in real Chromium: taps, offline outbox, manifest
and service worker. Screenshots of each screen (390x844) go to tests/e2e/artifacts/."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

from server import db
from server.patients.schemas import PatientCreated
from server.settings import Settings
from tests.e2e.axe import assert_accessible
from tests.support.browser import new_context
from tests.support.clock import now
from tests.support.factories import make_clinic, make_coordinator, make_patient, weekly_elsewhere
from tests.support.fakepush import FakePushService
from tests.support.live import ServerProcess

pytestmark = pytest.mark.dated

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
PHONE = {"width": 390, "height": 844}
IPHONE_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15"
    " (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)


async def patient_with_daily_due(
    pool: db.Pool, settings: Settings, **fields: Any
) -> PatientCreated:
    zone = "Europe/London"
    local = (now() - timedelta(hours=1)).astimezone(ZoneInfo(zone))
    clinic = await make_clinic(pool)
    await weekly_elsewhere(pool, clinic.id, zone)
    created = await make_patient(
        pool, settings, clinic.id, timezone=zone, reminder_time=f"{local:%H:%M}", **fields
    )
    await pool.execute(
        "update patient set created_at = $2::timestamptz - interval '1 day' where id = $1",
        created.patient_id,
        now(),
    )
    return created


async def until_true(page: Page, expression: str, within: float = 10.0) -> Any:
    """Evaluate until truthy. Not page.wait_for_function: its polling compiles the predicate
    inside the page, which the app's Content-Security-Policy (no eval) rightly refuses."""
    deadline = asyncio.get_running_loop().time() + within
    while not (value := await page.evaluate(expression)):
        assert asyncio.get_running_loop().time() < deadline, f"still false: {expression}"
        await asyncio.sleep(0.05)
    return value


async def http_post(server: ServerProcess, path: str, headers: dict[str, str]) -> Any:
    async with httpx.AsyncClient(base_url=server.url) as client:
        response = await client.post(path, headers=headers)
    assert response.status_code in (200, 201, 202), response.text
    return response.json()


async def shot(page: Page, name: str, full_page: bool = True) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=full_page)


class Taps:
    """Every tap the patient makes goes through here, so the test can count them."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.count = 0

    async def answer(self, question: str, value: int) -> None:
        group = self.page.get_by_role("group", name=question)
        await group.get_by_role("button", name=str(value), exact=True).click()
        self.count += 1

    async def button(self, name: str) -> None:
        await self.page.get_by_role("button", name=name, exact=True).click()
        self.count += 1


DAILY = [
    ("How bad is your pain right now?", 7),
    ("Over the last 24 hours, how bad was your pain on average?", 6),
    ("How tired do you feel right now?", 4),
    ("How well did you sleep last night?", 3),
]


async def phone(browser: Browser, **options: Any) -> tuple[BrowserContext, Page]:
    context = await new_context(browser, viewport=PHONE, device_scale_factor=1, **options)
    return context, await context.new_page()


async def test_daily_checkin_in_six_taps_or_fewer(
    browser: Browser, server: ServerProcess, pool: db.Pool, settings: Settings
) -> None:
    created = await patient_with_daily_due(pool, settings, display_name="Ana")
    context, page = await phone(browser)
    await page.goto(created.enrollment_link)
    await expect(page.get_by_role("status")).to_contain_text("Hello Ana")
    taps = Taps(page)
    first = page.get_by_role("heading", name=DAILY[0][0])
    await expect(first).to_be_focused()
    await expect(page.get_by_text("Question 1 of 4")).to_be_visible()
    await shot(page, "01-question")
    # Eleven buttons of at least 48x48 px, with the words at both ends, and no slider.
    group = page.get_by_role("group", name=DAILY[0][0])
    buttons = group.get_by_role("button")
    await expect(buttons).to_have_count(11)
    for index in range(11):
        box = await buttons.nth(index).bounding_box()
        assert box is not None and box["width"] >= 48 and box["height"] >= 48, box
    await expect(group.get_by_text("0 = No pain")).to_be_visible()
    await expect(group.get_by_text("10 = Worst pain imaginable")).to_be_visible()
    assert await page.locator("input[type=range], [role=slider]").count() == 0

    # Answer two, go back, change the second answer.
    await taps.answer(*DAILY[0])
    await taps.answer(DAILY[1][0], 2)
    await expect(page.get_by_role("heading", name=DAILY[2][0])).to_be_focused()
    await page.get_by_role("button", name="Back").click()
    await expect(
        page.get_by_role("group", name=DAILY[1][0]).get_by_role("button", name="2", exact=True)
    ).to_have_attribute("aria-pressed", "true")
    taps.count -= 1  # the detour is not part of the shortest path
    await taps.answer(*DAILY[1])
    await taps.answer(*DAILY[2])
    await taps.answer(*DAILY[3])
    await expect(page.get_by_role("heading", name="Check your answers")).to_be_focused()
    await shot(page, "02-review")
    await taps.button("Send")
    await expect(page.get_by_role("status")).to_contain_text("saved")
    await expect(page.get_by_text("Your next check-in opens")).to_be_visible()
    await shot(page, "03-done")
    assert taps.count <= 6, taps.count
    row = await pool.fetchrow(
        "select c.answers, c.questionnaire_version from checkin c where c.patient_id = $1",
        created.patient_id,
    )
    assert row["answers"] == {"pain_now": 7, "pain_avg_24h": 6, "fatigue": 4, "sleep_quality": 3}
    await context.close()


async def test_offline_checkin_is_kept_and_stored_once(
    browser: Browser, server: ServerProcess, pool: db.Pool, settings: Settings
) -> None:
    created = await patient_with_daily_due(pool, settings, display_name="Luis", language="es")
    context, page = await phone(browser)
    await page.goto(created.enrollment_link)
    await expect(page.get_by_role("status")).to_contain_text("Hola, Luis")
    await until_true(page, "navigator.serviceWorker.controller !== null")

    await context.set_offline(True)
    for question, value in [
        ("¿Cuánto dolor tiene ahora mismo?", 5),
        ("En las últimas 24 horas, ¿cuánto dolor tuvo en promedio?", 5),
        ("¿Qué tan cansado/a se siente ahora?", 5),
        ("¿Qué tan bien durmió anoche?", 5),
    ]:
        await (
            page.get_by_role("group", name=question)
            .get_by_role("button", name=str(value), exact=True)
            .click()
        )
    await page.get_by_role("button", name="Enviar", exact=True).click()
    await expect(page.get_by_role("status")).to_contain_text("Guardado en este teléfono")
    await expect(page.locator("#outbox")).to_contain_text("1 registro(s) esperando")
    await shot(page, "04-offline-waiting")
    await assert_accessible(page, "es/offline-waiting")

    # The shell comes from the service worker; the answers from IndexedDB.
    await page.reload()
    await expect(page.locator("#outbox")).to_contain_text("1 registro(s) esperando")
    await expect(page.get_by_role("status")).to_contain_text("No hay nada pendiente")

    await context.set_offline(False)
    await page.evaluate("dispatchEvent(new Event('online'))")
    await expect(page.locator("#outbox")).to_contain_text("Todos los registros se enviaron")
    await page.reload()
    await page.wait_for_load_state("networkidle")
    count = await pool.fetchval(
        "select count(*) from checkin where patient_id = $1", created.patient_id
    )
    assert count == 1
    await context.close()


async def test_manifest_and_service_worker_make_it_installable(
    browser: Browser, server: ServerProcess
) -> None:
    context, page = await phone(browser)
    await page.goto(f"{server.url}/app/")
    await expect(page.get_by_label("Your code from the clinic")).to_be_visible()
    await shot(page, "00-enroll")
    result = await page.evaluate(
        """async () => {
        const link = document.querySelector('link[rel=manifest]');
        const response = await fetch(link.href);
        const manifest = await response.json();
        const registration = await navigator.serviceWorker.ready;
        const icons = [];
        for (const icon of manifest.icons) {
            const blob = await (await fetch(new URL(icon.src, link.href))).blob();
            const bitmap = await createImageBitmap(blob);
            icons.push({sizes: icon.sizes, purpose: icon.purpose, type: blob.type,
                        size: `${bitmap.width}x${bitmap.height}`});
        }
        return {contentType: response.headers.get('content-type'), manifest, icons,
                scope: registration.scope, active: registration.active?.state,
                scriptURL: registration.active?.scriptURL,
                apple: document.querySelector('link[rel=apple-touch-icon]')?.href,
                theme: document.querySelector('meta[name=theme-color]')?.content};
    }"""
    )
    manifest = result["manifest"]
    assert result["contentType"].startswith("application/manifest+json")
    assert manifest["display"] == "standalone"
    assert manifest["start_url"] == "/app/" and manifest["scope"] == "/app/"
    assert manifest["name"] and manifest["short_name"]
    assert manifest["theme_color"] == result["theme"] and manifest["background_color"]
    assert result["scope"] == f"{server.url}/app/"
    assert result["active"] == "activated"
    assert result["scriptURL"] == f"{server.url}/app/worker.js"
    assert result["apple"] == f"{server.url}/app/icons/apple-touch-icon.png"
    for icon in result["icons"]:
        assert icon["size"] == icon["sizes"] and icon["type"] == "image/png"
    assert {(i["sizes"], i["purpose"]) for i in result["icons"]} >= {
        ("192x192", "any"),
        ("512x512", "any"),
        ("512x512", "maskable"),
    }
    # Chromium's own installability check, through the DevTools protocol.
    cdp = await context.new_cdp_session(page)
    errors = await cdp.send("Page.getInstallabilityErrors")
    # Playwright's contexts are incognito, which alone keeps Chromium from offering to install.
    reasons = {e["errorId"] for e in errors["installabilityErrors"]} - {"in-incognito"}
    assert reasons == set()
    await context.close()


async def test_iphone_in_safari_is_sent_to_the_home_screen_before_using_the_code(
    browser: Browser, server: ServerProcess, pool: db.Pool, settings: Settings
) -> None:
    created = await patient_with_daily_due(pool, settings, display_name="Mia")
    context, page = await phone(browser, user_agent=IPHONE_UA, is_mobile=True, has_touch=True)
    await page.goto(created.enrollment_link)
    await expect(
        page.get_by_role("heading", name="Add this app to your home screen")
    ).to_be_focused()
    await expect(page.get_by_text("Add to Home Screen")).to_be_visible()
    await expect(page.get_by_text(created.enrollment_code, exact=True)).to_be_visible()
    await shot(page, "05-install-iphone")
    # The code is still unused, so the installed app can take it.
    used = await pool.fetchval(
        "select count(*) from device where patient_id = $1", created.patient_id
    )
    assert used == 0
    await page.get_by_role("button", name="Use it in the browser instead").click()
    await expect(page.get_by_role("status")).to_contain_text("Hello Mia")
    await context.close()


async def test_reminder_through_the_push_service_opens_the_checkin(
    browser: Browser,
    server: ServerProcess,
    pool: db.Pool,
    settings: Settings,
    push: FakePushService,
) -> None:
    """A nudge leaves the server, the fake push service verifies and decrypts it, that payload
    reaches the service worker, the notification shows, and tapping it opens the check-in
    and records "opened"."""
    created = await patient_with_daily_due(pool, settings, display_name="Sam")
    staff = {"Authorization": f"Bearer {await make_coordinator(pool, created.clinic_id)}"}
    context, page = await phone(browser)
    await context.grant_permissions(["notifications"], origin=server.url)
    await page.goto(created.enrollment_link)
    await expect(page.get_by_role("status")).to_contain_text("Hello Sam")
    worker = context.service_workers[0] if context.service_workers else None
    if worker is None:
        worker = await context.wait_for_event("serviceworker")
    # Headless Chromium has no push service of its own: the phone's subscription is one at the
    # fake service, sent by the page as the app sends the browser's.
    subscriber = push.new_subscriber()
    saved = await page.evaluate(
        """async (subscription) => (await fetch('/api/push/subscription', {
            method: 'PUT', headers: {'Content-Type': 'application/json'},
            body: JSON.stringify(subscription)})).status""",
        subscriber.subscription_info(),
    )
    assert saved == 204
    await page.get_by_role("button", name="Settings").click()  # away from the check-in

    nudged = await http_post(server, f"/api/coordinator/patients/{created.patient_id}/nudge", staff)
    reminder_id = nudged["id"]
    deadline = asyncio.get_running_loop().time() + 15
    while not push.deliveries_for(subscriber):
        assert asyncio.get_running_loop().time() < deadline, "the push service got nothing"
        await asyncio.sleep(0.05)
    [delivery] = push.deliveries_for(subscriber)
    assert delivery.verified and delivery.payload is not None
    due_id = await pool.fetchval(
        "select id from checkin_due where patient_id = $1 and status = 'open'", created.patient_id
    )
    assert delivery.json["reminder_id"] == reminder_id
    assert delivery.json["url"] == f"/app/#checkin/{due_id}"

    cdp = await context.new_cdp_session(page)
    registrations: list[dict[str, Any]] = []
    cdp.on(
        "ServiceWorker.workerRegistrationUpdated",
        lambda e: registrations.extend(e["registrations"]),
    )
    await cdp.send("ServiceWorker.enable")
    scope = f"{server.url}/app/"
    while not any(r["scopeURL"] == scope for r in registrations):
        assert asyncio.get_running_loop().time() < deadline, registrations
        await asyncio.sleep(0.05)
    registration = next(r for r in registrations if r["scopeURL"] == scope)
    await cdp.send(
        "ServiceWorker.deliverPushMessage",
        {
            "origin": server.url,
            "registrationId": registration["registrationId"],
            "data": delivery.payload.decode(),
        },
    )
    shown = await until_true(
        page,
        """async () => {
        const registration = await navigator.serviceWorker.ready;
        const [n] = await registration.getNotifications({tag: 'checkin'});
        return n ? {title: n.title, body: n.body, data: n.data} : null;
    }""",
    )
    assert shown == {
        "title": "Your care team asks for a check-in",
        "body": "Open the app when you have a minute.",
        "data": {"url": f"/app/#checkin/{due_id}", "reminder_id": reminder_id},
    }
    assert await pool.fetchval("select opened_at from reminder where id = $1", reminder_id) is None

    # The tap: Chromium cannot click a notification from automation, so the worker's own click
    # handler runs with the notification it is showing.
    await worker.evaluate(
        """async () => {
        const [n] = await self.registration.getNotifications({tag: 'checkin'});
        await openFromNotification(n);
    }"""
    )
    await expect(page.get_by_role("heading", name=DAILY[0][0])).to_be_focused()
    assert await page.evaluate("location.pathname + location.hash") == "/app/"
    opened = await pool.fetchval("select opened_at from reminder where id = $1", reminder_id)
    assert opened is not None
    left = await page.evaluate(
        "navigator.serviceWorker.ready.then((r) => r.getNotifications()).then((n) => n.length)"
    )
    assert left == 0

    # The push service renews the subscription: the worker hands the new one to the server.
    renewed = push.new_subscriber()
    await worker.evaluate(
        "async (subscription) => { await resubscribe(null, subscription); }",
        renewed.subscription_info(),
    )
    endpoints = await pool.fetch(
        "select s.endpoint from push_subscription s join device d on d.id = s.device_id"
        " where d.patient_id = $1",
        created.patient_id,
    )
    assert [r["endpoint"] for r in endpoints] == [renewed.subscription_info()["endpoint"]]
    await context.close()


async def test_settings_change_the_profile_and_leaving_disconnects_the_phone(
    browser: Browser, server: ServerProcess, pool: db.Pool, settings: Settings
) -> None:
    created = await patient_with_daily_due(pool, settings, display_name="Lee")
    context, page = await phone(browser)
    await page.goto(created.enrollment_link)
    await expect(page.get_by_role("status")).to_contain_text("Hello Lee")
    await page.get_by_role("button", name="Settings").click()
    await expect(page.get_by_role("heading", name="Settings")).to_be_focused()
    await page.get_by_label("Remind me at").fill("07:15")
    await page.get_by_label("Quiet hours (no reminders)").check()
    await page.get_by_label("Quiet from").fill("21:30")
    await page.get_by_label("Quiet until").fill("06:45")
    await page.get_by_label("Pause reminders").select_option("3")
    await page.get_by_label("Language").select_option("es")
    await shot(page, "07-settings")
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("button", name="Ajustes")).to_be_visible()
    row = await pool.fetchrow(
        "select to_char(reminder_time, 'HH24:MI') as reminder, to_char(quiet_start, 'HH24:MI')"
        " as quiet_start, to_char(quiet_end, 'HH24:MI') as quiet_end, language::text,"
        " reminders_paused_until from patient where id = $1",
        created.patient_id,
    )
    assert (row["reminder"], row["quiet_start"], row["quiet_end"], row["language"]) == (
        "07:15", "21:30", "06:45", "es",
    )  # fmt: skip
    paused = row["reminders_paused_until"] - now()
    assert timedelta(days=2, hours=23) < paused <= timedelta(days=3)

    page.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
    await page.get_by_role("button", name="Ajustes").click()
    await page.get_by_role("button", name="Desconectar este teléfono").click()
    await expect(page.get_by_label("Your code from the clinic")).to_be_visible()
    revoked = await pool.fetchval(
        "select bool_and(revoked_at is not null) from device where patient_id = $1",
        created.patient_id,
    )
    assert revoked
    await context.close()
