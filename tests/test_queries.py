"""The named queries agree with the schema and with what reads them.

Every query in sql/queries/ is declared once in the server's code (``server.db.One``, ``Many``,
``Scalar``, ``Exec``), with the ``:kind`` its file gives it (declaring checks that too). Each
declared query is PREPAREd against the migrated schema: a ``One`` or ``Many`` returns exactly
the fields of its Struct, each of a type the field can hold; a ``Scalar`` one column of its
value's type; an ``Exec`` nothing (or a function's void).
"""

from __future__ import annotations

import datetime as dt
import decimal
import importlib
import pkgutil
import types
import typing
import uuid
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest

import server
from server import db
from tests.conftest import MakeDatabase

# PostgreSQL type -> the Python types a field may declare to hold it (asyncpg's decoding).
PYTHON_OF = {
    "uuid": {uuid.UUID},
    "text": {str},
    "varchar": {str},
    "name": {str},
    "inet": {str},
    "bool": {bool},
    "int2": {int},
    "int4": {int},
    "int8": {int},
    "numeric": {float, int, decimal.Decimal},
    "float8": {float},
    "timestamptz": {dt.datetime},
    "date": {dt.date},
    "time": {dt.time},
    "interval": {dt.timedelta},
    "bytea": {bytes},
    "jsonb": {dict, list, Any},
    "json": {dict, list, Any},
    "text[]": {list},
    "uuid[]": {list},
}
ENUMS_AS_TEXT = "enum"  # a column of an enum type reads as its label


def declared() -> list[db.Declared]:
    """Every declared query, after importing every module of the server."""
    for module in pkgutil.walk_packages(server.__path__, "server."):
        importlib.import_module(module.name)
    return list(db.DECLARED)


def python_types(annotation: Any) -> set[Any]:
    """The plain types a field's annotation accepts (None left out)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return python_types(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return set().union(*(python_types(a) for a in typing.get_args(annotation))) - {type(None)}
    if origin is typing.Literal:
        return {type(v) for v in typing.get_args(annotation)}
    if origin is not None:
        return {origin}
    return {annotation}


def fits(pg_type: Any, annotation: Any) -> bool:
    accepted = python_types(annotation)
    if pg_type.kind == ENUMS_AS_TEXT:
        return str in accepted
    wanted = PYTHON_OF.get(pg_type.name)
    assert wanted is not None, f"no mapping for PostgreSQL type {pg_type.name}: add it above"
    return bool(accepted & wanted) or (dt.datetime in accepted and pg_type.name == "date")


@pytest.fixture(scope="module")
async def conn(make_database: MakeDatabase) -> AsyncIterator[db.Connection]:
    async with db.connection(await make_database()) as connection:
        yield connection


def test_every_query_is_declared_once() -> None:
    names = [d.name for d in declared()]
    assert sorted(set(names)) == sorted(names), "a query is declared twice"
    assert set(db.QUERIES) - set(names) == set(), "queries nothing runs: remove them or use them"


@pytest.mark.parametrize("query", declared(), ids=lambda d: d.name)
async def test_the_query_prepares_and_returns_what_its_reader_expects(
    conn: db.Connection, query: db.Declared
) -> None:
    assert db.QUERIES[query.name].kind == query.kind
    statement = await conn.prepare(query.sql)
    columns = [(a.name, a.type) for a in statement.get_attributes()]
    if isinstance(query, db.One | db.Many):
        fields = {f.name: f.type for f in msgspec.structs.fields(query.row)}
        assert [name for name, _ in columns] == list(dict.fromkeys(c for c, _ in columns)), (
            "two columns share a name"
        )
        assert {name for name, _ in columns} == set(fields), (
            f"columns {sorted(n for n, _ in columns)} != {query.row.__name__} fields "
            f"{sorted(fields)}"
        )
        wrong = [
            f"{name}: {pg.name} into {fields[name]}"
            for name, pg in columns
            if not fits(pg, fields[name])
        ]
        assert not wrong, f"{query.row.__name__} cannot hold: {wrong}"
    elif isinstance(query, db.Scalar):
        assert len(columns) == 1, f"a scalar query returns one column, not {columns}"
        assert fits(columns[0][1], query.value), f"{columns[0][1].name} into {query.value}"
    else:
        assert all(pg.name == "void" for _, pg in columns), f"an :exec returns {columns}"
