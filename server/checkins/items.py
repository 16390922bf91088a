"""Questionnaire items, and the item types declared once.

An item type is everything the app does with one kind of question: the rules its fields follow
in a questionnaire file, the answers it takes, what it adds to the scores, what the phone gets to
draw it, its FHIR form (Questionnaire item, QuestionnaireResponse answer) and its column in the
CSV export. Each of those is one function here, an exhaustive ``match`` over ``ItemType`` ending
in ``assert_never``: a type added to ``ItemType`` that one of them misses fails ``mypy``. The
patient app draws each type from one table keyed by the same names (pwa/js/views/checkin.js)
and refuses to start a check-in holding a type it does not know.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal, NamedTuple, assert_never

import msgspec
from msgspec import Meta

Code = Annotated[str, Meta(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
Condition = Literal["crps", "fibromyalgia", "lyme", "other"]
Loinc = Annotated[str, Meta(pattern=r"^\d{1,7}-\d$")]
NonEmpty = Annotated[str, Meta(min_length=1)]


class ItemType(StrEnum):
    SCALE = "scale"  # a whole number from min to max, both ends labelled (the 0-10 NRS)
    YES_NO = "yes_no"
    SINGLE_CHOICE = "single_choice"  # one option code; an option may carry a score (PGIC)
    MULTIPLE_CHOICE = "multiple_choice"  # a list of option codes; an exclusive one stands alone
    TEXT = "text"  # free text up to max_length; never exported to CSV


class Text(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    en: NonEmpty
    es: NonEmpty

    def get(self, language: str) -> str:
        return self.es if language == "es" else self.en


class Option(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    code: Code
    text: Text
    exclusive: bool = False  # "none of these": cannot be chosen with another option
    score: int | None = None  # the option's value in the scores (PGIC 1-7)


class ShowIf(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Ask the item only when an earlier answer ``equals`` a value or ``includes`` an option."""

    item: Code
    equals: str | int | bool | None = None
    includes: Code | None = None


