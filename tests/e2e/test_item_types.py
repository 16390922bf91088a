"""Every item type the server declares (server/checkins/items.py), drawn by the patient app in
real Chromium and answered by tapping, and the check-in stored as tapped; a questionnaire holding
a type the app cannot draw stops in plain words before its first question, with nothing sent.
The API, FHIR and CSV side of each type is tests/checkins/test_item_types.py."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from playwright.async_api import Browser, Page, Request, Route, expect

from server.checkins.items import ItemType
from server.patients.schemas import PatientCreated
from tests.conftest import MakeDatabase
from tests.e2e.axe import assert_accessible
from tests.support import item_types
from tests.support.browser import new_context
from tests.support.factories import make_clinic, make_patient, open_window_now
from tests.support.item_types import (
    DEFINITION,
    OUTCOME,
    OUTCOME_ANSWER,
    Live,
    answers_with,
    item_of,
    sample_of,
)

PHONE = {"width": 390, "height": 844}
MOVE_ON = re.compile(r"^(Skip this question|Next)$")


@pytest.fixture(scope="module")
async def live(make_database: MakeDatabase) -> AsyncIterator[Live]:
    async with item_types.serving(await make_database()) as running:
        yield running


async def at_the_test_questionnaire(
    live: Live, page: Page, name: str
) -> tuple[PatientCreated, uuid.UUID]:
    """A patient enrolled on this page whose one open check-in is the test questionnaire; the
    page not yet reloaded to see it."""
    clinic = await make_clinic(live.pool)
    created = await make_patient(live.pool, live.settings, clinic.id, display_name=name)
    await page.goto(created.enrollment_link)
    await expect(page.get_by_role("status")).to_contain_text(f"Hello {name}")
    # Opened after enrolling: enrolling plans the patient's windows afresh.
    window = await open_window_now(live.pool, created.patient_id, DEFINITION.code)
    return created, window


@pytest.mark.parametrize("kind", list(ItemType))
async def test_each_item_type_is_answered_by_tapping(
    browser: Browser, live: Live, kind: ItemType
) -> None:
    item, sample = item_of(kind), sample_of(kind)
    context = await new_context(browser, viewport=PHONE)
    page = await context.new_page()
    created, window = await at_the_test_questionnaire(live, page, "Iris")
    await page.reload()
    for asked in DEFINITION.items:
        await expect(page.get_by_role("heading", name=asked.text.en)).to_be_focused()
        if asked is item:
            if sample.typed is not None:
                await page.get_by_role("textbox", name=asked.text.en).fill(sample.typed)
            for name in sample.taps:
                await page.get_by_role("button", name=name, exact=True).click()
        elif asked.code == OUTCOME:
            await page.get_by_role("button", name=str(OUTCOME_ANSWER), exact=True).click()
        else:
            await page.get_by_role("button", name=MOVE_ON).click()
    await expect(page.get_by_role("heading", name="Check your answers")).to_be_focused()
    read_back = page.locator(
        f"xpath=//dl[@class='review']/dt[normalize-space()='{item.text.en}']"
        "/following-sibling::dd[1]/span"
    )
    await expect(read_back).to_have_text(sample.review)
    await page.get_by_role("button", name="Send", exact=True).click()
    await expect(page.get_by_role("status")).to_contain_text("Your check-in is saved")
    stored = await live.pool.fetch(
        "select due_id, answers from checkin where patient_id = $1", created.patient_id
    )
    assert [(row["due_id"], row["answers"]) for row in stored] == [
        (window, answers_with(item, sample.valid))
    ]
    await context.close()


async def test_an_item_type_the_app_cannot_draw_stops_the_checkin_in_plain_words(
    browser: Browser, live: Live
) -> None:
    # No service worker, so every request of the page goes through the route below.
    context = await new_context(browser, viewport=PHONE, service_workers="block")
    page = await context.new_page()
    created, _ = await at_the_test_questionnaire(live, page, "Omar")

    async def with_a_new_type(route: Route) -> None:
        response = await route.fetch()
        due: dict[str, Any] = await response.json()
        [window] = due["items"]
        unknown = {"code": "where_it_hurts", "type": "body_map", "text": "Where does it hurt?",
                   "required": True}  # fmt: skip
        window["questionnaire"]["items"].insert(1, unknown)
        await route.fulfill(response=response, json=due)

    await page.route("**/api/checkins/due", with_a_new_type)
    errors: list[str] = []
    page.on(
        "console", lambda message: errors.append(message.text) if message.type == "error" else None
    )
    sent: list[Request] = []
    page.on("request", lambda request: sent.append(request) if request.method != "GET" else None)
    await page.reload()

    await expect(page.get_by_role("heading", name="This check-in cannot open")).to_be_focused()
    await expect(page.get_by_role("alert")).to_have_text(
        "This app cannot show one of its questions, so nothing was sent. Close the app and open"
        " it again to update it. If this keeps happening, please call your clinic."
    )
    # Not the questions it can draw either: the clinic asked for all of them.
    await expect(page.locator("#view fieldset")).to_have_count(0)
    await assert_accessible(page, "unknown item type")
    assert any('"body_map" (item where_it_hurts)' in line for line in errors), errors
    assert [request.url for request in sent] == []
    assert (
        await live.pool.fetchval(
            "select count(*) from checkin where patient_id = $1", created.patient_id
        )
        == 0
    )
    await context.close()
