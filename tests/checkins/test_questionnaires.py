"""Questionnaire files: every one loads, broken ones are named, answers validate per item type."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.checkins.questionnaires import (
    QUESTIONNAIRE_DIR,
    QuestionnaireError,
    answer_flags,
    load_file,
    load_registry,
    localized,
    score,
    validate_answers,
)


def test_every_shipped_file_loads_with_spanish_for_every_text() -> None:
    registry = load_registry()
    shipped = {(q.code, q.version) for q in registry.all()}
    assert {("daily", 1), ("daily", 2), ("post_infusion", 1), ("weekly", 1)} <= shipped
    assert registry.get("daily").version == 2  # the newest is the one asked
    assert registry.get("daily", 1) is not None  # older versions stay readable
    for questionnaire in registry.all():
        assert questionnaire.source and questionnaire.licence and questionnaire.wording
        texts = [questionnaire.title]
        for item in questionnaire.items:
            texts += [item.text, *(o.text for o in item.options)]
            texts += [t for t in (item.min_label, item.max_label) if t]
        for text in texts:
            assert text.es.strip() and text.en.strip()
        es = localized(questionnaire, "es", "crps")
        assert es.title == questionnaire.title.es


def test_licensed_instruments_are_not_shipped() -> None:
    words = " ".join(p.read_text().lower() for p in QUESTIONNAIRE_DIR.glob("*.toml"))
    for forbidden in ("brief pain inventory", "promis", "fiqr"):
        assert forbidden not in words
    weekly = load_registry().get("weekly")
    assert weekly is not None and weekly.loinc == "91148-7"
    assert weekly.scores[0].loinc == "91147-9"
    assert "Krebs" in weekly.source


BASE = """
code = "demo"
version = 1
title = { en = "T", es = "T" }
source = "s"
licence = "l"
wording = "w"
outcome = "pain"

