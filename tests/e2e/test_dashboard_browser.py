"""The coordinator dashboard in real Chromium: sign in, the board, nudge, the patient page,
scheduling an infusion, the board updating live from another server process, and axe-core
on every page. Screenshots go to tests/e2e/artifacts/."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from server import db
from server.settings import Settings
from tests.e2e.axe import assert_accessible
from tests.e2e.test_pwa import shot
from tests.support.browser import new_context
from tests.support.factories import (
    add_window,
    checkin_body,
    enroll,
    make_clinic,
    make_patient,
    now,
    weekly_elsewhere,
)
from tests.support.fakepush import FakePushService
from tests.support.live import ServerProcess, push_settings, start_server
from tests.support.staff import PASSWORD, make_staff

pytestmark = pytest.mark.dated

DESKTOP = {"width": 1280, "height": 900}


async def check(page: Page, name: str) -> None:
    await assert_accessible(page, f"dashboard/{name}")
    await shot(page, f"dashboard-{name}")


async def test_coordinator_morning_round(
    browser: Browser,
    server: ServerProcess,
    app_db: str,
    pool: db.Pool,
    settings: Settings,
    push: FakePushService,
) -> None:
    clinic = await make_clinic(pool)
    # The story is about the daily check-in: no weekly one open today (scheduling the
    # infusion below plans the patient's windows again).
    await weekly_elsewhere(pool, clinic.id, clinic.timezone)
    email = await make_staff(pool, clinic.id, "admin")
    created = await make_patient(pool, settings, clinic.id, display_name="Maria Lopez")
    async with httpx.AsyncClient(base_url=server.url) as http:
        device = await enroll(http, created.enrollment_code)
        auth = {"Authorization": f"Bearer {device}"}
        subscribed = await http.put(
            "/api/push/subscription", json=push.new_subscriber().subscription_info(), headers=auth
        )
        assert subscribed.status_code == 204
    await pool.execute(
        "update patient set planned_until = $2::timestamptz + interval '30 days',"
        " created_at = $2::timestamptz - interval '10 days' where id = $1",
        created.patient_id,
        now(),
    )
    # Replace the planned windows with a known story: answered, missed, open since 30 minutes.
    await pool.execute("delete from reminder where patient_id = $1", created.patient_id)
    await pool.execute("delete from checkin_due where patient_id = $1", created.patient_id)
    await add_window(pool, created.patient_id, 2, "completed")
    await add_window(pool, created.patient_id, 1, "missed")
    await add_window(pool, created.patient_id, 0, "open", hours_open=0.5)

    context = await new_context(browser, viewport=DESKTOP)
    page = await context.new_page()
    await page.goto(f"{server.url}/coordinator/board")
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    await check(page, "sign-in")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill("not the password")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_contain_text("The email or password is wrong")
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()

    row = page.locator(f"#row-{created.patient_id}")
    await expect(row).to_contain_text("1 missed in a row")
    await expect(page.locator("#board[data-connected=true]")).to_have_count(1)
    await check(page, "board")
    await row.get_by_role("button", name="Nudge now: Maria Lopez").click()
    await expect(page.get_by_role("status").first).to_contain_text("Reminder queued")
    queued = await pool.fetchval(
        "select count(*) from reminder where patient_id = $1 and kind = 'manual'",
        created.patient_id,
    )
    assert queued == 1

    await page.locator(f"#row-{created.patient_id}").get_by_role("link", name="Maria Lopez").click()
    await expect(page.get_by_role("heading", name="Maria Lopez")).to_be_visible()
    await check(page, "patient")
    when = (now() + timedelta(days=14)).strftime("%Y-%m-%dT10:00")
    await page.get_by_label("Schedule an infusion").fill(when)
    await page.get_by_role("button", name="Schedule infusion").click()
    await expect(page.get_by_role("status").first).to_contain_text("Infusion scheduled")
    scheduled = await pool.fetchval(
        "select count(*) from infusion_session where patient_id = $1 and status = 'scheduled'",
        created.patient_id,
    )
    assert scheduled == 1
    await page.get_by_role("button", name="New enrollment code and QR sheet").click()
    await expect(page.get_by_role("heading", name="Connect your phone")).to_be_visible()
    await check(page, "enrollment-sheet")
    await page.get_by_role("link", name="Patients").click()
    await expect(page.get_by_role("heading", name="Patients")).to_be_visible()
    await check(page, "patients")
    await page.get_by_role("link", name="Audit").click()
    await expect(page.get_by_role("heading", name="Audit trail")).to_be_visible()
    await check(page, "audit")
    await page.get_by_role("link", name="Staff").click()
    await expect(page.get_by_role("heading", name="Staff")).to_be_visible()
    await check(page, "staff")
    await page.get_by_role("link", name="Protocol").click()
    await expect(page.get_by_role("heading", name="Check-in protocol")).to_be_visible()
    await check(page, "protocol")

    # Back on the board: the patient's check-in reaches a second server process, and the row
    # goes away without a reload.
    await page.get_by_role("link", name="Board").click()
    await expect(row).to_have_count(1)
    await expect(page.locator("#board[data-connected=true]")).to_have_count(1)
    other = start_server(app_db, **push_settings(push))
    try:
        async with httpx.AsyncClient(base_url=other.url) as http:
            sent = await http.post("/api/checkins", json=checkin_body(), headers=auth)
            assert sent.status_code == 201, sent.text
    finally:
        other.stop()
    await expect(row).to_have_count(0, timeout=10_000)
    await expect(page.locator("#board-summary")).to_contain_text("0 patients need attention")
    await context.close()
