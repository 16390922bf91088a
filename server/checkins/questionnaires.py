"""Questionnaires as versioned data: TOML files in ``questionnaires/``, one per version.

Each file is validated into Structs at start; a broken file stops the server with a message that
names the file and the field. Every version stays loaded, so check-ins answered with an older
version stay readable. Answers are validated against the version they answer, item by item; what
each item type takes and adds to the scores is declared once, in items.py.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import msgspec
from msgspec import Meta

from server.checkins import items as item_types
from server.checkins.items import Code, Item, ItemOut, ItemType, Loinc, NonEmpty, Text
from server.errors import FieldError

QUESTIONNAIRE_DIR = Path(__file__).resolve().parent / "questionnaires"

# Short enough that "CODE-vVERSION" stays a valid FHIR id (64 characters at most).
QuestionnaireCode = Annotated[str, Meta(pattern=r"^[a-z][a-z0-9_]{0,39}$")]


class QuestionnaireError(Exception):
    """A questionnaire file is broken; the message names the file and the field."""


class Score(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A derived score: the mean of scale items (PEG-3)."""

    name: Code
    mean_of: tuple[Code, ...]
    loinc: Loinc | None = None


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
    loinc: Loinc | None = None

    def item(self, code: str) -> Item | None:
        return next((i for i in self.items if i.code == code), None)


# --- what the phone gets ------------------------------------------------------------------


class QuestionnaireOut(msgspec.Struct, frozen=True):
    code: str
    version: int
    title: str
    items: list[ItemOut]


def localized(questionnaire: Questionnaire, language: str, condition: str) -> QuestionnaireOut:
    """The questionnaire in the patient's language, without items not meant for their condition."""
    items = [
        item_types.phone_item(item, language)
        for item in questionnaire.items
        if item.conditions is None or condition in item.conditions
    ]
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
        for field, problem in item_types.definition_problems(item):
            fail(f"{at}{field}", problem)
        if item.show_if is not None:
            target = seen.get(item.show_if.item)
            if target is None:
                fail(f"{at}.show_if.item", "must name an earlier item")
            elif (item.show_if.includes is None) == (item.show_if.equals is None):
                fail(f"{at}.show_if", "needs exactly one of equals or includes")
            elif item.show_if.includes is not None and item_types.answer_problem(
                target, [item.show_if.includes]
            ):
                # Only an answer that is a list of options can include one.
                fail(f"{at}.show_if.includes", "must be an option of a multiple_choice item")
            elif item.show_if.equals is not None and item_types.answer_problem(
                target, item.show_if.equals
            ):
                fail(f"{at}.show_if.equals", "is not a possible answer of that item")
        seen[item.code] = item

    def always_answered(code: str) -> bool:
        item = seen.get(code)
        return (
            item is not None
            and item_types.measures(item.type)
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


def _refuse_unknown_types(raw: object, source: str) -> None:
    """Name an item whose type this server does not know, with the types it does know (decoding
    alone would say "Invalid enum value" and no more)."""
    entries = raw.get("items") if isinstance(raw, dict) else None
    for index, entry in enumerate(entries if isinstance(entries, list) else []):
        kind = entry.get("type") if isinstance(entry, dict) else None
        if isinstance(kind, str) and kind not in [t.value for t in ItemType]:
            code = entry.get("code")
            at = f"items[{index}] ({code})" if isinstance(code, str) else f"items[{index}]"
            raise QuestionnaireError(
                f"{source}: {at}.type: {kind!r} is not an item type; one of: {', '.join(ItemType)}"
            )


def load_file(path: Path) -> Questionnaire:
    match = _FILE_NAME.match(path.name)
    if not match:
        raise QuestionnaireError(f"{path.name}: files are named CODE.vVERSION.toml")
    try:
        raw = msgspec.toml.decode(path.read_bytes())
    except msgspec.DecodeError as exc:
        raise QuestionnaireError(f"{path.name}: not valid TOML: {exc}") from None
    _refuse_unknown_types(raw, path.name)
    try:
        questionnaire = msgspec.convert(raw, Questionnaire)
    except msgspec.ValidationError as exc:
        message = str(exc)
        field = message.split(" - at `$.", 1)[1].rstrip("`") if " - at `$." in message else ""
        raise QuestionnaireError(
            f"{path.name}: {field or 'file'}: {message.split(' - at ')[0]}"
        ) from None
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
    typed: dict[str, tuple[ItemType, str]] = {}  # item code: its type, the file that set it
    questionnaires = []
    for path in files:
        questionnaire = load_file(path)
        key = (questionnaire.code, questionnaire.version)
        if key in loaded:
            raise QuestionnaireError(f"{path.name}: {key[0]} v{key[1]} is also in {loaded[key]}")
        loaded[key] = path
        for index, item in enumerate(questionnaire.items):
            kind, where = typed.setdefault(item.code, (item.type, path.name))
            if kind is not item.type:
                # One code is one column of the export and one meaning in the records.
                raise QuestionnaireError(
                    f"{path.name}: items[{index}] ({item.code}).type: {item.code} is a {kind}"
                    f" item in {where}; an item code keeps its type in every questionnaire"
                )
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
        problem = item_types.answer_problem(item, value)
        if problem:
            errors.append(FieldError(field, problem))
    return errors


def score(questionnaire: Questionnaire, answers: Mapping[str, Any]) -> dict[str, float | int]:
    """The numbers stored with a check-in: each answer's score (items.score), derived means."""
    scores: dict[str, float | int] = {}
    for item in questionnaire.items:
        value = answers.get(item.code)
        if _empty(value):
            continue
        points = item_types.score(item, value)
        if points is not None:
            scores[item.code] = points
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
