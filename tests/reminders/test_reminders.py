"""Reminders end to end: a live server's dispatcher, real PostgreSQL, the fake push service."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from server import db
from server.settings import Settings
from tests.support.factories import (
    checkin_body,
    enrolled_patient,
    make_clinic,
    make_coordinator,
    now,
    open_window_now,
)
from tests.support.fakepush import Behaviour, Delivery, FakePushService, Subscriber

pytestmark = pytest.mark.dated


@dataclass
class Subscribed:
    patient_id: uuid.UUID
    clinic_id: uuid.UUID
    auth: dict[str, str]
    staff: dict[str, str]
    subscriber: Subscriber
    display_name: str


async def eventually(check: Callable[[], Awaitable[Any]], within: float = 15.0) -> Any:
    """Poll until ``check`` returns something truthy (the dispatcher works in the background)."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        value = await check()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"still {value!r} after {within} s")
        await asyncio.sleep(0.05)


async def delivered(
    push: FakePushService, subscriber: Subscriber, count: int = 1, within: float = 15.0
) -> list[Delivery]:
    """This subscriber's deliveries, once there are ``count`` of them."""

    async def check() -> list[Delivery] | None:
        found = push.deliveries_for(subscriber)
        return found if len(found) >= count else None

    found: list[Delivery] = await eventually(check, within)
    return found


async def subscribed_patient(
    pool: db.Pool,
    settings: Settings,
    http: httpx.AsyncClient,
    push: FakePushService,
    **fields: Any,
) -> Subscribed:
    clinic = await make_clinic(pool)
    staff = {"Authorization": f"Bearer {await make_coordinator(pool, clinic.id)}"}
    name = f"Ana {uuid.uuid4().hex[:6]}"
    patient, auth = await enrolled_patient(
        pool, settings, http, clinic.id, display_name=name, **fields
    )
    subscriber = push.new_subscriber()
    response = await http.put(
        "/api/push/subscription", json=subscriber.subscription_info(), headers=auth
    )
    assert response.status_code == 204, response.text
    return Subscribed(patient.patient_id, clinic.id, auth, staff, subscriber, name)


async def nudge(http: httpx.AsyncClient, s: Subscribed) -> httpx.Response:
    """The patient's coordinator asks for a reminder now."""
    return await http.post(f"/api/coordinator/patients/{s.patient_id}/nudge", headers=s.staff)


async def reminder_in(pool: db.Pool, reminder_id: uuid.UUID | str, status: str) -> Any:
    """The reminder, once the dispatcher has brought it to ``status``."""
    return await eventually(
        lambda: pool.fetchrow(
            "select * from reminder where id = $1 and status = $2::reminder_status",
            uuid.UUID(str(reminder_id)),
            status,
        )
    )


async def reminder(pool: db.Pool, reminder_id: uuid.UUID | str) -> Any:
    return await pool.fetchrow("select * from reminder where id = $1", uuid.UUID(str(reminder_id)))


async def queue_opening(
    pool: db.Pool, patient_id: uuid.UUID, due_id: uuid.UUID, send_at: datetime | None = None
) -> uuid.UUID:
    """The window's opening reminder, due at ``send_at`` (now by default)."""
    at = send_at or now()
    closes = await pool.fetchval("select closes_at from checkin_due where id = $1", due_id)
    reminder_id: uuid.UUID = await pool.fetchval(
        "insert into reminder (patient_id, due_id, kind, send_at, expires_at, next_attempt_at)"
        " values ($1, $2, 'opening', $3, $4, $3)"
        " on conflict (due_id, kind) where kind <> 'manual'"
        " do update set send_at = excluded.send_at, next_attempt_at = excluded.next_attempt_at,"
        "   status = 'pending'"
        " returning id",
        patient_id, due_id, at, closes,
    )  # fmt: skip
    return reminder_id


# --- subscriptions -----------------------------------------------------------------------------


