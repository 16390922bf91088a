"""The CSV export round-trips: every check-in once, pseudonymous, values as stored."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from server import db
from server.settings import Settings
from tests.support.clock import now
from tests.support.factories import daily_answers, enrolled_patient, make_clinic, make_coordinator

pytestmark = pytest.mark.dated


async def test_export_round_trips(
    pool: db.Pool, settings: Settings, http: httpx.AsyncClient
) -> None:
    clinic = await make_clinic(pool)
    other_clinic = await make_clinic(pool)
    _, foreign = await enrolled_patient(pool, settings, http, other_clinic.id)
    await http.post(
        "/api/checkins",
        json={"id": str(uuid.uuid4()), "answered_at": now().isoformat(),
              "answers": daily_answers(1)},
        headers=foreign,
    )  # fmt: skip
    patients = []
    sent: dict[str, dict[str, object]] = {}
    start = now().replace(microsecond=0) - timedelta(days=5)
    for name, zone, condition in (
        ("Dana", "Australia/Lord_Howe", "crps"),
        ('Eli, "Jr"', "America/Santiago", "lyme"),
    ):
        patient, auth = await enrolled_patient(
            pool, settings, http, clinic.id, display_name=name, timezone=zone, condition=condition
        )
        patients.append((patient, zone))
        for day in range(4):
            answers: dict[str, object] = daily_answers(3 + day)
            code = "daily"
            if day == 3:
                code = "weekly"
                answers = {"peg_pain": 5, "peg_enjoyment": 6, "peg_activity": 7,
                           "pgic": "much_improved"}  # fmt: skip
                if condition == "crps":
                    answers["body_regions"] = ["left_foot", "right_hand"]
            body = {
                "id": str(uuid.uuid4()),
                "answered_at": (start + timedelta(days=day, hours=7)).isoformat(),
                "questionnaire": code,
                "answers": answers,
                "note": "private note",
            }
            assert (await http.post("/api/checkins", json=body, headers=auth)).status_code == 201
            sent[body["id"]] = body
    staff = {"Authorization": f"Bearer {await make_coordinator(pool, clinic.id)}"}
    response = await http.get("/api/coordinator/export.csv", headers=staff)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    assert "Dana" not in response.text and "Eli" not in response.text
    assert "private note" not in response.text
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert {row["checkin_id"] for row in rows} == set(sent)  # every one once, no other clinic
    pseudonyms = {
        str(r["id"]): r["pseudonym"]
        for r in await pool.fetch(
            "select id, pseudonym from patient where clinic_id = $1", clinic.id
        )
    }
    for row in rows:
        body = sent[row["checkin_id"]]
        answered = datetime.fromisoformat(str(body["answered_at"]))
        assert row["answered_at_utc"] == answered.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        zone = row["timezone"]
        assert row["answered_at_local"] == answered.astimezone(ZoneInfo(zone)).strftime(
            "%Y-%m-%dT%H:%M:%S"
        )
        assert row["patient"] in pseudonyms.values()
        assert row["questionnaire"] == body["questionnaire"]
        for code, value in body["answers"].items():  # type: ignore[attr-defined]
            expected = ";".join(value) if isinstance(value, list) else str(value)
            assert row[code] == expected, (code, row[code], value)
        if body["questionnaire"] == "weekly":
            assert float(row["score_peg3"]) == 6
            assert row["score_pgic"] == "2"
    audited = await pool.fetchval(
        "select count(*) from audit_event where action = 'checkin.export_csv' and clinic_id = $1",
        clinic.id,
    )
    assert audited == 1


def test_free_text_items_are_not_exported(tmp_path: Path) -> None:
    """Patients write names and numbers in free text; the export is pseudonymous. What is left
    (numbers, true/false, option codes) cannot start a spreadsheet formula."""
    from server.checkins.questionnaires import load_registry
    from server.coordinators.export import export_query, item_columns, score_names

    (tmp_path / "extra.v1.toml").write_text(
        'code = "extra"\nversion = 1\ntitle = { en = "T", es = "T" }\nsource = "s"\n'
        'licence = "l"\nwording = "w"\noutcome = "pain"\n\n'
        '[[items]]\ncode = "pain"\ntype = "scale"\ntext = { en = "a", es = "b" }\n'
        'min = -5\nmax = 5\nmin_label = { en = "a", es = "b" }\nmax_label = { en = "a", es = "b" }\n\n'
        '[[items]]\ncode = "comment"\ntype = "text"\nrequired = false\n'
        'text = { en = "a", es = "b" }\n'
    )
    registry = load_registry(tmp_path)
    assert list(item_columns(registry)) == ["pain"]
    assert "comment" not in export_query(registry)
    shipped = load_registry()
    assert score_names(shipped) == ["peg3", "pgic"]
