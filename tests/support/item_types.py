"""Every item type end to end: a questionnaire with an item of each type, a live server that
serves it as a clinic's own file, and for each type a sample: an answer the server stores and
what it becomes (score, FHIR answer, CSV cell, the review screen's words, the taps that give it
in the app), and an answer the server refuses.

The types come from the server's table (server/checkins/items.py, ItemType), never from a list
here: a type without an item in questionnaires/item_types.v1.toml or without a sample below
fails the tests that cover it, naming what is missing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import pytest

from server import db
from server.checkins.items import Item, ItemType
from server.checkins.questionnaires import Questionnaire, load_file
from server.settings import Settings
from tests.support.live import ServerProcess, start_server

QUESTIONNAIRES = Path(__file__).resolve().parent / "questionnaires"
DEFINITION: Questionnaire = load_file(QUESTIONNAIRES / "item_types.v1.toml")
OUTCOME = "pain_today"  # required of every check-in: answered with this beside each sample
OUTCOME_ANSWER = 4


class Sample(NamedTuple):
    valid: Any
    score: int | None  # what the valid answer adds to the scores under the item's code
    fhir_type: str  # the FHIR Questionnaire item's type
    fhir: list[dict[str, Any]]  # its QuestionnaireResponse answers (codings without system)
    csv: str | None  # its cell in the export; None: the type is not exported
    review: str  # how the review screen reads it
    taps: tuple[str, ...]  # the buttons the patient taps to give it, in order
    typed: str | None  # what the patient types first, if anything
    invalid: Any
    refusal: str  # words of the 422's message for the invalid answer


SAMPLES: dict[ItemType, Sample] = {
    ItemType.SCALE: Sample(
        valid=7,
        fhir_type="integer",
        score=7,
        fhir=[{"valueInteger": 7}],
        csv="7",
        review="7",
        taps=("7",),
        typed=None,
        invalid=11,
        refusal="must be from 0 to 10",
    ),
    ItemType.YES_NO: Sample(
        valid=False,
        fhir_type="boolean",
        score=None,
        fhir=[{"valueBoolean": False}],
        csv="false",
        review="No",
        taps=("No",),
        typed=None,
        invalid="no",
        refusal="must be true or false",
    ),
    ItemType.SINGLE_CHOICE: Sample(
        valid="low",
        fhir_type="choice",
        score=3,
        fhir=[{"valueCoding": {"code": "low", "display": "Low"}}],
        csv="low",
        review="Low",
        taps=("Low",),
        typed=None,
        invalid="sad",
        refusal="must be one of: good, fair, low",
    ),
    ItemType.MULTIPLE_CHOICE: Sample(
        valid=["tired", "dizzy"],
        fhir_type="choice",
        score=None,
        fhir=[
            {"valueCoding": {"code": "tired", "display": "Tiredness"}},
            {"valueCoding": {"code": "dizzy", "display": "Dizziness"}},
        ],
        csv="tired;dizzy",
        review="Tiredness, Dizziness",
        taps=("Tiredness", "Dizziness", "Next"),
        typed=None,
        invalid=["none", "tired"],
        refusal="none cannot be chosen with other options",
    ),
    ItemType.TEXT: Sample(
        valid="Ask for Ann after 5pm",
        fhir_type="text",
        score=None,
        fhir=[{"valueString": "Ask for Ann after 5pm"}],
        csv=None,
        review="Ask for Ann after 5pm",
        taps=("Next",),
        typed="Ask for Ann after 5pm",
        invalid="x" * 41,
        refusal="must be at most 40 characters",
    ),
}


def item_of(kind: ItemType) -> Item:
    """The test questionnaire's item of this type."""
    found = next((item for item in DEFINITION.items if item.type is kind), None)
    if found is None:
        pytest.fail(f"{QUESTIONNAIRES / 'item_types.v1.toml'} has no {kind} item: add one")
    return found


def sample_of(kind: ItemType) -> Sample:
    if kind not in SAMPLES:
        pytest.fail(f"no sample answers for item type {kind}: add one to {__file__}")
    return SAMPLES[kind]


def answers_with(item: Item, value: Any) -> dict[str, Any]:
    """Answers to the test questionnaire: ``value`` for ``item``, beside the required outcome."""
    return {OUTCOME: OUTCOME_ANSWER} | {item.code: value}


class Live(NamedTuple):
    server: ServerProcess
    settings: Settings
    pool: db.Pool
    http: httpx.AsyncClient  # keeps no cookies: every request says who it is


@asynccontextmanager
async def serving(database_url: str) -> AsyncIterator[Live]:
    """A server on ``database_url`` that also serves the test questionnaire, as a clinic's own
    questionnaire file would be (EXTRA_QUESTIONNAIRE_DIR)."""
    server = start_server(database_url, EXTRA_QUESTIONNAIRE_DIR=str(QUESTIONNAIRES))
    try:
        settings = Settings(public_url=server.url)
        pool = await db.create_pool(settings, database_url)
        try:

            async def forget_cookies(_: httpx.Response) -> None:
                http.cookies.clear()

            async with httpx.AsyncClient(
                base_url=server.url, timeout=20.0, event_hooks={"response": [forget_cookies]}
            ) as http:
                yield Live(server, settings, pool, http)
        finally:
            await pool.close()
    finally:
        server.stop()
