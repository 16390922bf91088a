"""A phone opens the enrollment link and answers the daily check-in, in real Chromium."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import Browser, expect

from server import db
from server.settings import Settings
from tests.support.browser import new_context
from tests.support.clock import now
from tests.support.factories import make_clinic, make_patient, weekly_elsewhere
from tests.support.live import ServerProcess

pytestmark = pytest.mark.dated


async def test_enroll_from_link_and_answer_the_daily_checkin(
    browser: Browser, server: ServerProcess, pool: db.Pool, settings: Settings, tmp_path: Path
) -> None:
    zone = "Europe/London"
    local = (now() - timedelta(hours=1)).astimezone(ZoneInfo(zone))
    clinic = await make_clinic(pool)
    await weekly_elsewhere(pool, clinic.id, zone)
    created = await make_patient(
        pool,
        settings,
        clinic.id,
        display_name="Keiko",
        timezone=zone,
        reminder_time=f"{local:%H:%M}",
    )
    await pool.execute(
        "update patient set created_at = $2::timestamptz - interval '1 day' where id = $1",
        created.patient_id,
        now(),
    )
    context = await new_context(browser, viewport={"width": 360, "height": 740})
    page = await context.new_page()
    await page.goto(created.enrollment_link)
    await expect(page.get_by_role("status")).to_contain_text("Hello Keiko")
    # The code left the address bar once used.
    assert "#" not in page.url
    pain = page.get_by_role("group", name="How bad is your pain right now?")
    await pain.get_by_role("button", name="7", exact=True).click()
    average = page.get_by_role(
        "group", name="Over the last 24 hours, how bad was your pain on average?"
    )
    await average.get_by_role("button", name="6", exact=True).click()
    fatigue = page.get_by_role("group", name="How tired do you feel right now?")
    await fatigue.get_by_role("button", name="4", exact=True).click()
    sleep = page.get_by_role("group", name="How well did you sleep last night?")
    await sleep.get_by_role("button", name="3", exact=True).click()
    await page.screenshot(path=str(tmp_path / "checkin.png"))
    await page.get_by_role("button", name="Send").click()
    await expect(page.get_by_role("status")).to_contain_text("saved")
    row = await pool.fetchrow(
        "select c.answers, d.status::text as window from checkin c"
        " join checkin_due d on d.id = c.due_id where c.patient_id = $1",
        created.patient_id,
    )
    assert row["answers"] == {"pain_now": 7, "pain_avg_24h": 6, "fatigue": 4, "sleep_quality": 3}
    assert row["window"] == "completed"
    # Reopening the app: enrolled (cookie), nothing due any more.
    await page.goto(f"{server.url}/app/")
    await expect(page.get_by_role("status")).to_contain_text("Nothing is due")
    await context.close()


async def test_wrong_code_is_explained(browser: Browser, server: ServerProcess) -> None:
    context = await new_context(
        browser,
    )
    page = await context.new_page()
    await page.goto(f"{server.url}/app/enroll#ZZZZ-ZZZZ-ZZZZ")
    await expect(page.get_by_role("status")).to_contain_text("code did not work")
    await expect(page.get_by_label("Your code from the clinic")).to_be_visible()
    await context.close()
