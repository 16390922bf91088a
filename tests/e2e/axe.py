"""axe-core (the npm package, installed by `make test` into tests/e2e/node_modules) run inside
the page: no serious or critical WCAG 2.2 A/AA violations."""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page

AXE = Path(__file__).resolve().parent / "node_modules" / "axe-core" / "axe.min.js"
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]


@cache
def axe_source() -> str:
    if not AXE.exists():
        message = "axe-core is not installed (npm ci --prefix tests/e2e)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return AXE.read_text()


async def serious_violations(page: Page) -> list[dict[str, Any]]:
    """Serious and critical violations on the page as it is now."""
    if not await page.evaluate("typeof window.axe === 'object'"):
        # Evaluated through DevTools, so a strict Content-Security-Policy does not block it.
        await page.evaluate(axe_source())
    found: list[dict[str, Any]] = await page.evaluate(
        """async (tags) => {
        const result = await axe.run(document, {runOnly: {type: 'tag', values: tags}});
        return result.violations
            .filter((v) => v.impact === 'serious' || v.impact === 'critical')
            .map((v) => ({id: v.id, impact: v.impact, help: v.help,
                          nodes: v.nodes.map((n) => n.target.join(' ')).slice(0, 5)}));
    }""",
        TAGS,
    )
    return found


async def assert_accessible(page: Page, screen: str) -> None:
    violations = await serious_violations(page)
    assert violations == [], f"{screen}: {violations}"
