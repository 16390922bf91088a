"""Questionnaires as versioned data: TOML files in ``questionnaires/``, one per version.

Each file is validated into Structs at start; a broken file stops the server with a message that
names the file and the field. Every version stays loaded, so check-ins answered with an older
version stay readable. Answers are validated against the version they answer, item by item.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from server.errors import FieldError

QUESTIONNAIRE_DIR = Path(__file__).resolve().parent / "questionnaires"

Code = Annotated[str, Meta(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
# Short enough that "CODE-vVERSION" stays a valid FHIR id (64 characters at most).
QuestionnaireCode = Annotated[str, Meta(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
Condition = Literal["crps", "fibromyalgia", "lyme", "other"]
ItemType = Literal["scale", "yes_no", "single_choice", "multiple_choice", "text"]
Language = Literal["en", "es"]
NonEmpty = Annotated[str, Meta(min_length=1)]


class QuestionnaireError(Exception):
    """A questionnaire file is broken; the message names the file and the field."""


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
    loinc: Annotated[str, Meta(pattern=r"^\d{1,7}-\d$")] | None = None
    show_if: ShowIf | None = None
    conditions: tuple[Condition, ...] | None = None  # asked only of patients with one of these

    def option(self, code: str) -> Option | None:
        return next((o for o in self.options if o.code == code), None)


class Score(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A derived score: the mean of scale items (PEG-3)."""

    name: Code
    mean_of: tuple[Code, ...]
    loinc: Annotated[str, Meta(pattern=r"^\d{1,7}-\d$")] | None = None


