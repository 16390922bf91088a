"""What the dispatcher makes of a push service's answers (no network, no database)."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from server.reminders.dispatcher import Dispatcher, payload_for, topic_for
from server.reminders.sender import Outcome, parse_retry_after
from server.settings import Settings

NOW = datetime(2026, 6, 10, 18, 0, tzinfo=UTC)
SETTINGS = Settings(push_retry_base_seconds=30, push_max_attempts=5)


def _dispatcher() -> Dispatcher:
    return Dispatcher(None, SETTINGS, None, lambda: NOW, rng=random.Random(7))


def _row(attempts: int = 1, expires: timedelta = timedelta(hours=6)) -> dict[str, Any]:
    return {"id": uuid.uuid4(), "attempts": attempts, "expires_at": NOW + expires}


def test_accepted_by_any_subscription_is_sent() -> None:
    row = _row()
    settled = _dispatcher()._settle(row, [Outcome(410), Outcome(201)], NOW)
    assert settled == (row["id"], "sent", None, NOW, None)


def test_every_subscription_gone_fails() -> None:
    settled = _dispatcher()._settle(_row(), [Outcome(404), Outcome(410)], NOW)
    assert settled[1:] == ("failed", None, None, "subscription_gone")


@pytest.mark.parametrize("attempts", [1, 2, 3, 4])
def test_5xx_and_timeouts_back_off_exponentially_with_jitter(attempts: int) -> None:
    for outcome in (
        Outcome(500),
        Outcome(503),
        Outcome(error="timeout"),
        Outcome(error="connection"),
    ):
        settled = _dispatcher()._settle(_row(attempts), [outcome], NOW)
        assert settled[1] == "pending"
        delay = (settled[2] - NOW).total_seconds()
        full = 30 * 2 ** (attempts - 1)
        assert full / 2 <= delay <= full


def test_the_last_attempt_fails_with_the_reason() -> None:
    settled = _dispatcher()._settle(_row(5), [Outcome(502)], NOW)
    assert settled[1:] == ("failed", None, None, "gave up after 5: push service answered 502")


def test_429_waits_at_least_retry_after() -> None:
    settled = _dispatcher()._settle(_row(1), [Outcome(429, retry_after=600)], NOW)
    assert settled[1] == "pending" and settled[2] == NOW + timedelta(seconds=600)


def test_a_retry_after_the_window_closes_expires() -> None:
    settled = _dispatcher()._settle(
        _row(1, expires=timedelta(minutes=5)),
        [Outcome(429, retry_after=600)],
        NOW,
    )
    assert settled[1] == "expired" and settled[4] == "window_closed: push service answered 429"


def test_other_refusals_fail_at_once() -> None:
    for code in (400, 401, 403, 413):
        settled = _dispatcher()._settle(_row(1), [Outcome(code)], NOW)
        assert settled[1:] == ("failed", None, None, f"refused: push service answered {code}")


def test_retry_after_as_seconds_or_http_date() -> None:
    now = NOW.timestamp()
    assert parse_retry_after("120", now) == 120.0
    assert parse_retry_after("Wed, 10 Jun 2026 18:05:00 GMT", now) == 300.0
    assert parse_retry_after("soon", now) is None and parse_retry_after(None, now) is None


def test_payload_carries_wording_and_ids_only() -> None:
    due_id, reminder_id = uuid.uuid4(), uuid.uuid4()
    row = {"id": reminder_id, "due_id": due_id, "kind": "nudge", "language": "es"}
    payload = payload_for(row)
    assert payload.reminder_id == reminder_id and payload.due_id == due_id
    assert payload.title == "Tu registro sigue abierto"
    assert payload.url == f"/app/#checkin/{due_id}"
    assert topic_for(due_id) == due_id.hex and len(topic_for(due_id)) == 32