async def test_public_key_is_the_one_stored_for_every_process(
    pool: db.Pool, http: httpx.AsyncClient
) -> None:
    response = await http.get("/api/push/public-key")
    assert response.status_code == 200
    stored = await pool.fetchval("select public_key from vapid_key")
    assert response.json() == {"public_key": stored}
    assert len(stored) == 87  # 65-byte uncompressed P-256 point, base64url


@pytest.mark.parametrize(
    ("endpoint", "field"),
    [
        ("http://push.example.org/send/abc", "endpoint"),
        ("https://evil.example.org/collect", "endpoint"),
        ("https://fcm.googleapis.com.evil.example.org/x", "endpoint"),
        ("https://user:pw@127.0.0.1/x", "endpoint"),
        ("https://fcm.googleapis.com:/fcm/send/abc", "endpoint"),
        ("https://fcm.googleapis.com:8443/fcm/send/abc", "endpoint"),
    ],
)
async def test_subscription_outside_the_allowed_push_services_is_refused(
    pool: db.Pool,
    settings: Settings,
    http: httpx.AsyncClient,
    push: FakePushService,
    endpoint: str,
    field: str,
) -> None:
    clinic = await make_clinic(pool)
    _, auth = await enrolled_patient(pool, settings, http, clinic.id)
    body = push.new_subscriber().subscription_info() | {"endpoint": endpoint}
    response = await http.put("/api/push/subscription", json=body, headers=auth)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == field


async def test_subscription_keys_are_checked(
    pool: db.Pool, settings: Settings, http: httpx.AsyncClient, push: FakePushService
) -> None:
    clinic = await make_clinic(pool)
    _, auth = await enrolled_patient(pool, settings, http, clinic.id)
    good = push.new_subscriber().subscription_info()
    not_a_point = good | {"keys": good["keys"] | {"p256dh": "A" * 87}}
    short_auth = good | {"keys": good["keys"] | {"auth": "AAAAAAAAAAAAAAAAAAAAAA"[:16]}}
    for body, field in ((not_a_point, "keys.p256dh"), (short_auth, "keys.auth")):
        response = await http.put("/api/push/subscription", json=body, headers=auth)
        assert response.status_code == 422, response.text
        assert response.json()["errors"][0]["field"] == field
    assert (await http.put("/api/push/subscription", json=good, headers=auth)).status_code == 204


async def test_one_subscription_per_device_and_delete(
    pool: db.Pool, settings: Settings, http: httpx.AsyncClient, push: FakePushService
) -> None:
    s = await subscribed_patient(pool, settings, http, push)
    newer = push.new_subscriber()
    body = newer.subscription_info() | {"expirationTime": None}
    assert (await http.put("/api/push/subscription", json=body, headers=s.auth)).status_code == 204
    rows = await pool.fetch(
        "select endpoint from push_subscription where patient_id = $1", s.patient_id
    )
    assert [r["endpoint"] for r in rows] == [newer.endpoint]
    assert (await http.delete("/api/push/subscription", headers=s.auth)).status_code == 204
    assert (
        await pool.fetchval(
            "select count(*) from push_subscription where patient_id = $1", s.patient_id
        )
        == 0
    )


async def test_logout_removes_the_devices_subscription(
    pool: db.Pool, settings: Settings, http: httpx.AsyncClient, push: FakePushService
) -> None:
    s = await subscribed_patient(pool, settings, http, push)
    assert (await http.post("/api/logout", headers=s.auth)).status_code == 204
    assert not await pool.fetchval(
        "select exists (select 1 from push_subscription where patient_id = $1)", s.patient_id
    )


# --- sending ----------------------------------------------------------------------------------


