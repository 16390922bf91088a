"""What readiness answers, and what a scrape reads from the database."""

from __future__ import annotations

from typing import Literal

import msgspec


class Readiness(msgspec.Struct, frozen=True, omit_defaults=True):
    status: Literal["ready", "not_ready"]
    database: Literal["up", "down"]
    # unknown while the database is down; mismatch: it has migrations this code does not know,
    # or one of them was changed after it was applied (detail says which).
    migrations: Literal["current", "pending", "unknown", "mismatch"]
    pending: list[str] = msgspec.field(default_factory=list)
    detail: str | None = None


class OpenAlerts(msgspec.Struct, frozen=True):
    kind: str
    open: int
