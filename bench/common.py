"""What the benchmarks share: the cluster they run on, the fake push service's subscribers and
the push settings passed through to the server."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx

from tests.support import pg

ROOT = Path(__file__).resolve().parent.parent


def cluster_url() -> str:
    """The maintenance URL of TEST_DATABASE_URL's or DATABASE_URL's cluster when one is set,
    otherwise of the embedded PostgreSQL in .data/bench-pg."""
    if not (os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL")):
        os.environ["TEST_PG_DATA_DIR"] = str(ROOT / ".data" / "bench-pg")
    return pg.server_url()


async def subscribers(origin: str, count: int, wait: float) -> list[dict[str, Any]]:
    """``count`` new subscribers of the fake push service, as subscription info (making them
    may take up to ``wait`` seconds)."""
    async with httpx.AsyncClient(timeout=wait) as client:
        made = await client.post(f"{origin}/_control/subscribers", json={"count": count})
    subscriptions: list[dict[str, Any]] = made.json()["subscriptions"]
    return subscriptions


def push_settings_from_env() -> dict[str, str]:
    """PUSH_* settings exported by whoever runs the bench (the allowed origins excepted: that
    is the fake push service's)."""
    return {
        k: v for k, v in os.environ.items() if k.startswith("PUSH_") and k != "PUSH_ALLOWED_ORIGINS"
    }
