"""Bulk seeding for dispatcher tests and the reminder benchmark: patients with one push
subscription each and one reminder due now; and what the push service received of them."""

from __future__ import annotations

import hashlib
import uuid
from collections import Counter
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from server import db

if TYPE_CHECKING:
    from tests.support.fakepush import FakePushService


async def due_reminders(
    conn: db.Connection, subscriptions: list[dict[str, Any]], now: datetime
) -> list[uuid.UUID]:
    """One active patient per subscription, each with an open window and its opening reminder
    due at ``now``; returns the reminder ids. Plans are marked fresh so no planner touches them."""
    n = len(subscriptions)
    async with conn.transaction():
        clinic_id = await conn.fetchval(
            "insert into clinic (name, timezone) values ('Wave clinic', 'UTC') returning id"
        )
        patient_ids = [uuid.uuid4() for _ in range(n)]
        device_ids = [uuid.uuid4() for _ in range(n)]
        await conn.execute(
            "insert into patient (id, clinic_id, display_name, timezone, status, planned_until)"
            " select p, $2, 'Seeded patient', 'UTC', 'active', $3 from unnest($1::uuid[]) p",
            patient_ids, clinic_id, now + timedelta(days=30),
        )  # fmt: skip
        await conn.execute(
            "insert into device (id, patient_id, token_hash)"
            " select d, p, ($3::bytea[])[i] from unnest($1::uuid[], $2::uuid[])"
            "  with ordinality as u(d, p, i)",
            device_ids, patient_ids,
            [hashlib.sha256(d.bytes).digest() for d in device_ids],
        )  # fmt: skip
        await conn.execute(
            "insert into push_subscription (patient_id, device_id, endpoint, p256dh, auth)"
            " select * from unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[])",
            patient_ids, device_ids,
            [s["endpoint"] for s in subscriptions],
            [s["keys"]["p256dh"] for s in subscriptions],
            [s["keys"]["auth"] for s in subscriptions],
        )  # fmt: skip
        due_ids = await conn.fetch(
            "insert into checkin_due (patient_id, questionnaire, local_date, opens_at, closes_at)"
            " select p, 'daily', $2::date, $3, $4 from unnest($1::uuid[]) p returning id, patient_id",
            patient_ids, now.date(), now - timedelta(minutes=1), now + timedelta(hours=6),
        )  # fmt: skip
        rows = await conn.fetch(
            "insert into reminder (patient_id, due_id, kind, send_at, expires_at, next_attempt_at)"
            " select p, d, 'opening', $3, $4, $3 from unnest($1::uuid[], $2::uuid[]) as u(d, p)"
            " returning id",
            [r["id"] for r in due_ids], [r["patient_id"] for r in due_ids],
            now, now + timedelta(hours=6),
        )  # fmt: skip
    return [r["id"] for r in rows]


def deliveries_per_reminder(push: FakePushService, ids: list[uuid.UUID]) -> Counter[str]:
    """How many times the push service received each of these reminders."""
    wanted = {str(i) for i in ids}
    counts: Counter[str] = Counter()
    for delivery in push.deliveries:
        payload: Any = delivery.json
        if isinstance(payload, dict) and payload.get("reminder_id") in wanted:
            counts[payload["reminder_id"]] += 1
    return counts
