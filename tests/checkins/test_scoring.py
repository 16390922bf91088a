"""Scores against baseline and clinical alerts, checked against hand-computed examples."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest

from server import db
from server.settings import Settings
from tests.support.clock import now
from tests.support.factories import (
    daily_answers,
    enrolled_patient,
    make_clinic,
    make_coordinator,
    open_window_now,
)

pytestmark = pytest.mark.dated

DAY0 = now().replace(microsecond=0) - timedelta(days=40)


async def _post(
    http: httpx.AsyncClient,
    auth: dict[str, str],
    day: float,
    answers: dict[str, Any],
    questionnaire: str = "daily",
) -> dict[str, Any]:
    body = {
        "id": str(uuid.uuid4()),
        "answered_at": (DAY0 + timedelta(days=day)).isoformat(),
        "answers": answers,
        "questionnaire": questionnaire,
    }
    response = await http.post("/api/checkins", json=body, headers=auth)
    assert response.status_code == 201, response.text
    outcome: dict[str, Any] = response.json()["scores"].get("outcome", {})
    return outcome


async def _patient(pool: db.Pool, settings: Settings, http: httpx.AsyncClient, **fields: Any):  # type: ignore[no-untyped-def]
    clinic = await make_clinic(pool)
    patient, auth = await enrolled_patient(pool, settings, http, clinic.id, **fields)
    return clinic, patient, auth


async def _alerts(pool: db.Pool, patient_id: uuid.UUID) -> list[tuple[str, str]]:
    rows = await pool.fetch(
        "select kind::text, status::text from alert where patient_id = $1 order by raised_at, kind",
        patient_id,
    )
    return [(r["kind"], r["status"]) for r in rows]


async def test_baseline_from_the_first_three_checkins(
    pool: db.Pool, settings: Settings, http: httpx.AsyncClient
) -> None:
    _, _, auth = await _patient(pool, settings, http)
    assert (await _post(http, auth, 0, daily_answers(8)))["baseline"] is None  # no baseline yet
    assert (await _post(http, auth, 1, daily_answers(6)))["baseline"] is None
    third = await _post(http, auth, 2, daily_answers(7))
    assert third["baseline"] == 7.0 and third["baseline_n"] == 3
    assert third["baseline_kind"] == "first_three"
    assert (third["change"], third["change_pct"], third["category"]) == (
        0,
        0,
        "no_meaningful_change",
    )
    fourth = await _post(http, auth, 3, daily_answers(3))
    # 3 - 7 = -4 points, -57.1%: substantial. 3-day mean (6, 7, 3) = 5.33: -23.8%, no change.
    assert (fourth["change"], fourth["change_pct"], fourth["category"]) == (
        -4, -57.1, "substantial_improvement",
    )  # fmt: skip
    assert (fourth["mean_3d"], fourth["category_3d"]) == (5.33, "no_meaningful_change")
    fifth = await _post(http, auth, 4, daily_answers(5))
    assert (fifth["change_pct"], fifth["category"]) == (-28.6, "no_meaningful_change")
    sixth = await _post(http, auth, 5, daily_answers(4))
    assert (sixth["change_pct"], sixth["category"]) == (-42.9, "moderate_improvement")


async def test_baseline_from_the_two_weeks_before_the_first_infusion(
    pool: db.Pool, settings: Settings, http: httpx.AsyncClient
) -> None:
    _, patient, auth = await _patient(pool, settings, http)
    await pool.execute(
        "insert into infusion_session (patient_id, scheduled_at, status) values"
        " ($1, $2, 'completed'), ($1, $3, 'cancelled')",
        patient.patient_id,
        DAY0 + timedelta(days=20),
        DAY0 + timedelta(days=5),  # cancelled: not the first infusion
    )
    await _post(http, auth, 0, daily_answers(10))  # 20 days before: outside the 14-day window
    for day, pain in ((8, 6), (12, 8), (15, 7)):
        await _post(http, auth, day, daily_answers(pain))
    after = await _post(http, auth, 22, daily_answers(3))
    assert after["baseline_kind"] == "before_first_infusion"
    assert (after["baseline"], after["baseline_n"]) == (7.0, 3)
    assert (after["change"], after["change_pct"], after["category"]) == (
        -4, -57.1, "substantial_improvement",
    )  # fmt: skip


async def test_zero_baseline_has_no_percent(
    pool: db.Pool, settings: Settings, http: httpx.AsyncClient
) -> None:
    _, _, auth = await _patient(pool, settings, http)
    for day in range(3):
        await _post(http, auth, day, daily_answers(0))
    worse = await _post(http, auth, 3, daily_answers(2))
    assert (worse["baseline"], worse["change"], worse["change_pct"]) == (0, 2, None)
    assert worse["category"] == "worsening"
    slightly = await _post(http, auth, 7, daily_answers(1))
    assert (slightly["change_pct"], slightly["category"]) == (None, "no_meaningful_change")


async def test_weekly_peg3_is_scored_and_followed(
    pool: db.Pool, settings: Settings, http: httpx.AsyncClient
) -> None:
    _, patient, auth = await _patient(pool, settings, http, condition="crps")
    weeks = [(7, 7, 7), (6, 7, 8), (8, 8, 8), (3, 4, 5)]
    outcomes = []
    for week, (pain, enjoyment, activity) in enumerate(weeks):
        answers = {
            "peg_pain": pain, "peg_enjoyment": enjoyment, "peg_activity": activity,
            "pgic": "no_change", "body_regions": ["left_foot"],
        }  # fmt: skip
        outcomes.append(await _post(http, auth, week * 7, answers, "weekly"))
    # Baseline: mean of the first three PEG-3 scores (7, 7, 8) = 7.33; then 4 is -45.5%.
    assert outcomes[3]["metric"] == "peg3"
    assert (outcomes[3]["value"], outcomes[3]["baseline"]) == (4, 7.33)
    assert (outcomes[3]["change_pct"], outcomes[3]["category"]) == (-45.5, "moderate_improvement")
    scores = await pool.fetchval(
        "select scores from checkin where patient_id = $1 order by answered_at desc limit 1",
        patient.patient_id,
    )
    assert scores["peg3"] == 4 and scores["pgic"] == 4


async def test_each_alert_is_raised_once_until_acknowledged(
    pool: db.Pool, settings: Settings, http: httpx.AsyncClient
) -> None:
    clinic, patient, auth = await _patient(pool, settings, http)
    staff = {"Authorization": f"Bearer {await make_coordinator(pool, clinic.id)}"}
    await _post(http, auth, 38, daily_answers(9))  # alerts need recent check-ins
    await _post(http, auth, 38.5, daily_answers(10))
    assert await _alerts(pool, patient.patient_id) == [("pain_high", "open")]
    [alert] = (await http.get("/api/coordinator/alerts", headers=staff)).json()["items"]
    assert alert["kind"] == "pain_high" and alert["display_name"] == "Pat"
    done = await http.post(
        f"/api/coordinator/alerts/{alert['id']}/acknowledge",
        json={"note": "Called; rescue plan reviewed"},
        headers=staff,
    )
    assert done.status_code == 200
    assert done.json()["status"] == "acknowledged" and done.json()["note"].startswith("Called")
    again = await http.post(
        f"/api/coordinator/alerts/{alert['id']}/acknowledge", json={"note": "x"}, headers=staff
    )
    assert again.status_code == 409
    await _post(http, auth, 39, daily_answers(9))  # a new episode opens a new alert
    assert await _alerts(pool, patient.patient_id) == [
        ("pain_high", "acknowledged"), ("pain_high", "open"),
    ]  # fmt: skip
    audited = await pool.fetchval(
        "select count(*) from audit_event where action = 'alert.acknowledge' and patient_id = $1",
        patient.patient_id,
    )
    assert audited == 1
    other = {
        "Authorization": f"Bearer {await make_coordinator(pool, (await make_clinic(pool)).id)}"
    }
    hidden = await http.post(
        f"/api/coordinator/alerts/{alert['id']}/acknowledge", json={"note": "x"}, headers=other
    )
    assert hidden.status_code == 404
    assert (await http.get("/api/coordinator/alerts", headers=other)).json()["items"] == []


async def test_pain_threshold_is_per_clinic(
    pool: db.Pool, settings: Settings, http: httpx.AsyncClient
) -> None:
    clinic, patient, auth = await _patient(pool, settings, http)
    await _post(http, auth, 38, daily_answers(8))
    assert await _alerts(pool, patient.patient_id) == []
    await pool.execute("update clinic set pain_alert_threshold = 7 where id = $1", clinic.id)
    await _post(http, auth, 39, daily_answers(8))
    assert await _alerts(pool, patient.patient_id) == [("pain_high", "open")]


async def test_worsening_on_the_three_day_mean(
    pool: db.Pool, settings: Settings, http: httpx.AsyncClient
) -> None:
    _, patient, auth = await _patient(pool, settings, http)
    for day in range(3):
        await _post(http, auth, day, daily_answers(4))  # baseline 4, weeks ago
    first = await _post(http, auth, 38, daily_answers(5))  # 3-day mean 5: +1, +25%
    assert (first["mean_3d"], first["category_3d"]) == (5, "no_meaningful_change")
    assert await _alerts(pool, patient.patient_id) == []
    second = await _post(http, auth, 39, daily_answers(6))  # (5, 6) = 5.5: +37.5%
    assert (second["mean_3d"], second["category_3d"]) == (5.5, "worsening")
    await _post(http, auth, 39.5, daily_answers(8))  # still worse: no second alert
    assert await _alerts(pool, patient.patient_id) == [("worsening", "open")]


@pytest.mark.parametrize(
    ("questionnaire", "answers", "kind"),
    [
        (
            "post_infusion",
            daily_answers(5) | {"side_effects": ["dizziness", "headache"],
                                "severity_dizziness": "severe", "severity_headache": "mild"},
            "severe_side_effect",
        ),
        (
            "weekly",
            {"peg_pain": 5, "peg_enjoyment": 5, "peg_activity": 5, "pgic": "very_much_worse"},
            "pgic_worse",
        ),
    ],
)  # fmt: skip
async def test_answers_raise_their_alerts(
    pool: db.Pool,
    settings: Settings,
    http: httpx.AsyncClient,
    questionnaire: str,
    answers: dict[str, Any],
    kind: str,
) -> None:
    _, patient, auth = await _patient(pool, settings, http)
    await _post(http, auth, 38, answers, questionnaire)
    await _post(http, auth, 39, answers, questionnaire)
    assert await _alerts(pool, patient.patient_id) == [(kind, "open")]
    flags = await pool.fetchval(
        "select flags from checkin where patient_id = $1 limit 1", patient.patient_id
    )
    assert flags == [kind]


async def test_old_versions_stay_readable(
    pool: db.Pool, settings: Settings, http: httpx.AsyncClient
) -> None:
    _, _, auth = await _patient(pool, settings, http)
    body = {
        "id": str(uuid.uuid4()),
        "answered_at": DAY0.isoformat(),
        "answers": {"pain_now": 4, "fatigue": 2},
        "questionnaire_version": 1,
    }
    assert (await http.post("/api/checkins", json=body, headers=auth)).status_code == 201
    await _post(http, auth, 1, daily_answers(5))
    history = (await http.get("/api/checkins", headers=auth)).json()["items"]
    assert [(c["questionnaire_version"], c["answers"]["pain_now"]) for c in history] == [
        (2, 5),
        (1, 4),
    ]


async def test_two_misses_in_a_row_raise_one_alert(
    pool: db.Pool, settings: Settings, http: httpx.AsyncClient
) -> None:
    _, patient, _ = await _patient(pool, settings, http)

    async def window(day: int, status: str, questionnaire: str = "daily") -> uuid.UUID:
        opens = DAY0 + timedelta(days=day)
        window_id: uuid.UUID = await pool.fetchval(
            "insert into checkin_due (patient_id, questionnaire, local_date, opens_at, closes_at,"
            " status, completed_at) values ($1, $2, $3, $4, $5, $6::due_status,"
            " case when $6 = 'completed' then $5::timestamptz end) returning id",
            patient.patient_id, questionnaire, opens.date(), opens, opens + timedelta(hours=12),
            status,
        )  # fmt: skip
        return window_id

    await window(0, "completed")
    await window(1, "missed")
    await window(2, "missed", "weekly")  # weekly windows do not count
    assert await _alerts(pool, patient.patient_id) == []
    second = await window(3, "open")
    await pool.execute("update checkin_due set status = 'missed' where id = $1", second)
    assert await _alerts(pool, patient.patient_id) == [("missed_twice", "open")]
    await window(4, "missed")  # a third: still one open alert
    assert await _alerts(pool, patient.patient_id) == [("missed_twice", "open")]


async def test_a_late_checkin_keeps_its_flags_but_raises_no_alert(
    pool: db.Pool, settings: Settings, http: httpx.AsyncClient
) -> None:
    _, patient, auth = await _patient(pool, settings, http)
    await _post(http, auth, 0, daily_answers(10))  # answered 40 days ago, sent now
    assert await _alerts(pool, patient.patient_id) == []
    flags = await pool.fetchval(
        "select flags from checkin where patient_id = $1", patient.patient_id
    )
    assert flags == ["pain_high"]


async def test_a_window_is_completed_only_by_its_own_questionnaire(
    pool: db.Pool, settings: Settings, http: httpx.AsyncClient
) -> None:
    _, patient, auth = await _patient(pool, settings, http)
    window = await open_window_now(pool, patient.patient_id)
    weekly = {
        "id": str(uuid.uuid4()),
        "answered_at": now().isoformat(),
        "questionnaire": "weekly",
        "due_id": str(window),
        "answers": {"peg_pain": 5, "peg_enjoyment": 5, "peg_activity": 5, "pgic": "no_change"},
    }
    assert (await http.post("/api/checkins", json=weekly, headers=auth)).status_code == 201
    status = await pool.fetchval("select status::text from checkin_due where id = $1", window)
    assert status == "open"


async def test_the_baseline_window_needs_three_values_while_it_is_running(
    pool: db.Pool, settings: Settings, http: httpx.AsyncClient
) -> None:
    _, patient, auth = await _patient(pool, settings, http)
    await pool.execute(
        "insert into infusion_session (patient_id, scheduled_at) values ($1, $2)",
        patient.patient_id,
        DAY0 + timedelta(days=10),
    )
    first = await _post(http, auth, 5, daily_answers(6))
    assert first["baseline"] is None  # one value is not a baseline yet
    assert (await _post(http, auth, 6, daily_answers(8)))["baseline"] is None
    third = await _post(http, auth, 7, daily_answers(7))
    assert (third["baseline"], third["baseline_n"], third["baseline_kind"]) == (
        7.0, 3, "before_first_infusion",
    )  # fmt: skip
