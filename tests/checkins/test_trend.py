"""The patient's own trend (the app's history chart) and the staff view of it."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from server import db
from server.settings import Settings
from tests.support.clock import now
from tests.support.factories import daily_answers, enrolled_patient, make_clinic, make_coordinator

pytestmark = pytest.mark.dated

ZONE = ZoneInfo("America/New_York")


@pytest.fixture
def today() -> date:
    """The patient's date when the test starts (read then, not when the module loads)."""
    return now().astimezone(ZONE).date()


def _at(today: date, days_ago: int, hour: int, minute: int = 0) -> datetime:
    """A local wall-clock time that many days before today, in the patient's zone."""
    return datetime.combine(today - timedelta(days=days_ago), time(hour, minute), ZONE)


async def _post(
    http: httpx.AsyncClient,
    auth: dict[str, str],
    at: datetime,
    answers: dict[str, Any],
    questionnaire: str = "daily",
) -> dict[str, Any]:
    body = {
        "id": str(uuid.uuid4()),
        "answered_at": at.isoformat(),
        "answers": answers,
        "questionnaire": questionnaire,
    }
    response = await http.post("/api/checkins", json=body, headers=auth)
    assert response.status_code == 201, response.text
    scores: dict[str, Any] = response.json()["scores"]
    return scores


async def test_trend_groups_by_local_day_marks_infusions_and_compares_with_baseline(
    pool: db.Pool, settings: Settings, http: httpx.AsyncClient, today: date
) -> None:
    clinic = await make_clinic(pool)
    patient, auth = await enrolled_patient(pool, settings, http, clinic.id, condition="crps")
    await _post(http, auth, _at(today, 40, 9), daily_answers(9, 9))  # before the range asked for
    await _post(http, auth, _at(today, 10, 9), daily_answers(8, 6))
    await _post(http, auth, _at(today, 10, 20), daily_answers(6, 3))  # same day: means 7.0 and 4.5
    # 23:30 in New York is the next day in UTC; it belongs to the patient's own day.
    await _post(http, auth, _at(today, 9, 23, 30), daily_answers(5, 5))
    assert _at(today, 9, 23, 30).astimezone(UTC).date() != _at(today, 9, 23, 30).date()
    peg = {
        "peg_pain": 7, "peg_enjoyment": 6, "peg_activity": 8,
        "pgic": "no_change", "body_regions": ["left_foot"],
    }  # fmt: skip
    await _post(http, auth, _at(today, 8, 12), peg, "weekly")
    newest = await _post(http, auth, _at(today, 1, 9), daily_answers(3, 2))
    await pool.execute(
        "insert into infusion_session (patient_id, scheduled_at, status) values"
        " ($1, $2, 'completed'), ($1, $3, 'cancelled'), ($1, $4, 'completed')",
        patient.patient_id,
        _at(today, 7, 10),
        _at(today, 5, 10),  # cancelled: not shown
        _at(today, 60, 10),  # outside the range
    )

    response = await http.get("/api/checkins/trend", params={"days": 30}, headers=auth)
    assert response.status_code == 200, response.text
    trend = response.json()
    assert trend["until"] == today.isoformat()
    assert trend["since"] == (today - timedelta(days=29)).isoformat()
    assert trend["timezone"] == "America/New_York"
    by_day = {d["date"]: (d["pain"], d["fatigue"], d["peg"]) for d in trend["days"]}
    assert by_day == {
        (today - timedelta(days=10)).isoformat(): (7.0, 4.5, None),
        (today - timedelta(days=9)).isoformat(): (5.0, 5.0, None),
        (today - timedelta(days=8)).isoformat(): (None, None, 7.0),
        (today - timedelta(days=1)).isoformat(): (3.0, 2.0, None),
    }
    assert [(i["date"], i["status"]) for i in trend["infusions"]] == [
        ((today - timedelta(days=7)).isoformat(), "completed")
    ]
    # Baseline: the first three daily pain values (9, 8, 6) = 7.67; newest 3 is -60.9%.
    outcome = trend["outcome"]
    assert outcome == newest["outcome"] | {"answered_at": outcome["answered_at"]}
    assert (outcome["baseline"], outcome["baseline_kind"]) == (7.67, "first_three")
    assert (outcome["change_pct"], outcome["category"]) == (-60.9, "substantial_improvement")
    assert datetime.fromisoformat(outcome["answered_at"]) == _at(today, 1, 9)

    default = (await http.get("/api/checkins/trend", headers=auth)).json()
    assert default["since"] == (today - timedelta(days=89)).isoformat()
    assert (today - timedelta(days=40)).isoformat() in {d["date"] for d in default["days"]}


async def test_trend_before_any_baseline_has_no_outcome(
    pool: db.Pool, settings: Settings, http: httpx.AsyncClient, today: date
) -> None:
    clinic = await make_clinic(pool)
    _, auth = await enrolled_patient(pool, settings, http, clinic.id)
    empty = (await http.get("/api/checkins/trend", headers=auth)).json()
    assert (empty["days"], empty["infusions"], empty["outcome"]) == ([], [], None)
    await _post(http, auth, _at(today, 2, 9), daily_answers(6, 4))
    one = (await http.get("/api/checkins/trend", headers=auth)).json()
    assert len(one["days"]) == 1 and one["outcome"] is None


async def test_trend_range_is_bounded(
    pool: db.Pool, settings: Settings, http: httpx.AsyncClient
) -> None:
    clinic = await make_clinic(pool)
    _, auth = await enrolled_patient(pool, settings, http, clinic.id)
    for days in ("6", "367", "many"):
        response = await http.get("/api/checkins/trend", params={"days": days}, headers=auth)
        assert response.status_code == 422, days
        assert response.json()["errors"][0]["field"] == "days"
    assert (await http.get("/api/checkins/trend")).status_code == 401


async def test_staff_trend_is_audited_and_other_clinics_get_404(
    pool: db.Pool, settings: Settings, http: httpx.AsyncClient, today: date
) -> None:
    clinic, other = await make_clinic(pool), await make_clinic(pool)
    patient, auth = await enrolled_patient(pool, settings, http, clinic.id)
    await _post(http, auth, _at(today, 3, 9), daily_answers(4, 4))
    staff = {"Authorization": f"Bearer {await make_coordinator(pool, clinic.id)}"}
    stranger = {"Authorization": f"Bearer {await make_coordinator(pool, other.id)}"}
    path = f"/api/coordinator/patients/{patient.patient_id}/trend"

    response = await http.get(path, params={"days": 14}, headers=staff)
    assert response.status_code == 200, response.text
    assert [d["pain"] for d in response.json()["days"]] == [4.0]
    assert (await http.get(path, headers=stranger)).status_code == 404
    assert (await http.get(path, headers=auth)).status_code == 401  # a device is not staff
    rows = await pool.fetch(
        "select action, clinic_id, detail from audit_event where patient_id = $1"
        " and action = 'checkin.trend'",
        patient.patient_id,
    )
    assert [(r["action"], r["clinic_id"], r["detail"]) for r in rows] == [
        ("checkin.trend", clinic.id, {"days": 14})
    ]