class Questionnaire(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    code: QuestionnaireCode
    version: Annotated[int, Meta(ge=1)]
    title: Text
    source: NonEmpty
    licence: NonEmpty
    wording: NonEmpty
    outcome: Code  # the item or score followed against the patient's baseline
    items: tuple[Item, ...]
    scores: tuple[Score, ...] = ()
    loinc: Annotated[str, Meta(pattern=r"^\d{1,7}-\d$")] | None = None

    def item(self, code: str) -> Item | None:
        return next((i for i in self.items if i.code == code), None)


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
    type: str
    text: str
    required: bool
    min: int | None = None
    max: int | None = None
    min_label: str | None = None
    max_label: str | None = None
    options: list[OptionOut] | None = None
    max_length: int | None = None
    show_if: ShowIfOut | None = None


class QuestionnaireOut(msgspec.Struct, frozen=True):
    code: str
    version: int
    title: str
    items: list[ItemOut]


def localized(questionnaire: Questionnaire, language: str, condition: str) -> QuestionnaireOut:
    """The questionnaire in the patient's language, without items not meant for their condition."""
    items = []
    for item in questionnaire.items:
        if item.conditions is not None and condition not in item.conditions:
            continue
        items.append(
            ItemOut(
                code=item.code,
                type=item.type,
                text=item.text.get(language),
                required=item.required,
                min=item.min,
                max=item.max,
                min_label=item.min_label.get(language) if item.min_label else None,
                max_label=item.max_label.get(language) if item.max_label else None,
                options=[OptionOut(o.code, o.text.get(language), o.exclusive) for o in item.options]
                or None,
                max_length=item.max_length if item.type == "text" else None,
                show_if=ShowIfOut(item.show_if.item, item.show_if.equals, item.show_if.includes)
                if item.show_if
                else None,
            )
        )
    return QuestionnaireOut(
        questionnaire.code, questionnaire.version, questionnaire.title.get(language), items
    )


# --- loading ---------------------------------------------------------------------------------

_ITEM_CODE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_FILE_NAME = re.compile(r"^([a-z][a-z0-9_]*)\.v(\d+)\.toml$")


def _check(questionnaire: Questionnaire, source: str) -> None:
    """Rules a schema cannot express; each failure names the field."""

    def fail(field: str, message: str) -> None:
        raise QuestionnaireError(f"{source}: {field}: {message}")

    seen: dict[str, Item] = {}
    for index, item in enumerate(questionnaire.items):
        at = f"items[{index}] ({item.code})"
        if item.code in seen:
            fail(at, "item code used twice")
        if item.type == "scale":
            if item.min is None or item.max is None or item.min >= item.max:
                fail(at, "a scale needs min < max")
            if item.min_label is None or item.max_label is None:
                fail(at, "a scale needs min_label and max_label")
        elif item.min is not None or item.max is not None:
            fail(at, "min and max are for scales only")
        if item.type in ("single_choice", "multiple_choice"):
            codes = [o.code for o in item.options]
            if len(codes) < 2 or len(set(codes)) != len(codes):
                fail(f"{at}.options", "a choice needs two or more options with distinct codes")
            if item.type == "single_choice" and any(o.exclusive for o in item.options):
                fail(f"{at}.options", "exclusive is for multiple_choice only")
        elif item.options:
            fail(f"{at}.options", "options are for choice items only")
        if item.show_if is not None:
            target = seen.get(item.show_if.item)
            if target is None:
                fail(f"{at}.show_if.item", "must name an earlier item")
            elif (item.show_if.includes is None) == (item.show_if.equals is None):
                fail(f"{at}.show_if", "needs exactly one of equals or includes")
            elif item.show_if.includes is not None and (
                target.type != "multiple_choice" or target.option(item.show_if.includes) is None
            ):
                fail(f"{at}.show_if.includes", "must be an option of a multiple_choice item")
            elif item.show_if.equals is not None and _answer_problem(target, item.show_if.equals):
                fail(f"{at}.show_if.equals", "is not a possible answer of that item")
        seen[item.code] = item

    def always_answered(code: str) -> bool:
        item = seen.get(code)
        return (
            item is not None
            and item.type == "scale"
            and item.required
            and item.show_if is None
            and item.conditions is None
        )

    names = set(seen)
    for index, score in enumerate(questionnaire.scores):
        if score.name in names:
            fail(f"scores[{index}].name", "is also an item code")
        if not score.mean_of:
            fail(f"scores[{index}].mean_of", "needs at least one item")
        for code in score.mean_of:
            if not always_answered(code):
                fail(
                    f"scores[{index}].mean_of",
                    f"{code} must be a required scale item asked of everyone",
                )
        names.add(score.name)
    if questionnaire.outcome in seen:
        if not always_answered(questionnaire.outcome):
            fail("outcome", "must be a required scale item asked of everyone, or a score")
    elif questionnaire.outcome not in names:
        fail("outcome", "must name a scale item or a score")


def load_file(path: Path) -> Questionnaire:
    match = _FILE_NAME.match(path.name)
    if not match:
        raise QuestionnaireError(f"{path.name}: files are named CODE.vVERSION.toml")
    try:
        questionnaire = msgspec.toml.decode(path.read_bytes(), type=Questionnaire)
    except msgspec.ValidationError as exc:
        message = str(exc)
        field = message.split(" - at `$.", 1)[1].rstrip("`") if " - at `$." in message else ""
        raise QuestionnaireError(
            f"{path.name}: {field or 'file'}: {message.split(' - at ')[0]}"
        ) from None
    except msgspec.DecodeError as exc:
        raise QuestionnaireError(f"{path.name}: not valid TOML: {exc}") from None
    if (questionnaire.code, questionnaire.version) != (match.group(1), int(match.group(2))):
        raise QuestionnaireError(f"{path.name}: code and version must match the file name")
    _check(questionnaire, path.name)
    return questionnaire


class Registry:
    """Every version of every questionnaire; the newest version of each is the one asked."""

    def __init__(self, questionnaires: list[Questionnaire]) -> None:
        self._versions = {(q.code, q.version): q for q in questionnaires}
        self.current: dict[str, Questionnaire] = {}
        for q in sorted(questionnaires, key=lambda q: q.version):
            self.current[q.code] = q

    def get(self, code: str, version: int | None = None) -> Questionnaire | None:
        if version is None:
            return self.current.get(code)
        return self._versions.get((code, version))

    def all(self) -> list[Questionnaire]:
        return sorted(self._versions.values(), key=lambda q: (q.code, q.version))


def load_registry(*directories: Path) -> Registry:
    """Every questionnaire file in ``directories`` (default: the shipped ones)."""
    files = [f for d in directories or (QUESTIONNAIRE_DIR,) for f in sorted(d.glob("*.toml"))]
    if not files:
        raise QuestionnaireError(f"{', '.join(map(str, directories))}: no questionnaire files")
    loaded: dict[tuple[str, int], Path] = {}
    questionnaires = []
    for path in files:
        questionnaire = load_file(path)
        key = (questionnaire.code, questionnaire.version)
        if key in loaded:
            raise QuestionnaireError(f"{path.name}: {key[0]} v{key[1]} is also in {loaded[key]}")
        loaded[key] = path
        questionnaires.append(questionnaire)
    return Registry(questionnaires)


_installed: Registry | None = None


def install_registry(extra_directory: str | None) -> Registry:
    """Load the shipped questionnaires and a clinic's own (EXTRA_QUESTIONNAIRE_DIR) at start."""
    global _installed
    directories = [QUESTIONNAIRE_DIR]
    if extra_directory:
        extra = Path(extra_directory)
        if not extra.is_dir():
            raise QuestionnaireError(f"EXTRA_QUESTIONNAIRE_DIR {extra} is not a folder")
        directories.append(extra)
    _installed = load_registry(*directories)
    return _installed


def registry() -> Registry:
    """The questionnaires this process serves."""
    return _installed if _installed is not None else install_registry(None)


# --- answers ---------------------------------------------------------------------------------


def _answer_problem(item: Item, value: Any) -> str | None:
    """Why ``value`` cannot answer ``item``, or None."""
    if item.type == "scale":
        assert item.min is not None
        assert item.max is not None
        # bool is an int in Python; a scale answer must be a real whole number.
        if isinstance(value, bool) or not isinstance(value, int):
            return f"must be a whole number from {item.min} to {item.max}"
        if not item.min <= value <= item.max:
            return f"must be from {item.min} to {item.max}"
    elif item.type == "yes_no":
        if not isinstance(value, bool):
            return "must be true or false"
    elif item.type == "single_choice":
        if not isinstance(value, str) or item.option(value) is None:
            return f"must be one of: {', '.join(o.code for o in item.options)}"
    elif item.type == "multiple_choice":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            return "must be a list of option codes"
        unknown = [v for v in value if item.option(v) is None]
        if unknown:
            return f"may hold only: {', '.join(o.code for o in item.options)}"
        if len(set(value)) != len(value):
            return "lists an option twice"
        exclusive = [v for v in value if (o := item.option(v)) is not None and o.exclusive]
        if exclusive and len(value) > 1:
            return f"{exclusive[0]} cannot be chosen with other options"
    elif item.type == "text":
        if not isinstance(value, str):
            return "must be text"
        if len(value) > item.max_length:
            return f"must be at most {item.max_length} characters"
        if "\x00" in value:
            return "must not contain the NUL character"
    return None


def _shown(item: Item, answers: Mapping[str, Any], condition: str) -> bool:
    if item.conditions is not None and condition not in item.conditions:
        return False
    rule = item.show_if
    if rule is None:
        return True
    earlier = answers.get(rule.item)
    if rule.includes is not None:
        return isinstance(earlier, list) and rule.includes in earlier
    return earlier == rule.equals and type(earlier) is type(rule.equals)


def _empty(value: Any) -> bool:
    return value is None or value == [] or value == ""


def validate_answers(
    questionnaire: Questionnaire, answers: Mapping[str, Any], condition: str
) -> list[FieldError]:
    """Every problem with ``answers``, each naming its item; empty when they are valid."""
    errors: list[FieldError] = []
    known = {item.code for item in questionnaire.items}
    strangers = 0
    for code in answers:
        if code in known:
            continue
        if _ITEM_CODE.match(code):
            errors.append(FieldError(f"answers.{code}", "is not an item of this questionnaire"))
        else:
            strangers += 1  # not shaped like an item code: never repeat what the phone sent
    if strangers:
        errors.append(FieldError("answers", f"holds {strangers} answer(s) to no item"))
    for item in questionnaire.items:
        field = f"answers.{item.code}"
        value = answers.get(item.code)
        if not _shown(item, answers, condition):
            if not _empty(value):
                errors.append(FieldError(field, "is not asked here; leave it out"))
            continue
        if _empty(value):
            if item.required:
                errors.append(FieldError(field, "is required"))
            continue
        problem = _answer_problem(item, value)
        if problem:
            errors.append(FieldError(field, problem))
    return errors


def score(questionnaire: Questionnaire, answers: Mapping[str, Any]) -> dict[str, float | int]:
    """The numbers stored with a check-in: scale answers, option scores, derived means."""
    scores: dict[str, float | int] = {}
    for item in questionnaire.items:
        value: Any = answers.get(item.code)
        if _empty(value):
            continue
        if item.type == "scale":
            scores[item.code] = value
        elif item.type == "single_choice":
            option = item.option(value)
            if option is not None and option.score is not None:
                scores[item.code] = option.score
    for derived in questionnaire.scores:
        values = [scores[c] for c in derived.mean_of if c in scores]
        if len(values) == len(derived.mean_of):
            scores[derived.name] = round(sum(values) / len(values), 2)
    return scores


SEVERE_SIDE_EFFECT = "severe"
PGIC_WORSE = frozenset({"much_worse", "very_much_worse"})


def answer_flags(questionnaire: Questionnaire, answers: Mapping[str, Any]) -> list[str]:
    """Clinical flags the answers alone raise (the database adds the ones needing history)."""
    flags = []
    if any(
        item.code.startswith("severity_") and answers.get(item.code) == SEVERE_SIDE_EFFECT
        for item in questionnaire.items
    ):
        flags.append("severe_side_effect")
    if answers.get("pgic") in PGIC_WORSE:
        flags.append("pgic_worse")
    return flags
