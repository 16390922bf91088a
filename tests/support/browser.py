"""Browser contexts at the tests' time: Playwright's clock starts at the suite's instant (and
advances from there), and the context lives in that instant's zone."""

from __future__ import annotations

from typing import Any

from playwright.async_api import Browser, BrowserContext

from tests.support import clock


async def new_context(browser: Browser, **options: Any) -> BrowserContext:
    instant = clock.current()
    if instant is not None:
        options.setdefault("timezone_id", instant.zone)
    context = await browser.new_context(**options)
    if instant is not None:
        await context.clock.install(time=clock.now())
    return context
