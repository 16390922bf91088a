"""Every item type the server declares (server/checkins/items.py), end to end through a live
server: answered through the API (stored with its score, or refused naming the item), exported
as FHIR (valid R4) and as CSV. The browser's side is tests/e2e/test_item_types.py. Also: the
loader refuses a type it does not know, and a new type that one concern misses fails mypy."""

from __future__ import annotations

import ast
import csv
import io
import re
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from fhir.resources import construct_fhir_element

from server.checkins import items
from server.checkins.items import ItemType
from server.checkins.questionnaires import QuestionnaireError, load_file, load_registry
from tests.conftest import MakeDatabase
from tests.support import item_types
from tests.support.clock import now
from tests.support.factories import enrolled_patient, make_clinic, make_coordinator
from tests.support.item_types import Live, answers_with, item_of, sample_of
from tests.support.live import ROOT


@pytest.fixture(scope="module")
async def live(make_database: MakeDatabase) -> AsyncIterator[Live]:
    async with item_types.serving(await make_database()) as running:
        yield running


def _without_systems(answers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """FHIR answers with each coding's system left out (it holds the server's address)."""
    return [
        {k: {c: v[c] for c in v if c != "system"} if k == "valueCoding" else v}
        for answer in answers
        for k, v in answer.items()
    ]


@pytest.mark.parametrize("kind", list(ItemType))
async def test_each_item_type_is_stored_scored_and_exported(live: Live, kind: ItemType) -> None:
    item, sample = item_of(kind), sample_of(kind)
    clinic = await make_clinic(live.pool)
    patient, auth = await enrolled_patient(
        live.pool, live.settings, live.http, clinic.id, display_name="Tess Quill"
    )

    def body(value: Any) -> dict[str, Any]:
        return {
            "id": str(uuid.uuid4()),
            "answered_at": now().isoformat(),
            "questionnaire": item_types.DEFINITION.code,
            "answers": answers_with(item, value),
        }

    refused = await live.http.post("/api/checkins", json=body(sample.invalid), headers=auth)
    assert refused.status_code == 422, refused.text
    assert {e["field"]: e["message"] for e in refused.json()["errors"]} == {
        f"answers.{item.code}": sample.refusal
    }

    sent = body(sample.valid)
    stored = await live.http.post("/api/checkins", json=sent, headers=auth)
    assert stored.status_code == 201, stored.text
    assert stored.json()["answers"][item.code] == sample.valid
    assert stored.json()["scores"].get(item.code) == sample.score
    history = await live.http.get("/api/checkins", headers=auth)
    [kept] = [c for c in history.json()["items"] if c["id"] == sent["id"]]
    assert kept["answers"] == sent["answers"]
    assert kept["scores"].get(item.code) == sample.score

    staff = {"Authorization": f"Bearer {await make_coordinator(live.pool, clinic.id, 'admin')}"}
    fhir = await live.http.get(
        f"/api/coordinator/patients/{patient.patient_id}/fhir", headers=staff
    )
    assert fhir.status_code == 200, fhir.text
    bundle = fhir.json()
    construct_fhir_element("Bundle", bundle)
    resources = [entry["resource"] for entry in bundle["entry"]]
    for resource in resources:
        construct_fhir_element(resource["resourceType"], resource)  # raises if invalid
    [response] = [r for r in resources if r["resourceType"] == "QuestionnaireResponse"]
    [answered] = [i for i in response["item"] if i["linkId"] == item.code]
    assert _without_systems(answered["answer"]) == sample.fhir
    [questionnaire] = [r for r in resources if r["resourceType"] == "Questionnaire"]
    [asked] = [i for i in questionnaire["item"] if i["linkId"] == item.code]
    assert asked["type"] == sample.fhir_type
    observed = [
        (o["code"]["coding"][0]["code"], o["valueInteger"])
        for o in resources
        if o["resourceType"] == "Observation"
        and o["id"] == str(uuid.uuid5(uuid.UUID(sent["id"]), item.code))
    ]
    # A measurement with a LOINC code is also an Observation (the pain NRS); nothing else is.
    measured = item.loinc is not None and items.measures(kind)
    assert observed == ([(item.loinc, sample.valid)] if measured else [])

    export = await live.http.get("/api/coordinator/export.csv", headers=staff)
    assert export.status_code == 200, export.text
    assert "Tess" not in export.text
    [row] = list(csv.DictReader(io.StringIO(export.text)))
    assert row["checkin_id"] == sent["id"]
    if sample.csv is None:
        assert item.code not in row
        assert str(sample.valid) not in export.text
    else:
        assert row[item.code] == sample.csv


def test_an_unknown_item_type_is_refused_naming_the_file_the_item_and_the_types(
    tmp_path: Path,
) -> None:
    text = (item_types.QUESTIONNAIRES / "item_types.v1.toml").read_text()
    path = tmp_path / "item_types.v1.toml"
    path.write_text(text.replace('type = "yes_no"', 'type = "body_map"'))
    with pytest.raises(QuestionnaireError) as raised:
        load_file(path)
    allowed = ", ".join(kind.value for kind in ItemType)
    assert str(raised.value) == (
        "item_types.v1.toml: items[1] (slept_well).type: 'body_map' is not an item type;"
        f" one of: {allowed}"
    )


def test_an_item_code_keeps_its_type_in_every_questionnaire(tmp_path: Path) -> None:
    """One code is one CSV column: free text under a code that is a scale elsewhere would be
    exported in that scale's column."""
    text = (item_types.QUESTIONNAIRES / "item_types.v1.toml").read_text()
    (tmp_path / "item_types.v1.toml").write_text(text)
    retyped = 'code = "slept_well"\ntype = "text"'
    second = text.replace("version = 1", "version = 2")
    (tmp_path / "item_types.v2.toml").write_text(
        second.replace('code = "slept_well"\ntype = "yes_no"', retyped)
    )
    with pytest.raises(QuestionnaireError) as raised:
        load_registry(tmp_path)
    assert str(raised.value) == (
        "item_types.v2.toml: items[1] (slept_well).type: slept_well is a yes_no item in"
        " item_types.v1.toml; an item code keeps its type in every questionnaire"
    )
    (tmp_path / "item_types.v2.toml").write_text(second)
    assert load_registry(tmp_path).get("item_types", 2) is not None


@pytest.mark.parametrize(
    ("field", "item", "words"),
    [
        ("min_label", 'code = "x"\ntype = "yes_no"\nmin_label = { en = "a", es = "b" }', "scales"),
        (
            "score",
            'code = "x"\ntype = "multiple_choice"\noptions = [{ code = "a", score = 1, text = '
            '{ en = "a", es = "a" } }, { code = "b", text = { en = "b", es = "b" } }]',
            "score is for single_choice options only",
        ),
    ],
)
def test_fields_of_one_type_are_refused_on_another(
    tmp_path: Path, field: str, item: str, words: str
) -> None:
    text = (item_types.QUESTIONNAIRES / "item_types.v1.toml").read_text()
    path = tmp_path / "item_types.v1.toml"
    path.write_text(f'{text}\n[[items]]\n{item}\ntext = {{ en = "a", es = "b" }}\n')
    with pytest.raises(QuestionnaireError, match=rf"items\[5\] \(x\).*{words}"):
        load_file(path)


def test_a_new_item_type_that_a_concern_misses_fails_mypy(tmp_path: Path) -> None:
    """Add a type to ItemType and nothing else: mypy names every function that matches on the
    type (validation, scoring, FHIR, CSV, what the phone gets, a file's rules), because each
    ends in assert_never."""
    source = (ROOT / "server" / "checkins" / "items.py").read_text()
    marker = '    TEXT = "text"'
    assert marker in source
    changed = source.replace(marker, '    BODY_MAP = "body_map"\n' + marker, 1)
    path = tmp_path / "items.py"
    path.write_text(changed)
    concerns = {
        node.name: range(node.lineno, (node.end_lineno or node.lineno) + 1)
        for node in ast.walk(ast.parse(changed))
        if isinstance(node, ast.FunctionDef)
        and any(isinstance(n, ast.Name) and n.id == "assert_never" for n in ast.walk(node))
    }
    for name in ("answer_problem", "score", "fhir_item", "fhir_values", "csv_column"):
        assert name in concerns  # validation, scoring, FHIR mapping and CSV column at least
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", path.name],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    failing = {
        name
        for line in result.stdout.splitlines()
        if (found := re.match(r"items\.py:(\d+): error: .*assert_never", line))
        for name, lines in concerns.items()
        if int(found.group(1)) in lines
    }
    assert failing == set(concerns), result.stdout
