from __future__ import annotations

import asyncio
import subprocess
import sys

import asyncpg
import pytest

from server import db
from tests.support import pg
from tests.support.live import ROOT, clean_env

SNAPSHOT = """
select string_agg(format('%s.%s:%s', table_name, column_name, data_type), ',' order by 1)
from information_schema.columns where table_schema = 'public'
"""
CONSTRAINTS = "select string_agg(conname, ',' order by conname) from pg_constraint"


async def _empty(pg_url: str) -> tuple[str, str]:
    name = pg.new_name("checkin_mig")
    return name, await pg.create_database(pg_url, name)


async def test_fresh_database_migrates_and_again_changes_nothing(pg_url: str) -> None:
    name, url = await _empty(pg_url)
    try:
        async with db.connection(url) as conn:
            assert [m.version for m in await db.pending_migrations(conn)] == [
                m.version for m in db.load_migrations()
            ]
            applied = await db.migrate(conn)
            assert [m.version for m in applied] == [m.version for m in db.load_migrations()]
            before = (await conn.fetchval(SNAPSHOT), await conn.fetchval(CONSTRAINTS))
            assert await db.migrate(conn) == []
            assert await db.pending_migrations(conn) == []
            after = (await conn.fetchval(SNAPSHOT), await conn.fetchval(CONSTRAINTS))
            assert before == after
            assert await conn.fetchval("select count(*) from schema_migration") == len(applied)
            for constraint in ("patient_timezone_valid", "checkin_due_fk", "coordinator_email_key"):
                assert constraint in after[1]
    finally:
        await pg.drop_database(pg_url, name)


async def test_changed_migration_is_detected(pg_url: str) -> None:
    name, url = await _empty(pg_url)
    try:
        async with db.connection(url) as conn:
            await db.migrate(conn)
            await conn.execute("update schema_migration set checksum = 'edited' where version = 1")
            with pytest.raises(db.DatabaseError, match="changed after it was applied"):
                await db.migrate(conn)
    finally:
        await pg.drop_database(pg_url, name)


@pytest.mark.slow
async def test_concurrent_migrate_processes_do_not_collide(pg_url: str) -> None:
    name, url = await _empty(pg_url)
    try:
        env = clean_env(DATABASE_URL=url)
        processes = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "server",
                "migrate",
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            for _ in range(3)
        ]
        results = [await p.communicate() for p in processes]
        assert [p.returncode for p in processes] == [0, 0, 0], results
        outputs = [out.decode() for out, _ in results]
        assert sum("applied 0001_schema" in out for out in outputs) == 1
        assert sum("up to date" in out for out in outputs) == 2
        async with db.connection(url) as conn:
            assert await conn.fetchval("select count(*) from schema_migration") == len(
                db.load_migrations()
            )
    finally:
        await pg.drop_database(pg_url, name)


async def test_serve_refuses_pending_migrations(pg_url: str) -> None:
    name, url = await _empty(pg_url)
    try:
        result = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "server", "serve", "--port", "1"],
            cwd=ROOT,
            env=clean_env(DATABASE_URL=url),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 1
        assert "pending migration" in result.stderr and "checkin migrate" in result.stderr
    finally:
        await pg.drop_database(pg_url, name)


def test_query_files_parse() -> None:
    queries = db.load_queries()
    assert "checkins.insert" in queries and queries["checkins.insert"].kind == "many"
    with pytest.raises(db.DatabaseError, match="defined twice"):
        db.parse_queries("-- name: a :one\nselect 1\n-- name: a :one\nselect 2\n", "x.sql")


async def test_audit_table_is_append_only(make_database) -> None:  # type: ignore[no-untyped-def]
    url = await make_database()
    async with db.connection(url) as conn:
        await conn.execute(
            "insert into audit_event (actor_kind, action) values ('system', 'test.event')"
        )
        for statement in (
            "update audit_event set action = 'test.changed'",
            "delete from audit_event",
            "truncate audit_event",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
                await conn.execute(statement)
        assert await conn.fetchval("select action from audit_event") == "test.event"


@pytest.mark.slow
async def test_serve_with_migrate_applies_them_and_serves(pg_url: str) -> None:
    import sys

    from tests.support.live import ServerProcess, free_port

    name, url = await _empty(pg_url)
    port = free_port()
    server = ServerProcess(
        [sys.executable, "-m", "server", "serve", "--migrate", "--workers", "1"],
        clean_env(DATABASE_URL=url, PORT=str(port)),
        port,
    )
    try:
        await asyncio.to_thread(server.wait_healthy)
        assert "applied 0001_schema" in server.output()
        async with db.connection(url) as conn:
            assert await db.pending_migrations(conn) == []
    finally:
        server.stop()
        await pg.drop_database(pg_url, name)