async def test_nudge_reaches_the_phone_without_phi_and_opened_is_recorded(
    pool: db.Pool, settings: Settings, http: httpx.AsyncClient, push: FakePushService
) -> None:
    s = await subscribed_patient(pool, settings, http, push, condition="crps")
    due_id = await open_window_now(pool, s.patient_id)
    response = await nudge(http, s)
    assert response.status_code == 202, response.text
    queued = response.json()
    assert queued["kind"] == "manual" and queued["status"] in ("pending", "sending", "sent")

    delivery = (await delivered(push, s.subscriber))[0]
    payload = delivery.json
    assert payload["type"] == "checkin_reminder"
    assert payload["reminder_id"] == queued["id"]
    assert payload["due_id"] == str(due_id)
    assert payload["url"] == f"/app/#checkin/{due_id}"
    assert set(payload) == {"type", "reminder_id", "due_id", "title", "body", "url", "tag"}
    text = delivery.payload.decode() if delivery.payload else ""
    for phi in (s.display_name, "crps", "CRPS", "pain"):
        assert phi not in text
    assert delivery.urgency == "high"
    assert delivery.topic == "checkin"  # one per patient: a newer reminder replaces an older
    closes = await pool.fetchval("select closes_at from checkin_due where id = $1", due_id)
    assert 0 < delivery.ttl <= (closes - now()).total_seconds() + 5

    row = await reminder_in(pool, queued["id"], "sent")
    assert row["attempts"] == 1 and row["sent_at"] is not None
    attempts = await pool.fetch(
        "select status_code from push_attempt where reminder_id = $1", row["id"]
    )
    assert [a["status_code"] for a in attempts] == [201]

    opened = await http.post("/api/push/opened", json={"reminder_id": queued["id"]}, headers=s.auth)
    assert opened.status_code == 204
    assert (await reminder(pool, queued["id"]))["opened_at"] is not None

    windows = await http.get(f"/api/coordinator/patients/{s.patient_id}/windows", headers=s.staff)
    assert windows.status_code == 200
    shown = next(w for w in windows.json()["items"] if w["id"] == str(due_id))
    manual = next(r for r in shown["reminders"] if r["id"] == queued["id"])
    assert manual["status"] == "sent" and manual["opened_at"] is not None
    assert manual["last_status_code"] == 201


async def test_opened_for_someone_elses_reminder_is_404(
    pool: db.Pool, settings: Settings, http: httpx.AsyncClient, push: FakePushService
) -> None:
    s = await subscribed_patient(pool, settings, http, push)
    other = await subscribed_patient(pool, settings, http, push)
    queued = (await nudge(http, s)).json()
    await delivered(push, s.subscriber)
    response = await http.post(
        "/api/push/opened", json={"reminder_id": queued["id"]}, headers=other.auth
    )
    assert response.status_code == 404
    assert (await reminder(pool, queued["id"]))["opened_at"] is None


async def test_window_reminder_is_sent_in_the_patients_language(
    pool: db.Pool, settings: Settings, http: httpx.AsyncClient, push: FakePushService
) -> None:
    s = await subscribed_patient(pool, settings, http, push, language="es")
    due_id = await open_window_now(pool, s.patient_id)
    reminder_id = await queue_opening(pool, s.patient_id, due_id)
    delivery = (await delivered(push, s.subscriber))[0]
    assert delivery.json["reminder_id"] == str(reminder_id)
    assert delivery.json["title"] == "Es hora de su registro"


async def test_a_checkin_cancels_the_windows_waiting_reminders(
    pool: db.Pool, settings: Settings, http: httpx.AsyncClient, push: FakePushService
) -> None:
    s = await subscribed_patient(pool, settings, http, push)
    due_id = await open_window_now(pool, s.patient_id)
    later = await queue_opening(pool, s.patient_id, due_id, send_at=now() + timedelta(hours=1))
    response = await http.post(
        "/api/checkins", json=checkin_body() | {"due_id": str(due_id)}, headers=s.auth
    )
    assert response.status_code == 201, response.text
    row = await reminder(pool, later)
    assert (row["status"], row["final_reason"], row["next_attempt_at"]) == (
        "cancelled",
        "answered",
        None,
    )


async def test_no_reminder_while_paused(
    pool: db.Pool, settings: Settings, http: httpx.AsyncClient, push: FakePushService
) -> None:
    s = await subscribed_patient(pool, settings, http, push)
    due_id = await open_window_now(pool, s.patient_id)
    until = (now() + timedelta(days=3)).isoformat()
    patch = await http.patch("/api/me", json={"reminders_paused_until": until}, headers=s.auth)
    assert patch.status_code == 200
    reminder_id = await queue_opening(pool, s.patient_id, due_id)
    row = await reminder_in(pool, reminder_id, "cancelled")
    assert row["final_reason"] == "paused"
    assert push.deliveries_for(s.subscriber) == []
    refused = await nudge(http, s)
    assert refused.status_code == 409 and "paused" in refused.json()["message"]


