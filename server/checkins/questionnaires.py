"""The questionnaires patients answer, as data, and the validation of answers against them."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from server.errors import FieldError

Language = Literal["en", "es"]


class Text(msgspec.Struct, frozen=True):
    en: str
    es: str

    def get(self, language: str) -> str:
        return self.es if language == "es" else self.en


class Item(msgspec.Struct, frozen=True):
    code: str
    kind: Literal["scale"]
    text: Text
    min: int
    max: int
    min_label: Text
    max_label: Text
    required: bool = True
    loinc: str | None = None


class Questionnaire(msgspec.Struct, frozen=True):
    code: str
    version: int
    title: Text
    items: tuple[Item, ...]
    source: str
    licence: str


class ItemOut(msgspec.Struct, frozen=True):
    code: str
    kind: str
    text: str
    min: int
    max: int
    min_label: str
    max_label: str
    required: bool


class QuestionnaireOut(msgspec.Struct, frozen=True):
    code: str
    version: int
    title: str
    items: list[ItemOut]


DAILY = Questionnaire(
    code="daily",
    version=1,
    title=Text("Daily check-in", "Registro diario"),
    source="Infusion Check-in clinical team; wording written for this app",
    licence="Free to use: 0-10 numeric rating scales (pain NRS, LOINC 72514-3)",
    items=(
        Item(
            code="pain_now",
            kind="scale",
            text=Text("How bad is your pain right now?", "¿Cuánto dolor tiene ahora mismo?"),
            min=0,
            max=10,
            min_label=Text("No pain", "Sin dolor"),
            max_label=Text("Worst pain imaginable", "El peor dolor imaginable"),
            loinc="72514-3",
        ),
        Item(
            code="fatigue",
            kind="scale",
            text=Text("How tired do you feel right now?", "¿Qué tan cansado/a se siente ahora?"),
            min=0,
            max=10,
            min_label=Text("Not tired", "Nada cansado/a"),
            max_label=Text("Worst tiredness imaginable", "El peor cansancio imaginable"),
        ),
    ),
)

QUESTIONNAIRES: dict[str, Questionnaire] = {DAILY.code: DAILY}


def localized(questionnaire: Questionnaire, language: str) -> QuestionnaireOut:
    return QuestionnaireOut(
        code=questionnaire.code,
        version=questionnaire.version,
        title=questionnaire.title.get(language),
        items=[
            ItemOut(
                code=item.code,
                kind=item.kind,
                text=item.text.get(language),
                min=item.min,
                max=item.max,
                min_label=item.min_label.get(language),
                max_label=item.max_label.get(language),
                required=item.required,
            )
            for item in questionnaire.items
        ],
    )


def validate_answers(questionnaire: Questionnaire, answers: dict[str, Any]) -> list[FieldError]:
    """Every problem with ``answers``, each naming its item; empty when they are valid."""
    errors: list[FieldError] = []
    items = {item.code: item for item in questionnaire.items}
    for code in answers:
        if code not in items:
            errors.append(
                FieldError(f"answers.{code[:64]}", "is not an item of this questionnaire")
            )
    for item in questionnaire.items:
        field = f"answers.{item.code}"
        if item.code not in answers or answers[item.code] is None:
            if item.required:
                errors.append(FieldError(field, "is required"))
            continue
        value = answers[item.code]
        # bool is an int in Python; a scale answer must be a real whole number.
        if isinstance(value, bool) or not isinstance(value, int):
            errors.append(
                FieldError(field, f"must be a whole number from {item.min} to {item.max}")
            )
        elif not item.min <= value <= item.max:
            errors.append(FieldError(field, f"must be from {item.min} to {item.max}"))
    return errors


def score(questionnaire: Questionnaire, answers: dict[str, Any]) -> dict[str, float | int]:
    """Scores stored with the check-in: the scale values as answered."""
    return {
        item.code: answers[item.code]
        for item in questionnaire.items
        if answers.get(item.code) is not None
    }
