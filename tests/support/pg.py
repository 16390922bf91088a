"""Test databases: a real PostgreSQL (TEST_DATABASE_URL, or the embedded server) and clones."""

from __future__ import annotations

import os
import secrets
import tempfile
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from server import db


def embedded_data_dir() -> str:
    """Where the tests' embedded PostgreSQL keeps its data (shared by every run)."""
    return os.environ.get("TEST_PG_DATA_DIR") or os.path.join(
        tempfile.gettempdir(), "checkin-test-pg"
    )


def server_url() -> str:
    """The maintenance URL of the PostgreSQL the tests use."""
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        return url
    return db.embedded_database_url(embedded_data_dir())


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def new_name(prefix: str) -> str:
    return f"{prefix}_{os.getpid()}_{secrets.token_hex(4)}"


async def create_database(url: str, name: str, template: str | None = None) -> str:
    conn = await asyncpg.connect(url)
    try:
        clause = f' template "{template}"' if template else ""
        await conn.execute(f'create database "{name}"{clause}')
    finally:
        await conn.close()
    return with_database(url, name)


async def drop_database(url: str, name: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f'drop database if exists "{name}" with (force)')
    finally:
        await conn.close()


async def migrated_template(url: str) -> str:
    name = new_name("checkin_tpl")
    template_url = await create_database(url, name)
    async with db.connection(template_url) as conn:
        await db.migrate(conn)
    return name