[[items]]
code = "pain"
type = "scale"
text = { en = "Pain?", es = "¿Dolor?" }
min = 0
max = 10
min_label = { en = "none", es = "nada" }
max_label = { en = "worst", es = "peor" }
"""


@pytest.mark.parametrize(
    ("extra", "name", "words"),
    [
        (
            '\n[[items]]\ncode = "x"\ntype = "slider"\ntext = { en = "a", es = "b" }\n',
            None,
            "items[1] (x).type: 'slider' is not an item type",
        ),
        ('\n[[items]]\ncode = "x"\ntype = "yes_no"\ntext = { en = "a" }\n', None, "items[1].text"),
        (
            '\n[[items]]\ncode = "pain"\ntype = "yes_no"\ntext = { en = "a", es = "b" }\n',
            None,
            "used twice",
        ),
        (
            '\n[[items]]\ncode = "x"\ntype = "yes_no"\ntext = { en = "a", es = "b" }\n'
            'show_if = { item = "later", equals = true }\n',
            None,
            "items[1] (x).show_if.item",
        ),
        (
            '\n[[items]]\ncode = "x"\ntype = "single_choice"\ntext = { en = "a", es = "b" }\n'
            'options = [{ code = "a", text = { en = "a", es = "a" } }]\n',
            None,
            "two or more options",
        ),
        ("\nsurprise = 1\n", None, "surprise"),
        ("", "demo.v2.toml", "must match the file name"),
        ("", "demo.toml", "CODE.vVERSION.toml"),
        ("[[[", None, "not valid TOML"),
    ],
)
def test_broken_files_are_named_with_the_field(
    tmp_path: Path, extra: str, name: str | None, words: str
) -> None:
    path = tmp_path / (name or "demo.v1.toml")
    text = BASE + extra if not extra.startswith("\nsurprise") else extra.strip() + "\n" + BASE
    path.write_text(text)
    with pytest.raises(QuestionnaireError) as raised:
        load_file(path)
    assert path.name in str(raised.value)
    assert words in str(raised.value)


def test_server_refuses_to_start_with_a_broken_file(tmp_path: Path) -> None:
    (tmp_path / "demo.v1.toml").write_text(BASE.replace("max = 10", "max = 0"))
    with pytest.raises(QuestionnaireError, match=r"demo\.v1\.toml: items\[0\] \(pain\): a scale"):
        load_registry(tmp_path)


def _post_infusion():  # type: ignore[no-untyped-def]
    questionnaire = load_registry().get("post_infusion")
    assert questionnaire is not None
    return questionnaire


DAILY_PART = {"pain_now": 5, "pain_avg_24h": 6, "fatigue": 4, "sleep_quality": 3}


def test_show_if_asks_severity_only_for_chosen_side_effects() -> None:
    q = _post_infusion()
    ok = DAILY_PART | {"side_effects": ["headache"], "severity_headache": "mild"}
    assert validate_answers(q, ok, "lyme") == []
    missing = validate_answers(q, DAILY_PART | {"side_effects": ["headache"]}, "lyme")
    assert [(e.field, e.message) for e in missing] == [("answers.severity_headache", "is required")]
    not_asked = validate_answers(
        q, DAILY_PART | {"side_effects": ["none"], "severity_dizziness": "severe"}, "lyme"
    )
    assert [e.field for e in not_asked] == ["answers.severity_dizziness"]
    assert "not asked" in not_asked[0].message


@pytest.mark.parametrize(
    ("answers", "field", "words"),
    [
        (
            {"side_effects": ["none", "headache"], "severity_headache": "mild"},
            "answers.side_effects",
            "cannot be chosen with",
        ),
        (
            {"side_effects": ["headache", "headache"], "severity_headache": "mild"},
            "answers.side_effects",
            "twice",
        ),
        ({"side_effects": ["sneezing"]}, "answers.side_effects", "may hold only"),
        ({"side_effects": "headache"}, "answers.side_effects", "list of option codes"),
        (
            {"side_effects": ["headache"], "severity_headache": "awful"},
            "answers.severity_headache",
            "one of: mild",
        ),
        ({"side_effects": []}, "answers.side_effects", "is required"),
    ],
)
def test_choice_items_validate(answers: dict[str, object], field: str, words: str) -> None:
    errors = validate_answers(_post_infusion(), DAILY_PART | answers, "other")
    assert any(e.field == field and words in e.message for e in errors), errors


def test_yes_no_and_text_items_validate(tmp_path: Path) -> None:
    path = tmp_path / "demo.v1.toml"
    path.write_text(
        BASE
        + '\n[[items]]\ncode = "better"\ntype = "yes_no"\ntext = { en = "a", es = "b" }\n'
        + '\n[[items]]\ncode = "why"\ntype = "text"\nmax_length = 5\nrequired = false\n'
        + 'text = { en = "a", es = "b" }\nshow_if = { item = "better", equals = false }\n'
    )
    q = load_file(path)
    assert validate_answers(q, {"pain": 1, "better": True}, "other") == []
    assert validate_answers(q, {"pain": 1, "better": False, "why": "tired"}, "other") == []
    assert validate_answers(q, {"pain": 1, "better": False}, "other") == []  # optional
    problems = {
        e.field: e.message
        for e in validate_answers(q, {"pain": 1, "better": "no", "why": "x"}, "other")
    }
    assert problems["answers.better"] == "must be true or false"
    assert "not asked" in problems["answers.why"]  # hidden: better is not false
    too_long = validate_answers(q, {"pain": 1, "better": False, "why": "tired!"}, "other")
    assert "at most 5" in too_long[0].message
    nul = validate_answers(q, {"pain": 1, "better": False, "why": "a\x00"}, "other")
    assert "NUL" in nul[0].message


def test_crps_patients_alone_are_asked_body_regions() -> None:
    weekly = load_registry().get("weekly")
    assert weekly is not None
    answers = {"peg_pain": 6, "peg_enjoyment": 5, "peg_activity": 7, "pgic": "much_improved"}
    regions = answers | {"body_regions": ["left_hand", "left_foot"]}
    assert validate_answers(weekly, regions, "crps") == []
    assert validate_answers(weekly, answers, "crps") == []  # optional
    assert [e.field for e in validate_answers(weekly, regions, "lyme")] == ["answers.body_regions"]
    assert "body_regions" in {i.code for i in localized(weekly, "en", "crps").items}
    assert "body_regions" not in {i.code for i in localized(weekly, "en", "lyme").items}


def test_scores_and_answer_flags() -> None:
    weekly = load_registry().get("weekly")
    assert weekly is not None
    answers = {"peg_pain": 6, "peg_enjoyment": 5, "peg_activity": 8, "pgic": "much_worse"}
    assert score(weekly, answers) == {
        "peg_pain": 6, "peg_enjoyment": 5, "peg_activity": 8, "pgic": 6, "peg3": 6.33,
    }  # fmt: skip
    assert answer_flags(weekly, answers) == ["pgic_worse"]
    assert answer_flags(weekly, answers | {"pgic": "minimally_worse"}) == []
    severe = DAILY_PART | {"side_effects": ["dizziness"], "severity_dizziness": "severe"}
    assert answer_flags(_post_infusion(), severe) == ["severe_side_effect"]


def test_serve_stops_at_a_broken_clinic_file(tmp_path: Path) -> None:
    import subprocess
    import sys

    from tests.support.live import ROOT, clean_env

    (tmp_path / "clinic_extra.v1.toml").write_text(
        BASE.replace('code = "demo"', 'code = "clinic_extra"').replace(
            'es = "¿Dolor?"', 'fr = "Douleur ?"'
        )
    )
    result = subprocess.run(
        [sys.executable, "-m", "server", "serve", "--port", "1"],
        cwd=ROOT,
        env=clean_env(
            EXTRA_QUESTIONNAIRE_DIR=str(tmp_path), DATABASE_URL="postgresql://x@127.0.0.1:1/x"
        ),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "clinic_extra.v1.toml: items[0].text" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_clinic_file_is_served_beside_the_shipped_ones(tmp_path: Path) -> None:
    from server.checkins.questionnaires import install_registry

    (tmp_path / "clinic_extra.v1.toml").write_text(
        BASE.replace('code = "demo"', 'code = "clinic_extra"')
    )
    try:
        registry = install_registry(str(tmp_path))
        assert registry.get("clinic_extra") is not None
        assert registry.get("weekly") is not None
        (tmp_path / "weekly.v1.toml").write_text(BASE.replace('code = "demo"', 'code = "weekly"'))
        with pytest.raises(QuestionnaireError, match="weekly v1 is also in"):
            install_registry(str(tmp_path))
    finally:
        install_registry(None)


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (("required = true", "required = false"), "outcome: must be a required scale"),
        (('outcome = "pain"', 'outcome = "avg"'), "outcome: must name"),
    ],
)
def test_outcome_must_always_be_answered(
    tmp_path: Path, change: tuple[str, str], words: str
) -> None:
    text = BASE.replace('type = "scale"\n', 'type = "scale"\nrequired = true\n', 1)
    (tmp_path / "demo.v1.toml").write_text(text.replace(*change))
    with pytest.raises(QuestionnaireError, match=words):
        load_registry(tmp_path)


def test_every_item_type_makes_valid_fhir(tmp_path: Path) -> None:
    from fhir.resources import construct_fhir_element

    from server.fhir import mapping

    (tmp_path / "demo.v1.toml").write_text(
        BASE
        + '\n[[items]]\ncode = "better"\ntype = "yes_no"\ntext = { en = "a", es = "b" }\n'
        + '\n[[items]]\ncode = "word"\ntype = "text"\nrequired = false\ntext = { en = "a", es = "b" }\n'
        + '\n[[items]]\ncode = "why"\ntype = "text"\nrequired = false\ntext = { en = "a", es = "b" }\n'
        + 'show_if = { item = "word", equals = "other" }\n'
        + '\n[[items]]\ncode = "mood"\ntype = "single_choice"\ntext = { en = "a", es = "b" }\n'
        + 'options = [{ code = "ok", text = { en = "a", es = "b" } }, { code = "bad", text = { en = "a", es = "b" } }]\n'
        + 'show_if = { item = "better", equals = false }\n'
    )
    definition = load_file(tmp_path / "demo.v1.toml")
    resource = mapping.questionnaire("https://checkin.example.org", definition, current=False)
    construct_fhir_element("Questionnaire", resource)
    assert resource["status"] == "retired"
    why = next(i for i in resource["item"] if i["linkId"] == "why")
    assert why["enableWhen"] == [{"question": "word", "operator": "=", "answerString": "other"}]
