"""The FHIR export validates against the R4 (4.0.1) models of fhir.resources."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import fhir.resources
import httpx
import pytest
from fhir.resources import construct_fhir_element

from server import db
from server.settings import Settings
from tests.support.clock import now
from tests.support.factories import daily_answers, enrolled_patient, make_clinic, make_coordinator

pytestmark = pytest.mark.dated


async def test_bundle_validates_and_carries_every_checkin(
    pool: db.Pool, settings: Settings, http: httpx.AsyncClient
) -> None:
    assert fhir.resources.__fhir_version__ == "4.0.1"
    clinic = await make_clinic(pool)
    patient, auth = await enrolled_patient(
        pool, settings, http, clinic.id, display_name="Nora", condition="crps", language="es"
    )
    start = now() - timedelta(days=10)
    bodies: list[tuple[str, dict[str, Any], int | None]] = [
        ("daily", {"pain_now": 4, "fatigue": 2}, 1),
        ("daily", daily_answers(6), None),
        ("post_infusion", daily_answers(5) | {"side_effects": ["headache", "dissociation"],
         "severity_headache": "mild", "severity_dissociation": "moderate"}, None),
        ("weekly", {"peg_pain": 6, "peg_enjoyment": 5, "peg_activity": 7,
                    "pgic": "much_improved", "body_regions": ["left_hand"]}, None),
    ]  # fmt: skip
    for day, (code, answers, version) in enumerate(bodies):
        body: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "answered_at": (start + timedelta(days=day)).isoformat(),
            "questionnaire": code,
            "answers": answers,
        }
        if version:
            body["questionnaire_version"] = version
        assert (await http.post("/api/checkins", json=body, headers=auth)).status_code == 201
    staff = {"Authorization": f"Bearer {await make_coordinator(pool, clinic.id)}"}
    response = await http.get(f"/api/coordinator/patients/{patient.patient_id}/fhir", headers=staff)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/fhir+json")
    bundle = response.json()
    validated = construct_fhir_element("Bundle", bundle)
    assert validated.type == "collection"
    for entry in bundle["entry"]:
        resource = entry["resource"]
        construct_fhir_element(resource["resourceType"], resource)  # raises if invalid
    by_type: dict[str, list[dict[str, Any]]] = {}
    for entry in bundle["entry"]:
        by_type.setdefault(entry["resource"]["resourceType"], []).append(entry["resource"])
    [person] = by_type["Patient"]
    assert person["name"] == [{"text": "Nora"}]
    assert set(person) == {"resourceType", "id", "identifier", "name", "communication"}
    assert {(q["id"], q["version"]) for q in by_type["Questionnaire"]} == {
        ("daily-v1", "1"), ("daily-v2", "2"), ("post-infusion-v1", "1"), ("weekly-v1", "1"),
    }  # fmt: skip
    assert len(by_type["QuestionnaireResponse"]) == 4
    weekly = next(r for r in by_type["QuestionnaireResponse"] if "weekly" in r["questionnaire"])
    regions = next(i for i in weekly["item"] if i["linkId"] == "body_regions")
    assert regions["answer"][0]["valueCoding"]["code"] == "left_hand"
    codes = sorted(
        (
            o["code"]["coding"][0]["code"],
            o.get("valueInteger", o.get("valueQuantity", {}).get("value")),
        )
        for o in by_type["Observation"]
    )
    # Pain NRS (72514-3) from the three daily/post-infusion check-ins; PEG-3 (91147-9) = 6.
    assert codes == [("72514-3", 4), ("72514-3", 5), ("72514-3", 6), ("91147-9", 6)]
    audited = await pool.fetchval(
        "select detail->>'checkins' from audit_event where action = 'patient.fhir_export'"
        " and patient_id = $1",
        patient.patient_id,
    )
    assert audited == "4"
    other = {
        "Authorization": f"Bearer {await make_coordinator(pool, (await make_clinic(pool)).id)}"
    }
    hidden = await http.get(f"/api/coordinator/patients/{patient.patient_id}/fhir", headers=other)
    assert hidden.status_code == 404


def test_every_questionnaire_is_a_valid_r4_questionnaire() -> None:
    from server.checkins.questionnaires import load_registry
    from server.fhir import mapping

    for definition in load_registry().all():
        construct_fhir_element(
            "Questionnaire", mapping.questionnaire("https://checkin.example.org", definition)
        )