class Item(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    code: Code
    type: ItemType
    text: Text
    required: bool = True
    min: int | None = None
    max: int | None = None
    min_label: Text | None = None
    max_label: Text | None = None
    options: tuple[Option, ...] = ()
    max_length: Annotated[int, Meta(ge=1, le=2000)] = 500
    loinc: Loinc | None = None
    show_if: ShowIf | None = None
    conditions: tuple[Condition, ...] | None = None  # asked only of patients with one of these

    def option(self, code: str) -> Option | None:
        return next((o for o in self.options if o.code == code), None)


# --- what the phone gets ------------------------------------------------------------------


class OptionOut(msgspec.Struct, frozen=True):
    code: str
    text: str
    exclusive: bool


class ShowIfOut(msgspec.Struct, frozen=True, omit_defaults=True):
    item: str
    equals: str | int | bool | None = None
    includes: str | None = None


class ItemOut(msgspec.Struct, frozen=True, omit_defaults=True):
    code: str
    type: ItemType
    text: str
    required: bool
    min: int | None = None
    max: int | None = None
    min_label: str | None = None
    max_label: str | None = None
    options: list[OptionOut] | None = None
    max_length: int | None = None
    show_if: ShowIfOut | None = None


def phone_item(item: Item, language: str) -> ItemOut:
    """The item in the patient's language, with the fields its type is drawn from."""
    rule = item.show_if
    common = ItemOut(
        code=item.code,
        type=item.type,
        text=item.text.get(language),
        required=item.required,
        show_if=ShowIfOut(rule.item, rule.equals, rule.includes) if rule else None,
    )
    kind = item.type
    match kind:
        case ItemType.SCALE:
            assert item.min_label is not None
            assert item.max_label is not None
            return msgspec.structs.replace(
                common,
                min=item.min,
                max=item.max,
                min_label=item.min_label.get(language),
                max_label=item.max_label.get(language),
            )
        case ItemType.YES_NO:
            return common
        case ItemType.SINGLE_CHOICE | ItemType.MULTIPLE_CHOICE:
            options = [OptionOut(o.code, o.text.get(language), o.exclusive) for o in item.options]
            return msgspec.structs.replace(common, options=options)
        case ItemType.TEXT:
            return msgspec.structs.replace(common, max_length=item.max_length)
        case _:
            assert_never(kind)


# --- a questionnaire file's rules ----------------------------------------------------------


def definition_problems(item: Item) -> list[tuple[str, str]]:
    """What a questionnaire file got wrong in the fields of ``item`` that depend on its type, each
    as (the field under the item, what is wrong); empty when the item is well formed."""
    kind = item.type
    match kind:
        case ItemType.SCALE:
            problems = []
            if item.min is None or item.max is None or item.min >= item.max:
                problems.append(("", "a scale needs min < max"))
            if item.min_label is None or item.max_label is None:
                problems.append(("", "a scale needs min_label and max_label"))
            return problems + _no_options(item)
        case ItemType.YES_NO | ItemType.TEXT:
            return _no_bounds(item) + _no_options(item)
        case ItemType.SINGLE_CHOICE:
            problems = _no_bounds(item) + _choices(item)
            if any(o.exclusive for o in item.options):
                problems.append((".options", "exclusive is for multiple_choice only"))
            return problems
        case ItemType.MULTIPLE_CHOICE:
            problems = _no_bounds(item) + _choices(item)
            if any(o.score is not None for o in item.options):
                problems.append((".options", "score is for single_choice options only"))
            return problems
        case _:
            assert_never(kind)


def _no_bounds(item: Item) -> list[tuple[str, str]]:
    problems = []
    if item.min is not None or item.max is not None:
        problems.append(("", "min and max are for scales only"))
    if item.min_label is not None or item.max_label is not None:
        problems.append(("", "min_label and max_label are for scales only"))
    return problems


def _no_options(item: Item) -> list[tuple[str, str]]:
    return [(".options", "options are for choice items only")] if item.options else []


def _choices(item: Item) -> list[tuple[str, str]]:
    codes = [o.code for o in item.options]
    if len(codes) < 2 or len(set(codes)) != len(codes):
        return [(".options", "a choice needs two or more options with distinct codes")]
    return []


# --- answers and scores ----------------------------------------------------------------------


def answer_problem(item: Item, value: Any) -> str | None:
    """Why ``value`` cannot answer ``item``, or None. The value is not empty (None, "" or [])."""
    kind = item.type
    match kind:
        case ItemType.SCALE:
            assert item.min is not None
            assert item.max is not None
            # bool is an int in Python; a scale answer must be a real whole number.
            if isinstance(value, bool) or not isinstance(value, int):
                return f"must be a whole number from {item.min} to {item.max}"
            if not item.min <= value <= item.max:
                return f"must be from {item.min} to {item.max}"
            return None
        case ItemType.YES_NO:
            return None if isinstance(value, bool) else "must be true or false"
        case ItemType.SINGLE_CHOICE:
            if not isinstance(value, str) or item.option(value) is None:
                return f"must be one of: {', '.join(o.code for o in item.options)}"
            return None
        case ItemType.MULTIPLE_CHOICE:
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                return "must be a list of option codes"
            if any(item.option(v) is None for v in value):
                return f"may hold only: {', '.join(o.code for o in item.options)}"
            if len(set(value)) != len(value):
                return "lists an option twice"
            exclusive = [v for v in value if (o := item.option(v)) is not None and o.exclusive]
            if exclusive and len(value) > 1:
                return f"{exclusive[0]} cannot be chosen with other options"
            return None
        case ItemType.TEXT:
            if not isinstance(value, str):
                return "must be text"
            if len(value) > item.max_length:
                return f"must be at most {item.max_length} characters"
            if "\x00" in value:
                return "must not contain the NUL character"
            return None
        case _:
            assert_never(kind)


def score(item: Item, value: Any) -> int | None:
    """What a valid answer adds to the check-in's scores under the item's code, if anything."""
    kind = item.type
    match kind:
        case ItemType.SCALE:
            return int(value)
        case ItemType.SINGLE_CHOICE:
            option = item.option(value)
            return option.score if option is not None else None
        case ItemType.YES_NO | ItemType.MULTIPLE_CHOICE | ItemType.TEXT:
            return None
        case _:
            assert_never(kind)


def measures(kind: ItemType) -> bool:
    """Whether an answer of this type is a measurement: a number that can be averaged into a
    derived score (PEG-3), followed against the patient's baseline as the outcome, and reported
    as a FHIR Observation when the item has a LOINC code."""
    match kind:
        case ItemType.SCALE:
            return True
        case ItemType.YES_NO | ItemType.SINGLE_CHOICE | ItemType.MULTIPLE_CHOICE | ItemType.TEXT:
            return False
        case _:
            assert_never(kind)


# --- FHIR R4 -----------------------------------------------------------------------------------

FHIR_MIN_VALUE = "http://hl7.org/fhir/StructureDefinition/minValue"
FHIR_MAX_VALUE = "http://hl7.org/fhir/StructureDefinition/maxValue"


class FhirValue(NamedTuple):
    """One answer as FHIR writes it: ``value[x]`` in a QuestionnaireResponse, ``answer[x]`` in
    an enableWhen. ``kind`` is the [x]: Integer, Boolean, Coding or String."""

    kind: str
    value: Any


def fhir_item(item: Item, system: str) -> dict[str, Any]:
    """The type's part of a Questionnaire.item (``system`` is the code system of its options)."""
    kind = item.type
    match kind:
        case ItemType.SCALE:
            return {
                "type": "integer",
                "extension": [
                    {"url": FHIR_MIN_VALUE, "valueInteger": item.min},
                    {"url": FHIR_MAX_VALUE, "valueInteger": item.max},
                ],
            }
        case ItemType.YES_NO:
            return {"type": "boolean"}
        case ItemType.SINGLE_CHOICE:
            return {"type": "choice", "repeats": False, "answerOption": _options(item, system)}
        case ItemType.MULTIPLE_CHOICE:
            return {"type": "choice", "repeats": True, "answerOption": _options(item, system)}
        case ItemType.TEXT:
            return {"type": "text", "maxLength": item.max_length}
        case _:
            assert_never(kind)


def fhir_values(item: Item, value: Any, system: str) -> list[FhirValue]:
    """A valid answer of ``item`` as FHIR answers (one per chosen option of a multiple choice)."""
    kind = item.type
    match kind:
        case ItemType.SCALE:
            return [FhirValue("Integer", value)]
        case ItemType.YES_NO:
            return [FhirValue("Boolean", value)]
        case ItemType.SINGLE_CHOICE:
            return [FhirValue("Coding", _coding(item, value, system))]
        case ItemType.MULTIPLE_CHOICE:
            return [FhirValue("Coding", _coding(item, code, system)) for code in value]
        case ItemType.TEXT:
            return [FhirValue("String", value)]
        case _:
            assert_never(kind)


def _options(item: Item, system: str) -> list[dict[str, Any]]:
    return [{"valueCoding": _coding(item, option.code, system)} for option in item.options]


def _coding(item: Item, code: str, system: str) -> dict[str, str]:
    option = item.option(code)
    return {"system": system, "code": code, "display": option.text.en if option else code}


# --- CSV export ------------------------------------------------------------------------------


def csv_column(item: Item, answers: str) -> str | None:
    """The SQL expression of the item's cell in the CSV export, read from the jsonb expression
    ``answers``; None when the type is not exported. Item codes are checked against
    ^[a-z][a-z0-9_]*$ when a file loads, so they are safe as literals here."""
    kind = item.type
    match kind:
        case ItemType.SCALE | ItemType.YES_NO | ItemType.SINGLE_CHOICE:
            # A number, true/false or an option code: none reads as a spreadsheet formula.
            return f"{answers} ->> '{item.code}'"
        case ItemType.MULTIPLE_CHOICE:
            return (
                f"(select string_agg(v, ';') from jsonb_array_elements_text({answers} -> "
                f"'{item.code}') v)"
            )
        case ItemType.TEXT:
            # Patients write names and numbers in free text; the export is pseudonymous.
            return None
        case _:
            assert_never(kind)
