"""Time is an input: nothing reads a clock the suite's ``--instant`` cannot set.

- The server reads the time only in ``server/clock.py``; everything else takes ``now``.
- Tests read it only through ``tests/support/clock.py`` (which ``--instant`` moves).
- No SQL, in a test or among the server's named queries, asks PostgreSQL for the time: its
  clock is the one that cannot be set, so instants are passed in as parameters.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from tests.support.live import ROOT

PYTHON_CLOCK = re.compile(
    r"\b(datetime\.now|datetime\.utcnow|datetime\.today|date\.today|time\.time|time\.time_ns)\("
)
SQL_CLOCK = re.compile(
    r"\b(now\s*\(|current_date\b|current_timestamp\b|localtimestamp\b|clock_timestamp\s*\("
    r"|statement_timestamp\s*\(|transaction_timestamp\s*\()",
    re.IGNORECASE,
)
# Where reading the clock is the point.
PYTHON_CLOCK_ALLOWED = {
    "server/clock.py",  # the server's clock
    "tests/support/clock.py",  # the tests' clock
    "tests/test_clock_guard.py",  # this file's patterns
    # The fake push service checks VAPID expiry on its own clock, as a real one does (moved by
    # --instant like the rest of the test process).
    "tests/support/fakepush.py",
    "tests/support/test_fakepush.py",
}
# Named queries that may use PostgreSQL's clock: leases the database alone writes and reads.
SQL_CLOCK_ALLOWED = {"board.watch"}


def python_files(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py"))


def relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


@pytest.mark.parametrize("path", python_files("server", "tests"), ids=relative)
def test_python_reads_the_clock_only_through_a_settable_clock(path: Path) -> None:
    if relative(path) in PYTHON_CLOCK_ALLOWED or "node_modules" in path.parts:
        return
    found = [
        f"line {n}: {line.strip()}"
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if PYTHON_CLOCK.search(line) and not line.lstrip().startswith("#")
    ]
    assert not found, (
        "read the time through server/clock.py (server) or tests.support.clock.now() (tests):\n"
        + "\n".join(found)
    )


def sql_strings(path: Path) -> list[tuple[int, str]]:
    """The string constants of a Python file with their line numbers (f-strings included),
    docstrings left out."""
    tree = ast.parse(path.read_text())
    docstrings = {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
    }
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    ]


@pytest.mark.parametrize("path", python_files("tests"), ids=relative)
def test_tests_pass_instants_to_sql(path: Path) -> None:
    if relative(path) == "tests/test_clock_guard.py":
        return
    found = [
        f"line {n}: {text!r}"
        for n, text in sql_strings(path)
        if SQL_CLOCK.search(text) and "board_watch" not in text  # a lease on PostgreSQL's clock
    ]
    assert not found, (
        "PostgreSQL's clock cannot be set: pass tests.support.clock.now() as a parameter:\n"
        + "\n".join(found)
    )


def test_named_queries_pass_instants() -> None:
    from server import db

    found = [
        name
        for name, text in db.QUERIES.items()
        if name not in SQL_CLOCK_ALLOWED and SQL_CLOCK.search(re.sub(r"--[^\n]*", "", text.sql))
    ]
    assert not found, f"these queries ask PostgreSQL for the time; pass `now` instead: {found}"
