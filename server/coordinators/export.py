"""CSV export of every check-in of a clinic, streamed from PostgreSQL in constant memory.

PostgreSQL formats the CSV (COPY ... TO STDOUT) and the chunks flow to the client through a
small queue, so memory stays flat however many rows there are and a slow client slows the copy
instead of filling the server. One row per check-in: the patient's pseudonym (never a name),
times in UTC and in the patient's zone, the questionnaire and version, every item of every
questionnaire in the cell its type writes (items.csv_column), and the scores. Free text (notes,
text items) is not exported.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import datetime
from uuid import UUID

from server import audit
from server.checkins import items
from server.checkins.questionnaires import Registry
from server.coordinators import store
from server.db import Pool

# An export of a million rows takes tens of seconds; the pool's per-query limit is for requests.
EXPORT_TIMEOUT = 3600.0
QUEUE_CHUNKS = 16

OUTCOME_COLUMNS = (
    "baseline", "change", "change_pct", "category", "mean_3d", "category_3d",
)  # fmt: skip


def item_columns(registry: Registry) -> dict[str, str]:
    """Every exported item code of every questionnaire version, in file order, each once, with
    the SQL of its cell. An item code has one type in every questionnaire (the loader sees to
    it), so one column serves them all; types that are not exported (free text) have none."""
    columns: dict[str, str] = {}
    for questionnaire in registry.all():
        for item in questionnaire.items:
            cell = items.csv_column(item, "c.answers")
            if cell is not None:
                columns.setdefault(item.code, cell)
    return columns


def score_names(registry: Registry) -> list[str]:
    """Scores that are not item values: derived means and option scores (PEG-3, PGIC)."""
    names: list[str] = []
    for questionnaire in registry.all():
        for derived in questionnaire.scores:
            if derived.name not in names:
                names.append(derived.name)
        for item in questionnaire.items:
            scored = any(option.score is not None for option in item.options)
            if scored and item.code not in names:
                names.append(item.code)
    return names


def export_query(registry: Registry) -> str:
    """The SELECT behind the export. Item and score names are checked against ^[a-z][a-z0-9_]*$
    when the questionnaire files load, so they are safe as literals and column names here. The
    values exported are numbers, true/false and option codes, none of which a spreadsheet reads
    as a formula."""
    columns = [
        "p.pseudonym as patient",
        "p.condition::text as condition",
        "c.id as checkin_id",
        "c.questionnaire",
        "c.questionnaire_version",
        """to_char(c.answered_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')"""
        " as answered_at_utc",
        """to_char(c.answered_at at time zone p.timezone, 'YYYY-MM-DD"T"HH24:MI:SS')"""
        " as answered_at_local",
        "p.timezone",
        """to_char(c.received_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')"""
        " as received_at_utc",
    ]
    columns += [f"{cell} as {code}" for code, cell in item_columns(registry).items()]
    columns += [f"c.scores ->> '{name}' as score_{name}" for name in score_names(registry)]
    columns.append("c.outcome_metric")
    columns += [f"c.scores -> 'outcome' ->> '{name}' as outcome_{name}" for name in OUTCOME_COLUMNS]
    columns.append("array_to_string(c.flags, ';') as flags")
    return (
        "select " + ",\n       ".join(columns) + "\n"
        "from checkin c join patient p on p.id = c.patient_id\n"
        "where p.clinic_id = $1\n"
        "order by c.patient_id, c.answered_at, c.id"
    )


async def stream_csv(
    pool: Pool, registry: Registry, clinic_id: UUID, coordinator_id: UUID, now: datetime
) -> AsyncIterator[bytes]:
    """The export as chunks of CSV; audited before the first byte leaves."""
    async with pool.acquire() as conn:
        await audit.by_coordinator(
            conn,
            coordinator_id,
            clinic_id,
            "checkin.export_csv",
            now,
        )
    queue: asyncio.Queue[bytes | BaseException | None] = asyncio.Queue(QUEUE_CHUNKS)

    async def produce() -> None:
        try:
            async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
                await store.copy_export(
                    conn, export_query(registry), clinic_id, queue.put, EXPORT_TIMEOUT
                )
        except Exception as exc:  # handed to the consumer, which aborts the response
            await queue.put(exc)
        else:
            await queue.put(None)

    producer = asyncio.create_task(produce())
    try:
        while (chunk := await queue.get()) is not None:
            if isinstance(chunk, BaseException):
                # The status line is gone: end the transfer unfinished so the client sees a
                # broken download, not a short file that looks whole.
                raise chunk
            yield bytes(chunk)
    finally:
        producer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await producer