async def test_gone_subscription_is_removed(
    pool: db.Pool, settings: Settings, http: httpx.AsyncClient, push: FakePushService
) -> None:
    s = await subscribed_patient(pool, settings, http, push)
    push.forget(s.subscriber)
    queued = (await nudge(http, s)).json()
    row = await reminder_in(pool, queued["id"], "failed")
    assert row["final_reason"] == "subscription_gone"
    assert not await pool.fetchval(
        "select exists (select 1 from push_subscription where patient_id = $1)", s.patient_id
    )
    codes = await pool.fetch(
        "select status_code from push_attempt where reminder_id = $1", row["id"]
    )
    assert [c["status_code"] for c in codes] == [410]
    again = await nudge(http, s)
    assert again.status_code == 409 and "notifications" in again.json()["message"]


async def test_outage_is_retried_with_backoff_then_delivered(
    pool: db.Pool, settings: Settings, http: httpx.AsyncClient, push: FakePushService
) -> None:
    s = await subscribed_patient(pool, settings, http, push)
    push.script([Behaviour(500), Behaviour(503), Behaviour(500)], token=s.subscriber)
    queued = (await nudge(http, s)).json()
    delivery = (await delivered(push, s.subscriber))[0]
    assert delivery.json["reminder_id"] == queued["id"]
    row = await reminder_in(pool, queued["id"], "sent")
    assert row["attempts"] == 4
    attempts = await pool.fetch(
        "select at, status_code from push_attempt where reminder_id = $1 order by at", row["id"]
    )
    assert [a["status_code"] for a in attempts] == [500, 503, 500, 201]
    gaps = [(b["at"] - a["at"]).total_seconds() for a, b in itertools.pairwise(attempts)]
    # PUSH_RETRY_BASE_SECONDS=0.2 doubling, jittered down to half at most: >= 0.1, 0.2, 0.4.
    assert gaps[0] >= 0.1 and gaps[1] >= 0.2 and gaps[2] >= 0.4


async def test_429_retry_after_is_honoured(
    pool: db.Pool, settings: Settings, http: httpx.AsyncClient, push: FakePushService
) -> None:
    s = await subscribed_patient(pool, settings, http, push)
    push.script([Behaviour(429, retry_after=2)], token=s.subscriber)
    queued = (await nudge(http, s)).json()
    await delivered(push, s.subscriber, within=20.0)
    attempts = await eventually(lambda: _attempts(pool, queued["id"], 2))
    assert [a["status_code"] for a in attempts] == [429, 201]
    assert (attempts[1]["at"] - attempts[0]["at"]).total_seconds() >= 2.0


async def _attempts(pool: db.Pool, reminder_id: str, count: int) -> list[Any] | None:
    rows = await pool.fetch(
        "select at, status_code, error from push_attempt where reminder_id = $1 order by at",
        uuid.UUID(reminder_id),
    )
    return rows if len(rows) >= count else None


async def test_refused_and_exhausted_reminders_fail_with_the_reason(
    pool: db.Pool, settings: Settings, http: httpx.AsyncClient, push: FakePushService
) -> None:
    s = await subscribed_patient(pool, settings, http, push)
    push.script([Behaviour(400)], token=s.subscriber)
    queued = (await nudge(http, s)).json()
    row = await reminder_in(pool, queued["id"], "failed")
    assert row["final_reason"] == "refused: push service answered 400"


