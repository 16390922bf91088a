"""Jinja2 filters for the dashboard: times in the clinic's zone, durations in words, labels."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

CONDITIONS = {
    "crps": "CRPS",
    "fibromyalgia": "Fibromyalgia",
    "lyme": "Post-treatment Lyme",
    "other": "Other",
}
ALERT_KINDS = {
    "pain_high": "pain high",
    "worsening": "worsening",
    "severe_side_effect": "severe side effect",
    "pgic_worse": "feels worse (PGIC)",
    "missed_twice": "missed twice",
}
TRENDS = {
    "worsening": "↑ worse than baseline",
    "substantial_improvement": "↓ much better than baseline",
    "moderate_improvement": "↓ better than baseline",
    "no_meaningful_change": "→ about baseline",
}


def clock(value: datetime | None, tz: str = "UTC") -> str:
    if value is None:
        return "–"
    local = value.astimezone(ZoneInfo(tz))
    return local.strftime("%a %d %b %H:%M")


def day(value: datetime | None, tz: str = "UTC") -> str:
    return "–" if value is None else value.astimezone(ZoneInfo(tz)).strftime("%d %b %Y")


def _calendar_days(earlier: datetime, later: datetime, tz: str) -> int:
    """Midnights between two instants on the clinic's calendar: an infusion last evening was
    "yesterday" this morning, though less than 24 hours ago."""
    zone = ZoneInfo(tz)
    return (later.astimezone(zone).date() - earlier.astimezone(zone).date()).days


def ago(value: datetime | None, now: datetime, tz: str = "UTC") -> str:
    if value is None:
        return "never"
    days = _calendar_days(value, now, tz)
    if days <= 0:
        return "today"
    return "yesterday" if days == 1 else f"{days} days ago"


def until(value: datetime | None, now: datetime, tz: str = "UTC") -> str:
    if value is None:
        return "–"
    days = _calendar_days(now, value, tz)
    if days <= 0:
        return "today"
    return "tomorrow" if days == 1 else f"in {days} days"


def num(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.1f}".rstrip("0").rstrip(".")


FILTERS: dict[str, Callable[..., Any]] = {
    "clock": clock,
    "day": day,
    "ago": ago,
    "until": until,
    "num": num,
    "condition": lambda v: CONDITIONS.get(v, v),
    "alert_kind": lambda v: ALERT_KINDS.get(v, v),
    "trend": lambda v: TRENDS.get(v, v),
}
