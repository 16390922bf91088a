"""What the dispatcher makes of a claimed reminder and of a push service's answers
(no network, no database)."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, time, timedelta
from typing import Any

import msgspec
import pytest

from server.reminders.dispatcher import TAG, payload_for, settle, verdict
from server.reminders.schemas import Claimed, Settlement
from server.reminders.sender import Outcome, origin_of, parse_retry_after
from server.settings import Settings

NOW = datetime(2026, 6, 10, 18, 0, tzinfo=UTC)  # 14:00 in New York
SETTINGS = Settings(push_retry_base_seconds=30, push_max_attempts=5)


def _settle(reminder: Claimed, outcomes: list[Outcome]) -> Settlement:
    return settle(reminder, outcomes, NOW, SETTINGS, random.Random(7))


def _claimed(attempts: int = 1, expires: timedelta = timedelta(hours=6), **fields: Any) -> Claimed:
    values: dict[str, Any] = {
        "id": uuid.uuid4(),
        "patient_id": uuid.uuid4(),
        "due_id": uuid.uuid4(),
        "kind": "opening",
        "expires_at": NOW + expires,
        "attempts": attempts,
        "patient_status": "active",
        "reminders_paused_until": None,
        "language": "en",
        "timezone": "America/New_York",
        "quiet_start": None,
        "quiet_end": None,
        "window_status": "open",
    } | fields
    return Claimed(**values)


def test_accepted_by_any_subscription_is_sent() -> None:
    reminder = _claimed()
    settled = _settle(reminder, [Outcome(410), Outcome(201)])
    assert settled == Settlement(reminder.id, "sent", sent_at=NOW)


def test_every_subscription_gone_fails() -> None:
    settled = _settle(_claimed(), [Outcome(404), Outcome(410)])
    assert (settled.status, settled.reason) == ("failed", "subscription_gone")


@pytest.mark.parametrize("attempts", [1, 2, 3, 4])
@pytest.mark.parametrize(
    "outcome",
    [Outcome(500), Outcome(503), Outcome(error="timeout"), Outcome(error="connection")],
)
def test_5xx_and_timeouts_back_off_exponentially_with_jitter(
    attempts: int, outcome: Outcome
) -> None:
    settled = _settle(_claimed(attempts), [outcome])
    assert settled.status == "pending"
    assert settled.next_attempt_at is not None
    delay = (settled.next_attempt_at - NOW).total_seconds()
    full = 30 * 2 ** (attempts - 1)
    assert full / 2 <= delay <= full


def test_the_last_attempt_fails_with_the_reason() -> None:
    settled = _settle(_claimed(5), [Outcome(502)])
    assert settled == Settlement(
        settled.id, "failed", reason="gave up after 5: push service answered 502"
    )


def test_429_waits_at_least_retry_after() -> None:
    settled = _settle(_claimed(1), [Outcome(429, retry_after=600)])
    assert settled.status == "pending"
    assert settled.next_attempt_at == NOW + timedelta(seconds=600)


def test_a_retry_after_the_window_closes_expires() -> None:
    reminder = _claimed(1, expires=timedelta(minutes=5))
    settled = _settle(reminder, [Outcome(429, retry_after=600)])
    assert settled.status == "expired"
    assert settled.reason == "window_closed: push service answered 429"


def test_a_retry_waits_for_the_end_of_quiet_hours() -> None:
    # Third try: a 60-120 s backoff from 14:00 New York time lands in quiet hours from 14:01,
    # and waits for their end at 21:00.
    reminder = _claimed(3, expires=timedelta(hours=12), quiet_start=time(14, 1),
                        quiet_end=time(21))  # fmt: skip
    settled = _settle(reminder, [Outcome(500)])
    assert settled.status == "pending"
    assert settled.next_attempt_at == datetime(2026, 6, 11, 1, tzinfo=UTC)


def test_due_during_quiet_hours_waits_without_sending() -> None:
    quiet = {"quiet_start": time(13), "quiet_end": time(15)}  # 14:00 local is quiet
    waiting = verdict(_claimed(**quiet), NOW)
    assert waiting is not None
    assert (waiting.status, waiting.next_attempt_at, waiting.sent_at, waiting.reason) == (
        "pending", datetime(2026, 6, 10, 19, tzinfo=UTC), None, "quiet_hours",
    )  # fmt: skip
    too_late = verdict(_claimed(expires=timedelta(minutes=30), **quiet), NOW)
    assert too_late is not None
    assert (too_late.status, too_late.next_attempt_at, too_late.reason) == (
        "expired", None, "quiet_hours",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("fields", "status", "reason"),
    [
        ({"patient_status": "discharged"}, "cancelled", "patient_not_active"),
        ({"reminders_paused_until": NOW + timedelta(days=1)}, "cancelled", "paused"),
        ({"window_status": "completed"}, "cancelled", "answered"),
        ({"window_status": "cancelled"}, "cancelled", "window_cancelled"),
        ({"window_status": "missed"}, "expired", "window_closed"),
        ({"expires_at": NOW}, "expired", "window_closed"),
    ],
)
def test_reminders_that_no_longer_make_sense_are_settled_unsent(
    fields: dict[str, Any], status: str, reason: str
) -> None:
    unsent = verdict(_claimed(**fields), NOW)
    assert unsent is not None and (unsent.status, unsent.reason) == (status, reason)
    assert verdict(_claimed(reminders_paused_until=NOW), NOW) is None


def test_sends_that_could_not_start_before_the_lease_ends_are_claimed_again_at_once() -> None:
    settled = _settle(_claimed(5), [Outcome(error="not_sent")])
    assert (settled.status, settled.next_attempt_at, settled.sent_at, settled.reason) == (
        "pending", NOW + timedelta(seconds=1), None, "not sent before the lease ended",
    )  # fmt: skip


def test_backoff_stays_bounded_however_many_attempts() -> None:
    reminder = _claimed(5000, expires=timedelta(days=1))
    settled = _settle(reminder, [Outcome(error="not_sent")])
    assert (settled.status, settled.next_attempt_at) == ("pending", NOW + timedelta(seconds=1))
    later = NOW + timedelta(days=3650)
    settled = settle(_claimed(4), [Outcome(500)], later, SETTINGS, random.Random(7))
    assert settled.status == "expired"


def test_other_refusals_fail_at_once() -> None:
    for code in (400, 401, 403, 413):
        settled = _settle(_claimed(1), [Outcome(code)])
        assert settled == Settlement(
            settled.id, "failed", reason=f"refused: push service answered {code}"
        )


def test_retry_after_as_seconds_or_http_date_capped_at_an_hour() -> None:
    now = NOW.timestamp()
    assert parse_retry_after("120", now) == 120.0
    assert parse_retry_after("Wed, 10 Jun 2026 18:05:00 GMT", now) == 300.0
    assert parse_retry_after("9" * 400, now) == 3600.0
    for unreadable in ("soon", "²", "-5", None, ""):
        assert parse_retry_after(unreadable, now) is None


def test_origin_of_an_endpoint_is_its_vapid_audience() -> None:
    assert origin_of("https://fcm.googleapis.com/fcm/send/x") == "https://fcm.googleapis.com"
    assert origin_of("http://127.0.0.1:8123/push/a") == "http://127.0.0.1:8123"
    assert origin_of("https://Push.Example.org:8443/a") == "https://push.example.org:8443"


def test_payload_carries_wording_and_ids_only() -> None:
    reminder = _claimed(kind="nudge", language="es")
    payload = payload_for(reminder)
    assert payload.reminder_id == reminder.id and payload.due_id == reminder.due_id
    assert payload.title == "Su registro sigue abierto"
    assert payload.url == f"/app/#checkin/{reminder.due_id}"
    assert payload.tag == TAG
    encoded = msgspec.json.decode(msgspec.json.encode(payload))
    assert set(encoded) == {"type", "reminder_id", "due_id", "title", "body", "url", "tag"}