async def test_nudge_for_another_clinics_patient_is_404(
    pool: db.Pool, settings: Settings, http: httpx.AsyncClient, push: FakePushService
) -> None:
    s = await subscribed_patient(pool, settings, http, push)
    other_clinic = await make_clinic(pool)
    stranger = {"Authorization": f"Bearer {await make_coordinator(pool, other_clinic.id)}"}
    for method, path in (
        ("POST", f"/api/coordinator/patients/{s.patient_id}/nudge"),
        ("GET", f"/api/coordinator/patients/{s.patient_id}/windows"),
    ):
        response = await http.request(method, path, headers=stranger)
        assert response.status_code == 404, (path, response.text)
    assert (
        await pool.fetchval(
            "select count(*) from reminder where patient_id = $1 and kind = 'manual'", s.patient_id
        )
        == 0
    )


async def test_only_one_manual_reminder_waits_at_a_time(
    pool: db.Pool, settings: Settings, http: httpx.AsyncClient, push: FakePushService
) -> None:
    s = await subscribed_patient(pool, settings, http, push, timezone="UTC")
    await open_window_now(pool, s.patient_id)  # open for 11 more hours
    # Quiet from an hour ago until two minutes from now: the nudge waits for their end.
    clock = (now() + timedelta(minutes=2)).strftime("%H:%M")
    start = (now() - timedelta(hours=1)).strftime("%H:%M")
    patch = await http.patch(
        "/api/me", json={"quiet_hours": {"start": start, "end": clock}}, headers=s.auth
    )
    assert patch.status_code == 200, patch.text
    first = await nudge(http, s)
    assert first.status_code == 202, first.text
    assert datetime.fromisoformat(first.json()["send_at"]) > now() + timedelta(seconds=30)
    second = await nudge(http, s)
    assert second.status_code == 409 and "already waiting" in second.json()["message"]


async def test_opened_counts_while_the_batch_is_still_being_settled(
    pool: db.Pool, settings: Settings, http: httpx.AsyncClient, push: FakePushService
) -> None:
    s = await subscribed_patient(pool, settings, http, push)
    due_id = await open_window_now(pool, s.patient_id)
    # Claimed by a process that is still waiting on another of the patient's phones.
    reminder_id = await pool.fetchval(
        "insert into reminder (patient_id, due_id, kind, send_at, expires_at, status,"
        " next_attempt_at, attempts, leased_by) values ($1, $2, 'manual', $3, $4, 'sending',"
        " $4, 1, 'elsewhere') returning id",
        s.patient_id, due_id, now(), now() + timedelta(hours=1),
    )  # fmt: skip
    response = await http.post(
        "/api/push/opened", json={"reminder_id": str(reminder_id)}, headers=s.auth
    )
    assert response.status_code == 204, response.text
    assert (await reminder(pool, reminder_id))["opened_at"] is not None


async def test_a_subscription_that_cannot_work_fails_alone(
    pool: db.Pool, settings: Settings, http: httpx.AsyncClient, push: FakePushService
) -> None:
    broken = await subscribed_patient(pool, settings, http, push)
    # A key that is not a point on the curve (stored before keys were checked): nothing can
    # be encrypted for it.
    await pool.execute(
        "update push_subscription set p256dh = $2 where patient_id = $1",
        broken.patient_id, "B" + "A" * 86,
    )  # fmt: skip
    failed = (await nudge(http, broken)).json()
    row = await reminder_in(pool, failed["id"], "failed")
    assert row["final_reason"] == "subscription_gone"
    # The dispatcher goes on with everyone else.
    fine = await subscribed_patient(pool, settings, http, push)
    queued = (await nudge(http, fine)).json()
    assert (await delivered(push, fine.subscriber))[0].json["reminder_id"] == queued["id"]


async def test_a_push_service_that_hangs_times_out_and_is_tried_again(
    pool: db.Pool, settings: Settings, http: httpx.AsyncClient, push: FakePushService
) -> None:
    s = await subscribed_patient(pool, settings, http, push)
    # The live server waits PUSH_TIMEOUT_SECONDS=2 for a push service.
    push.script([Behaviour(201, stall=6)], token=s.subscriber)
    queued = (await nudge(http, s)).json()

    attempts = await eventually(lambda: _attempts(pool, queued["id"], 2), within=20.0)
    assert [(a["status_code"], a["error"]) for a in attempts] == [(None, "timeout"), (201, None)]
    assert (await reminder(pool, queued["id"]))["status"] == "sent"
