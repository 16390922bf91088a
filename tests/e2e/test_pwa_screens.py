"""Every screen of the patient app, in English and in Spanish, checked by axe-core (no serious
or critical violations), at 320 px without sideways scrolling, and saved as a 390x844
screenshot in tests/e2e/artifacts/."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from server import db
from server.settings import Settings
from tests.e2e.axe import assert_accessible, serious_violations
from tests.e2e.test_pwa import IPHONE_UA, PHONE, patient_with_daily_due, shot
from tests.support.browser import new_context
from tests.support.clock import now
from tests.support.factories import daily_answers, enroll, new_code
from tests.support.live import ServerProcess

pytestmark = pytest.mark.dated

WORDS = {
    "en": {
        "locale": "en-US",
        "push_on": "Turn on reminders",
        "push_denied": "Reminders are off. To turn them on, allow notifications",
        "code": "Your code from the clinic",
        "hello": "Hello",
        "review": "Check your answers",
        "send": "Send",
        "next": "Next",
        "progress": "Progress",
        "settings": "Settings",
        "table": "Show as a table",
        "done": "Done",
        "due": "What is due",
        "install": "Add this app to your home screen",
        # Baseline: pain 8 on 7 days and 3 on one before the infusion; now 3, then 5 today.
        "baseline": "In the two weeks before your first infusion it averaged 7.4.",
        "improved": "That is 3.4 points lower (46% less).A meaningful improvement.",
    },
    "es": {
        "locale": "es-ES",
        "push_on": "Activar recordatorios",
        "push_denied": "Los recordatorios están desactivados. Para activarlos,",
        "code": "Su código de la clínica",
        "hello": "Hola",
        "review": "Revise sus respuestas",
        "send": "Enviar",
        "next": "Siguiente",
        "progress": "Progreso",
        "settings": "Ajustes",
        "table": "Ver como tabla",
        "done": "Listo",
        "due": "Pendiente",
        "install": "Agregue esta aplicación a su pantalla de inicio",
        "baseline": "En las dos semanas antes de su primera infusión fue en promedio 7,4.",
        "improved": "Son 3,4 puntos menos (46% menos).Una mejoría importante.",
    },
}


async def check(page: Page, language: str, screen: str) -> None:
    """axe-core on the screen as shown, the screenshot, and no sideways scroll at 320 px."""
    await assert_accessible(page, f"{language}/{screen}")
    await shot(page, f"screen-{language}-{screen}")
    await page.set_viewport_size({"width": 320, "height": 700})
    for text_size in ("100%", "200%"):  # the phone's largest text setting doubles it
        too_wide = await page.evaluate(
            """(size) => {
            document.documentElement.style.fontSize = size;
            const root = document.documentElement;
            if (root.scrollWidth <= root.clientWidth) return [];
            return [`page ${root.scrollWidth} px`].concat([...document.querySelectorAll('body *')]
                .filter((e) => e.scrollWidth > e.clientWidth + 1)
                .map((e) => `${e.tagName} ${(e.textContent || '').trim().slice(0, 30)}`));
        }""",
            text_size,
        )
        assert too_wide == [], f"{language}/{screen} scrolls sideways at 320 px, text {text_size}"
    await page.evaluate("document.documentElement.style.fontSize = ''")
    await page.set_viewport_size(PHONE)


async def with_history(
    pool: db.Pool, settings: Settings, server: ServerProcess, language: str
) -> tuple[Any, str]:
    """A CRPS patient with three weeks of check-ins sent by another phone, an infusion in the
    middle, a daily and a weekly check-in open now; returns the patient and a fresh link."""
    created = await patient_with_daily_due(
        pool, settings, display_name="Rosa", language=language, condition="crps"
    )
    async with httpx.AsyncClient(base_url=server.url) as http:
        token = await enroll(http, created.enrollment_code)
        zone = ZoneInfo("Europe/London")
        seeded = now()
        today = seeded.astimezone(zone).date()
        for days_ago in range(21, 1, -1):
            if days_ago in (15, 9):
                continue  # missed days break the line
            pain = 8 if days_ago > 12 else 3
            response = await http.post(
                "/api/checkins",
                json={
                    "id": str(uuid.uuid4()),
                    # Whole days before now: the 3-day mean then holds the check-in of two
                    # days ago and today's, at whatever hour the test runs.
                    "answered_at": (seeded - timedelta(days=days_ago)).isoformat(),
                    "answers": daily_answers(pain, pain - 2),
                },
                headers={"Authorization": f"Bearer {token}"},
            )
            assert response.status_code == 201, response.text
    # The clinic's weekly check-in falls on today, so the planner opens both.
    await pool.execute(
        "update clinic set weekly_weekday = $2 where id = $1", created.clinic_id, today.isoweekday()
    )
    await pool.execute(
        "insert into infusion_session (patient_id, scheduled_at, status)"
        " values ($1, $2, 'completed')",
        created.patient_id,
        # An hour after the check-in of twelve days ago, which counts in the baseline.
        seeded - timedelta(days=12, hours=-1),
    )
    fresh = await new_code(pool, settings, created.clinic_id, created.patient_id)
    return created, fresh.enrollment_link


async def answer_everything(page: Page, words: dict[str, str], language: str, name: str) -> None:
    """Answer each question of the check-in on screen (the middle of a scale, the first choice),
    checking each kind of question screen once, up to the review."""
    checked: set[str] = set()
    review = page.get_by_role("heading", name=words["review"])
    while not await review.is_visible():
        heading = page.locator("#view legend h2")
        await expect(heading).to_be_focused()
        kind = "scale" if await page.locator("#view .scale").count() else "choice"
        if await page.locator("#view textarea").count():
            kind = "text"
        elif kind == "choice" and await page.get_by_role("button", name=words["next"]).count():
            kind = "multiple"
        if kind not in checked:
            await check(page, language, f"{name}-{kind}")
            checked.add(kind)
        before = await heading.text_content()
        if kind == "scale":
            await page.locator("#view .scale button").nth(5).click()
        elif kind in ("choice", "multiple"):
            await page.locator("#view .choices button").first.click()
        if kind in ("text", "multiple"):
            await page.get_by_role("button", name=words["next"]).click()
        await expect(page.locator("#view h2").first).not_to_have_text(before or "")


@pytest.mark.parametrize("language", ["en", "es"])
async def test_every_screen_passes_axe_in_both_languages(
    browser: Browser, server: ServerProcess, pool: db.Pool, settings: Settings, language: str
) -> None:
    words = WORDS[language]
    created, link = await with_history(pool, settings, server, language)

    # Before enrolling: the code form, in the phone's language.
    context = await new_context(browser, viewport=PHONE, locale=words["locale"])
    page = await context.new_page()
    await page.goto(f"{server.url}/app/")
    await expect(page.get_by_label(words["code"])).to_be_visible()
    await check(page, language, "enroll")

    # Two check-ins open: the list, then the daily one question by question.
    await page.goto(link)
    await expect(page.get_by_role("heading", name=words["due"])).to_be_focused()
    await expect(page.get_by_role("status")).to_contain_text(words["hello"])
    await check(page, language, "due-list")
    await page.locator("#view .due button").first.click()
    await answer_everything(page, words, language, "daily")
    await check(page, language, "review")
    await page.get_by_role("button", name=words["send"], exact=True).click()
    # The confirmation, offering the other open check-in and reminders (explained first).
    await expect(page.locator("#push-heading")).to_be_visible()
    await check(page, language, "done")
    await page.locator("#view p button.primary").click()
    await answer_everything(page, words, language, "weekly")
    await page.get_by_role("button", name=words["send"], exact=True).click()
    await expect(page.locator("#push-heading")).to_be_visible()
    # Refused (headless Chromium answers the prompt with "denied"): the app says how to turn
    # reminders back on, and goes on working.
    await page.get_by_role("button", name=words["push_on"]).click()
    await expect(page.get_by_role("status")).to_contain_text(words["push_denied"])
    await check(page, language, "push-denied")

    # History: the words, the chart, the table.
    await page.get_by_role("button", name=words["progress"]).click()
    await expect(page.locator("svg.trend")).to_be_visible()
    await expect(page.locator(".summary")).to_contain_text(words["baseline"])
    await expect(page.locator(".summary")).to_contain_text(words["improved"])
    await check(page, language, "history")
    await shot(page, f"screen-{language}-history-top", full_page=False)
    await page.get_by_text(words["table"]).click()
    await expect(page.locator("details.table table")).to_be_visible()
    await check(page, language, "history-table")

    await page.get_by_role("button", name=words["settings"]).click()
    await expect(page.locator("#reminder-time")).to_be_visible()
    await check(page, language, "settings")
    await context.close()

    # iPhone in Safari: add to the home screen first.
    iphone = await new_context(
        browser, viewport=PHONE, locale=words["locale"], user_agent=IPHONE_UA, is_mobile=True
    )
    page = await iphone.new_page()
    other = await new_code(pool, settings, created.clinic_id, created.patient_id)
    await page.goto(other.enrollment_link)
    await expect(page.get_by_role("heading", name=words["install"])).to_be_focused()
    await check(page, language, "install-iphone")
    await iphone.close()


async def test_the_axe_check_finds_real_violations(browser: Browser) -> None:
    """The check above is only worth something if axe-core runs and reports: a nameless button
    and faint text must show up."""
    context = await new_context(browser, viewport=PHONE)
    page = await context.new_page()
    await page.set_content(
        '<html lang="en"><head><title>t</title></head><body><main><button></button>'
        '<p style="color:#bbb;background:#fff">faint words</p></main></body></html>'
    )
    found = {v["id"] for v in await serious_violations(page)}
    assert {"button-name", "color-contrast"} <= found, found
    await context.close()
