"""FHIR R4 resources from our rows: pure functions, checked against the R4 models in tests.

Plain dicts rather than Structs: FHIR is a large external schema and these are write-only views
of it; tests validate every resource with the fhir.resources R4 models.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any
from uuid import UUID, uuid5

from server.checkins import items as item_types
from server.checkins.items import Item
from server.checkins.questionnaires import Questionnaire

LOINC = "http://loinc.org"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"

Resource = dict[str, Any]


def _instant(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def questionnaire_id(questionnaire: Questionnaire) -> str:
    # FHIR ids allow letters, digits, "-" and "." only.
    return f"{questionnaire.code.replace('_', '-')}-v{questionnaire.version}"


def questionnaire_url(origin: str, questionnaire: Questionnaire) -> str:
    return f"{origin}/fhir/Questionnaire/{questionnaire.code.replace('_', '-')}"


def option_system(origin: str, questionnaire: Questionnaire, item: Item) -> str:
    return f"{questionnaire_url(origin, questionnaire)}/{item.code}"


def patient(
    origin: str, patient_id: UUID, pseudonym: str, display_name: str, language: str
) -> Resource:
    """Only what the clinic entered: a display name, the language, a pseudonymous identifier."""
    return {
        "resourceType": "Patient",
        "id": str(patient_id),
        "identifier": [{"system": f"{origin}/fhir/pseudonym", "value": pseudonym}],
        "name": [{"text": display_name}],
        "communication": [
            {"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": language}]}}
        ],
    }


def _enable_when(origin: str, questionnaire: Questionnaire, item: Item) -> list[Resource]:
    rule = item.show_if
    if rule is None:
        return []
    target = questionnaire.item(rule.item)
    assert target is not None
    # The answer that shows the item, written as the target's own answers are: an option it
    # includes is a one-option answer of the multiple choice.
    shown_by = [rule.includes] if rule.includes is not None else rule.equals
    [answer] = item_types.fhir_values(
        target, shown_by, option_system(origin, questionnaire, target)
    )
    return [{"question": rule.item, "operator": "=", f"answer{answer.kind}": answer.value}]


def questionnaire(origin: str, definition: Questionnaire, current: bool = True) -> Resource:
    items = []
    for item in definition.items:
        entry: Resource = {
            "linkId": item.code,
            "text": item.text.en,
            "required": item.required,
        }
        if item.loinc:
            entry["code"] = [{"system": LOINC, "code": item.loinc}]
        entry |= item_types.fhir_item(item, option_system(origin, definition, item))
        enable_when = _enable_when(origin, definition, item)
        if enable_when:
            entry["enableWhen"] = enable_when
        items.append(entry)
    resource: Resource = {
        "resourceType": "Questionnaire",
        "id": questionnaire_id(definition),
        "url": questionnaire_url(origin, definition),
        "version": str(definition.version),
        "name": definition.code.replace("_", " ").title().replace(" ", ""),
        "title": definition.title.en,
        "status": "active" if current else "retired",
        "subjectType": ["Patient"],
        "copyright": f"{definition.source}. {definition.licence}",
        "item": items,
    }
    if definition.loinc:
        resource["code"] = [{"system": LOINC, "code": definition.loinc}]
    return resource


def _answers(origin: str, definition: Questionnaire, item: Item, value: Any) -> list[Resource]:
    system = option_system(origin, definition, item)
    return [{f"value{v.kind}": v.value} for v in item_types.fhir_values(item, value, system)]


def questionnaire_response(
    origin: str,
    definition: Questionnaire,
    checkin_id: UUID,
    patient_id: UUID,
    answered_at: datetime,
    answers: dict[str, Any],
) -> Resource:
    items = []
    for item in definition.items:
        value = answers.get(item.code)
        if value is None or value == [] or value == "":
            continue
        items.append(
            {
                "linkId": item.code,
                "text": item.text.en,
                "answer": _answers(origin, definition, item, value),
            }
        )
    return {
        "resourceType": "QuestionnaireResponse",
        "id": str(checkin_id),
        "questionnaire": f"{questionnaire_url(origin, definition)}|{definition.version}",
        "status": "completed",
        "subject": {"reference": f"Patient/{patient_id}"},
        "authored": _instant(answered_at),
        "item": items,
    }


def observations(
    definition: Questionnaire,
    checkin_id: UUID,
    patient_id: UUID,
    answered_at: datetime,
    scores: dict[str, Any],
) -> Iterable[Resource]:
    """One Observation per scored value that has a LOINC code (pain NRS, PEG-3 score)."""
    coded: list[tuple[str, str, str]] = [
        (item.code, item.loinc, item.text.en)
        for item in definition.items
        if item.loinc and item_types.measures(item.type)
    ]
    coded += [(s.name, s.loinc, s.name.upper()) for s in definition.scores if s.loinc]
    for name, loinc, display in coded:
        if name not in scores:
            continue
        value = scores[name]
        resource: Resource = {
            "resourceType": "Observation",
            # Deterministic and always a valid FHIR id, whatever the length of the score's name.
            "id": str(uuid5(checkin_id, name)),
            "status": "final",
            "category": [{"coding": [{"system": OBSERVATION_CATEGORY, "code": "survey"}]}],
            "code": {"coding": [{"system": LOINC, "code": loinc, "display": display}]},
            "subject": {"reference": f"Patient/{patient_id}"},
            "effectiveDateTime": _instant(answered_at),
            "derivedFrom": [{"reference": f"QuestionnaireResponse/{checkin_id}"}],
        }
        if isinstance(value, int):
            resource["valueInteger"] = value
        else:
            resource["valueQuantity"] = {"value": value, "unit": "score"}
        yield resource


def bundle(origin: str, resources: Iterable[Resource], now: datetime) -> Resource:
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": _instant(now),
        "entry": [
            {"fullUrl": f"{origin}/fhir/{r['resourceType']}/{r['id']}", "resource": r}
            for r in resources
        ],
    }
